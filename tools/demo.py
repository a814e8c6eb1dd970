"""The main job, end to end, against real services on loopback.

1. The freeze: a real Keystone and a real nova-api (sqlite in a temporary
   directory) with the freeze filter in nova's own pipeline; for each phase —
   thawed, full, writes, network, thawed again — the real ``freeze-ctl``
   toggles it and the table shows user x request -> HTTP status.  503 is the
   freeze; 403 is nova's own policy; 404 means the call reached nova (the demo
   aims actions at a missing server).
2. The data path of the cutover on a generated nova-network database: step 0,
   the read-only Neutron API over it (``nova-cutover proxy serve``) answering
   ``openstack network list`` and refusing a write; then ``nova-cutover
   translate apply`` and ``verify`` into a real Neutron 29, and the proxy's
   view compared with that Neutron's, resource by resource.
3. The whole cutover (tools/demo_cutover.py): ``nova-cutover run
   tools/cutover-demo.yaml`` on a nova-api of two workers on etcd, the step-0
   proxy, that Neutron and eight simulated compute hosts, one of which falls
   back; the runner killed with SIGKILL mid-stage and resumed; a tenant, an
   admin and the migration operator calling the APIs all along; the figures
   measured and the report's page written.

Stops everything it started.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid

import yaml


from tools.localneutron import LocalNeutron
from tools.localproxy import ProxyServer

from tools.novanet import generate
from freeze.translate import verify
from freeze.translate.held import fetch
from freeze.translate.neutron import Neutron, NeutronError
from tools import demo_cutover, localcloud
from tools.localetcd import LocalEtcd

BIN = os.path.dirname(sys.executable)

USERS = ['admin', 'demo-member', 'demo-migration', 'neutron']
PHASES = [('thawed', None), ('full', 'full'), ('writes', 'writes'),
          ('network', 'network'), ('thawed again', None)]
MISSING = str(uuid.UUID(int=0))


def requests_for(phase, user):
    """(label, method, path, body) of each request the table shows."""
    tag = f"{phase.replace(' ', '-')}-{user}"
    return [
        ('GET flavors', 'GET', '/v2.1/flavors', None),
        ('POST os-keypairs', 'POST', '/v2.1/os-keypairs',
         {'keypair': {'name': 'kp-' + tag}}),
        ('POST flavors', 'POST', '/v2.1/flavors',
         {'flavor': {'name': 'fl-' + tag, 'ram': 64, 'vcpus': 1,
                     'disk': 1}}),
        ('server action reboot', 'POST', f'/v2.1/servers/{MISSING}/action',
         {'reboot': {'type': 'SOFT'}}),
        ('server action migrate', 'POST', f'/v2.1/servers/{MISSING}/action',
         {'migrate': None}),
        ('POST external-events', 'POST', '/v2.1/os-server-external-events',
         {'events': [{'name': 'network-vif-plugged', 'server_uuid': MISSING,
                      'tag': 'port-1', 'status': 'completed'}]}),
        ('GET os-freeze', 'GET', '/v2.1/os-freeze', None),
    ]


def freeze_ctl(state_url, *args):
    command = [os.path.join(BIN, 'freeze-ctl'),
               '--state', state_url] + list(args) + ['-f', 'json']
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def wait_enforced(cloud, admin_token, frozen, timeout=10.0):
    """Wait until nova-api's freeze filter reports the state we just set."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = localcloud.call('GET', cloud.nova_url + '/v2.1/os-freeze',
                                token=admin_token)
        if reply.status == 200 and reply.body['freeze']['in_force'] == frozen:
            return
        time.sleep(0.1)
    raise RuntimeError(f'nova-api did not pick up the freeze in {timeout}s')


def print_table(results):
    labels = [label for label, _, _, _ in requests_for('x', 'y')]
    header = ['user', 'request'] + [name for name, _ in PHASES]
    rows = [[user, label] + [str(results[(name, user, label)])
                             for name, _ in PHASES]
            for user in USERS for label in labels]
    widths = [max(len(r[i]) for r in rows + [header])
              for i in range(len(header))]
    for i, row in enumerate([header] + rows):
        print('  '.join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print('  '.join('-' * w for w in widths))


def freeze_demo(cloud, state_url):
    results = {}
    for name, mode in PHASES:
        if mode:
            freeze_ctl(state_url, 'on', '--mode', mode, '--reason',
                       'demo: nova-network to neutron', '--for', '1h')
        elif results:
            freeze_ctl(state_url, 'off')
        # Fresh tokens each phase, as an operator's users would have.
        tokens = {user: cloud.token(user) for user in USERS}
        wait_enforced(cloud, tokens['admin'], frozen=bool(mode))
        for user in USERS:
            for label, method, path, body in requests_for(name, user):
                reply = localcloud.call(method, cloud.nova_url + path,
                                        body=body, token=tokens[user])
                results[(name, user, label)] = reply.status
    print_table(results)
    print('\n503 = blocked by the freeze, 403 = nova policy, 404 = reached '
          'nova (missing server), 2xx = done.\n')


def translate(action, settings):
    """``nova-cutover translate ACTION``: its exit code and last line."""
    done = subprocess.run(
        [os.path.join(BIN, 'nova-cutover'), 'translate', action, '--settings',
         settings, *(['--no-progress'] if action == 'apply' else [])],
        capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ''


def cutover_demo(workdir, server):
    print('2. The data path, on a generated nova-network database (FlatDHCP, '
          '12 instance ports, floating IPs, security groups).', flush=True)
    gen = generate.generate(f'sqlite:///{workdir}/nova-network.sqlite',
                            ports=12, projects=2, hosts=2)
    settings = generate.settings(gen, 'ad' * 16)
    with ProxyServer(os.path.join(workdir, 'proxy'), settings) as proxy:
        print('\nStep 0: nova-cutover proxy serve (read-only Neutron API) at '
              f'{proxy.url}\n$ openstack network list', flush=True)
        subprocess.run([os.path.join(BIN, 'openstack'), '--os-auth-type',
                        'none', '--os-endpoint', proxy.url, 'network', 'list',
                        '-c', 'Name', '-c', 'Subnets'], check=True)
        served = Neutron.noauth(proxy.url)
        try:
            served.create('networks', {'name': 'x'})
        except NeutronError as exc:
            print(f'POST /v2.0/networks -> {exc}\n')
        settings_file = os.path.join(workdir, 'translate.yaml')
        with open(settings_file, 'w') as f:
            yaml.safe_dump(dict(settings, neutron_url=server.url), f)
        for action in ('diff', 'apply', 'verify'):
            began = time.monotonic()
            rc, last = translate(action, settings_file)
            print(f'$ nova-cutover translate {action!s:<7} exit {rc} in '
                  f'{time.monotonic() - began:4.1f} s: {last}',
                  flush=True)
        neutron = Neutron.noauth(server.url)
        real, view = fetch(neutron), fetch(served)
        differences = (verify.compare(view, real)
                       + verify.compare(real, view))
        print(f'\nproxy vs Neutron after the translation: {len(view)} '
              f'resources each, {len(differences)} differences')
        for line in differences[:10]:
            print('  ' + line)


def main():
    workdir = tempfile.mkdtemp(prefix='nova-freeze-demo-')
    print(f'Working in {workdir}')
    state_url = f'file://{workdir}/freeze-state.json'
    paste = os.path.join(localcloud.REPO, 'paste', 'api-paste.ini')
    print('Starting Keystone, nova-api (with the freeze filter), a real '
          'Neutron 29 and etcd ...', flush=True)
    started = time.monotonic()
    with LocalEtcd(os.path.join(workdir, 'etcd')) as etcd, \
            LocalNeutron(workdir) as server, \
            localcloud.LocalCloud(workdir, paste, {'freeze': {
                'state_url': state_url}}) as cloud:
        print(f'Ready in {time.monotonic() - started:.0f} s: keystone '
              f'{cloud.keystone_url}, nova {cloud.nova_url}, neutron '
              f'{server.url}\n', flush=True)
        print('1. The freeze.', flush=True)
        freeze_demo(cloud, state_url)
        cutover_demo(workdir, server)
        print('\n3. The whole cutover, under load.', flush=True)
        demo_cutover.demo(cloud, etcd, server.url,
                          os.path.join(workdir, 'cutover'))
    print('\nStopped everything the demo started.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
