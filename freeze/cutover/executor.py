"""Run one shell command so that it survives its runner.

The command is started behind a gate: a small ``sh`` that waits for one line
on stdin, then runs the command and appends its exit status to a file.
The runner journals the process id first and then opens the gate, so a
command never runs unrecorded: if the runner dies before opening the gate,
stdin closes and the gate exits 125 without running anything.

Nothing ties the command to the runner once it runs: it has its own session
(process group), its output goes to a log file and its exit status to the
``status`` file beside it (one per directory of logs, appended to: a file
made per command costs ~2 ms on a busy ext4), not into a pipe the runner
reads.  A runner killed mid-way
leaves the command running to its end; the next runner finds it again by
its recorded pid and start time (a recycled pid has another), waits for it
and reads its real status and output from those files.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import select
import signal
import subprocess
import time

import psutil

#: exit code of a gate whose runner died before opening it
NOT_STARTED = 125
#: $1 the command, $2 the status file, $3 the command's token in it (its
#: log's name).  The command runs in a subshell of the gate (a fork, not a
#: second ``sh`` to start), with no arguments as under ``sh -c``: its own
#: ``exit``, ``exec`` or EXIT trap cannot skip the line that records its
#: status.
_GATE = (f'read -r _ || exit {NOT_STARTED}; exec </dev/null; '
         '_nova_cutover_command=$1; _nova_cutover_status=$2; '
         '_nova_cutover_token=$3; shift 3; (eval "$_nova_cutover_command"); '
         '_nova_cutover_rc=$?; echo "$_nova_cutover_token $_nova_cutover_rc" '
         '>>"$_nova_cutover_status"; exit $_nova_cutover_rc')
#: How much of a log's end is read back as the command's output.
TAIL = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str          # ok, failed, timeout
    rc: int | None
    output: str
    seconds: float


def status_path(log: str) -> tuple[str, str]:
    """The file the gate appends ``TOKEN RC`` to, and the command's token."""
    directory, name = os.path.split(log)
    return os.path.join(directory, 'status'), name


class Gated:
    """A started, not yet released command writing to ``log``."""

    def __init__(self, command: str, log: str) -> None:
        self.log = log
        with open(log, 'wb') as out:
            self.proc = subprocess.Popen(
                ['/bin/sh', '-c', _GATE, 'nova-cutover', command,
                 *status_path(log)],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.pid = self.proc.pid

    def started_at(self) -> float | None:
        """The process's start time, to tell it from a later one with the
        same pid."""
        return start_time(self.pid)

    def abandon(self) -> None:
        """Never let it run: its gate exits on the closed stdin."""
        self.proc.stdin.close()
        self.proc.wait()

    def release(self, timeout: float) -> Outcome:
        """Open the gate, wait; on timeout kill the whole process group."""
        start = time.monotonic()
        try:
            self.proc.stdin.write(b'\n')
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # the gate is gone already: its status says why
        try:
            rc = _wait(self.proc, timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.pid)
            self.proc.wait()
            return Outcome('timeout', None,
                           tail(self.log) + f'\n[killed after {timeout:g}s]',
                           time.monotonic() - start)
        return Outcome('ok' if rc == 0 else 'failed', rc, tail(self.log),
                       time.monotonic() - start)


def output_of(command: str, timeout: float) -> tuple[int | None, str, str]:
    """(exit code, stdout, stderr) of a short read-only command run here
    (``freeze-ctl status`` for ``nova-cutover status``); not journalled."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True,
                              timeout=timeout, text=True,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, '', f'no answer in {timeout:g}s'
    return done.returncode, done.stdout, done.stderr


def _wait(proc: subprocess.Popen, timeout: float | None) -> int:
    """``proc.wait(timeout)`` without its polling (sleeps of up to 50 ms,
    most of an action's latency): block on a pidfd until the child ends."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout)
    try:
        ended = select.poll()
        ended.register(fd, select.POLLIN)
        if not ended.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), as psutil's
    ``create_time`` says; one read of /proc/PID/stat where there is one."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            ticks = int(f.read().rpartition(b')')[2].split()[19])
        return _boot_time() + ticks / _TICKS
    except (OSError, ValueError, IndexError):
        pass
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


_TICKS = os.sysconf('SC_CLK_TCK')


@functools.lru_cache(maxsize=1)
def _boot_time() -> float:
    return psutil.boot_time()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def find(pid: int | None, started_at: float | None) -> psutil.Process | None:
    """The process a killed runner left running, if it still runs (the same
    pid with the same start time), else None."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        now = start_time(pid)
        if started_at is None or now is None or abs(now - started_at) > 0.05:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


def attach(proc: psutil.Process, log: str, deadline: float) -> Outcome:
    """Wait for a command a killed runner left running (``proc`` from
    ``find``) until ``deadline`` (epoch seconds), then kill its group.
    Returns its outcome, or None when it did not run to an end."""
    start = time.monotonic()
    if proc is not None:
        try:
            proc.wait(timeout=max(0.0, deadline - time.time()))
        except psutil.TimeoutExpired:
            kill_group(proc.pid)
            _gone(proc)
            return Outcome('timeout', None, tail(log) + '\n[killed at its '
                           'deadline, after its runner was killed]',
                           time.monotonic() - start)
        except psutil.Error:
            pass
    return collected(log, time.monotonic() - start)


def collected(log: str, seconds: float = 0.0) -> Outcome | None:
    """The outcome a finished command left in its files, or None (it never
    started, or was killed before it ended)."""
    if log is None:
        return None
    path, token = status_path(log)
    rc = None
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                name, _, value = line.rstrip('\n').rpartition(' ')
                if name == token and value.isdigit():
                    rc = int(value)
    except OSError:
        return None
    if rc is None:
        return None
    return Outcome('ok' if rc == 0 else 'failed', rc, tail(log), seconds)


def tail(log: str) -> str:
    """The end of a command's output, where errors are."""
    try:
        with open(log, 'rb') as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL))
            raw = f.read()
    except OSError:
        return ''
    cut = ('' if size <= TAIL
           else f'[... {size - TAIL} bytes cut: {log} has them]\n')
    return cut + raw.decode('utf-8', 'replace')


def _gone(proc: psutil.Process) -> None:
    try:
        proc.wait(timeout=5)
    except psutil.Error:
        pass
