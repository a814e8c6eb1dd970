"""Benchmark: how fast a state change reaches 16 worker processes, file vs
etcd, and what the state lookup costs each request.

Each worker is a process of its own running the middleware's watcher (with
its background threads, as in nova-api) and serving a simulated request
every few milliseconds: it notes the moment its view first shows a new epoch.
The controller writes the state and measures, per worker and per change,
the time from the write to that moment (CLOCK_MONOTONIC is shared by all
processes), and the time until every worker's acknowledgement shows it (what
``freeze-ctl on`` waits for).

Usage: python -m tools.bench_propagation [--workers 16] [--rounds 20]
"""

import argparse
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from oslo_config import cfg

from freeze import conf as freeze_conf
from freeze import middleware
from freeze.state import acks
from freeze.state import document
from freeze.state import open_backend
from freeze.state import watch
from tools.localcloud import REPO
from tools.localetcd import LocalEtcd

#: A simulated request every this many seconds in each worker.
REQUEST_EVERY = 0.005
GOALS_P99 = {'file': 1.0, 'etcd': 0.25}


def worker(url):
    """Worker mode: follow the state, print ``epoch monotonic`` on change."""
    watcher = watch.StateWatcher(open_backend(url))
    watcher.start()
    epoch = None
    print('ready', flush=True)
    while True:
        seen = watcher.current().state.epoch
        if seen != epoch:
            epoch = seen
            print(epoch, time.monotonic(), flush=True)
        time.sleep(REQUEST_EVERY)


def _change(old):
    return old.successor(frozen=not old.frozen,
                         mode=None if old.frozen else 'full', reason='bench')


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def propagation(url, workers, rounds):
    """Seconds from write to each worker's view, and to all acks."""
    procs = [subprocess.Popen([sys.executable, '-m', 'tools.bench_propagation',
                               '--worker', url], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
             for _ in range(workers)]
    seen = queue.Queue()

    def read(index, proc):
        for line in proc.stdout:
            if line.strip() != 'ready':
                epoch, when = line.split()
                seen.put((index, int(epoch), float(when)))
    for index, proc in enumerate(procs):
        threading.Thread(target=read, args=(index, proc), daemon=True).start()
    backend = open_backend(url)
    store = backend.ack_store()
    try:
        epoch = backend.read().epoch
        acks.wait_for_epoch(store, epoch, 60)  # all started and reporting
        while len(store.records()) < workers:
            time.sleep(0.1)
        views, acked = [], []
        for _ in range(rounds):
            time.sleep(random.uniform(0.1, 0.6))  # any phase of the checks
            written = time.monotonic()
            epoch = backend.update(_change, 'bench', document.utcnow())[1].epoch
            _, behind = acks.wait_for_epoch(store, epoch, 10, interval=0.005)
            assert not behind, behind
            acked.append(time.monotonic() - written)
            pending = set(range(workers))
            while pending:
                index, got, when = seen.get(timeout=10)
                if got == epoch:
                    pending.discard(index)
                    views.append(when - written)
        return views, acked
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def lookup_cost(url, loops=200000):
    """Per-request microseconds: the watcher alone, and the thawed filter."""
    open_backend(url).update(
        lambda old: old.thawed(), 'bench', document.utcnow())
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    settings = freeze_conf.load_settings(conf, {'state_url': url})
    filt = middleware.FreezeMiddleware(lambda env, start: [b''], settings)
    environ = {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/servers'}
    try:
        results = []
        for call in (filt.watcher.current,
                     lambda: filt(environ, lambda *a: None)):
            samples = []
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(loops):
                    call()
                samples.append((time.perf_counter() - start) / loops * 1e6)
            results.append(statistics.median(samples))
        return results
    finally:
        filt.watcher.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workers', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=20)
    parser.add_argument('--worker', metavar='URL', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    with tempfile.TemporaryDirectory(prefix='bench-prop-') as workdir, \
            LocalEtcd(workdir) as etcd:
        urls = {'file': f'file://{workdir}/state.json',
                'etcd': etcd.state_url('/bench')}
        print(f'Propagation of a state change to {args.workers} worker '
              f'processes, {args.rounds} changes (a simulated request every '
              f'{REQUEST_EVERY * 1000:g} ms per worker):')
        print('  backend  to each view: p50     p99     max   '
              'all acknowledged: p50     p99   goal p99')
        for name, url in urls.items():
            views, acked = propagation(url, args.workers, args.rounds)
            print('  %-7s %17.0f ms %5.0f ms %5.0f ms %22.0f ms %5.0f ms '
                  '%6.0f ms' % (
                      name, *(1000 * _percentile(views, q)
                              for q in (0.5, 0.99, 1.0)),
                      *(1000 * _percentile(acked, q) for q in (0.5, 0.99)),
                      1000 * GOALS_P99[name]))
        print('State lookup per request (median of 5 x 200000 calls):')
        for name, url in urls.items():
            view, thawed = lookup_cost(url)
            print(f'  {name!s:<7} watcher.current() {view:5.2f} us   whole '
                  f'thawed filter {thawed:5.2f} us')


if __name__ == '__main__':
    sys.exit(main())
