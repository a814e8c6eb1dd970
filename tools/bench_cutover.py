"""Runner overhead per host action, on 1,000 simulated hosts.

Batch 50, concurrency 20, two steps per host (``switch`` and ``health``,
both ``true``), journal in sqlite.  In the same run, a control runs the same
2,000 commands directly (``sh -c COMMAND``, output captured, on a pool of 20
threads; no journal, no gate, no log file), before and after the runner.
What the runner adds to an action is its wall time (gate, journal intent,
command, result; views; rendering) against the direct command's at the same
percentile (p50, p99).  Also: the whole run's wall time and CPU (process and
commands) against the control's, per action; and the runner's own time in
an action, without its command's spawn and wait (it includes waiting for
the GIL and the journal's lock behind 19 other threads).

Goal: the runner's p99 at most 5 ms above the direct command's p99.
``python -m tools.bench_cutover [HOSTS]``
"""

import concurrent.futures
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from freeze.cutover import executor
from freeze.cutover import journal as journal_mod
from freeze.cutover import plan as plan_mod
from freeze.cutover import progress
from freeze.cutover import runner as runner_mod

GOAL_MS = 5.0
CONCURRENCY = 20


def make_plan(hosts):
    return plan_mod.load(yaml.safe_dump({
        'name': 'bench',
        'defaults': {'batch_size': 50, 'concurrency': CONCURRENCY,
                     'failure_threshold': 5, 'timeout': 30},
        'cells': {f'cell{c}': [f'h{i:04d}' for i in range(hosts)
                               if i * 4 // hosts == c]
                  for c in range(4)},
        'stages': [{'name': 'compute-l2',
                    'steps': [{'name': 'switch', 'run': 'true',
                               'check': 'true', 'revert': 'true'}],
                    'health': 'true'}]}))


def timed_actions():
    """Wrap the runner's one-action method: its wall times, and the same
    without the command's own (spawn, then wait for its end)."""
    times, inside, lock = [], [], threading.Lock()
    local = threading.local()
    real_act = runner_mod.Runner._act
    real_init, real_release = executor.Gated.__init__, executor.Gated.release

    def init(gated, *args):
        start = time.perf_counter()
        real_init(gated, *args)
        local.command += time.perf_counter() - start

    def release(gated, *args):
        start = time.perf_counter()
        try:
            return real_release(gated, *args)
        finally:
            local.command += time.perf_counter() - start

    def act(runner, *args):
        local.command = 0.0
        start = time.perf_counter()
        outcome = real_act(runner, *args)
        elapsed = time.perf_counter() - start
        with lock:
            times.append(elapsed)
            inside.append(elapsed - local.command)
        return outcome
    runner_mod.Runner._act = act
    executor.Gated.__init__, executor.Gated.release = init, release
    return times, inside


def cpu():
    """CPU seconds used so far by this process and its ended children:
    what an action costs, whatever the load of the machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + children.ru_utime
            + children.ru_stime)


def control(commands, workdir):
    """The same commands run directly: wall time, and each one's."""
    def one(numbered):
        number, command = numbered
        start = time.perf_counter()
        with open(os.path.join(workdir, f'{number}.out'), 'wb') as out:
            subprocess.run(['/bin/sh', '-c', command], stdout=out,
                           stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
        return time.perf_counter() - start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        times = list(pool.map(one, enumerate(commands)))
    return time.perf_counter() - start, times


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def main():
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    plan = make_plan(hosts)
    actions = hosts * 2
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, 'control'))
        used = cpu()
        before, direct = control(['true'] * actions,
                                 os.path.join(tmp, 'control'))
        direct_cpu = cpu() - used
        journal = journal_mod.Journal(f'sqlite:///{tmp}/j.sqlite',
                                      create=True)
        runner = runner_mod.Runner(journal, progress.Progress(
            io.StringIO(), tty=False))
        times, inside = timed_actions()
        start, used = time.perf_counter(), cpu()
        status = runner.run(plan)
        wall, runner_cpu = time.perf_counter() - start, cpu() - used
        assert status == 'done', status
        used = cpu()
        after, more = control(['true'] * actions,
                              os.path.join(tmp, 'control'))
        direct += more
        direct_cpu = (direct_cpu + cpu() - used) / 2
    assert len(times) == actions, len(times)
    baseline = (before + after) / 2
    added99 = pct(times, 0.99) - pct(direct, 0.99)
    print(f'{hosts} hosts, batch 50, concurrency {CONCURRENCY}: {actions} '
          'host actions, sqlite '
          f'journal; load average {os.getloadavg()[0]:.1f}')
    print(f'  whole run {wall:.2f} s; the same commands run directly '
          f'{baseline:.2f} s '
          f'({(wall - baseline) / actions * 1000:.2f} ms more per action)')
    print('  CPU per action (process and commands): '
          f'{runner_cpu / actions * 1000:.2f} ms, directly '
          f'{direct_cpu / actions * 1000:.2f} ms')
    print(f'  per action     p50 {pct(times, 0.5):6.2f} ms   p99 '
          f'{pct(times, 0.99):6.2f} ms   mean '
          f'{statistics.mean(times) * 1000:6.2f} ms')
    print(f'  direct         p50 {pct(direct, 0.5):6.2f} ms   p99 '
          f'{pct(direct, 0.99):6.2f} ms   mean '
          f'{statistics.mean(direct) * 1000:6.2f} ms')
    print(f'  added          p50 {pct(times, 0.5) - pct(direct, 0.5):6.2f} ms '
          f'  p99 {added99:6.2f} ms   (goal: p99 <= {GOAL_MS:.0f} ms)')
    print(f'  runner alone   p50 {pct(inside, 0.5):6.2f} ms   p99 '
          f'{pct(inside, 0.99):6.2f} ms   mean '
          f'{statistics.mean(inside) * 1000:6.2f} ms   '
          '(an action without its command\'s spawn and wait)')
    return 0 if added99 <= GOAL_MS else 1


if __name__ == '__main__':
    sys.exit(main())
