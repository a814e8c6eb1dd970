"""The shared shell (freeze.cli.shell), through a small CLI built on it and
run as an operator runs one: in a fresh process, reading its output and
exit code.  nova-cutover's own tests (test_cli_cutover.py) use the real
commands; these pin what every command gets whatever it does."""

import json
import os
import subprocess
import sys

import pytest

from freeze.cli import exits
from freeze.cli import shell

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class Fruit(shell.Lister):
    """list the fruit"""

    example = 'toy fruit -f value -c name'

    def take_action(self, parsed_args):
        return shell.rows(('name', 'colour'), [
            {'name': 'apple', 'colour': 'red'},
            {'name': 'lime', 'colour': 'green'}])


class Ripe(shell.ShowOne):
    """show one fruit"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('name')
        return parser

    def take_action(self, parsed_args):
        if parsed_args.name == 'stone':
            raise ValueError('a stone is no fruit')
        if parsed_args.name == 'bug':
            raise KeyError('internal')
        return shell.show({'name': parsed_args.name, 'ripe': True})


class Ask(shell.Command):
    """wait for a confirmation"""

    expected = (ValueError,)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--count', type=int, required=True)
        return parser

    def take_action(self, parsed_args):
        if parsed_args.count < 0:
            raise exits.UsageError('--count must not be negative')
        if parsed_args.count == 0:
            raise ValueError('nothing to do, password=s3cret')
        return exits.CONFIRM


def main():
    return shell.App('toy', 'A toy on the shared shell.', {
        'fruit': f'{__name__}:Fruit', 'fruit show': f'{__name__}:Ripe',
        'ask': f'{__name__}:Ask'}, deprecated={'fruits': 'fruit'}).main()


def toy(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, '-c', 'import sys; from tests.unit.test_cli_shell '
         'import main; sys.exit(main())', *argv], capture_output=True,
        text=True, cwd=ROOT if cwd is None else cwd,
        env=dict(os.environ, PYTHONPATH=ROOT))


def test_formatters_and_columns():
    assert toy('fruit', '-f', 'value', '-c', 'name').stdout == 'apple\nlime\n'
    assert json.loads(toy('fruit', '-f', 'json').stdout) == [
        {'name': 'apple', 'colour': 'red'},
        {'name': 'lime', 'colour': 'green'}]
    assert toy('fruit', '-f', 'csv', '-c', 'colour').stdout == (
        '"colour"\n"red"\n"green"\n')
    shown = toy('fruit', 'show', 'pear', '-f', 'yaml', '--noindent')
    assert shown.stdout == 'name: pear\nripe: true\n'
    assert toy('fruit', 'show', 'pear', '-f', 'shell', '-c', 'ripe'
               ).stdout == 'ripe="True"\n'
    table = toy('fruit', '--max-width', '40', '--fit-width').stdout
    assert '| name  | colour |' in table


def test_deprecated_names_run_but_are_not_listed():
    assert toy('fruits', '-f', 'value', '-c', 'name').returncode == 0
    listed = toy('--help').stdout
    assert '  fruit ' in listed and 'fruits' not in listed


def test_exit_codes_and_one_line_errors(tmp_path):
    def one_line(result, code):
        assert result.returncode == code, result
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert 'Traceback' not in result.stderr
        return result.stderr

    assert toy('ask', '--count', '1').returncode == exits.CONFIRM
    assert one_line(toy('ask', '--count', '0'), exits.FAILED) == (
        'toy: error: nothing to do, password=***\n')
    assert one_line(toy('ask', '--count', '-1'), exits.USAGE) == (
        'toy: error: --count must not be negative\n')
    assert 'the following arguments are required: --count' in one_line(
        toy('ask'), exits.USAGE)
    assert "invalid choice: 'fruti'; did you mean 'fruit" in one_line(
        toy('fruti'), exits.USAGE)
    assert 'a command is required' in one_line(toy(), exits.USAGE)
    assert 'no column weight: the columns are name, colour' in one_line(
        toy('fruit', '-c', 'weight'), exits.USAGE)
    assert "unexpected ValueError: a stone is no fruit" in one_line(
        toy('fruit', 'show', 'stone'), exits.FAILED)
    assert 'unrecognized arguments: --nope' in one_line(
        toy('fruit', '--nope'), exits.USAGE)


def test_tracebacks_only_with_debug():
    plain = toy('fruit', 'show', 'bug')
    assert plain.returncode == exits.FAILED
    assert 'Traceback' not in plain.stderr
    debug = toy('--debug', 'fruit', 'show', 'bug')
    assert debug.returncode == exits.FAILED
    assert 'Traceback' in debug.stderr and "KeyError: 'internal'" in (
        debug.stderr)


def test_log_file_has_oslo_log_records_and_the_error_line(tmp_path):
    log = tmp_path / 'toy.log'
    result = toy('--log-file', str(log), 'ask', '--count', '0')
    assert result.returncode == exits.FAILED
    lines = log.read_text().splitlines()
    assert lines and lines[-1].endswith(
        'ERROR freeze.cli.error [-] toy: error: nothing to do, '
        'password=***')
    # oslo.log: date time.msecs pid LEVEL name [-] message
    date, time, pid = lines[-1].split()[:3]
    assert len(date) == 10 and len(time) == 12 and pid.isdigit()


def test_help_version_and_completion():
    top = toy('--help')
    assert top.returncode == 0
    for name in ('fruit', 'fruit show', 'ask', 'help', 'complete'):
        assert f'  {name} ' in top.stdout
    for option in ('--debug', '--log-file', '--version', '-v, --verbose',
                   '-q, --quiet'):
        assert option in top.stdout
    command = toy('fruit', '--help')
    assert command.returncode == 0
    assert 'Example:\n  toy fruit -f value -c name' in command.stdout
    for option in ('--max-width', '--fit-width', '--noindent', '-c COLUMN',
                   '{csv,json,table,value,yaml}'):
        assert option in command.stdout
    assert toy('help', 'fruit').stdout == command.stdout
    version = toy('--version')
    from importlib import metadata
    assert version.stdout == f'toy {metadata.version("nova-freeze")}\n'
    completion = toy('complete')
    assert completion.returncode == 0
    assert '_toy()' in completion.stdout and 'complete -F _toy toy' in (
        completion.stdout)
    data = dict(line.strip().rstrip("'").split("='", 1) for line in toy(
        'complete', '--shell', 'none').stdout.splitlines())
    assert 'fruit' in data['cmds'].split()
    assert '--column' in data['cmds_fruit_show'].split()


@pytest.mark.parametrize('argv', [['--help'], ['fruit', '--help']])
def test_no_entry_point_is_scanned(argv, tmp_path):
    """cliff finds formatters, hooks and distributions by scanning every
    installed package (0.1-0.3 s here): the shell names them instead."""
    probe = ('import sys, importlib.metadata as m\n'
             'def refuse(*a, **k): raise SystemExit("scanned " + str(a))\n'
             'm.entry_points = m.packages_distributions = refuse\n'
             'm.distributions = refuse\n'
             'from tests.unit.test_cli_shell import main\n'
             'sys.exit(main())\n')
    result = subprocess.run([sys.executable, '-c', probe, *argv],
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
