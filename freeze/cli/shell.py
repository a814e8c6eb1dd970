"""The shell both CLIs share: cliff's App and commands, as ``openstack``
has them, held to freeze.cli.exits and kept fast.

What an operator gets in every command of freeze-ctl and nova-cutover:
``--debug`` (tracebacks, only then), ``-v/-q``, ``--log-file`` (records
formatted as oslo.log writes them), ``--version``, ``help``, ``complete``
(bash completion), listing and show commands with cliff's formatters and
``-c`` column selection, an example under each command's help, and one
exit-code scheme: 0 done, 1 failed, 2 usage, 3 waiting for confirmation.

cliff finds its commands, formatters and hooks through entry points
(stevedore) and names each command's distribution under its help: on a
machine with nova and Neutron installed that is 0.1-0.3 s per lookup.
Here commands are given as ``'module:Class'`` (imported when used), the
formatters are cliff's own classes named directly, and there are no hooks,
so ``--help`` stays a few hundredths of a second above Python's start.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
import importlib
import logging
import sys
import types
from typing import Any
from typing import Iterable, Mapping

from cliff import _argparse as cliff_argparse
from cliff import app as cliff_app
from cliff import command as cliff_command
from cliff import commandmanager
from cliff import complete as cliff_complete
from cliff import lister as cliff_lister
from cliff import show as cliff_show

from freeze.cli import exits

#: oslo.log's default ``logging_default_format_string`` and date format.
LOG_FILE_FORMAT = ('%(asctime)s.%(msecs)03d %(process)d %(levelname)s '
                   '%(name)s [-] %(message)s')
LOG_DATE_FORMAT = '%Y-%m-%d %H:%M:%S'

#: cliff's formatters (its ``cliff.formatter.*`` entry points), by name.
LIST_FORMATTERS = {
    'table': 'cliff.formatters.table:TableFormatter',
    'json': 'cliff.formatters.json_format:JSONFormatter',
    'yaml': 'cliff.formatters.yaml_format:YAMLFormatter',
    'value': 'cliff.formatters.value:ValueFormatter',
    'csv': 'cliff.formatters.commaseparated:CSVLister',
}
SHOW_FORMATTERS = dict(
    {k: v for k, v in LIST_FORMATTERS.items() if k != 'csv'},
    shell='cliff.formatters.shell:ShellFormatter')
COMPLETIONS = {'bash': cliff_complete.CompleteBash,
               'none': cliff_complete.CompleteNoCode}


def _load(target: str) -> Any:
    module, _, name = target.partition(':')
    return getattr(importlib.import_module(module), name)


class _Plugins:
    """What cliff reads of a stevedore ExtensionManager (names, ``[name]``,
    iteration over extensions with ``.obj``/``.plugin``), over classes
    named here instead of entry points found by scanning every installed
    distribution."""

    def __init__(self, classes: Mapping[str, object],
                 invoke: bool = True) -> None:
        self._extensions = {}
        for name, target in classes.items():
            plugin = _load(target) if isinstance(target, str) else target
            self._extensions[name] = types.SimpleNamespace(
                name=name, plugin=plugin, obj=plugin() if invoke else None)

    def names(self) -> list[str]:
        return list(self._extensions)

    def __getitem__(self, name: str) -> Any:
        return self._extensions[name]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._extensions.values())


def _one_line_errors(parser: argparse.ArgumentParser,
                     hint: str) -> argparse.ArgumentParser:
    """A usage error as one line (what is wrong, where help is) and exit 2,
    rather than argparse's usage block followed by the error."""
    def error(message: str) -> None:
        parser.exit(exits.USAGE, f'{parser.prog}: error: {message} '
                                 f'(see {hint})\n')
    parser.error = error
    return parser


class _Formatter(cliff_argparse.SmartHelpFormatter):
    """The description and the examples as written, line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return ''.join(indent + line for line in text.splitlines(True))


class _Guarded:
    """Held to the exit-code scheme: errors one line (freeze.cli.exits),
    tracebacks only with --debug, no entry point looked up."""

    #: Exceptions that are the operator's to fix: exit 1 with their message.
    expected: tuple[type[BaseException], ...] = ()
    #: Example command lines shown under the help, one per line.
    example = ''
    #: Prefix of the error line (default: the program's name).
    error_prefix = ''

    def expected_errors(self) -> tuple[type[BaseException], ...]:
        """Override where a class is to be imported only when needed."""
        return self.expected

    def _load_hooks(self) -> None:
        self._hooks = []

    def get_epilog(self) -> str:
        lines = [line.strip() for line in self.example.strip().splitlines()]
        return '\n'.join(['Example:'] + [f'  {line}' for line in lines]) \
            if lines else ''

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.formatter_class = _Formatter
        return _one_line_errors(parser, f"'{prog_name} --help'")

    def guarded(self, action: Callable[[], int | None]) -> int:
        """``action()``'s exit code, its errors as freeze.cli.exits says."""
        return exits.run(self.error_prefix or self.app.NAME,
                         self.app.options.debug, action,
                         self.expected_errors())

    def run(self, parsed_args: argparse.Namespace) -> int:
        return self.guarded(lambda: super(_Guarded, self).run(parsed_args))


class Command(_Guarded, cliff_command.Command):
    """A command whose ``take_action`` returns its exit code."""


class _Display(_Guarded):
    #: format name -> formatter (a class, or cliff's as 'module:Class')
    formatters: Mapping[str, object] = LIST_FORMATTERS

    def _load_formatter_plugins(self) -> _Plugins:
        return _Plugins(self.formatters)

    def _generate_columns_and_selector(self, parsed_args: argparse.Namespace,
                                       column_names: Sequence[str]) -> Any:
        try:
            return super()._generate_columns_and_selector(parsed_args,
                                                          column_names)
        except ValueError:
            raise exits.UsageError(
                f"no column {', '.join(parsed_args.columns)}: the columns "
                f"are {', '.join(column_names)}") from None


class Lister(_Display, cliff_lister.Lister):
    """Rows: ``take_action`` returns ``(columns, rows)``."""


class ShowOne(_Display, cliff_show.ShowOne):
    """One object: ``take_action`` returns ``(fields, values)``."""
    formatters = SHOW_FORMATTERS


def show(data: Mapping) -> tuple[tuple, tuple]:
    """A dict as ShowOne's ``(fields, values)``."""
    return tuple(data), tuple(data.values())


def rows(columns: Iterable[str],
         items: Iterable[Mapping]) -> tuple[tuple, list[tuple]]:
    """Dicts as Lister's ``(columns, rows)``, missing keys empty."""
    columns = tuple(columns)
    return columns, [tuple(item.get(c) for c in columns) for item in items]


class _Lazy:
    """A command named ``'module:Class'``: imported when run or listed."""

    def __init__(self, target: str) -> None:
        self.target = target

    def load(self) -> Any:
        return _load(self.target)


class Commands(commandmanager.CommandManager):
    """The commands by name (``'translate diff'``), none from entry
    points."""

    def __init__(self, commands: Mapping[str, str]) -> None:
        super().__init__(namespace=None)
        for name, target in commands.items():
            self.commands[name] = _Lazy(target)


class Help(Command):
    """print the help of a command, or list the commands"""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument('cmd', nargs='*', help='the command')
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        if not parsed_args.cmd:
            self.app.print_help()
            return exits.DONE
        try:
            factory, name, _ = self.app.command_manager.find_command(
                parsed_args.cmd)
        except ValueError:
            group = ' '.join(parsed_args.cmd)
            if not self.app.list_commands(group):
                raise exits.UsageError(self.app.unknown(parsed_args.cmd))
            return exits.DONE
        factory(self.app, self.app_args, cmd_name=name).get_parser(
            f'{self.app.NAME} {name}').print_help(self.app.stdout)
        return exits.DONE


class Complete(_Guarded, cliff_complete.CompleteCommand):
    """print bash completion for the commands and their options"""

    example = '''
        source <(nova-cutover complete)
        nova-cutover complete --shell none
    '''

    def __init__(self, app: Any, app_args: Any,
                 cmd_name: str | None = None) -> None:
        cliff_command.Command.__init__(self, app, app_args, cmd_name)
        self._formatters = _Plugins(COMPLETIONS, invoke=False)


class _VersionAction(argparse.Action):
    """The installed version, read only when asked."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from importlib import metadata
        self.default.stdout.write(
            f'{self.default.NAME} {metadata.version("nova-freeze")}\n')
        parser.exit(exits.DONE)


class App(cliff_app.App):
    """A CLI of nova-freeze: ``App(name, description, commands).main()``.

    ``commands`` maps a command's name to ``'module:Class'``; ``deprecated``
    maps an old name to the new one (still run, not listed).
    """

    def __init__(self, name: str, description: str,
                 commands: Mapping[str, str],
                 deprecated: Mapping[str, str] | None = None,
                 **streams: Any) -> None:
        self.NAME = name
        self.LOG = logging.getLogger(name)
        manager = Commands(commands)
        self.deprecated = dict(deprecated or {})
        for old, new in self.deprecated.items():
            manager.add_legacy_command(old, new)
        super().__init__(description, None, manager, deferred_help=True,
                         **streams)
        # cliff's own help and completion look their data up by entry
        # point: ours replace them.
        manager.commands['help'] = _Lazy('freeze.cli.shell:Help')
        manager.commands['complete'] = _Lazy('freeze.cli.shell:Complete')

    def build_option_parser(self, description: str, version: str,
                            argparse_kwargs: dict[str, Any] | None = None,
                            ) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=self.NAME, description=description, add_help=False,
            # A command's option is never taken for an abbreviated global.
            allow_abbrev=False,
            usage=f'{self.NAME} [global options] COMMAND [options]',
            **(argparse_kwargs or {}))
        # Read after the command is known: 'CMD --help' is CMD's help.
        parser.add_argument('-h', '--help', action='store_true',
                            dest='deferred_help',
                            help='show this help (or a command\'s) and exit')
        parser.add_argument('--version', action=_VersionAction, nargs=0,
                            default=self, help='show the version and exit')
        verbosity = parser.add_mutually_exclusive_group()
        verbosity.add_argument(
            '-v', '--verbose', action='count', dest='verbose_level',
            default=self.DEFAULT_VERBOSE_LEVEL,
            help='more logging (-v: info, -vv: debug)')
        verbosity.add_argument(
            '-q', '--quiet', action='store_const', dest='verbose_level',
            const=0, help='no logging but the error line')
        parser.add_argument(
            '--log-file', metavar='PATH',
            help='also log to this file, as oslo.log writes records (info; '
                 'debug with --debug)')
        parser.add_argument('--debug', action='store_true',
                            help='tracebacks and debug logging')
        self.add_global_options(parser)
        return _one_line_errors(parser, f"'{self.NAME} --help'")

    def add_global_options(self, parser: argparse.ArgumentParser) -> None:
        """Options every command of this CLI takes (before the command)."""

    def print_help(self) -> None:
        out = self.stdout
        self.parser.print_help(out)
        out.write('\ncommands:\n')
        self.list_commands()
        out.write(f"\n'{self.NAME} help COMMAND' or '{self.NAME} COMMAND "
                  "--help' shows a command's options and an example.\n")

    def list_commands(self, group: str = '') -> int:
        """Each command (of a group: ``translate``) with its summary."""
        listed = 0
        for name, entry in sorted(self.command_manager):
            if group and not name.startswith(f'{group} '):
                continue
            cmd = entry.load()(self, None, cmd_name=name)
            if not cmd.deprecated:
                summary = cmd.get_description().split('\n')[0].rstrip('.')
                self.stdout.write(f'  {name:<22} {summary}\n')
                listed += 1
        return listed

    def print_help_if_requested(self) -> None:
        if self.options.deferred_help:
            self.print_help()
            raise SystemExit(exits.DONE)

    def configure_logging(self) -> None:
        """Errors are said once, in the error line; libraries' warnings
        (retries, discovery) are logged from -v on."""
        options = self.options
        level = logging.DEBUG if options.debug else {
            0: logging.CRITICAL, 1: logging.ERROR, 2: logging.INFO,
        }.get(options.verbose_level, logging.DEBUG)
        exits.configure_logging(level)
        if options.log_file:
            handler = logging.FileHandler(options.log_file, encoding='utf-8')
            handler.setLevel(logging.DEBUG if options.debug
                             else logging.INFO)
            handler.setFormatter(logging.Formatter(LOG_FILE_FORMAT,
                                                   LOG_DATE_FORMAT))
            handler.addFilter(exits.redact_record)
            root = logging.getLogger()
            root.addHandler(handler)
            root.setLevel(min(root.level, handler.level))

    def interact(self) -> None:
        """No command given: a usage error (cliff would start a shell)."""
        self.stderr.write(f"{self.NAME}: error: a command is required (see "
                          f"'{self.NAME} --help')\n")
        raise SystemExit(exits.USAGE)

    def unknown(self, argv: list[str]) -> str:
        matches = self.get_fuzzy_matches(argv[0])[:4]
        hint = (f"; did you mean {' or '.join(repr(m) for m in matches)}?"
                if matches else '')
        return f"invalid choice: {' '.join(argv)!r}{hint}"

    def run_subcommand(self, argv: list[str]) -> int:
        try:
            _, name, _ = self.command_manager.find_command(argv)
        except ValueError:
            self.stderr.write(f'{self.NAME}: error: {self.unknown(argv)} '
                              f"(see '{self.NAME} --help')\n")
            return exits.USAGE
        if name in self.deprecated:
            self.stderr.write(f"{self.NAME}: warning: '{name}' is deprecated"
                              f", use '{self.deprecated[name]}'\n")
        return super().run_subcommand(argv)

    def main(self, argv: list[str] | None = None) -> int:
        return self.run(sys.argv[1:] if argv is None else argv)

