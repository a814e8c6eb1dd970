"""The whole cutover on the local cloud: ``make demo``'s third part and the
e2e test's run (tests/e2e/test_demo_cutover_e2e.py).

``nova-cutover run tools/cutover-demo.yaml`` on a site (tools/demosite.py)
while a load generator (tools/loadgen.py) plays a tenant, an admin and the
migration operator; mid-way through the compute stage the runner is killed
with SIGKILL and ``nova-cutover resume`` takes over; the run stops at the
translation's point of no return, and (``confirm``) goes past it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from freeze.cutover import availability, timeline_html
from tools import demosite, loadgen
from tools.localcloud import REPO

#: the nova-api of the demo: the freeze on etcd, heartbeats as test_cluster's
FREEZE = {'heartbeat_interval': '0.5', 'ack_expiry': '6', 'stale_after': '2'}


def nova_conf(state_url: str, neutron_url: str) -> dict:
    return {'freeze': dict(FREEZE, state_url=state_url),
            'neutron': {'endpoint_override': neutron_url}}


class Cutover:
    """``nova-cutover --journal URL ...`` in the site's environment."""

    def __init__(self, site: demosite.Site, journal: str, env: dict):
        self.site, self.journal, self.env = site, journal, env

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, '-m', 'freeze.cli.nova_cutover', '--journal',
             self.journal, *args], cwd=self.site.root, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def __call__(self, *args: str) -> tuple[int, str]:
        proc = self.start(*args)
        out, _ = proc.communicate(timeout=600)
        return proc.returncode, out

    def json(self, *args: str):
        rc, out = self(*args, '-f', 'json')
        if rc != 0:
            raise RuntimeError(f'nova-cutover {" ".join(args)}: {out}')
        return json.loads(out)


def switched(site: demosite.Site) -> int:
    """Hosts whose nova.conf says Neutron."""
    return sum('use_neutron = True' in (
        site.fleet.dir(h) / 'etc' / 'nova' / 'nova.conf').read_text()
        for h in site.fleet.hosts)


def run_with_kill(cutover: Cutover, say, kill_after: int = 3) -> list[tuple]:
    """``run`` the plan, SIGKILL it once ``kill_after`` hosts have switched,
    ``resume`` past the fallen-back host until the point of no return.
    Returns (command, exit code) of each."""
    steps = []
    runner = cutover.start('run', demosite.PLAN, '--skip-fallen-back-hosts')
    while switched(cutover.site) < kill_after and runner.poll() is None:
        time.sleep(0.02)
    runner.send_signal(signal.SIGKILL)
    out, _ = runner.communicate()
    say(f'$ nova-cutover run {os.path.relpath(demosite.PLAN, REPO)} '
        '--skip-fallen-back-hosts\n  ... SIGKILL with '
        f'{switched(cutover.site)} host(s) switched, commands in flight')
    steps.append(('run', runner.returncode))
    # the compute stage goes on to its end with a host fallen back; the
    # run goes on without it
    rc, out = cutover('resume', '--skip-fallen-back-hosts')
    say(f'$ nova-cutover resume --skip-fallen-back-hosts: exit {rc}\n  '
        + out.strip().splitlines()[-1])
    steps.append(('resume', rc))
    return steps


def play(site: demosite.Site, cutover: Cutover, nova_url: str, token,
         keystone_env: dict, confirm: bool, say=print) -> dict:
    """The run under load.  Returns the steps, the load's records, the
    report (``report -f json``) and the figures."""
    facts = site.facts
    admin = token('admin')
    load = loadgen.LoadGenerator(
        nova_url, token, lambda: demosite.network_endpoint(
            keystone_env['OS_AUTH_URL'], admin, facts['service_id']),
        {facts['proxy_url']: 'proxy', facts['neutron_url']: 'neutron'})
    load.start()
    try:
        time.sleep(1)   # some answers before the first freeze
        steps = run_with_kill(cutover, say)
        if confirm:
            # the rest of the plan goes on without the fallen-back host too
            rc, out = cutover('resume', '--confirm-point-of-no-return',
                              '--skip-fallen-back-hosts')
            say('$ nova-cutover resume --confirm-point-of-no-return '
                f'--skip-fallen-back-hosts: exit {rc}\n  '
                + out.strip().splitlines()[-1])
            steps.append(('confirm', rc))
        time.sleep(1)   # and some after the last thaw
    finally:
        records = load.stop()
    load.write(os.path.join(site.root, 'requests.jsonl'))
    report = cutover.json('report')
    return {'steps': steps, 'records': records, 'report': report,
            'figures': loadgen.figures(records, report)}


def demo(cloud, etcd, neutron_url: str, workdir: str) -> dict:
    """``make demo``'s third part: the run, its figures and its report."""
    state_url = etcd.state_url('/demo-cutover')
    started = time.monotonic()
    api = cloud.start_nova(os.path.join(REPO, 'paste', 'api-paste.ini'),
                           nova_conf(state_url, neutron_url), workers=2)
    keystone = cloud.os_env('admin')
    site = demosite.Site.create(os.path.join(workdir, 'site'), keystone,
                                state_url, neutron_url)
    cutover = Cutover(site, f'sqlite:///{workdir}/journal.sqlite',
                      site.env(keystone))
    print(f'nova-api with 2 workers on etcd ready in '
          f'{time.monotonic() - started:.0f} s; {len(site.fleet.hosts)} '
          f'compute hosts in {site.root}/fleet ({demosite.FAULTY} cannot '
          'reach Neutron).\n', flush=True)
    try:
        result = play(site, cutover, api.url, cloud.token, keystone,
                      confirm=True,
                      say=lambda text: print(text, flush=True))
        html = os.path.join(workdir, 'cutover-report.html')
        requests = os.path.join(site.root, 'requests.jsonl')
        rc, out = cutover('report', '--html', html, '--requests', requests)
        if rc:
            raise RuntimeError(out)
        # the page's drawing alone, as the README shows it
        picture = os.path.join(workdir, 'cutover-report.svg')
        report = result['report']
        with open(picture, 'w') as f:
            f.write(timeline_html.svg(report, availability.measured(
                loadgen.read(requests), *timeline_html.bounds(report))))
        print('\nMeasured while the plan ran:')
        for line in loadgen.lines(result['figures']):
            print('  ' + line)
        print(f'\nThe report: {html} (its drawing: {picture})')
        return result
    finally:
        site.stop(keystone)
        api.stop()
