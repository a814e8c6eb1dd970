"""The journal: every action's intent and result, persisted around it.

One row per execution of a command: inserted (``intent``), with the
command's process id and log file, before the command is allowed to run, and
completed with status, exit code and output after it ends.  The command's
output goes to its log file (under ``log_dir``), not to the runner, so a
command outliving a killed runner can be collected by the next one.  ``resume``
and ``rollback`` need nothing else: each run also stores the plan text it
ran with and the hosts it covers.

SQLAlchemy Core over any URL; sqlite by default, in WAL mode with
``synchronous=NORMAL``: a committed row survives the runner being killed
(kill -9) at any moment; only a power loss may drop the last commits.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import itertools
import json
import os
import socket
import sqlite3
import threading
import time
from typing import Any

import psutil
import sqlalchemy as sa

from freeze.cutover import paths

#: 2: actions have a log file, runs 'whole'; 3: 'pass' is called 'run'
SCHEMA_VERSION = '3'
#: Output kept per command: the tail, where errors are.
OUTPUT_LIMIT = 64 * 1024

_meta = sa.MetaData()
meta_table = sa.Table(
    'cutover_meta', _meta,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.Text, nullable=False))
runs_table = sa.Table(
    'cutover_runs', _meta,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('stage', sa.String(64), nullable=False),
    sa.Column('plan', sa.Text, nullable=False),
    sa.Column('inventory', sa.Text, nullable=False),  # JSON: host -> cell
    sa.Column('hosts', sa.Text, nullable=False),      # JSON: the run's
    sa.Column('status', sa.String(32), nullable=False),
    sa.Column('note', sa.Text),
    sa.Column('started', sa.Float, nullable=False),
    sa.Column('updated', sa.Float, nullable=False),
    # part of a run of the whole plan: resume goes on to its end
    sa.Column('whole', sa.Boolean, nullable=False, default=False))
actions_table = sa.Table(
    'cutover_actions', _meta,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('run_id', sa.Integer, nullable=False, index=True),
    sa.Column('stage', sa.String(64), nullable=False),
    sa.Column('unit', sa.String(255), nullable=False),  # host, '' = stage
    sa.Column('step', sa.String(64), nullable=False),
    sa.Column('op', sa.String(16), nullable=False),     # do check revert mark
    sa.Column('status', sa.String(32), nullable=False),
    sa.Column('command', sa.Text),
    sa.Column('pid', sa.Integer),
    sa.Column('pid_started', sa.Float),
    sa.Column('rc', sa.Integer),
    sa.Column('output', sa.Text),
    sa.Column('started', sa.Float, nullable=False),
    sa.Column('finished', sa.Float),
    sa.Column('log', sa.Text))                        # the output's file
sa.Index('cutover_actions_unit', actions_table.c.stage, actions_table.c.unit)

INTENT = 'intent'
#: an intent resolved after a crash: its command did not run to an end
#: (never let through its gate, or killed); it may have changed something
LOST = 'lost'
#: the cutover_meta key of the runner lease; its value is the owner
LEASE = 'runner'
#: the op of a run's row saying the operator confirmed its point of no
#: return: journalled before the thaw, so a crash does not lose it
CONFIRM = 'confirm'
#: The hot path's statements, built once: SQLAlchemy then reuses their
#: compiled form (a fresh ``.values()`` per call costs ~4x as much).
_b = sa.bindparam
_INTENT = actions_table.insert()
_RESULT = actions_table.update().where(actions_table.c.id == _b('row')).values(
    status=_b('status'), rc=_b('rc'), output=_b('output'),
    finished=_b('finished'))


class JournalError(Exception):
    """The journal cannot be opened or read; nothing was changed."""


@dataclasses.dataclass(frozen=True)
class Row:
    id: int
    run_id: int
    stage: str
    unit: str
    step: str
    op: str
    status: str
    command: str | None = None
    pid: int | None = None
    pid_started: float | None = None
    rc: int | None = None
    output: str | None = None
    started: float = 0.0
    finished: float | None = None
    log: str | None = None


@dataclasses.dataclass(frozen=True)
class Run:
    id: int
    stage: str
    plan: str
    inventory: dict     # every host of the plan -> its cell
    hosts: list         # the hosts this run covers, in order
    status: str
    note: str | None
    started: float
    updated: float
    whole: bool = False


def log_dir(url: sa.engine.URL) -> str:
    """Where commands' output files go: ``$NOVA_CUTOVER_LOGS``, else beside
    a sqlite journal (``J.sqlite`` -> ``J.sqlite.logs/``), else
    ``paths.DEFAULT_LOGS`` (a fixed place, like the default journal).  Local: a
    command is attached to by its pid."""
    if os.environ.get('NOVA_CUTOVER_LOGS'):
        return os.path.abspath(os.environ['NOVA_CUTOVER_LOGS'])
    if url.get_backend_name() == 'sqlite' and url.database not in (
            None, '', ':memory:'):
        return os.path.abspath(url.database) + '.logs'
    return paths.DEFAULT_LOGS


class Journal:
    """A thread-safe handle; writes are serialised (sqlite has one writer)."""

    def __init__(self, url: str, create: bool = False) -> None:
        self.url = url
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise JournalError(f'bad journal URL {url!r}: {exc}')
        if self.engine.dialect.name == 'sqlite':
            sa.event.listen(self.engine, 'connect', _sqlite_pragmas)
            path = self.engine.url.database
            if not create and path and not os.path.exists(path):
                raise JournalError(f'no journal at {path} (nothing has run '
                                   'yet, or give --journal)')
            if path and not os.path.isdir(os.path.dirname(
                    os.path.abspath(path))):
                directory = os.path.dirname(os.path.abspath(path))
                raise JournalError(f'the journal directory {directory} does '
                                   'not exist: create it, or give --journal')
        self._lock = threading.Lock()
        self.me = _identity()
        self._guard(self._open_racing if create else self._open, create)
        self._writer = None  # one connection for all writes, kept open
        self.log_dir = log_dir(self.engine.url)
        self._logs = itertools.count(1)
        self._log_dir_made = False
        #: this process's own directory of logs, unique across runners
        self._run_logs = os.path.join(
            self.log_dir, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")

    def __str__(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def _guard(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise JournalError(
                f"journal {self}: {getattr(exc, 'orig', None) or exc}")

    def _open_racing(self, create: bool) -> None:
        """Create, safe against another process creating at the same
        moment: the loser's DDL or schema row fails on what the winner
        made, and a second look finds it made."""
        for attempt in range(5):
            try:
                return self._open(create)
            except (sa.exc.OperationalError, sa.exc.ProgrammingError,
                    sa.exc.IntegrityError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _open(self, create: bool) -> None:
        """Create the tables when asked (idempotently: sqlite commits DDL
        at once, so a runner killed half-way leaves tables without the
        schema row), then insist on this tool's schema."""
        with self.engine.begin() as conn:
            tables = sa.inspect(conn).get_table_names()
            if meta_table.name not in tables and not create:
                raise JournalError(f'journal {self} has no cutover tables')
            version = conn.execute(sa.select(meta_table.c.value).where(
                meta_table.c.key == 'schema')).scalar() \
                if meta_table.name in tables else None
            # Before create_all, which would make the renamed tables anew.
            while version in _UPGRADES:
                version = _UPGRADES[version](conn)
            if create:
                _meta.create_all(conn)
            if version is None and not any(
                    conn.execute(sa.select(t).limit(1)).first()
                    for t in (runs_table, actions_table)):
                if create:
                    conn.execute(meta_table.insert(), [
                        {'key': 'schema', 'value': SCHEMA_VERSION}])
                return  # created, or never used: empty either way
            if version != SCHEMA_VERSION:
                raise JournalError(f'journal {self} has schema {version!r}, '
                                   f'this tool reads {SCHEMA_VERSION!r}')

    def new_log(self, unit: str, step: str, op: str) -> str:
        """A fresh path for one execution's output, unique across runners:
        ``LOG_DIR/RUNNER/N-UNIT-STEP-OP.log`` (RUNNER: start time, pid)."""
        self._logs_ready()
        return os.path.join(
            self._run_logs,
            f"{next(self._logs)}-{unit or 'stage'}-{step}-{op}.log")

    def _logs_ready(self) -> None:
        if not self._log_dir_made:
            try:
                os.makedirs(self._run_logs, exist_ok=True)
            except OSError as exc:
                raise JournalError(f'cannot make the log directory: {exc}')
            self._log_dir_made = True

    # -- writes --------------------------------------------------------

    def _write(self, statement: Any,
               params: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._guard(self._execute, statement, params)

    def _execute(self, statement: Any, params: dict[str, Any]) -> Any:
        if self._writer is None:
            self._writer = self.engine.connect()
        try:
            result = self._writer.execute(statement, params or {})
            self._writer.commit()
        except BaseException:
            self._writer.close()
            self._writer = None
            raise
        return result

    def new_run(self, stage: str, plan_text: str, inventory: dict[str, str],
                hosts: list[str], status: str = 'running',
                whole: bool = False) -> int:
        now = time.time()
        result = self._write(runs_table.insert().values(
            stage=stage, plan=plan_text, inventory=json.dumps(inventory),
            hosts=json.dumps(hosts), whole=whole,
            status=status, started=now, updated=now))
        return result.inserted_primary_key[0]

    def set_run(self, run_id: int, status: str,
                note: str | None = None) -> None:
        self._write(runs_table.update().where(
            runs_table.c.id == run_id).values(
                status=status, note=note, updated=time.time()))

    def intent(self, run_id: int, stage: str, unit: str, step: str, op: str,
               command: str | None, pid: int | None = None,
               pid_started: float | None = None, log: str | None = None,
               started: float | None = None) -> int:
        """The row of a command about to be let run (its gate is shut)."""
        result = self._write(_INTENT, dict(
            run_id=run_id, stage=stage, unit=unit, step=step, op=op,
            status=INTENT, command=command, pid=pid, pid_started=pid_started,
            log=log, started=started or time.time()))
        return result.inserted_primary_key[0]

    def result(self, row_id: int, status: str, rc: int | None,
               output: str) -> None:
        if len(output) > OUTPUT_LIMIT:
            output = (f'[... {len(output) - OUTPUT_LIMIT} bytes cut]\n'
                      + output[-OUTPUT_LIMIT:])
        self._write(_RESULT, dict(row=row_id, status=status, rc=rc,
                                  output=output, finished=time.time()))

    def mark(self, run_id: int, stage: str, unit: str, status: str,
             note: str = '') -> None:
        """A host's state change that is not a command (fallen back...)."""
        now = time.time()
        self._write(actions_table.insert().values(
            run_id=run_id, stage=stage, unit=unit, step='', op='mark',
            status=status, output=note, started=now, finished=now))

    def confirm(self, run_id: int, stage: str) -> None:
        now = time.time()
        self._write(actions_table.insert().values(
            run_id=run_id, stage=stage, unit='', step='thaw', op=CONFIRM,
            status='ok', started=now, finished=now))

    # -- reads ---------------------------------------------------------

    def runs(self) -> list[Run]:
        return self._guard(self._runs)

    def _runs(self) -> list[Run]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs_table).order_by(
                runs_table.c.id)).mappings().all()
        try:
            return [Run(**dict(r, hosts=json.loads(r['hosts']),
                                inventory=json.loads(r['inventory'])))
                    for r in rows]
        except ValueError as exc:
            raise JournalError(f'journal {self}: a run has corrupt hosts: '
                               f'{exc}')

    def rows(self, stage: str | None = None) -> list[Row]:
        return self._guard(self._rows, stage)

    def _rows(self, stage: str | None) -> list[Row]:
        query = sa.select(actions_table).order_by(actions_table.c.id)
        if stage is not None:
            query = query.where(actions_table.c.stage == stage)
        with self.engine.connect() as conn:
            return [Row(**r) for r in conn.execute(query).mappings()]

    # -- one runner at a time -------------------------------------------

    def acquire(self) -> None:
        """Take the lease (the ``runner`` row) for this process; refuse if
        another live process holds it.

        Every step is one atomic statement, so two runners starting at once
        cannot both win on any database: an INSERT the primary key lets
        only one make; a dead owner's lease (killed: that is what
        ``resume`` is for) is taken over by an UPDATE conditional on that
        owner, which only one can match.
        """
        with self._lock:
            self._guard(self._acquire)
        try:
            self._logs_ready()  # before anything starts, not half-way
        except JournalError:
            self.release()
            raise

    def _acquire(self) -> None:
        for _ in range(5):
            try:
                with self.engine.begin() as conn:
                    conn.execute(meta_table.insert(), [
                        {'key': LEASE, 'value': self.me}])
                return
            except sa.exc.IntegrityError:
                pass  # held, or was: by whom?
            with self.engine.connect() as conn:
                owner = conn.execute(sa.select(meta_table.c.value).where(
                    meta_table.c.key == LEASE)).scalar()
            if owner is None:
                continue  # released meanwhile: insert again
            if owner == self.me:
                return
            if _alive(owner):
                raise JournalError(f'another nova-cutover ({owner}) is '
                                   'running on this journal')
            with self.engine.begin() as conn:
                taken = conn.execute(meta_table.update().where(
                    meta_table.c.key == LEASE,
                    meta_table.c.value == owner).values(value=self.me))
            if taken.rowcount == 1:
                return
        raise JournalError(f'journal {self}: the runner lease keeps changing '
                           'hands; try again')

    def runner(self) -> str | None:
        """The live holder of the lease, or None (none, or killed)."""
        with self.engine.connect() as conn:
            owner = self._guard(lambda: conn.execute(
                sa.select(meta_table.c.value).where(
                    meta_table.c.key == LEASE)).scalar())
        return owner if owner and _alive(owner) else None

    def release(self) -> None:
        """Give the lease back, if this process still holds it."""
        self._write(meta_table.delete().where(
            meta_table.c.key == LEASE, meta_table.c.value == self.me))
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _upgrade_from_1(conn: sa.engine.Connection) -> str:
    """Schema 1 -> 2, in place: a journal left unfinished by the previous
    version is resumed by this one (its actions have no log file: their
    commands are checked, as before, not collected).  Schema 2's names."""
    for table, name, column, extra in (
            ('cutover_actions', 'log', actions_table.c.log, ''),
            ('cutover_passes', 'whole', runs_table.c.whole,
             ' NOT NULL DEFAULT false')):
        conn.execute(sa.text(f'ALTER TABLE {table} ADD COLUMN {name} '
                             f'{column.type.compile(conn.dialect)}{extra}'))
    return _set_version(conn, '2')


def _upgrade_from_2(conn: sa.engine.Connection) -> str:
    """Schema 2 -> 3, in place: a *pass* is called a *run*, as the CLI
    says (``cutover_passes`` -> ``cutover_runs``, ``pass_id`` -> ``run_id``
    and its index)."""
    conn.execute(sa.text('ALTER TABLE cutover_passes RENAME TO '
                         f'{runs_table.name}'))
    sa.Index('ix_cutover_actions_pass_id', sa.Table(
        actions_table.name, sa.MetaData(),
        sa.Column('pass_id', sa.Integer)).c.pass_id).drop(conn)
    conn.execute(sa.text(f'ALTER TABLE {actions_table.name} RENAME COLUMN '
                         'pass_id TO run_id'))
    for index in actions_table.indexes:
        if list(index.columns) == [actions_table.c.run_id]:
            index.create(conn)
    return _set_version(conn, '3')


def _set_version(conn: sa.engine.Connection, version: str) -> str:
    conn.execute(meta_table.update().where(
        meta_table.c.key == 'schema').values(value=version))
    return version


#: schema version -> its in-place upgrade to the next (returns that one)
_UPGRADES = {'1': _upgrade_from_1, '2': _upgrade_from_2}


def _identity() -> str:
    """This process as a lease owner: host, pid and start time (a later
    process given the same pid is another owner)."""
    started = psutil.Process().create_time()
    return f'{socket.gethostname()}:{os.getpid()}:{started:.2f}'


def _alive(owner: str) -> bool:
    host, _, rest = owner.partition(':')
    pid, _, started = rest.partition(':')
    if host != socket.gethostname():
        return True  # cannot tell: be safe
    try:
        proc = psutil.Process(int(pid))
        return not started or abs(proc.create_time() - float(started)) < 0.05
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.Error:
        return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.execute('PRAGMA busy_timeout=10000')
    cursor.close()
