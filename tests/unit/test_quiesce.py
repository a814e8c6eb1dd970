"""The quiesce gate's decision and its polling (nova itself: tests/e2e)."""

from freeze import quiesce
from tests.helpers import Clock


def server(sid, task=None, status='ACTIVE', host='c1'):
    return {'id': sid, 'name': 'vm-' + sid, 'status': status,
            'OS-EXT-STS:task_state': task, 'OS-EXT-SRV-ATTR:host': host}


def migration(mid, status, kind='live-migration'):
    return {'id': mid, 'instance_uuid': f'u{mid}', 'status': status,
            'migration_type': kind, 'source_compute': 'c1',
            'dest_compute': 'c2'}


def test_servers_with_a_task_state_and_unsettled_migrations_are_in_flight():
    items = quiesce.in_flight(
        [server('a'), server('b', 'spawning', 'BUILD', None),
         server('c', 'rebooting')],
        [migration(1, 'completed'), migration(2, 'running'),
         migration(3, 'finished', 'resize'), migration(4, 'error'),
         migration(5, 'Confirmed', 'resize'), migration(6, 'queued')])
    assert [(i.kind, i.id) for i in items] == [
        ('migration', '2'), ('migration', '3'), ('migration', '6'),
        ('server', 'b'), ('server', 'c')]
    assert items[1].doing == 'resize finished'
    assert items[0].where == 'c1 -> c2'
    assert items[3] == quiesce.InFlight('server', 'b', 'vm-b',
                                        'spawning (BUILD)', '')
    text = quiesce.describe(items[3:])
    assert text == ('server b vm-b: spawning (BUILD); '
                    'server c vm-c: rebooting (ACTIVE) on c1')


def test_nothing_in_flight():
    assert quiesce.in_flight([server('a')], [migration(1, 'done')]) == []


def test_wait_quiet_reports_changes_and_returns_when_quiet():
    busy = quiesce.InFlight('server', 'b', 'vm', 'spawning', '')
    other = quiesce.InFlight('server', 'c', 'vm', 'deleting', '')
    answers = iter([[busy, other], [busy, other], [busy], []])
    seen, clock = [], Clock()
    left = quiesce.wait_quiet(lambda: next(answers), timeout=60,
                              on_change=seen.append, clock=clock,
                              sleep=clock.sleep)
    assert left == []
    assert seen == [[busy, other], [busy], []]
    assert clock.now == 6.0


def test_wait_quiet_gives_up_after_the_timeout():
    busy = [quiesce.InFlight('migration', '1', 'u', 'live-migration running',
                             'c1 -> c2')]
    clock = Clock()
    left = quiesce.wait_quiet(lambda: busy, timeout=5, interval=2,
                              clock=clock, sleep=clock.sleep)
    assert left == busy and clock.now == 5.0
