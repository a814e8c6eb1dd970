"""Benchmark: how long the two CLIs take to start, against ``python -c pass``.

Each command runs in a fresh process (the installed console scripts, as an
operator types them), the commands interleaved round by round so that they
share the machine's noise; the median wall time of the rounds is shown with
its ratio to ``python -c pass``:
  freeze-ctl --help, freeze-ctl status on a file state (frozen, no
  workers), nova-cutover --help, nova-cutover status on an empty journal.

Usage: python -m tools.bench_startup [--rounds N]
"""

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

from freeze.cutover import journal


def _script(name):
    path = os.path.join(sysconfig.get_path('scripts'), name)
    if not os.path.exists(path):
        sys.exit(f'bench_startup: {path} is not installed (pip install -e .)')
    return path


def _commands(directory):
    state = f"file://{os.path.join(directory, 'state.json')}"
    journal_url = f"sqlite:///{os.path.join(directory, 'journal.sqlite')}"
    freeze_ctl, nova_cutover = _script('freeze-ctl'), _script('nova-cutover')
    subprocess.run([freeze_ctl, '--state', state, 'on', '--mode', 'full',
                    '--reason', 'bench', '--wait', '0'], check=True,
                   capture_output=True)
    journal.Journal(journal_url, create=True)
    return [
        ('python -c pass', [sys.executable, '-c', 'pass']),
        ('freeze-ctl --help', [freeze_ctl, '--help']),
        ('freeze-ctl status (file state)',
         [freeze_ctl, '--state', state, 'status']),
        ('nova-cutover --help', [nova_cutover, '--help']),
        ('nova-cutover status (empty journal)',
         [nova_cutover, '--journal', journal_url, 'status']),
    ]


def _seconds(command, env):
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=15,
                        help='runs of each command (default %(default)s)')
    args = parser.parse_args()
    # No nova.conf of this machine's, no credentials: the commands alone.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('OS_', 'NOVA_FREEZE', 'NOVA_CUTOVER'))}
    with tempfile.TemporaryDirectory() as directory:
        commands = _commands(directory)
        times = {name: [] for name, _ in commands}
        load = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, command in commands:
                times[name].append(_seconds(command, env))
    base = statistics.median(times['python -c pass'])
    print(f'start-up, median of {args.rounds} fresh processes each (load '
          f'average {load:.1f} on {os.cpu_count()} cores)')
    print(f'{"command":<38} {"median":>8} {"min":>8} {"x pass":>10}')
    for name, _ in commands:
        median = statistics.median(times[name])
        print(f'{name!s:<38} {median:7.3f}s {min(times[name]):7.3f}s '
              f'{median / base:9.1f}x')


if __name__ == '__main__':
    main()
