"""Runner overhead per host action, on 1,000 simulated hosts.

Batch 50, concurrency 20, two steps per host (``switch`` and ``health``,
both ``true``), journal in sqlite.  Two measures of what the runner adds
beyond the command itself:

* in-thread: for each action, the time around the command (journal intent,
  pid, result; views; rendering) minus the command's own spawn and wait;
* throughput: the whole run's wall time against a control that runs the
  same commands through the same executor on a bare pool of 20 threads,
  with no journal: (runner - control) / actions, and that times 20 (the
  worker time it represents: it includes waiting for the journal's lock).

Goal: <= 5 ms per host action.  ``python tools/bench_cutover.py [HOSTS]``
"""

import concurrent.futures
import io
import statistics
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


def make_plan(hosts):
    return plan_mod.load(yaml.safe_dump({
        'name': 'bench',
        'defaults': {'batch_size': 50, 'concurrency': 20,
                     'failure_threshold': 5, 'timeout': 30},
        'cells': {'cell%d' % c: ['h%04d' % i for i in range(hosts)
                                 if i * 4 // hosts == c]
                  for c in range(4)},
        'stages': [{'name': 'compute-l2',
                    'steps': [{'name': 'switch', 'run': 'true',
                               'check': 'true', 'revert': 'true'}],
                    'health': 'true'}]}))


class Timed:
    """Per-thread command time, so that the runner's share can be split
    off from each action."""

    def __init__(self):
        self.local = threading.local()
        self.overheads = []
        self.lock = threading.Lock()

    def install(self):
        timed = self
        real_gated, real_act = executor.Gated, runner_mod.Runner._act

        class Gated(real_gated):
            def __init__(self, command):
                start = time.perf_counter()
                super().__init__(command)
                timed.local.command += time.perf_counter() - start

            def release(self, timeout):
                start = time.perf_counter()
                try:
                    return super().release(timeout)
                finally:
                    timed.local.command += time.perf_counter() - start

        def act(runner, *args):
            timed.local.command = 0.0
            start = time.perf_counter()
            outcome = real_act(runner, *args)
            total = time.perf_counter() - start
            with timed.lock:
                timed.overheads.append(total - timed.local.command)
            return outcome
        executor.Gated = Gated
        runner_mod.Runner._act = act


def control(commands, concurrency, gated):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda c: gated(c).release(30), commands))
    return time.perf_counter() - start


def main():
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    plan = make_plan(hosts)
    with tempfile.TemporaryDirectory() as tmp:
        journal = journal_mod.Journal('sqlite:///%s/j.sqlite' % tmp,
                                      create=True)
        runner = runner_mod.Runner(journal, progress.Progress(
            io.StringIO(), tty=False))
        real_gated = executor.Gated
        timed = Timed()
        timed.install()
        start = time.perf_counter()
        status = runner.run(plan)
        wall = time.perf_counter() - start
        assert status == 'done', status
        actions = len(timed.overheads)
        baseline = control(['true'] * actions, 20, real_gated)
    ms = sorted(x * 1000 for x in timed.overheads)
    added = (wall - baseline) / actions * 1000
    print('%d hosts, batch 50, concurrency 20: %d host actions, sqlite '
          'journal' % (hosts, actions))
    print('  whole run                 %8.2f s' % wall)
    print('  control (no runner)       %8.2f s' % baseline)
    print('in-thread runner overhead per action (excluding the command):')
    print('  mean %.2f ms  median %.2f ms  p99 %.2f ms  (goal <= %.0f ms)'
          % (statistics.mean(ms), statistics.median(ms),
             ms[int(len(ms) * 0.99)], GOAL_MS))
    print('throughput: (run - control) / actions = %.2f ms of wall time per '
          'action (x 20 threads = %.2f ms of a worker\'s time)'
          % (added, added * 20))
    return 0 if statistics.mean(ms) <= GOAL_MS else 1


if __name__ == '__main__':
    sys.exit(main())
