"""The journal: durable rows, clear errors, one runner at a time."""

import subprocess

import pytest
import sqlalchemy as sa

from freeze.cutover import journal as journal_mod


def url(tmp_path, name='j.sqlite'):
    return f'sqlite:///{tmp_path / name}'


def test_rows_round_trip_and_output_tail_kept(tmp_path):
    j = journal_mod.Journal(url(tmp_path), create=True)
    p = j.new_run('s', 'plan', {'h': 'c'}, ['h'])
    r = j.intent(p, 's', 'h', 'switch', 'do', 'echo', 123, 1.5, '/l.log')
    j.result(r, 'ok', 0, 'x' * (journal_mod.OUTPUT_LIMIT + 10) + 'END')
    (row,) = journal_mod.Journal(url(tmp_path)).rows()
    assert (row.status, row.pid, row.rc, row.log) == ('ok', 123, 0,
                                                      '/l.log')
    assert row.output.endswith('END') and row.output.startswith('[... 13')
    assert j.runs()[0].hosts == ['h']


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
                'value': f'{__import__("socket").gethostname()}:{other.pid}'}])
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


def as_schema_2(conn):
    """This version's tables as schema 2 named them (a *pass*)."""
    actions = journal_mod.actions_table
    conn.execute(sa.text('ALTER TABLE cutover_runs RENAME TO cutover_passes'))
    for index in actions.indexes:
        if list(index.columns) == [actions.c.run_id]:
            index.drop(conn)
    conn.execute(sa.text('ALTER TABLE cutover_actions RENAME COLUMN run_id '
                         'TO pass_id'))
    sa.Index('ix_cutover_actions_pass_id', sa.Table(
        'cutover_actions', sa.MetaData(),
        sa.Column('pass_id', sa.Integer)).c.pass_id).create(conn)


def as_schema_1(conn):
    """... and as schema 1 had them: no log files, no 'whole'."""
    as_schema_2(conn)
    for table, column in (('cutover_actions', 'log'),
                          ('cutover_passes', 'whole')):
        conn.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN {column}'))


META = journal_mod.meta_table
#: a fresh journal URL per backend (the SQL servers from their fixtures)
JOURNALS = {
    'sqlite': lambda request, tmp_path, name: url(tmp_path),
    'postgresql': lambda request, tmp_path, name: request.getfixturevalue(
        'postgres').create_database(name),
    'mysql': lambda request, tmp_path, name: request.getfixturevalue(
        'mysql').create_database(name),
}


@pytest.mark.parametrize('backend', sorted(JOURNALS))
@pytest.mark.parametrize('schema, older', [('1', as_schema_1),
                                           ('2', as_schema_2)])
@pytest.mark.parametrize('create', [False, True], ids=['open', 'create'])
def test_an_older_journal_is_upgraded_in_place(backend, schema, older,
                                               create, request, tmp_path):
    """A journal a previous version left, opened (``status``) or opened to
    write (``run PLAN``): it keeps its rows, reads as this version's, and
    takes new ones."""
    where = JOURNALS[backend](request, tmp_path,
                              f'upgrade_{schema}_{int(create)}')
    j = journal_mod.Journal(where, create=True)
    p = j.new_run('s', 'plan', {'h': 'c'}, ['h'])
    j.intent(p, 's', 'h', 'switch', 'do', 'echo', 123, 1.5)
    with j.engine.begin() as conn:
        older(conn)
        conn.execute(META.update().where(META.c.key == 'schema').values(
            value=schema))
    j.engine.dispose()
    again = journal_mod.Journal(where, create=create)
    (row,) = again.rows()
    assert (row.run_id, row.status, row.pid) == (p, 'intent', 123)
    assert row.log is None
    (run,) = again.runs()
    assert (run.id, run.stage, run.hosts) == (p, 's', ['h'])
    assert run.whole is False
    again.intent(again.new_run('t', 'plan', {}, []), 't', '', 'x', 'do',
                 'echo', 1, 1.0)
    assert [r.stage for r in again.rows()] == ['s', 't']
    with again.engine.connect() as conn:
        assert conn.execute(sa.select(META.c.value).where(
            META.c.key == 'schema')).scalar() == '3'
        assert 'cutover_passes' not in sa.inspect(conn).get_table_names()
