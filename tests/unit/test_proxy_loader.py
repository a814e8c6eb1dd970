"""The loader: 503 before the first view, rebuilt when nova's database
changes, swapped whole, the last good view kept when a rebuild fails."""


import sqlalchemy
import webob

from freeze.novanet import schema
from freeze.proxy import app, loader
from freeze.translate.settings import Settings

from tests.helpers import Clock, wait_until
from tools.novanet import generate

ADMIN = 'ad' * 16


def setup(tmp_path, **kw):
    gen = generate.generate(f'sqlite:///{tmp_path}/nova.sqlite', ports=6,
                            manager='Vlan', dangling=False)
    clock = Clock()
    views = loader.Loader(gen.url,
                          Settings.parse(generate.settings(gen, ADMIN)),
                          full_refresh_interval=60, clock=clock, **kw)
    return gen, views, clock


def ports(views):
    return views.current.collections['ports'].by_id


def test_503_until_the_first_view(tmp_path):
    _, views, _ = setup(tmp_path)
    proxy = app.ProxyApp(views, retry_after=7)
    response = webob.Request.blank('/v2.0/ports').get_response(proxy)
    assert response.status_code == 503
    assert response.json['NeutronError']['type'] == 'ServiceUnavailable'
    assert response.headers['Retry-After'] == '7'
    assert views.refresh()
    assert webob.Request.blank('/v2.0/ports').get_response(
        proxy).status_code == 200


def test_rebuilt_only_when_the_database_changes(tmp_path):
    gen, views, clock = setup(tmp_path)
    assert views.refresh()
    first = views.current
    assert not views.refresh() and views.current is first
    _, vif = generate.add_instance(gen.url, gen.projects[0],
                                   gen.network_ids[0], 'compute-1', [])
    assert views.refresh()
    assert vif in ports(views) and vif not in first.collections['ports'].by_id
    # A write that bypasses nova's timestamps: seen at the full refresh.
    engine = sqlalchemy.create_engine(gen.url)
    with engine.begin() as conn:
        conn.execute(schema.virtual_interfaces.update().where(
            schema.virtual_interfaces.c.uuid == vif).values(
                address='fa:16:3f:aa:bb:cc'))
    assert not views.refresh()
    clock.now += 61
    assert views.refresh()
    assert ports(views)[vif]['mac_address'] == 'fa:16:3f:aa:bb:cc'


def test_a_failed_rebuild_keeps_the_last_view(tmp_path, monkeypatch):
    gen, views, _ = setup(tmp_path)
    assert views.refresh()
    good = views.current

    def broken(rows, settings):
        raise ValueError('unexpected data')
    monkeypatch.setattr(loader, 'build', broken)
    generate.add_instance(gen.url, gen.projects[0], gen.network_ids[0],
                          'compute-1', [])
    assert not views.refresh()
    assert views.current is good and 'unexpected data' in views.error
    monkeypatch.undo()
    assert views.refresh() and views.error is None


def test_background_thread_picks_up_changes(tmp_path):
    gen, views, _ = setup(tmp_path, poll_interval=0.05)
    views.start()
    try:
        wait_until(lambda: views.current is not None, timeout=10,
                   what='the first view')
        _, vif = generate.add_instance(gen.url, gen.projects[0],
                                       gen.network_ids[0], 'compute-1', [])
        wait_until(lambda: vif in ports(views), timeout=10,
                   what='the new port in the view')
    finally:
        views.stop()
