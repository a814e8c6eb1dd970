"""The journal: durable rows, clear errors, one runner at a time."""

import subprocess

import pytest

from freeze.cutover import journal as journal_mod


def url(tmp_path, name='j.sqlite'):
    return 'sqlite:///%s' % (tmp_path / name)


def test_rows_round_trip_and_output_tail_kept(tmp_path):
    j = journal_mod.Journal(url(tmp_path), create=True)
    p = j.new_pass('s', 'plan', {'h': 'c'}, ['h'])
    r = j.intent(p, 's', 'h', 'switch', 'do', 'echo', 123, 1.5, '/l.log')
    j.result(r, 'ok', 0, 'x' * (journal_mod.OUTPUT_LIMIT + 10) + 'END')
    (row,) = journal_mod.Journal(url(tmp_path)).rows()
    assert (row.status, row.pid, row.rc, row.log) == ('ok', 123, 0,
                                                      '/l.log')
    assert row.output.endswith('END') and row.output.startswith('[... 13')
    assert j.passes()[0].hosts == ['h']


def test_missing_corrupt_and_foreign_journals(tmp_path):
    with pytest.raises(journal_mod.JournalError, match='no journal'):
        journal_mod.Journal(url(tmp_path))
    bad = tmp_path / 'bad.sqlite'
    bad.write_bytes(b'not a database' * 100)
    with pytest.raises(journal_mod.JournalError, match='not a database'):
        journal_mod.Journal(url(tmp_path, 'bad.sqlite'), create=True)
    assert bad.read_bytes() == b'not a database' * 100  # left untouched
    with pytest.raises(journal_mod.JournalError, match='bad journal URL'):
        journal_mod.Journal('nosuchdb://x')


def test_one_runner_at_a_time(tmp_path):
    j = journal_mod.Journal(url(tmp_path), create=True)
    other = subprocess.Popen(['sleep', '30'])
    try:
        with j.engine.begin() as conn:
            conn.execute(journal_mod.meta_table.insert(), [{
                'key': 'runner',
                'value': '%s:%d' % (__import__('socket').gethostname(),
                                    other.pid)}])
        with pytest.raises(journal_mod.JournalError, match='another'):
            j.acquire()
        j.release()  # only its owner releases a lease
        with pytest.raises(journal_mod.JournalError, match='another'):
            j.acquire()
    finally:
        other.kill()
        other.wait()
    j.acquire()  # its owner is gone (killed): taken over
    j.release()


def test_a_schema_1_journal_is_upgraded_in_place(tmp_path):
    """A journal the previous version left (no log files, no 'whole'):
    opened, it keeps its rows and reads as this version's."""
    j = journal_mod.Journal(url(tmp_path), create=True)
    p = j.new_pass('s', 'plan', {'h': 'c'}, ['h'])
    j.intent(p, 's', 'h', 'switch', 'do', 'echo', 123, 1.5)
    with j.engine.begin() as conn:
        for table, column in (('cutover_actions', 'log'),
                              ('cutover_passes', 'whole')):
            conn.exec_driver_sql('ALTER TABLE %s DROP COLUMN %s'
                                 % (table, column))
        conn.exec_driver_sql(
            "UPDATE cutover_meta SET value = '1' WHERE key = 'schema'")
    j.engine.dispose()
    again = journal_mod.Journal(url(tmp_path))
    (row,) = again.rows()
    assert (row.status, row.pid, row.log) == ('intent', 123, None)
    assert again.passes()[0].whole is False
    with again.engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT value FROM cutover_meta WHERE key = 'schema'"
        ).scalar() == journal_mod.SCHEMA_VERSION
