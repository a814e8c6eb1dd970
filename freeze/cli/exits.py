"""One exit-code scheme and one-line errors for freeze-ctl and nova-cutover.

0 done, 1 failed, 2 usage (argparse's and our own checks of the command
line), 3 waiting for confirmation.  An operator's mistake is one line on
stderr; a traceback only with ``--debug`` (then for everything, bugs
included).  Output cut short by its reader (``| head``) is not an error.
"""

import logging
import os
import sys
import traceback

DONE, FAILED, USAGE, CONFIRM = 0, 1, 2, 3


class UsageError(Exception):
    """The command line asks for something that cannot be: exit 2."""


def add_debug_option(parser):
    parser.add_argument('--debug', action='store_true',
                        help='show tracebacks and library logging')


def configure_logging(debug):
    """Libraries' warnings (retries, discovery) stay quiet unless --debug:
    what failed is said once, in the error line."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.ERROR,
                        format='%(levelname)s %(name)s: %(message)s')


def one_line(exc):
    return ' '.join(str(exc).split()) or type(exc).__name__


def run(prog, debug, command, expected=()):
    """``command()``'s exit code; its errors as one line and their code.

    ``expected`` are the exception types that are the operator's to fix
    (exit 1 with their message); anything else is reported as unexpected,
    also as one line, with the traceback only under ``debug``.
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
        _say(prog, debug, 'error: %s' % one_line(exc))
        return USAGE
    except expected as exc:
        _say(prog, debug, 'error: %s' % one_line(exc))
        return FAILED
    except KeyboardInterrupt:
        _say(prog, debug, 'interrupted')
        return FAILED
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        _say(prog, debug, 'error: unexpected %s: %s (--debug shows the '
             'traceback)' % (type(exc).__name__, one_line(exc)))
        return FAILED


def _say(prog, debug, message):
    if debug:
        traceback.print_exc()
    print('%s: %s' % (prog, message), file=sys.stderr)
