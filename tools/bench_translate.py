"""Benchmark: the translation's time in memory; apply's rate against Neutron's.

How long reading, modelling and translating a large nova-network takes, and
how close ``apply`` comes to the port rate a real Neutron sustains at best:

1. In memory, --translate-ports ports: read the rows, then model + desired
   state (goal: model + mapping <= 5 s for 100k ports).
2. Against a real Neutron (tools/localneutron.py on PostgreSQL from
   tools/localpostgres.py, --server-workers gunicorn workers),
   --apply-ports ports:
   a. the best the server sustains: plain parallel bulk POSTs of the
      translation's first --baseline-ports ports, onto scratch copies of
      their network and groups, for each --clients setting (client workers
      x bulk size);
   b. the port phase of ``apply`` with the best of those settings, and its
      ratio to that best (goal >= 0.9);
   c. a no-change ``apply``: read nova, translate, fetch Neutron, diff;
   d. a 1% delta of the source (new instances, released floating IPs, new
      rules), planned and applied.

Scratch ports are left in place: deleting them costs as much as creating
them, and they are neither tagged nor on the translation's networks.

Usage: python -m tools.bench_translate [--translate-ports N]
[--apply-ports N] [--server-workers N] [--clients WxB,...]
[--baseline-ports N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor


from tools.localneutron import LocalNeutron
from tools.localpostgres import LocalPostgres

from freeze.novanet import model, source
from tools.novanet import generate
from freeze.translate import desired, fromnova, keys
from freeze.translate.apply import apply
from freeze.translate.changes import Changes, diff
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron
from freeze.translate.settings import Settings

ADMIN = 'ad' * 16


def timed(fn, *args):
    began = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - began


def bench_memory(workdir: str, ports: int) -> None:
    url = f'sqlite:///{workdir}/mem.sqlite'
    gen, took = timed(generate.generate, url, ports)
    settings = Settings.parse(generate.settings(gen, ADMIN))
    rows, t_read = timed(source.read, url)
    nova, t_model = timed(model.build, rows)
    wanted, t_map = timed(desired.translate, nova, settings)
    print(f'in memory, {len(nova.ports)} ports ({took:.0f}s to generate):\n'
          f'  read rows {t_read:6.2f}s   model {t_model:6.2f}s   '
          f'mapping {t_map:6.2f}s   model+mapping {t_model + t_map:6.2f}s '
          f'(goal <= 5 s); {len(wanted)} resources', flush=True)


class Baseline:
    """Plain bulk POSTs of the translation's own ports (same MAC, addresses,
    number of groups, host, owner, two tags), each run onto a scratch copy
    of their network (same IPv4 and SLAAC subnets) with scratch copies of
    their groups: the same work for Neutron, without the tool."""

    def __init__(self, neutron: Neutron, wanted: desired.Desired,
                 ports: int):
        self.n = neutron
        self.vlans = itertools.count(3000)
        self.ports = list(itertools.islice(
            (r.body for key, r in wanted.resources['port'].items()
             if keys.is_instance_port(key)), ports))
        net = self.ports[0]['network_id'].key
        self.subnets = [wanted.resources['subnet'][key].body
                        for key in (keys.subnet4(net), keys.subnet6(net))
                        if key in wanted.resources['subnet']]
        self.groups = {ref: neutron.create('security-groups', {
            'name': f'bench {ref}', 'project_id': wanted.resources[
                'security_group'][ref.key].body['project_id']})['id']
            for ref in {g for p in self.ports for g in p['security_groups']}}

    def rate(self, workers: int, bulk: int, ports: int | None = None
             ) -> float:
        """Sustained ports/s of ``workers`` clients, ``bulk`` ports each
        request, over the first ``ports`` ports (all by default)."""
        net = self.n.create('networks', {
            'name': 'bench', 'project_id': ADMIN, 'shared': True,
            'provider:network_type': 'vlan',
            'provider:physical_network': 'physnet2',
            'provider:segmentation_id': next(self.vlans)})['id']
        sub4 = None
        for body in self.subnets:
            sub = self.n.create('subnets', {**{
                f: body[f] for f in ('ip_version', 'cidr', 'gateway_ip',
                                     'ipv6_address_mode', 'ipv6_ra_mode')
                if body.get(f) is not None},
                'network_id': net, 'project_id': ADMIN})
            if body['ip_version'] == 4:
                sub4 = sub['id']
        bodies = [{
            'network_id': net, 'project_id': port['project_id'],
            'mac_address': port['mac_address'],
            'fixed_ips': [{'subnet_id': sub4, 'ip_address': ip}
                          for ref, ip in port['fixed_ips']
                          if not keys.is_slaac(ref.key)],
            'security_groups': [self.groups[g]
                                for g in port['security_groups']],
            'device_id': port['device_id'],
            'device_owner': port['device_owner'],
            'binding:host_id': port['binding:host_id'],
            'description': f'bench {i}', 'tags': ['bench', f'bench:{i}']}
            for i, port in enumerate(self.ports[:ports])]
        chunks = [bodies[i:i + bulk] for i in range(0, len(bodies), bulk)]
        began = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda c: self.n.create_bulk('ports', c), chunks))
        return len(bodies) / (time.perf_counter() - began)


def apply_kinds(wanted, neutron, kinds, workers, bulk):
    """fetch + diff + apply of the changes of those kinds; the number of
    changes and the seconds taken by apply alone."""
    actual = fetch(neutron)
    plan = diff(wanted, actual)
    plan = Changes([c for c in plan if c.kind in kinds], plan.adopted)
    result, took = timed(apply, plan, neutron, actual, workers, bulk)
    assert not result.failures, result.failures[:5]
    return len(plan), took


def bench_apply(workdir: str, ports: int, server_workers: int,
                clients: list[tuple[int, int]], baseline_ports: int) -> None:
    url = f'sqlite:///{workdir}/apply.sqlite'
    gen = generate.generate(url, ports, dangling=False)
    settings = Settings.parse(generate.settings(gen, ADMIN))

    def wanted():
        return fromnova.desired(url, settings)

    with LocalPostgres() as db, LocalNeutron(
            os.path.join(workdir, 'neutron'), database=db.url(),
            workers=server_workers) as server:
        neutron = Neutron.noauth(server.url)
        print(f'Neutron: {server_workers} gunicorn sync workers on '
              f'PostgreSQL', flush=True)
        w = wanted()
        base = Baseline(neutron, w, baseline_ports)
        # A cold server is slower (lazy loading, projects' default groups).
        base.rate(*clients[0], ports=2 * clients[0][1])
        rates = {}
        for workers, bulk in clients:
            rates[workers, bulk] = base.rate(workers, bulk)
            print(f'  plain bulk POSTs, {workers} clients, bulk {bulk:3}: '
                  f'{rates[workers, bulk]:6.2f} ports/s', flush=True)
        (workers, bulk), best = max(rates.items(), key=lambda kv: kv[1])
        _, t_before = timed(apply_kinds, w, neutron, [
            k for k in desired.KINDS if k not in ('port', 'floatingip')],
            workers, bulk)
        n, took = apply_kinds(w, neutron, ['port'], workers, bulk)
        apply_kinds(w, neutron, ['floatingip'], workers, bulk)
        rate = n / took
        print(f'apply, {n} ports, {workers} clients, bulk {bulk} '
              f'(networks, groups, rules first: {t_before:.0f}s):\n'
              f'  best plain bulk POSTs   {best:6.2f} ports/s\n'
              f'  apply (port phase)      {rate:6.2f} ports/s   ratio '
              f'{rate / best:.2f} (goal >= 0.9)', flush=True)
        (count, _), t_same = timed(lambda: apply_kinds(
            wanted(), neutron, desired.KINDS, workers, bulk))
        assert count == 0, f'{count} changes after a full apply'
        print(f'  no-change apply (read, translate, fetch, diff) '
              f'{t_same:6.1f}s', flush=True)
        generate.mutate(gen, max(ports // 100, 4))
        w, t_translate = timed(wanted)
        actual, t_fetch = timed(fetch, neutron)
        plan = diff(w, actual)
        result, t_apply = timed(apply, plan, neutron, actual,
                                workers, bulk)
        assert not result.failures, result.failures[:5]
        print(f'  1% delta, {len(plan.items)} changes {plan.counts()}:\n'
              f'    read+translate {t_translate:5.1f}s  fetch '
              f'{t_fetch:5.1f}s  apply {t_apply:5.1f}s  total '
              f'{t_translate + t_fetch + t_apply:5.1f}s', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--translate-ports', type=int, default=100_000)
    parser.add_argument('--apply-ports', type=int, default=10_000)
    parser.add_argument('--server-workers', type=int, default=3)
    parser.add_argument(
        '--clients', default='6x50,8x50',
        help='baseline settings, client workers x bulk size, comma-separated')
    parser.add_argument('--baseline-ports', type=int, default=1000)
    args = parser.parse_args()
    clients = [tuple(map(int, c.split('x'))) for c in args.clients.split(',')]
    with tempfile.TemporaryDirectory(prefix='bench-translate-') as workdir:
        if args.translate_ports:
            bench_memory(workdir, args.translate_ports)
        if args.apply_ports:
            bench_apply(workdir, args.apply_ports, args.server_workers,
                        clients, args.baseline_ports)


if __name__ == '__main__':
    main()
