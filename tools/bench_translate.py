"""Benchmark of the nova-network -> Neutron translation.

1. In memory: read + model + desired state for --translate-ports ports.
2. Against a real local Neutron (tools/localneutron.py), --apply-ports ports:
   the port phase of ``apply`` compared with the best the same server does
   with plain parallel bulk POSTs (same workers, same bulk size); then a
   no-change apply and a 1% delta.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)

from localneutron import LocalNeutron  # noqa: E402

from freeze.novanet import generate, model, source  # noqa: E402
from freeze.translate import config, converge, desired  # noqa: E402
from freeze.translate.neutron import Neutron  # noqa: E402

ADMIN = 'ad' * 16


def timed(fn, *args):
    began = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - began


def bench_memory(workdir: str, ports: int) -> None:
    url = f'sqlite:///{workdir}/mem.sqlite'
    gen, took = timed(generate.generate, url, ports)
    settings = config.parse(generate.settings(gen, ADMIN))
    rows, t_read = timed(source.read, url)
    nova, t_model = timed(model.build, rows)
    wanted, t_map = timed(desired.translate, nova, settings)
    print(f'in memory, {len(nova.ports)} ports ({took:.0f}s to generate):\n'
          f'  read rows {t_read:6.2f}s   model {t_model:6.2f}s   '
          f'mapping {t_map:6.2f}s   model+mapping {t_model + t_map:6.2f}s '
          f'(goal <= 5 s); {len(wanted)} resources')


def baseline(neutron: Neutron, ports: int, workers: int, bulk: int) -> float:
    """Ports/s of plain parallel bulk POSTs on a scratch network."""
    net = neutron.create('networks', {'name': 'bench', 'project_id': ADMIN,
                                      'provider:network_type': 'vlan',
                                      'provider:physical_network': 'physnet2',
                                      'provider:segmentation_id': 3999})
    sub = neutron.create('subnets', {'network_id': net['id'], 'ip_version': 4,
                                     'cidr': '10.200.0.0/16',
                                     'project_id': ADMIN})
    bodies = [{'network_id': net['id'], 'project_id': ADMIN,
               'fixed_ips': [{'subnet_id': sub['id']}],
               'device_owner': 'compute:nova', 'device_id': f'd{i}',
               'binding:host_id': 'compute-0', 'tags': ['bench']}
              for i in range(ports)]
    chunks = [bodies[i:i + bulk] for i in range(0, ports, bulk)]
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda c: neutron.create_bulk('ports', c), chunks))
    rate = ports / (time.perf_counter() - began)
    for port in neutron.list('ports', tags='bench'):
        neutron.delete('ports', port['id'])
    neutron.delete('networks', net['id'])
    return rate


def apply_kinds(wanted, neutron, kinds, workers, bulk):
    actual = converge.fetch(neutron)
    plan = converge.diff(wanted, actual)
    plan = converge.Plan([c for c in plan.changes if c.kind in kinds])
    result = converge.apply(plan, neutron, actual, workers, bulk)
    assert not result.failures, result.failures[:5]
    return len(plan.changes)


def bench_apply(workdir: str, ports: int, workers: int, bulk: int) -> None:
    url = f'sqlite:///{workdir}/apply.sqlite'
    gen = generate.generate(url, ports, dangling=False)
    settings = config.parse(generate.settings(gen, ADMIN))

    def wanted():
        return desired.translate(model.build(source.read(url)), settings)

    with LocalNeutron(os.path.join(workdir, 'neutron')) as server:
        neutron = Neutron.noauth(server.url)
        best = baseline(neutron, ports, workers, bulk)
        w = wanted()
        before = [k for k in desired.KINDS if k not in ('port', 'floatingip')]
        apply_kinds(w, neutron, before, workers, bulk)
        n, took = timed(apply_kinds, w, neutron, ['port'], workers, bulk)
        apply_kinds(w, neutron, ['floatingip'], workers, bulk)
        rate = n / took
        print(f'apply, {n} ports, {workers} workers, bulk {bulk}:\n'
              f'  plain parallel bulk POSTs {best:6.1f} ports/s\n'
              f'  apply (port phase)        {rate:6.1f} ports/s   ratio '
              f'{rate / best:.2f} (goal >= 0.9)')
        (_, t_same) = timed(lambda: apply_kinds(wanted(), neutron,
                                                desired.KINDS, workers, bulk))
        print(f'  no-change apply (read nova, fetch, diff) {t_same:6.1f}s')
        project = gen.projects[0]
        for _ in range(max(ports // 100, 1)):
            generate.add_instance(url, project, gen.network_ids[0],
                                  'compute-1',
                                  [gen.group_ids[project]['default']])
        (count, t_delta) = timed(lambda: apply_kinds(
            wanted(), neutron, desired.KINDS, workers, bulk))
        print(f'  1% delta apply ({count} changes)       {t_delta:6.1f}s')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--translate-ports', type=int, default=100_000)
    parser.add_argument('--apply-ports', type=int, default=10_000)
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--bulk-size', type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench-translate-') as workdir:
        if args.translate_ports:
            bench_memory(workdir, args.translate_ports)
        if args.apply_ports:
            bench_apply(workdir, args.apply_ports, args.workers,
                        args.bulk_size)


if __name__ == '__main__':
    main()
