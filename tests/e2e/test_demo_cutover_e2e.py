"""The whole cutover of ``make demo`` as a test: tools/cutover-demo.yaml run
by nova-cutover on the session's Keystone, a nova-api of two workers on an
etcd state, the step-0 proxy and the session's Neutron, under load, the
runner killed mid-stage and resumed, up to the point of no return; then the
report's page read back, and ``rollback --all`` undoing everything.
"""

import html.parser
import json
import subprocess
import uuid

import pytest

from freeze.cutover import availability
from freeze.cutover import journal as journal_mod
from freeze.cutover import timeline
from tools import demo_cutover, demosite
from tools.localcloud import call


@pytest.fixture(scope='module')
def demo(cloud, etcd, neutron_server, paste_ini, tmp_path_factory):
    work = tmp_path_factory.mktemp('demo-cutover')
    state_url = etcd.state_url(f'/demo-{uuid.uuid4().hex[:8]}')
    api = cloud.start_nova(str(paste_ini), demo_cutover.nova_conf(
        state_url, neutron_server.url), workers=2)
    keystone = cloud.os_env('admin')
    site = demosite.Site.create(str(work / 'site'), keystone, state_url,
                                neutron_server.url)
    journal = f'sqlite:///{work}/journal.sqlite'
    try:
        yield site, demo_cutover.Cutover(site, journal, site.env(keystone)), \
            api, journal
    finally:
        site.stop(keystone)
        api.stop()


class Drawn(html.parser.HTMLParser):
    """The report page's drawn elements (rects with a class) and texts."""

    def __init__(self):
        super().__init__()
        self.rects, self.texts = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'rect' and 'class' in attrs:
            self.rects.append(attrs)

    def handle_data(self, data):
        self.texts.append(data)

    def of(self, cls):
        return [r for r in self.rects if r['class'] == cls]


def grant_on_demo(cloud):
    """The plan's grant (admin:demo): admin's migration role on demo."""
    token = cloud.token('admin')
    base = cloud.keystone_url
    user = call('GET', base + '/users?name=admin', token=token
                ).body['users'][0]['id']
    reply = call('GET', base + f'/role_assignments?user.id={user}'
                 '&include_names', token=token)
    return [a for a in reply.body['role_assignments']
            if a['scope'].get('project', {}).get('name') == 'demo'
            and a['role']['name'] == 'migration']


def test_the_demo_cutover_under_load(demo, cloud, neutron, tmp_path):
    site, cutover, api, journal = demo
    initial = site.fleet.snapshot()
    said = []
    result = demo_cutover.play(site, cutover, api.url, cloud.token,
                               cloud.os_env('admin'), confirm=False,
                               say=said.append)
    # killed, resumed past the host fallen back in the compute stage:
    # waiting at the translation's point of no return
    assert result['steps'] == [('run', -9), ('resume', 3)], said
    fig = result['figures']
    assert fig['admin_reads_in_windows']['total'] > 0
    assert fig['admin_reads_in_windows']['served'] == \
        fig['admin_reads_in_windows']['total']
    assert fig['server_errors'] == [] and fig['no_answer'] == []
    assert fig['refused_outside_windows'] == 0
    assert fig['refused_against_mode'] == 0
    outside = fig['tenant_writes']['outside_windows']
    assert outside['total'] > 0 and outside['served'] == outside['total']
    inside = fig['tenant_writes']['inside_refused_by_mode']
    assert inside['total'] > 0 and inside['refused'] == inside['total']
    assert fig['operator_in_windows']['served'] == \
        fig['operator_in_windows']['total'] > 0
    # the proxy, then Neutron once the translation switched the catalog
    assert set(fig['neutron_reads']) == {'proxy', 'neutron'}
    assert all(r['served'] == r['total'] > 0
               for r in fig['neutron_reads'].values())
    assert [w['mode'] for w in fig['windows']] == ['network', 'full']

    # the host that fell back: on nova-network, left out of the L2 stage
    faulty = site.fleet.dir(demosite.FAULTY)
    assert 'use_neutron = False' in (faulty / 'etc/nova/nova.conf').read_text()
    assert not (faulty / 'etc/neutron').exists()
    hosts = {(h['stage'], h['host']): h['status']
             for h in cutover.json('hosts')}
    assert hosts['compute', demosite.FAULTY] == 'fallen-back'
    assert hosts['l2-agent', demosite.FAULTY] == 'skipped'
    assert sum(s == 'done' for (stage, _), s in hosts.items()
               if stage == 'l2-agent') == 7
    assert fig['hosts']['fallen-back']['compute'] == 1

    # the grant was given with each network freeze (and taken at the thaw)
    granted = [r for r in journal_mod.Journal(journal).rows()
               if r.step == 'freeze' and r.op == 'do']
    assert [(r.stage, r.status, '--grant admin:demo' in r.command)
            for r in granted] == [('compute', 'ok', True),
                                  ('l2-agent', 'ok', True),
                                  ('translate', 'ok', False)]

    rc, out = cutover('translate', 'verify', '--config', site.settings_path)
    assert rc == 0, out

    page = tmp_path / 'report.html'
    rc, out = cutover('report', '--html', str(page), '--requests',
                      str(site.root + '/requests.jsonl'))
    assert rc == 0, out
    check_page(page.read_text(), result['report'], journal)

    rc, out = cutover('rollback', '--all')
    assert rc == 0, out
    assert site.fleet.snapshot() == initial
    freeze = subprocess.run(
        ['freeze-ctl', '--config-file', site.root + '/freeze.conf', 'status',
         '-f', 'json'], env=cutover.env, capture_output=True, text=True)
    assert json.loads(freeze.stdout)['frozen'] is False, freeze.stderr
    assert grant_on_demo(cloud) == []
    facts = site.facts
    assert demosite.network_endpoint(cloud.keystone_url, cloud.token('admin'),
                                     facts['service_id']) is None
    translated = [n for n in neutron.list('networks')
                  if n.get('provider:physical_network') in (
                      'demo-flat', 'demo-public')]
    assert translated == []


def check_page(text, report, journal_url):
    """Every stage, window and host of the report drawn, at the journal's
    times."""
    drawn = Drawn()
    drawn.feed(text)
    for stage in report['stages']:
        assert any(t.startswith(stage['stage'] + ' (') for t in drawn.texts)
    windows = drawn.of('window')
    assert [(w['data-mode'], w['data-start']) for w in windows] == [
        (w['mode'], w['start']) for w in report['windows']]
    finals = {(r['data-stage'], r['data-host']) for r in drawn.of('final')}
    for stage in report['stages']:
        for names in stage['outcomes'].values():
            assert {(stage['stage'], h) for h in names} <= finals
    assert {h for _, h in finals} == {f'cmp{i:03d}' for i in range(8)}
    journal = journal_mod.Journal(journal_url)
    runs = {int(r['data-run']): r for r in drawn.of('run')}
    for p in journal.runs():
        assert runs[p.id]['data-stage'] == p.stage
        assert runs[p.id]['data-start'] == timeline.iso(p.started)
        assert timeline.seconds_of(runs[p.id]['data-end']) >= p.updated - 1
    # the availability strip: each audience over the journal's span, as
    # the windows' modes rule; then what the load generator got
    strip = drawn.of('availability')
    audiences = {r['data-audience'] for r in strip}
    assert audiences == {a[0] for a in availability.AUDIENCES}
    for w in report['windows']:
        inside = {r['data-audience']: r['data-state'] for r in strip
                  if r['data-start'] == w['start']}
        assert inside["admins' reads"] == 'served'
        assert inside['network changes'] == 'refused'
        assert inside['migration role'] == 'served'
        assert inside["tenants' writes"] == (
            'served' if w['mode'] == 'network' else 'refused')
    for audience in audiences:
        mine = [r for r in strip if r['data-audience'] == audience]
        assert mine[0]['data-start'] == min(
            report['start'], report['windows'][0]['start'])
        for a, b in zip(mine, mine[1:]):
            assert a['data-end'] == b['data-start']   # no gap, no overlap
    measured = drawn.of('measured')
    assert {r['data-actor'] for r in measured} == {'tenant', 'admin',
                                                   'operator'}
    assert not [r for r in measured if r['data-state'] == 'error']
