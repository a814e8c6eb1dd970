"""The YAML plan: the cloud, the stages, and every command they run.

Pure: text in, validated frozen dataclasses out.  Every command template is
rendered once at load time with placeholder values, so a typo in a variable
name fails before anything runs, not in the middle of a stage.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
from typing import Any

import yaml

from freeze.state.document import MODES

_NAME = re.compile(r'^[a-z0-9][a-z0-9-]*$')
#: Host names go into shell commands unquoted (``ssh {host} ...``): keep
#: them to what a DNS name or nova service host can be.
_HOST = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
DEFAULTS = {'batch_size': 50, 'concurrency': 20, 'failure_threshold': 1,
            'failure_budget': None, 'timeout': 600}
_COUNT = re.compile(r'^([1-9]\d*|\d+(\.\d+)?%)$')  # N, or P% of a whole
HOST_VARS = ('host', 'cell')


class PlanError(ValueError):
    """The plan is malformed; the message names where."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One command with its optional check (exit 0 = already done) and revert."""

    name: str
    run: str
    check: str | None
    revert: str | None
    timeout: float


@dataclasses.dataclass(frozen=True)
class Freeze:
    mode: str
    reason: str
    grants: tuple[str, ...]
    grant_groups: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    freeze: Freeze | None
    thaw: bool
    commands: tuple[Step, ...]      # stage-level, in order, before the hosts
    steps: tuple[Step, ...]         # per host, in order; health is the last
    batch_size: int
    concurrency: int
    failure_threshold: str          # "N" hosts or "P%" of the batch
    point_of_no_return: str | None  # what a rollback after the thaw loses
    failure_budget: str | None = None  # "N" or "P%" of a run's hosts

    @property
    def has_hosts(self) -> bool:
        return bool(self.steps)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps + self.commands if s.name == name)

    def threshold(self, batch_len: int) -> int:
        """Failed hosts in a batch of ``batch_len`` that stop the batch."""
        return _count(self.failure_threshold, batch_len)

    def budget(self, hosts: int) -> int | None:
        """Failed hosts in a run over ``hosts`` hosts that stop it (its
        batches together), or None."""
        if self.failure_budget is None:
            return None
        return _count(self.failure_budget, hosts)


def _count(text: str, whole: int) -> int:
    if text.endswith('%'):
        return max(1, math.ceil(float(text[:-1]) * whole / 100))
    return int(text)


@dataclasses.dataclass(frozen=True)
class Plan:
    name: str
    text: str
    hosts: dict            # host -> cell, in plan order (cell by cell)
    stages: tuple[Stage, ...]
    freeze_command: str
    variables: dict

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PlanError(f'unknown stage {name!r} (the plan has: '
                        f"{', '.join(s.name for s in self.stages)})")

    def cells(self) -> list[str]:
        return list(dict.fromkeys(self.hosts.values()))

    def render(self, template: str, stage: str,
               host: str | None = None) -> str:
        values = dict(self.variables, stage=stage)
        if host is not None:
            values.update(host=host, cell=self.hosts[host])
        return template.format_map(values)

    def select(self, cell: str | None = None,
               hosts: list[str] | None = None) -> list[str]:
        """The hosts a run covers, in plan order; unknown names are errors."""
        if cell is not None:
            if cell not in self.cells():
                raise PlanError(f'unknown cell {cell!r} (the plan has: '
                                f"{', '.join(self.cells())})")
            return [h for h, c in self.hosts.items() if c == cell]
        if hosts is not None:
            unknown = [h for h in hosts if h not in self.hosts]
            if unknown:
                raise PlanError(f"unknown host(s): {', '.join(unknown)}")
            wanted = set(hosts)
            return [h for h in self.hosts if h in wanted]
        return list(self.hosts)

    def batches(self, stage: Stage,
                hosts: list[str]) -> list[tuple[str, list[str]]]:
        """Batches of at most ``batch_size``, never mixing two cells."""
        out = []
        for cell in self.cells():
            members = [h for h in hosts if self.hosts[h] == cell]
            for i in range(0, len(members), stage.batch_size):
                out.append(members[i:i + stage.batch_size])
        return out


def load(text: str, hosts: dict[str, str] | None = None) -> Plan:
    """Parse and validate a plan.  ``hosts`` (host -> cell) replaces the
    plan's ``cells`` when the inventory was read from Nova."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f'not valid YAML: {exc}')
    doc = _Section(data, 'plan')
    name = doc.string('name')
    variables = doc.mapping('vars', {})
    for key, value in variables.items():
        if key in HOST_VARS + ('stage',):
            raise PlanError(f'vars: {key!r} is set by the runner')
        if not isinstance(value, (str, int, float)):
            raise PlanError(f'vars.{key} must be a string or a number')
    overrides = doc.mapping('defaults', {})
    if set(overrides) - set(DEFAULTS):
        unknown = ', '.join(sorted(set(overrides) - set(DEFAULTS)))
        raise PlanError(f'defaults: unknown key(s): {unknown} '
                        f"(known: {', '.join(DEFAULTS)})")
    defaults = dict(DEFAULTS, **overrides)
    freeze_section = _Section(doc.get('freeze', {}), 'freeze')
    freeze_command = freeze_section.string('command', 'freeze-ctl')
    default_reason = freeze_section.string('reason', f'nova-cutover {name}')
    cells, inventory = doc.get('cells'), doc.get('inventory')
    if hosts is None:
        hosts = _cells(cells, inventory is not None)
    raw_stages = doc.get('stages')
    if not isinstance(raw_stages, list) or not raw_stages:
        raise PlanError('stages: a non-empty list is required')
    stages = tuple(_stage(_Section(s, f'stages[{i}]'), defaults,
                          default_reason, set(variables))
                   for i, s in enumerate(raw_stages))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise PlanError(f"stages: names must be unique: {', '.join(names)}")
    if any(s.has_hosts for s in stages) and not hosts:
        raise PlanError('cells: no hosts, but a stage has host steps')
    doc.done()
    return Plan(name, text, hosts, stages, freeze_command, dict(variables))


def inventory_settings(text: str) -> Any:
    """The plan's ``inventory`` section (read hosts from Nova), or None."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # load() reports it
    return data.get('inventory') if isinstance(data, dict) else None


def _cells(raw: Any, from_inventory: bool) -> dict[str, str]:
    if raw is None:
        if from_inventory:
            raise PlanError('inventory: the hosts must be read from Nova '
                            'before the plan is loaded')
        return {}
    if not isinstance(raw, dict):
        raise PlanError('cells: a mapping of cell name to host list')
    hosts = {}
    for cell, members in raw.items():
        if not isinstance(members, list):
            raise PlanError(f'cells.{cell}: a list of host names')
        for host in members:
            if not isinstance(host, str) or not _HOST.match(host):
                raise PlanError(f'cells.{cell}: bad host name {host!r}')
            if host in hosts:
                raise PlanError(f'host {host} is listed in cells '
                                f'{hosts[host]} and {cell}')
            hosts[host] = str(cell)
    return hosts


def _stage(sec: _Section, defaults: dict[str, Any], default_reason: str,
           variables: set[str]) -> Stage:
    name = sec.string('name')
    if not _NAME.match(name):
        raise PlanError(f'{sec.where}: stage name {name!r}: lowercase '
                        'letters, digits and -')
    sec.where = f'stage {name}'
    settings = {key: sec.get(key, defaults[key]) for key in DEFAULTS}
    for key in ('batch_size', 'concurrency'):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise PlanError(f'{sec.where}: {key} must be a positive integer')
    threshold = str(settings['failure_threshold'])
    budget = settings['failure_budget']
    for key, text in (('failure_threshold', threshold),
                      ('failure_budget', budget)):
        if text is not None and not _COUNT.match(str(text)):
            raise PlanError(f'{sec.where}: {key} must be a positive integer '
                            'or a percentage like 10%')
    timeout = settings['timeout']
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise PlanError(f'{sec.where}: timeout must be a positive number of '
                        'seconds')
    freeze = None
    if 'freeze' in sec.data:
        freeze = _freeze(_Section(sec.get('freeze'), sec.where + ' freeze'),
                         default_reason)
    thaw = sec.get('thaw', freeze is not None)
    if not isinstance(thaw, bool) or (thaw and freeze is None):
        raise PlanError(
            f'{sec.where}: thaw is true or false, and needs freeze')
    stage_vars = variables | {'stage'}
    commands = tuple(_step(_Section(c, f'{sec.where} commands[{i}]'),
                           timeout, stage_vars)
                     for i, c in enumerate(sec.get('commands', [])))
    steps = [_step(_Section(s, f'{sec.where} steps[{i}]'), timeout,
                   stage_vars | set(HOST_VARS))
             for i, s in enumerate(sec.get('steps', []))]
    health = sec.get('health')
    if health is not None:
        if not steps:
            raise PlanError(f'{sec.where}: health without steps')
        _check_template(health, stage_vars | set(HOST_VARS),
                        sec.where + ' health')
        steps.append(Step('health', health, health, None, timeout))
    if not commands and not steps:
        raise PlanError(f'{sec.where}: needs commands or steps')
    names = [s.name for s in commands] + [s.name for s in steps]
    if len(set(names)) != len(names):
        raise PlanError(f'{sec.where}: command and step names must be unique')
    ponr = sec.get('point_of_no_return')
    if ponr is not None and (not isinstance(ponr, str) or not thaw):
        raise PlanError(f'{sec.where}: point_of_no_return is the text of what '
                        'a rollback after the thaw loses, and needs thaw')
    sec.done()
    return Stage(name, freeze, thaw, commands, tuple(steps),
                 settings['batch_size'], settings['concurrency'], threshold,
                 ponr, None if budget is None else str(budget))


def _freeze(sec: _Section, default_reason: str) -> Freeze:
    mode = sec.string('mode')
    if mode not in MODES:
        raise PlanError(f"{sec.where}: mode must be one of {', '.join(MODES)}")
    reason = sec.string('reason', default_reason)
    grants = tuple(_grant(g, sec.where) for g in sec.get('grants', []))
    groups = tuple(_grant(g, sec.where) for g in sec.get('grant_groups', []))
    sec.done()
    return Freeze(mode, reason, grants, groups)


def _grant(text: Any, where: str) -> str:
    if not isinstance(text, str) or not re.match(r'^[^:\s]+:[^:\s]+$', text):
        raise PlanError(f'{where}: grant {text!r} must look like '
                        'NAME[@DOMAIN]:PROJECT[@DOMAIN]')
    return text


def _step(sec: _Section, timeout: float, allowed: set[str]) -> Step:
    name = sec.string('name')
    if not _NAME.match(name) or name == 'health':
        raise PlanError(f'{sec.where}: name {name!r}: lowercase letters, '
                        'digits and -, not "health"')
    sec.where += f' ({name})'
    templates = {key: sec.get(key) for key in ('run', 'check', 'revert')}
    if templates['run'] is None:
        raise PlanError(f'{sec.where}: run is required')
    for key, template in templates.items():
        if template is not None:
            _check_template(template, allowed, f'{sec.where} {key}')
    step_timeout = sec.get('timeout', timeout)
    if not isinstance(step_timeout, (int, float)) or step_timeout <= 0:
        raise PlanError(f'{sec.where}: timeout must be positive')
    sec.done()
    return Step(name, templates['run'], templates['check'],
                templates['revert'], float(step_timeout))


def _check_template(template: Any, allowed: set[str], where: str) -> None:
    if not isinstance(template, str) or not template.strip():
        raise PlanError(f'{where}: must be a non-empty string')
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template)
                  if f is not None]
    except ValueError as exc:
        raise PlanError(f'{where}: {exc} '
                        '(write {{ and }} for literal braces)')
    for field in fields:
        if field not in allowed:
            known = ', '.join(sorted(allowed))
            raise PlanError(f'{where}: unknown variable {{{field}}} '
                            f'(known: {known})')


class _Section:
    """A mapping being validated: typed getters, unknown keys refused."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise PlanError(f'{where}: must be a mapping')
        self.data, self.where, self.seen = data, where, set()

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def string(self, key: str, default: str | None = None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not value:
            raise PlanError(f'{self.where}: {key} must be a non-empty string')
        return value

    def mapping(self, key: str, default: dict[str, Any]) -> dict[str, Any]:
        value = self.get(key, default)
        if not isinstance(value, dict):
            raise PlanError(f'{self.where}: {key} must be a mapping')
        return value

    def done(self) -> None:
        unknown = set(self.data) - self.seen
        if unknown:
            raise PlanError(f'{self.where}: unknown key(s): '
                            f"{', '.join(sorted(map(str, unknown)))}")
