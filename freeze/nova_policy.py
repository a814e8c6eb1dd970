"""nova's policy as it is in force, and the freeze overlay in a policy dir.

The adapter around ``freeze.overlay_rules``: it reads nova's registered
defaults (its ``oslo.policy.policies`` entry point) and the deployment's
override files,
lets oslo.policy's own Enforcer combine them into the effective rules, and
writes, checks and removes the overlay file.  nova's Enforcer re-reads its
policy dirs when their newest mtime grows, so a change here takes effect on
the next request, without restarting nova-api.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import contextlib
import dataclasses
import importlib.metadata
import os
import tempfile
from typing import Any, TYPE_CHECKING

from oslo_config import cfg
from oslo_policy import policy as oslo_policy
import yaml

from freeze import atomic
from freeze import overlay_rules
from freeze.state.acks import ABSENT

if TYPE_CHECKING:
    from freeze.decision import Rules

# Sorts after the usual names, so that it applies after the files beside it
# (``prepare`` refuses one sorting later that would undo it).
OVERLAY_NAME = 'zz-nova-freeze.yaml'
_NEW_POLICY_FILE = ('# nova policy overrides: none yet. Created by freeze-ctl: '
                    'oslo.policy documents\n# that it searches [oslo_policy] '
                    'policy_dirs only when the policy file exists.\n')


class OverlayError(Exception):
    """A policy file or directory that cannot be used; nothing was changed."""


def nova_defaults() -> list[Any]:
    """nova's registered policy defaults, as oslo.policy's tools find them."""
    found = importlib.metadata.entry_points(group='oslo.policy.policies',
                                            name='nova')
    if not found:
        raise OverlayError('nova is not installed here: no "nova" '
                           'oslo.policy.policies entry point')
    return list(next(iter(found)).load()())


def nova_version() -> str:
    return importlib.metadata.version('nova')


def read_policy_file(path: str) -> dict[str, Any]:
    """One override file as ``{name: rule}``, or a clear error naming it."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise OverlayError(f'cannot read policy file {path}: {exc}')
    try:
        rules = oslo_policy.parse_file_contents(text)
    except ValueError as exc:
        raise OverlayError(f'{path} is not a valid policy file: {exc}')
    if not isinstance(rules, dict) or not all(
            isinstance(name, str) and isinstance(rule, (str, list))
            for name, rule in rules.items()):
        raise OverlayError(f'{path} is not a valid policy file: it must map '
                           'rule names to rule strings')
    return rules


def load_enforcer(defaults: Iterable[Any], policy_file: str,
                  policy_dirs: Iterable[str] = (),
                  enforce_new_defaults: bool = True) -> oslo_policy.Enforcer:
    """oslo.policy's Enforcer as nova builds one: nova's ``defaults``, the
    ``policy_file``, then the ``policy_dirs``; its rules loaded."""
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[])
    enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file)
    conf.set_override('policy_dirs', list(policy_dirs), 'oslo_policy')
    conf.set_override('enforce_new_defaults', enforce_new_defaults,
                      'oslo_policy')
    enforcer.suppress_deprecation_warnings = True
    enforcer.suppress_default_change_warnings = True
    enforcer.register_defaults(defaults)
    enforcer.load_rules()
    return enforcer


def effective_rules(defaults: list[Any],
                    overrides: Iterable[dict[str, Any]] = (),
                    enforce_new_defaults: bool = True,
                    ) -> tuple[dict[str, str], dict[str, tuple]]:
    """Every rule as nova enforces it, and the documented rules' operations.

    oslo.policy's own Enforcer combines nova's ``defaults`` with the override
    dicts (later ones win), renamed and deprecated defaults included.  They
    reach it as one merged policy file, which is how it treats a policy file
    followed by policy dirs.  Returns ``({name: rule}, {name: operations})``,
    nova's rules first, in nova's order.
    """
    merged = {}
    for rules in overrides:
        merged.update(rules)
    with tempfile.TemporaryDirectory(prefix='nova-freeze-') as tmp:
        path = os.path.join(tmp, 'policy.yaml')
        with open(path, 'w', encoding='utf-8') as f:
            yaml.safe_dump(merged, f)
        enforcer = load_enforcer(defaults, path, (), enforce_new_defaults)
    names = [default.name for default in defaults]
    names += [name for name in merged if name not in enforcer.registered_rules]
    rules = {name: str(enforcer.rules[name]) for name in names}
    operations = {default.name: tuple(default.operations)
                  for default in defaults
                  if getattr(default, 'operations', None)}
    return rules, operations


def build(mode: str, freeze_rules: Rules,
          sources: list[tuple[str, dict[str, Any]]], command: str,
          enforce_new_defaults: bool = True) -> tuple[dict[str, str], str]:
    """The overlay for ``mode`` over nova's defaults and ``sources``.

    ``sources`` is ``[(path, rules)]`` in nova's load order; ``command``
    goes into the header.  Returns ``(overlay dict, YAML text)``.
    """
    rules, operations = effective_rules(
        nova_defaults(), [overrides for _, overrides in sources],
        enforce_new_defaults)
    overlay = overlay_rules.generate(rules, operations, mode, freeze_rules)
    lines = overlay_rules.header(mode, nova_version(), command,
                                 [path for path, _ in sources], freeze_rules)
    return overlay, overlay_rules.render(overlay, lines)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where nova reads its policy: the policy file, then each policy dir.

    ``policy_file`` is None when it is not known (no nova.conf, nothing
    found where oslo.policy looks).
    """

    policy_file: str = None
    policy_dirs: tuple = ()

    def sources(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(path, rules)]`` for every file nova applies, in its order.

        Freeze overlays are left out: the overlay wraps what is beneath it.
        """
        paths = [self.policy_file] if self.policy_file and os.path.isfile(
            self.policy_file) else []
        for directory in self.policy_dirs:
            paths += [os.path.join(directory, name)
                      for name in _policy_dir_files(directory)
                      if name != OVERLAY_NAME]
        return [(path, read_policy_file(path)) for path in paths]


def layout_from_conf(conf: cfg.ConfigOpts,
                     policy_file: str | None = None) -> Layout:
    """nova's policy layout per ``conf`` (nova.conf), ``policy_file`` first.

    Relative names are found as oslo.policy finds them (beside the config
    files, then the standard places); one that is nowhere is taken beside
    the first config file, where nova would look first.
    """
    files = conf.default_config_files or []

    def locate(path: str | None) -> str | None:
        if os.path.isabs(path):
            return path
        found = conf.find_file(path)
        if found:
            return os.path.abspath(found)
        if files:
            return os.path.join(os.path.dirname(os.path.abspath(files[0])),
                                path)
        return None

    dirs = (locate(d) for d in conf.oslo_policy.policy_dirs)
    return Layout(
        policy_file=os.path.abspath(policy_file) if policy_file
        else locate(conf.oslo_policy.policy_file),
        policy_dirs=tuple(os.path.realpath(d) for d in dirs if d))


class PolicyDir:
    """The freeze overlay in one of nova's policy dirs.

    ``configured`` tells whether nova's layout lists the directory; when it
    does not, it is taken as the last policy dir.
    """

    def __init__(self, directory: str, layout: Layout | None,
                 freeze_rules: Rules | None,
                 enforce_new_defaults: bool = True) -> None:
        self.directory = os.path.realpath(directory)
        self.path = os.path.join(self.directory, OVERLAY_NAME)
        self.configured = self.directory in layout.policy_dirs
        if not self.configured:
            layout = dataclasses.replace(
                layout, policy_dirs=layout.policy_dirs + (self.directory,))
        self.layout = layout
        self.freeze_rules = freeze_rules
        self.enforce_new_defaults = enforce_new_defaults

    def __str__(self) -> str:
        return self.path

    def command(self, mode: str) -> str:
        """The freeze-ctl command that writes this overlay, for its header."""
        return f'freeze-ctl on --mode {mode} --policy-dir {self.directory}'

    def prepare(self, mode: str) -> tuple[dict[str, str], str]:
        """The overlay for ``mode`` and its text; checks first, writes nothing.

        Refuses a missing directory, and files that nova applies after the
        overlay and that set rules it wraps (they would undo the freeze).
        """
        if not os.path.isdir(self.directory):
            raise OverlayError(f'policy dir {self.directory} does not exist: '
                               'create it and list it in nova.conf '
                               '[oslo_policy] policy_dirs')
        sources = self.layout.sources()
        overlay, text = build(mode, self.freeze_rules, sources,
                              self.command(mode), self.enforce_new_defaults)
        later = []
        for path, rules in sources:
            clash = sorted(set(rules) & set(overlay))
            if clash and self._loads_after(path):
                later.append(f"{path} ({', '.join(clash)})")
        if later:
            raise OverlayError(
                f'nova applies these after {self.path}, and they set rules '
                f"the freeze wraps, which would undo it: {'; '.join(later)}. "
                'Move those rules into the policy file or an earlier file.')
        return overlay, text

    def require_policy_file(self, create: bool = False) -> str | None:
        """Refuse, or create it empty, when nova's policy file is missing.

        oslo.policy documents that it searches policy_dirs only when the
        policy file exists.  Returns the path created, or None.
        """
        path = self.layout.policy_file
        if path is None:
            raise OverlayError(
                "nova's policy file is not known: give --policy-file, or "
                "--config-file with nova's nova.conf")
        if os.path.isfile(path):
            return None
        if not create:
            raise OverlayError(
                f"nova's policy file {path} does not exist, and oslo.policy "
                "documents that it searches policy_dirs only when it does: "
                f"nova may ignore {self.path}. Create it (empty will do), or "
                "pass --create-policy-file.")
        try:
            atomic.write_atomically(path, _NEW_POLICY_FILE)
        except OSError as exc:
            raise OverlayError(f'cannot create policy file {path}: {exc}')
        return path

    def write(self, text: str) -> None:
        try:
            self._changing(lambda: atomic.write_atomically(self.path, text))
        except OSError as exc:
            raise OverlayError(f'cannot write {self.path}: {exc}')

    def remove(self) -> bool:
        """Remove the overlay (never the directory); False if it was absent.

        Without the directory oslo.policy would keep the last rules read from
        it, the freeze included, until nova restarts.
        """
        try:
            self._changing(lambda: os.unlink(self.path))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise OverlayError(f'cannot remove {self.path}: {exc}')
        return True

    def report(self, mode: str | None) -> tuple[bool, str]:
        """Whether the file on disk is what the state asks for.

        ``mode`` is the mode in force, or None when thawed.  Returns
        ``(matches, detail)``.
        """
        if not os.path.exists(self.path):
            if mode is None:
                return True, 'absent, as it should be while thawed'
            return False, 'missing: run freeze-ctl on again to write it'
        if mode is None:
            return False, ('present although the API is thawed: run '
                           f'freeze-ctl off --policy-dir {self.directory}')
        try:
            on_disk = read_policy_file(self.path)
        except OverlayError as exc:
            return False, f'unreadable: {exc}'
        try:
            expected, _ = self.prepare(mode)
        except (OverlayError, overlay_rules.PolicyError) as exc:
            return False, f'cannot check: {exc}'
        if on_disk == expected:
            return True, f'in place for mode {mode}'
        return False, (f'stale: differs from the overlay for mode {mode} '
                       '(written for another mode, or the policy changed '
                       'since); run freeze-ctl on again')

    def _loads_after(self, path: str) -> bool:
        directory = os.path.dirname(path)
        if path == self.layout.policy_file or \
                directory not in self.layout.policy_dirs:
            return False
        if directory == self.directory:
            return os.path.basename(path) > OVERLAY_NAME
        return (self.layout.policy_dirs.index(directory)
                > self.layout.policy_dirs.index(self.directory))

    def _changing(self, change: Callable[[], None]) -> None:
        """Apply ``change`` so that nova sees the directory's mtime grow.

        oslo.policy reloads a policy dir only when its newest mtime is greater
        than at its last load; two changes within one clock tick would not
        be, so the directory's mtime is moved on by a millisecond then.
        """
        before = _newest_mtime_ns(self.directory)
        change()
        if _newest_mtime_ns(self.directory) <= before:
            later = before + 1_000_000
            os.utime(self.directory, ns=(later, later))


def overlay_mode(path: str) -> str:
    """The mode the overlay at ``path`` was written for (its header says),
    ``absent``, or a short reason it cannot be told: what a worker reports
    of its policy dir."""
    try:
        with open(path, encoding='utf-8') as f:
            first = f.readline()
    except FileNotFoundError:
        return ABSENT
    except (OSError, UnicodeDecodeError) as exc:
        return f'unreadable: {exc.__class__.__name__}'
    return overlay_rules.header_mode(first) or 'not a nova-freeze overlay'


def _policy_dir_files(directory: str) -> list[str]:
    """The files oslo.policy reads from a policy dir, in its order."""
    if not os.path.isdir(directory):
        return []
    return sorted(name for name in next(os.walk(directory))[2]
                  if not name.startswith('.'))


def _newest_mtime_ns(directory: str) -> int:
    """The newest mtime of a directory and its entries (as oslo.policy's)."""
    paths = [directory] + [os.path.join(directory, name)
                           for name in os.listdir(directory)]
    newest = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, os.stat(path).st_mtime_ns)
    return newest
