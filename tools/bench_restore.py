"""Benchmark of ``translate restore``: nova-network straight into Neutron's
database (full, no change, a delta), against ``apply`` through Neutron's
API.

1. A generated FlatDHCP multi_host nova-network of --ports ports; a throwaway
   PostgreSQL (tools/localpostgres.py) migrated by Neutron's own
   ``neutron-db-manage`` (all but its MySQL-only migration, see
   tools/localneutron.py).
2. restore, end to end as the command runs it: read nova-network, model,
   translate, read Neutron's tables, diff, write, commit. Then a no-change
   restore, then a --delta share of the source changed (new instances,
   released floating IPs, new rules) and restored.
3. A real Neutron 29 (--server-workers gunicorn workers) started on that
   database: a new port on a restored network; ``verify`` through its API
   (--verify, slow at 100k: it lists every port).
4. ``apply`` through the API of a second Neutron (same PostgreSQL server, a
   database of its own) on a slice: a database generated the same way with
   --apply-ports ports. The ratio of the two rates is printed.

Usage: python -m tools.bench_restore [--ports N] [--delta F]
[--apply-ports N] [--server-workers N] [--verify]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import closing

import psycopg2

from tools.localneutron import LocalNeutron
from tools.localpostgres import LocalPostgres

from tools.novanet import generate
from freeze.translate import fromnova, keys, neutrondb
from freeze.translate.apply import apply
from freeze.translate.changes import diff
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron
from freeze.translate.settings import Settings

ADMIN = 'ad' * 16


def restore(gen, settings, url):
    """One run, as ``translate restore`` does it; (outcome, seconds)."""
    began = time.perf_counter()
    wanted = fromnova.desired(gen.url, settings)
    outcome = neutrondb.run(url, wanted, force=True)
    return outcome, time.perf_counter() - began


def load() -> str:
    return '%.1f %.1f %.1f' % os.getloadavg()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ports', type=int, default=100_000)
    parser.add_argument('--delta', type=float, default=0.01)
    parser.add_argument('--apply-ports', type=int, default=300)
    parser.add_argument('--server-workers', type=int, default=3)
    parser.add_argument('--verify', action='store_true')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench-restore-') as work, \
            LocalPostgres() as pg:
        gen = generate.generate(f'sqlite:///{work}/nova.sqlite', args.ports,
                                dangling=False)
        settings = Settings.parse(generate.settings(gen, ADMIN))
        server = LocalNeutron(os.path.join(work, 'neutron'), database=pg.url(),
                              workers=args.server_workers)
        server.prepare()
        print(f'{args.ports} ports generated; load {load()}')

        outcome, full = restore(gen, settings, pg.url())
        ports = outcome.changes.counts()['port']['create']
        print(f'restore, {ports} ports ({len(outcome.changes)} '
              f'resources, {len(outcome.writes)} row operations): '
              f'{full:.1f}s = {ports / full:.0f} ports/s; load {load()}')
        outcome, took = restore(gen, settings, pg.url())
        assert not outcome.changes
        print(f'no-change restore: {took:.1f}s')
        generate.mutate(gen, int(args.ports * args.delta))
        outcome, delta = restore(gen, settings, pg.url())
        print(f'{args.delta:.0%} delta restore ({len(outcome.changes)} '
              f'changes {outcome.changes.counts()}): {delta:.1f}s; '
              f'load {load()}')

        with server:
            neutron = Neutron.noauth(server.url)
            # Neutron writes after the restore: ids, sequence and IPAM agree
            net = neutron.list('networks', tags=keys.MARK, shared=True)[0]
            port = neutron.create('ports', {'network_id': net['id'],
                                            'project_id': ADMIN})
            print(f'Neutron on the restored database: a new port got '
                  f'{port["fixed_ips"][0]["ip_address"]}')
            neutron.delete('ports', port['id'])
            if args.verify:
                began = time.perf_counter()
                wanted = fromnova.desired(gen.url, settings)
                left = diff(wanted, fetch(neutron))
                assert not left, left.counts()
                print(f'verify through the API: no difference '
                      f'({time.perf_counter() - began:.0f}s)')

        if not args.apply_ports:
            return
        rate = bench_apply(work, pg, args)
        print(f'restore / apply: {ports / full:.0f} / {rate:.1f} ports/s = '
              f'{ports / full / rate:.0f}x')


def bench_apply(work: str, pg: LocalPostgres, args) -> float:
    """``apply`` through the API into a fresh Neutron: ports/s over the
    whole run (groups, networks, ports, floating IPs)."""
    with closing(psycopg2.connect(pg.url('postgresql').replace(
            '/neutron', '/postgres'))) as conn:
        conn.autocommit = True
        conn.cursor().execute('CREATE DATABASE apply')
    url = pg.url().rsplit('/', 1)[0] + '/apply'
    gen = generate.generate(f'sqlite:///{work}/slice.sqlite',
                            args.apply_ports, dangling=False)
    settings = Settings.parse(generate.settings(gen, ADMIN))
    with LocalNeutron(os.path.join(work, 'apply'), database=url,
                      workers=args.server_workers) as server:
        neutron = Neutron.noauth(server.url)
        began = time.perf_counter()
        wanted = fromnova.desired(gen.url, settings)
        actual = fetch(neutron)
        result = apply(diff(wanted, actual), neutron, actual, workers=3,
                       bulk_size=25)
        took = time.perf_counter() - began
        assert not result.failures, result.failures[:3]
    ports = len(wanted.resources['port'])
    print(f'apply through the API, {ports} ports: {took:.0f}s = '
          f'{ports / took:.1f} ports/s; load {load()}')
    return ports / took


if __name__ == '__main__':
    main()
