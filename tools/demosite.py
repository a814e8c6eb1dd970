"""The site the local cutover runs on (``make demo``'s third part, its e2e
test): what an operator's hosts and services would be, on loopback.

``Site.create`` lays out one directory, ``$CUTOVER_SITE``, that the shipped
plan (tools/cutover-demo.yaml) works on through ordinary commands on its
PATH, as an operator's plan works through ssh and systemctl:

- ``ssh HOST CMD`` and, on a host, ``service NAME ...``: a fleet of
  simulated compute hosts (tools/fleet.py), one of which cannot reach
  Neutron (its switch fails and falls back);
- ``neutron-proxy start|stop|status``: the step-0 proxy, the real
  ``nova-cutover proxy serve`` over a generated nova-network database;
- ``neutron-endpoint set proxy|neutron|is ...|unset|check``: the
  ``network`` endpoint in the real Keystone's catalog, the switch that
  points clients at the real Neutron;
- ``freeze-ctl --config-file $CUTOVER_SITE/freeze.conf``: the freeze on the
  etcd state the nova-api workers watch, grants in Keystone;
- ``nova-cutover translate ... --config $CUTOVER_SITE/translate.yaml``.

``python -m tools.demosite proxy|endpoint ...`` is what those wrappers run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
import uuid

import yaml

from tools.fleet import Fleet
from tools.localcloud import (
    REPO, call, check_reply, free_port, write_ini)
from tools.localproxy import ProxyServer
from tools.novanet import generate

PLAN = os.path.join(REPO, 'tools', 'cutover-demo.yaml')
#: the host whose nova-compute cannot reach Neutron
FAULTY = 'cmp005'
ADMIN_PROJECT = 'ad' * 16
BIN = os.path.dirname(sys.executable)


class Site:
    """The directory ``$CUTOVER_SITE`` and what is recorded in it."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.fleet = Fleet(os.path.join(self.root, 'fleet'), size=8, cells=2)
        self.settings_path = os.path.join(self.root, 'translate.yaml')

    @property
    def facts(self) -> dict:
        with open(os.path.join(self.root, 'site.json')) as f:
            return json.load(f)

    @classmethod
    def create(cls, root: str, keystone_env: dict, state_url: str,
               neutron_url: str) -> Site:
        """Lay the site out: hosts, nova-network data, settings, the
        ``network`` service in Keystone (no endpoint yet: step 0 adds it)."""
        site = cls(root)
        os.makedirs(os.path.join(site.root, 'bin'), exist_ok=True)
        site.fleet.create()
        with open(site.fleet.dir(FAULTY) / 'fault-neutron', 'w') as f:
            f.write('no route to the Neutron server from this rack\n')
        gen = generate.generate(f'sqlite:///{site.root}/nova-network.sqlite',
                                ports=4, projects=1, hosts=1, seed=19)
        settings = generate.settings(gen, ADMIN_PROJECT)
        # Physnets of its own: Neutron takes one flat network per physnet,
        # and the tests' Neutron is shared.
        settings['physnets']['eth1'] = 'demo-flat'
        settings['floating_pools'][generate.FLOATING_POOL]['physnet'] = \
            'demo-public'
        with open(site.settings_path, 'w') as f:
            yaml.safe_dump(dict(settings, neutron_url=neutron_url), f)
        write_ini(os.path.join(site.root, 'freeze.conf'),
                  {'freeze': {'state_url': state_url}})
        service = check_reply(call(
            'POST', keystone_env['OS_AUTH_URL'] + '/services',
            {'service': {'type': 'network',
                         'name': f'neutron-{uuid.uuid4().hex[:8]}'}},
            token=_admin_token(keystone_env)), 'network service').body
        with open(os.path.join(site.root, 'site.json'), 'w') as f:
            json.dump({'proxy_url': f'http://127.0.0.1:{free_port()}',
                       'neutron_url': neutron_url,
                       'service_id': service['service']['id'],
                       'settings': settings}, f)
        for name, command in (('neutron-proxy', 'proxy'),
                              ('neutron-endpoint', 'endpoint')):
            path = os.path.join(site.root, 'bin', name)
            with open(path, 'w') as f:
                f.write(f'#!/bin/sh\nPYTHONPATH={shlex.quote(REPO)} exec '
                        f'{shlex.quote(sys.executable)} -m tools.demosite '
                        f'{command} "$@"\n')
            os.chmod(path, 0o755)
        return site

    def env(self, keystone_env: dict) -> dict:
        """The environment nova-cutover runs the plan in."""
        return dict(os.environ, **keystone_env, CUTOVER_SITE=self.root,
                    PYTHONPATH=os.pathsep.join(
                        [REPO] + os.environ.get('PYTHONPATH', '').split(
                            os.pathsep)).rstrip(os.pathsep),
                    PATH=os.pathsep.join([str(self.fleet.root / 'bin'),
                                          os.path.join(self.root, 'bin'), BIN,
                                          os.environ.get('PATH', '')]))

    def stop(self, keystone_env: dict) -> None:
        """Stop the hosts' processes and the proxy, whatever the plan left,
        and take the ``network`` service (with its endpoints) out of the
        catalog: a Keystone shared with others must not keep pointing at a
        Neutron the site no longer runs."""
        self.fleet.stop()
        _stop_proxy(self)
        service = self.facts['service_id']
        reply = call('DELETE', f'{keystone_env["OS_AUTH_URL"]}/services/'
                     f'{service}', token=_admin_token(keystone_env))
        if reply.status != 404:
            check_reply(reply, 'delete network service')


# -- neutron-proxy ---------------------------------------------------------

def _pidfile(site: Site) -> str:
    return os.path.join(site.root, 'proxy.pid')


def _proxy_pid(site: Site) -> int | None:
    try:
        with open(_pidfile(site)) as f:
            pid = int(f.read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _start_proxy(site: Site) -> int:
    if _proxy_pid(site):
        return 0
    workdir = os.path.join(site.root, 'proxy')
    server = ProxyServer(workdir, site.facts['settings'], workers=1,
                         url=site.facts['proxy_url'])
    if os.path.exists(server.log_path):
        os.remove(server.log_path)  # readiness is counted in it
    server.start()
    with open(_pidfile(site), 'w') as f:
        f.write(str(server.pid))
    return 0


def _stop_proxy(site: Site) -> int:
    pid = _proxy_pid(site)
    if pid:  # not our child (its starter has exited): poll for its end
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _proxy_pid(site) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _proxy_pid(site):
            os.killpg(pid, signal.SIGKILL)
    if os.path.exists(_pidfile(site)):
        os.remove(_pidfile(site))
    return 0


def _proxy(site: Site, action: str) -> int:
    if action == 'start':
        return _start_proxy(site)
    if action == 'stop':
        return _stop_proxy(site)
    return 0 if _proxy_pid(site) else 1


# -- neutron-endpoint ------------------------------------------------------

def _admin_token(env) -> str:
    reply = call('POST', env['OS_AUTH_URL'] + '/auth/tokens', {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': env['OS_USERNAME'], 'password': env['OS_PASSWORD'],
            'domain': {'name': env['OS_USER_DOMAIN_NAME']}}}},
        'scope': {'project': {'name': env['OS_PROJECT_NAME'], 'domain': {
            'name': env['OS_PROJECT_DOMAIN_NAME']}}}}})
    return check_reply(reply, 'admin token').headers['X-Subject-Token']


def network_endpoint(keystone_url: str, token: str, service_id: str
                     ) -> str | None:
    """The public URL the catalog gives for the site's network service."""
    reply = check_reply(call('GET', keystone_url + '/endpoints?service_id='
                             + service_id + '&interface=public', token=token),
                        'endpoints')
    urls = [e['url'] for e in reply.body['endpoints']]
    return urls[0] if urls else None


def _endpoint(site: Site, action: str, target: str | None) -> int:
    env, facts = os.environ, site.facts
    base, token = env['OS_AUTH_URL'], _admin_token(env)
    service = facts['service_id']
    current = network_endpoint(base, token, service)
    wanted = facts.get(f'{target}_url') if target else None
    if action == 'is':
        return 0 if current == wanted else 1
    if action == 'check':
        reply = call('GET', current + '/v2.0/networks', token=token)
        print(f'{current}: {len(reply.body["networks"])} network(s)'
              if reply.status == 200 else f'{current}: {reply.status}')
        return 0 if reply.status == 200 and reply.body['networks'] else 1
    listed = check_reply(call('GET', f'{base}/endpoints?service_id={service}',
                              token=token), 'endpoints').body['endpoints']
    for endpoint in listed:
        check_reply(call('DELETE', f'{base}/endpoints/{endpoint["id"]}',
                         token=token), 'delete endpoint')
    if action == 'set':
        for interface in ('public', 'internal', 'admin'):
            check_reply(call('POST', base + '/endpoints', {'endpoint': {
                'service_id': service, 'interface': interface,
                'region_id': env.get('OS_REGION_NAME', 'RegionOne'),
                'url': wanted}}, token=token), 'create endpoint')
        print(f'network endpoint: {wanted} (was {current})')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='demosite')
    sub = parser.add_subparsers(dest='what', required=True)
    sub.add_parser('proxy').add_argument(
        'action', choices=('start', 'stop', 'status'))
    p = sub.add_parser('endpoint')
    p.add_argument('action', choices=('set', 'is', 'unset', 'check'))
    p.add_argument('target', nargs='?', choices=('proxy', 'neutron'))
    args = parser.parse_args(argv)
    site = Site(os.environ['CUTOVER_SITE'])
    if args.what == 'proxy':
        return _proxy(site, args.action)
    if args.action in ('set', 'is') and not args.target:
        parser.error(f'endpoint {args.action} needs proxy or neutron')
    return _endpoint(site, args.action, args.target)


if __name__ == '__main__':
    sys.exit(main())
