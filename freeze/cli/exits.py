"""One exit-code scheme and one-line errors for freeze-ctl and nova-cutover.

0 done, 1 failed, 2 usage (argparse's and our own checks of the command
line), 3 waiting for confirmation.  An operator's mistake is one line on
stderr; a traceback only with ``--debug`` (then for everything, bugs
included).  Output cut short by its reader (``| head``) is not an error.
Passwords are masked in every line and log record (freeze.redact).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
import logging
import os
import sys
import traceback

from freeze.cli import lazy

# oslo.utils' masking takes a tenth of a second to import: when a line or
# a log record is written.
redaction = lazy.module('freeze.redact')

DONE, FAILED, USAGE, CONFIRM = 0, 1, 2, 3

#: Database drivers SQLAlchemy imports by URL, and what installs them.
DRIVERS = {
    'psycopg': "'nova-freeze[postgresql]'",
    'psycopg2': "'nova-freeze[postgresql]'",
    'pymysql': "'nova-freeze[mysql]'",
    'MySQLdb': "mysqlclient, or use a mysql+pymysql:// URL with "
               "'nova-freeze[mysql]'",
}


class UsageError(Exception):
    """The command line asks for something that cannot be: exit 2."""


class CommandError(Exception):
    """A clear, expected failure: printed without a traceback (exit 1)."""


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--debug', action='store_true',
                        help='show tracebacks and library logging')


#: The error line, as a log record for a --log-file: already on stderr.
ERRORS = logging.getLogger('freeze.cli.error')
ERRORS.addHandler(logging.NullHandler())  # not Python's last resort


def configure_logging(debug: bool | int) -> None:
    """Libraries' warnings (retries, discovery) stay quiet unless --debug
    (or a level given): what failed is said once, in the error line."""
    level = debug if not isinstance(debug, bool) else (
        logging.DEBUG if debug else logging.ERROR)
    logging.basicConfig(level=level,
                        format='%(levelname)s %(name)s: %(message)s')
    # Python's warnings (eventlet's deprecation when etcd3gw loads futurist)
    # are records too: a command's output stays what it prints (the runbook
    # journals `freeze-ctl status -f json` and reads it back).
    logging.captureWarnings(True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact_record)
        handler.addFilter(_not_the_error_line)


def redact_record(record: logging.LogRecord) -> bool:
    """A handler's filter: no password in any record."""
    record.msg, record.args = redaction.redact(record.getMessage()), None
    return True


def _not_the_error_line(record: logging.LogRecord) -> bool:
    return record.name != ERRORS.name


def one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split()) or type(exc).__name__


def run(prog: str, debug: bool, command: Callable[[], int | None],
        expected: Iterable[type[Exception]] = ()) -> int | None:
    """``command()``'s exit code; its errors as one line and their code.

    ``expected`` are the exception types, besides CommandError, that are
    the operator's to fix (exit 1 with their message); anything else is
    reported as unexpected, also as one line, with the traceback only
    under ``debug``.
    """
    try:
        try:
            return command()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped reading (| head): what was asked is done.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return DONE
    except UsageError as exc:
        _say(prog, debug, f'error: {one_line(exc)}')
        return USAGE
    except (CommandError,) + tuple(expected) as exc:
        _say(prog, debug, f'error: {_missing_driver(exc) or one_line(exc)}')
        return FAILED
    except KeyboardInterrupt:
        _say(prog, debug, 'interrupted')
        return FAILED
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if _missing_driver(exc):
            _say(prog, debug, f'error: {_missing_driver(exc)}')
            return FAILED
        _say(prog, debug, f'error: unexpected {type(exc).__name__}: '
             f'{one_line(exc)} (--debug shows the traceback)')
        return FAILED


def _missing_driver(exc: BaseException) -> str | None:
    """A database driver that is not installed, anywhere in the chain of
    causes (the journal reports it as a bad URL): what to install."""
    while exc is not None:
        if isinstance(exc, ImportError) and exc.name in DRIVERS:
            return (f'the database driver {exc.name} is not installed: pip '
                    f'install {DRIVERS[exc.name]}')
        exc = exc.__cause__ or exc.__context__
    return None


def _say(prog: str, debug: bool, message: str) -> None:
    if debug:
        sys.stderr.write(redaction.redact(traceback.format_exc()))
    line = f'{prog}: {redaction.redact(message)}'
    print(line, file=sys.stderr)
    ERRORS.error(line)
