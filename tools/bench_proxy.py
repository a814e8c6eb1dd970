"""Benchmark of the read-only Neutron API over nova-network (issue 8).

``GET /v2.0/ports?device_id=<instance>``, the call nova makes most:

1. in process: the proxy app's cost per request on a --ports database;
2. the proxy under gunicorn (``nova-cutover proxy serve``) on that
   database: requests/s and p50/p99 latency with --clients client threads;
3. the same query, same clients, against the proxy and a real Neutron 29
   (tools/localneutron.py, sqlite) after ``translate apply`` of a
   --compare-ports database: Neutron creates a few ports per second on
   sqlite, so the side-by-side runs at the size it can be filled to.

Also the harness the e2e tests use: ``ProxyServer`` runs
``nova-cutover proxy serve`` on a free loopback port.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import psutil
import webob
import yaml

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

from localcloud import merged_ini, write_ini  # noqa: E402
from localneutron import LocalNeutron  # noqa: E402

from freeze.novanet import generate, model, source  # noqa: E402
from freeze.proxy import app, loader  # noqa: E402
from freeze.translate import config, converge, desired  # noqa: E402
from freeze.translate.neutron import Neutron  # noqa: E402

ADMIN = 'be' * 16
LOADED = 'nova-network view loaded'


class ProxyServer:
    """``nova-cutover proxy serve`` (noauth) over one nova database, in its
    own process group; ready when every worker has loaded the view."""

    def __init__(self, workdir: str, settings: dict, workers: int = 2,
                 poll_interval: float = 2.0,
                 conf: dict[str, dict[str, str]] | None = None):
        """``conf``: sections/options laid over the proxy's config file
        (e.g. ``auth_strategy = keystone`` and ``[keystone_authtoken]``)."""
        os.makedirs(workdir, exist_ok=True)
        self.workers = workers
        self.log_path = os.path.join(workdir, 'proxy.log')
        plan = os.path.join(workdir, 'plan.yaml')
        with open(plan, 'w') as f:
            yaml.safe_dump(settings, f)
        self.config = os.path.join(workdir, 'proxy.conf')
        write_ini(self.config, merged_ini({'proxy': {
            'plan': plan, 'auth_strategy': 'noauth',
            'poll_interval': str(poll_interval)}}, conf or {}))
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.url = f'http://127.0.0.1:{s.getsockname()[1]}'
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> ProxyServer:
        argv = [os.path.join(os.path.dirname(sys.executable), 'nova-cutover'),
                'proxy', 'serve', '--config', self.config,
                '--paste', os.path.join(REPO, 'paste', 'neutron-proxy.ini'),
                '--bind', self.url.removeprefix('http://'),
                '--workers', str(self.workers)]
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self._loaded() < self.workers:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f'proxy not ready; see {self.log_path}')
            time.sleep(0.1)
        return self

    def worker_rss(self) -> list[int]:
        """Resident memory of each worker, bytes."""
        return [c.memory_info().rss
                for c in psutil.Process(self._proc.pid).children()]

    def _loaded(self) -> int:
        with open(self.log_path, errors='replace') as f:
            return f.read().count(LOADED)

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _client(job: tuple[str, list[str], float, int]) -> list[float]:
    """One client process: GETs of random paths for ``seconds``, each on a
    new connection (gunicorn's sync workers close them); latencies."""
    url, paths, seconds, seed = job
    rng, host, out = random.Random(seed), urllib.parse.urlsplit(url).netloc, []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        began = time.perf_counter()
        conn = http.client.HTTPConnection(host)
        conn.request('GET', rng.choice(paths))
        reply = conn.getresponse()
        body = reply.read()
        conn.close()
        out.append(time.perf_counter() - began)
        assert reply.status == 200 and json.loads(body)['ports'], body
    return out


def load(url: str, paths: list[str], clients: int, seconds: float
         ) -> tuple[float, float, float]:
    """requests/s, p50 and p99 latency (ms) of ``clients`` processes."""
    with multiprocessing.Pool(clients) as pool:
        runs = pool.map(_client, [(url, paths, seconds, i)
                                  for i in range(clients)])
    latencies = [t for run in runs for t in run]
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / seconds, cuts[49] * 1000, cuts[98] * 1000


def device_paths(settings: dict, count: int = 500) -> list[str]:
    nova = model.build(source.read(settings['source']))
    devices = [p.instance.uuid for p in nova.ports.values()]
    return [f'/v2.0/ports?device_id={d}'
            for d in random.Random(1).sample(devices, min(count,
                                                          len(devices)))]


def generated(workdir: str, name: str, ports: int) -> dict:
    path = os.path.join(workdir, f'{name}.sqlite')
    gen = generate.generate(f'sqlite:///{path}', ports, dangling=False)
    settings = generate.settings(gen, ADMIN)
    settings['floating_pools']['nova']['physnet'] = 'bench-public'
    return settings


def bench_in_process(settings: dict, paths: list[str], n: int = 20000
                     ) -> None:
    views = loader.Loader(settings['source'], config.parse(settings))
    began = time.perf_counter()
    assert views.refresh()
    built = time.perf_counter() - began
    proxy = app.ProxyApp(views)
    environs = [webob.Request.blank(p).environ for p in paths]
    began = time.perf_counter()
    for i in range(n):
        b''.join(proxy(dict(environs[i % len(environs)]),
                       lambda *a: None))
    per = (time.perf_counter() - began) / n
    print(f'  in process: view built in {built:.1f}s '
          f'({len(views.current)} objects); {per * 1e6:.0f} us per request '
          f'({1 / per:.0f}/s on one core)')


def bench_http(name: str, url: str, paths: list[str], clients: int,
               seconds: float) -> None:
    rate, p50, p99 = load(url, paths, clients, seconds)
    print(f'  {name:30} {rate:8.0f} req/s   p50 {p50:6.1f} ms   '
          f'p99 {p99:6.1f} ms')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ports', type=int, default=100_000,
                        help='proxy alone (0: skip)')
    parser.add_argument('--compare-ports', type=int, default=500,
                        help='proxy and Neutron side by side (0: skip)')
    parser.add_argument('--clients', type=int, default=4)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench-proxy-') as workdir:
        if args.ports:
            bench_alone(workdir, args)
        if args.compare_ports:
            bench_against_neutron(workdir, args)


def bench_alone(workdir: str, args) -> None:
    big = generated(workdir, 'big', args.ports)
    paths = device_paths(big)
    print(f'GET /v2.0/ports?device_id=... on {args.ports} ports, '
          f'{args.clients} client processes:')
    bench_in_process(big, paths)
    with ProxyServer(os.path.join(workdir, 'big'), big,
                     args.workers) as proxy:
        rss = proxy.worker_rss()
        print(f'  worker memory: {max(rss) / 2**20:.0f} MiB each')
        bench_http(f'proxy, {args.workers} gunicorn workers', proxy.url,
                   paths, args.clients, args.seconds)


def bench_against_neutron(workdir: str, args) -> None:
    small = generated(workdir, 'small', args.compare_ports)
    paths = device_paths(small)
    print(f'the same on {args.compare_ports} ports, proxy and a translated '
          'Neutron 29 (sqlite, 1 worker):')
    with LocalNeutron(os.path.join(workdir, 'neutron')) as server:
        neutron = Neutron.noauth(server.url)
        wanted = desired.translate(model.build(source.read(small['source'])),
                                   config.parse(small))
        actual = converge.fetch(neutron)
        began = time.monotonic()
        result = converge.apply(converge.diff(wanted, actual), neutron,
                                actual)
        assert not result.failures, result.failures[:3]
        print(f'  (translate apply: {len(wanted)} resources in '
              f'{time.monotonic() - began:.0f}s)')
        with ProxyServer(os.path.join(workdir, 'small'), small,
                         args.workers) as proxy:
            bench_http(f'proxy, {args.workers} gunicorn workers', proxy.url,
                       paths, args.clients, args.seconds)
        bench_http('Neutron 29', server.url, paths, args.clients,
                   args.seconds)

if __name__ == '__main__':
    main()
