"""The availability strip's data: the freeze's own decision per window."""

from freeze.cutover import availability


def rows(windows, start=0.0, end=100.0):
    return {r['audience']: [(s['start'], s['end'], s['state'], s['mode'])
                            for s in r['segments']]
            for r in availability.expected(windows, start, end)}


def test_each_audience_as_the_modes_rule():
    got = rows([{'start': 10.0, 'end': 20.0, 'mode': 'network'},
                {'start': 30.0, 'end': None, 'mode': 'full'}])
    assert got["admins' reads"] == [
        (0.0, 10.0, 'served', None), (10.0, 20.0, 'served', 'network'),
        (20.0, 30.0, 'served', None), (30.0, 100.0, 'served', 'full')]
    assert [s[2] for s in got["tenants' reads"]] == [
        'served', 'served', 'served', 'refused']
    assert [s[2] for s in got["tenants' writes"]] == [
        'served', 'served', 'served', 'refused']
    assert [s[2] for s in got['network changes']] == [
        'served', 'refused', 'served', 'refused']
    assert {s[2] for s in got['migration role']} == {'served'}


def test_windows_clipped_to_the_span():
    got = rows([{'start': -5.0, 'end': 5.0, 'mode': 'writes'},
                {'start': 95.0, 'end': 120.0, 'mode': 'writes'}])
    assert got["tenants' writes"] == [
        (0.0, 5.0, 'refused', 'writes'), (5.0, 95.0, 'served', None),
        (95.0, 100.0, 'refused', 'writes')]
    assert rows([])['network changes'] == [(0.0, 100.0, 'served', None)]


def test_measured_bins_by_what_the_clients_got():
    records = [
        {'start': 1.0, 'end': 1.1, 'actor': 'tenant', 'status': 200},
        {'start': 1.5, 'end': 1.6, 'actor': 'tenant', 'status': 503,
         'frozen': True},
        {'start': 55.0, 'end': 55.1, 'actor': 'tenant', 'status': 0},
        {'start': 56.0, 'end': 56.1, 'actor': 'admin', 'status': 404},
        {'start': 150.0, 'end': 150.1, 'actor': 'admin', 'status': 500}]
    got = {r['actor']: [(b['state'], b['served'], b['refused'], b['error'])
                        for b in r['bins']]
           for r in availability.measured(records, 0.0, 100.0, bins=10)}
    assert got == {'tenant': [('refused', 1, 1, 0), ('error', 0, 0, 1)],
                   'admin': [('served', 1, 0, 0)]}   # 150 s: outside
