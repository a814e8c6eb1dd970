"""Benchmark: requests/s and latency of the read-only Neutron API (the proxy).

``GET /v2.0/ports?device_id=<instance>``, the call nova makes most:

1. in process: the proxy app's cost per request on a --ports database;
2. the proxy under gunicorn (``nova-cutover proxy serve``) on that
   database: requests/s and p50/p99 latency with --clients client threads;
3. the same query, same clients, against the proxy and a real Neutron 29
   (tools/localneutron.py, sqlite) after ``translate apply`` of a
   --compare-ports database: Neutron creates a few ports per second on
   sqlite, so the side-by-side runs at the size it can be filled to.

Usage: python -m tools.bench_proxy [--ports N] [--compare-ports N]
[--clients N] [--workers N] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import urllib.parse

import webob


from tools.localneutron import LocalNeutron
from tools.localproxy import ProxyServer

from freeze.novanet import model, source
from tools.novanet import generate
from freeze.proxy import app, loader
from freeze.translate import fromnova
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron
from freeze.translate.settings import Settings

ADMIN = 'be' * 16
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
    views = loader.Loader(settings['source'], Settings.parse(settings))
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
        wanted = fromnova.desired(small['source'], Settings.parse(small))
        actual = fetch(neutron)
        began = time.monotonic()
        result = apply(diff(wanted, actual), neutron, actual)
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
