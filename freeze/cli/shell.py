"""The CLIs' shell: cliff's App and commands with the house's rules.

What cliff gives, as every OpenStack client has it: ``-f``/``-c`` and the
standard formatters on show and list commands, ``-v``/``-q``,
``--log-file``, ``--debug``, ``--version``, ``help`` and ``complete``.  What
the house adds: one exit-code scheme (``exits``: 0 done, 1 failed, 2 usage,
3 waiting for confirmation), every error one line (tracebacks only with
``--debug``), libraries' logging quiet unless asked (``-v``, ``--debug``),
passwords masked in every line and record, and no command line without a
command (cliff would start its interactive shell).  Commands are registered
by name, never by scanning entry points, so that start-up stays short.
"""

import argparse
import importlib.metadata
import json
import logging
import sys

from cliff import app
from cliff import columns
from cliff import command
from cliff import commandmanager
from cliff import lister
from cliff import show
from cliff.formatters import table

from freeze.cli import exits


class Shell(app.App):
    """An App named ``name`` with ``commands`` (``{name: Command class}``).

    ``expected`` are the exception types that are the operator's to fix
    (exit 1, one line); ``add_options(parser, argv)`` adds the global
    options (it sees the command line, for options registered on demand);
    ``translate(exc)`` may turn an operation's exception into the CLI's
    (``exits.UsageError``, ``exits.CommandError``).
    """

    #: console level per -q (0), default (1), -v (2), -vv (3 and more)
    LEVELS = {0: logging.ERROR, 1: logging.ERROR, 2: logging.INFO}

    def __init__(self, name, description, commands, expected=(),
                 add_options=None, argv=(), translate=None):
        self.NAME = name
        self.LOG = logging.getLogger(name)
        self.expected = tuple(expected)
        self.translate = translate or (lambda exc: exc)
        self._add_options = add_options
        self._argv = list(argv)
        manager = commandmanager.CommandManager(None)
        for command_name, factory in commands.items():
            manager.add_command(command_name, factory)
        super().__init__(description=description,
                         version=importlib.metadata.version('nova-freeze'),
                         command_manager=manager, deferred_help=True)

    def build_option_parser(self, description, version,
                            argparse_kwargs=None):
        parser = super().build_option_parser(
            description, version, dict(argparse_kwargs or {},
                                       conflict_handler='resolve'))
        parser.add_argument('--version', action='version',
                            version='%s %s' % (self.NAME, version))
        parser.prog = self.NAME
        if self._add_options is not None:
            self._add_options(parser, self._argv)
        return parser

    def configure_logging(self):
        """Console logging at ERROR unless -v or --debug; ``--log-file``
        gets everything.  Passwords are masked in every record."""
        options = self.options
        level = (logging.DEBUG if options.debug else
                 self.LEVELS.get(options.verbose_level, logging.DEBUG))
        root = logging.getLogger()
        handlers = [logging.StreamHandler(self.stderr)]
        handlers[0].setLevel(level)
        handlers[0].setFormatter(logging.Formatter(
            '%(levelname)s %(name)s: %(message)s'))
        if options.log_file:
            handlers.append(logging.FileHandler(options.log_file))
            handlers[-1].setFormatter(logging.Formatter(
                self.LOG_FILE_MESSAGE_FORMAT))
            level = logging.DEBUG
        root.setLevel(level)
        for handler in handlers:
            handler.addFilter(exits.redact_record)
            root.addHandler(handler)

    def interact(self):
        """No command given: a usage error, not cliff's interactive shell."""
        print('%s: error: a command is required (%s --help lists them)'
              % (self.NAME, self.NAME), file=self.stderr)
        raise SystemExit(exits.USAGE)

    def run_subcommand(self, argv):
        """An unknown command is one usage line on stderr."""
        try:
            self.command_manager.find_command(argv)
        except ValueError:
            print('%s: error: unknown command %r (%s --help lists them)'
                  % (self.NAME, ' '.join(argv), self.NAME), file=self.stderr)
            return exits.USAGE
        return super().run_subcommand(argv)

    def main(self, argv):
        """The exit code of ``argv`` (the console script's)."""
        try:
            return self.run(argv)
        except SystemExit as exc:  # argparse's usage errors, --help
            return exc.code


class ShownFailure(exits.CommandError):
    """A failure after a change: what was done is shown all the same
    (``shown``, as ``take_action`` returns it), then the failure said."""

    def __init__(self, message, shown):
        super().__init__(message)
        self.shown = shown


class _HouseRules:
    """A command's errors as one line and their exit code (``exits.run``);
    its help's examples (``_epilog``) kept line by line."""

    def run(self, parsed_args):
        def attempt():
            try:
                return super(_HouseRules, self).run(parsed_args)
            except ShownFailure as failure:
                self.produce_output(parsed_args, *failure.shown)
                raise
            except Exception as exc:
                translated = self.app.translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
        return exits.run(self.app.NAME, self.app.options.debug, attempt,
                         self.app.expected)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def get_epilog(self):
        """The command's own (cliff would look up every installed
        distribution to name the one a plugin comes from)."""
        return self._epilog or ''


class Command(_HouseRules, command.Command):
    """A command whose ``take_action`` prints and returns its exit code."""


class ShowOne(_HouseRules, show.ShowOne):
    """A command that shows one record (``-f``, ``-c``)."""


class Lister(_HouseRules, lister.Lister):
    """A command that lists records (``-f``, ``-c``)."""


class Cell(columns.FormattableColumn):
    """A value shown one way to people (a table) and another to programs
    (json, yaml): lists and dicts as JSON in a table, as they are else."""

    def __init__(self, value, text=None):
        super().__init__(value)
        self._text = text

    def human_readable(self):
        if self._text is not None:
            return self._text
        return json.dumps(self._value, sort_keys=True)

    def machine_readable(self):
        return self._value


def record(fields):
    """``(names, values)`` of a dict, for a ShowOne."""
    return tuple(fields), tuple(
        Cell(v) if isinstance(v, (dict, list, tuple)) else v
        for v in fields.values())


def emit_table(cmd, parsed_args, names, rows):
    """A second table after a ShowOne's, with cliff's table formatter."""
    options = argparse.Namespace(**dict(vars(parsed_args), print_empty=True))
    table.TableFormatter().emit_list(names, rows, cmd.app.stdout, options)


def main(shell_factory, argv=None):
    """Run ``shell_factory(argv)`` on ``argv`` (default: sys.argv)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return shell_factory(argv).main(argv)
    except SystemExit as exc:  # --version while the options were built
        return exc.code
