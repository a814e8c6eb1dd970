"""Run one shell command: its own process group, a timeout, output kept.

The command is started behind a gate: a shell that waits for one line on
stdin before it ``exec``s the real command.  The runner journals the process
id first and then opens the gate, so a command never runs unrecorded: if the
runner dies before opening the gate, stdin closes and the gate exits 125
without running anything.  A command that outlives a killed runner is found
again by its recorded pid (and start time, against pid reuse).
"""

import dataclasses
import os
import signal
import subprocess
import time

import psutil

#: exit code of a gate whose runner died before opening it
NOT_STARTED = 125
_GATE = 'read -r _ || exit %d; exec /bin/sh -c "$1" </dev/null' % NOT_STARTED


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str          # ok, failed, timeout
    rc: int | None
    output: str
    seconds: float


class Gated:
    """A started, not yet released command."""

    def __init__(self, command):
        self.proc = subprocess.Popen(
            ['/bin/sh', '-c', _GATE, 'nova-cutover', command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def started_at(self):
        """The process's start time, to tell it from a later one with the
        same pid."""
        try:
            return psutil.Process(self.pid).create_time()
        except psutil.Error:
            return None

    def release(self, timeout):
        """Open the gate, wait; on timeout kill the whole process group."""
        start = time.monotonic()
        try:
            out, _ = self.proc.communicate(b'\n', timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.pid)
            out, _ = self.proc.communicate()
            return Outcome('timeout', None,
                           _text(out) + '\n[killed after %gs]' % timeout,
                           time.monotonic() - start)
        rc = self.proc.returncode
        return Outcome('ok' if rc == 0 else 'failed', rc, _text(out),
                       time.monotonic() - start)


def run(command, timeout):
    """Run without journalling a pid (checks, and the benchmark's control)."""
    return Gated(command).release(timeout)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_orphan(pid, started_at, deadline):
    """Wait for a command left running by a killed runner; kill its group at
    ``deadline`` (epoch seconds).  Returns True when one was found."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if started_at is not None and abs(proc.create_time()
                                          - started_at) > 0.05:
            return False
    except psutil.Error:
        return False
    try:
        proc.wait(timeout=max(0.0, deadline - time.time()))
    except psutil.TimeoutExpired:
        kill_group(pid)
        _gone(proc)
    except psutil.Error:
        pass
    return True


def _gone(proc):
    try:
        proc.wait(timeout=5)
    except psutil.Error:
        pass


def _text(raw):
    return raw.decode('utf-8', 'replace') if raw else ''
