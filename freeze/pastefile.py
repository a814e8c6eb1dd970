"""Insert the freeze filter into an existing api-paste.ini, as text.

Operators' api-paste.ini files carry comments and local changes, so this edits
lines rather than rewriting the file through configparser.  Idempotent: a file
that already has the filter comes back unchanged.

What a name in a pipeline *is* is decided as PasteDeploy decides it when nova
loads the file (its own parser and section lookup; ``use =`` followed through
other sections, ``egg:`` entry points, ``call:`` and ``config:``), without
importing anything: the filter is recognised under any section name, and so
are ``authtoken`` and ``keystonecontext``.  Every pipeline that ends in nova's
compute API must be able to take the filter, or nothing is changed.
"""

from __future__ import annotations

from collections.abc import Iterator
import configparser
import os
import re
from typing import Any

from paste.deploy import loadwsgi
from paste.deploy.util import importlib_metadata

FREEZE = 'freeze.middleware:filter_factory'
AUTHTOKEN = 'keystonemiddleware.auth_token:filter_factory'
KEYSTONECONTEXT = 'nova.api.auth:NovaKeystoneContext.factory'
COMPUTE_APP = 'nova.api.openstack.compute:APIRouterV21.factory'
#: nova's composite that builds a pipeline from its ``keystone`` key (the
#: only key nova 34 reads: other auth strategies are gone).
PIPELINE_FACTORY = 'nova.api.auth:pipeline_factory_v21'

_SECTION = re.compile(r'^\s*\[([^\]]+)\]')


class PasteError(ValueError):
    """The file cannot take the filter safely."""


class _Unresolved(Exception):
    """A name PasteDeploy could not load either."""


class _TextLoader(loadwsgi.ConfigLoader):
    """PasteDeploy's loader over text (ConfigLoader only reads files)."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.parser = loadwsgi.NicerConfigParser(filename, defaults={
            'here': os.path.dirname(os.path.abspath(filename)),
            '__file__': os.path.abspath(filename)})
        self.parser.optionxform = str
        self.parser.read_string(text, filename)

    def local(self, section: str, key: str) -> str | None:
        try:
            return self.parser.get(section, key)
        except (configparser.NoOptionError, configparser.InterpolationError):
            return None

    def resolve(self, object_type: Any, name: str,
                seen: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
        """The factory ``module:attr`` a name loads, as PasteDeploy finds it.

        Returns ``(spec, section)``; a pipeline or filter-app section gives
        ``(None, section)``.  Raises _Unresolved where PasteDeploy would fail.
        """
        if self.absolute_name(name):
            return _resolve_uri(object_type, name, self.filename, seen), None
        try:
            section = self.find_config_section(object_type, name=name)
        except LookupError as exc:
            raise _Unresolved(str(exc))
        if section in seen:
            raise _Unresolved(f'[{section}] uses itself')
        if section.startswith(('pipeline:', 'filter-app:')):
            return None, section
        use = self.local(section, 'use')
        if use is not None:
            return self.resolve(object_type, use, seen + (section,))[0], \
                section
        for protocols in object_type.egg_protocols:
            for protocol in loadwsgi._aslist(protocols):
                spec = self.local(section, protocol)
                if spec is not None:
                    return _spec(spec), section
        raise _Unresolved(f'no loader given in section [{section}]')


def _spec(text: str) -> str:
    return re.sub(r'\s+', '', text)


def _resolve_uri(object_type: Any, uri: str, relative_to: str,
                 seen: tuple[str, ...]) -> str | None:
    """``egg:DIST#NAME``, ``call:MOD:OBJ`` or ``config:FILE#NAME``."""
    name = None
    if '#' in uri:
        uri, name = uri.split('#', 1)
    scheme, spec = uri.split(':', 1)
    scheme = scheme.lower()
    if scheme == 'call':
        return _spec(spec)
    if scheme == 'egg':
        try:
            dist = importlib_metadata.distribution(spec)
        except importlib_metadata.PackageNotFoundError:
            raise _Unresolved(f'{spec} is not installed')
        for protocols in object_type.egg_protocols:
            for protocol in loadwsgi._aslist(protocols):
                entry = loadwsgi.find_entry_point(dist, protocol,
                                                  name or 'main')
                if entry is not None:
                    return _spec(entry.value)
        raise _Unresolved(f"{spec} has no entry point {name or 'main'!r}")
    if scheme == 'config':
        path = os.path.join(os.path.dirname(relative_to), spec)
        try:
            with open(path, encoding='utf-8') as f:
                loader = _TextLoader(f.read(), path)
        except (OSError, configparser.Error) as exc:
            raise _Unresolved(f'cannot read {path}: {exc}')
        return loader.resolve(object_type, name or 'main', seen)[0]
    raise _Unresolved(f'unknown scheme in {uri!r}')


class _Pipeline:
    """One pipeline nova may load: where it is written and what it runs."""

    def __init__(self, section: str, key: str | None,
                 names: list[str]) -> None:
        self.section, self.key, self.names = section, key, names

    def __str__(self) -> str:
        if self.section.startswith('pipeline:'):
            return f'[{self.section}]'
        return f'[{self.section}] {self.key}'


def _pipelines(loader: _TextLoader) -> Iterator[_Pipeline]:
    for section in loader.parser.sections():
        if section.startswith('pipeline:'):
            key = 'pipeline'
        elif section.startswith(('composite:', 'composit:')):
            key = 'keystone'
            use = loader.local(section, 'use')
            try:
                if use is None or loader.resolve(
                        loadwsgi.APP, use)[0] != PIPELINE_FACTORY:
                    continue
            except _Unresolved:
                continue
        else:
            continue
        value = loader.local(section, key)
        if value and value.split():
            yield _Pipeline(section, key, value.split())


def _check(loader: _TextLoader,
           pipeline: _Pipeline) -> tuple[int | None, str | None]:
    """Where freeze goes in a compute pipeline: (index or None if present,
    None), or (None, why it cannot go there)."""
    specs = []
    for name in pipeline.names[:-1]:
        try:
            specs.append(loader.resolve(loadwsgi.FILTER, name)[0])
        except _Unresolved as exc:
            return None, f'filter {name!r} cannot be loaded ({exc})'
    if KEYSTONECONTEXT not in specs:
        return None, 'does not run "authtoken keystonecontext"'
    position = specs.index(KEYSTONECONTEXT)
    if position == 0 or specs[position - 1] != AUTHTOKEN:
        return None, 'keystonecontext does not follow authtoken'
    present = [i for i, spec in enumerate(specs) if spec == FREEZE]
    if not present:
        return position + 1, None
    if present != [position + 1]:
        names = ', '.join(pipeline.names[i] for i in present)
        return None, (f'the freeze filter ({names}) is present but not once, '
                      'right after keystonecontext')
    return None, None


def _filter_name(loader: _TextLoader) -> tuple[str, bool]:
    """The section name the freeze filter has, or will have (``freeze``)."""
    names = []
    for section in loader.parser.sections():
        if section.startswith('filter:'):
            name = section[len('filter:'):].strip()
            try:
                if loader.resolve(loadwsgi.FILTER, name)[0] == FREEZE:
                    names.append(name)
            except _Unresolved:
                continue
    if names:
        return ('freeze' if 'freeze' in names else names[0]), True
    if any(s.startswith('filter:') and s[len('filter:'):].strip() == 'freeze'
           for s in loader.parser.sections()):
        raise PasteError('[filter:freeze] is another filter; rename it, or '
                         'add [filter:NAME] with paste.filter_factory = '
                         f'{FREEZE} yourself')
    return 'freeze', False


def insert_filter(text: str,
                  filename: str = 'api-paste.ini') -> tuple[str, list[str]]:
    """Return ``(new_text, changed_sections)`` with the freeze filter placed.

    Every pipeline that ends in nova's compute API gets the filter right
    after ``authtoken keystonecontext``.  If any of them cannot (no
    confirmed identity there, a filter that cannot be loaded, the freeze
    filter elsewhere), nothing changes and PasteError names each one.
    """
    try:
        loader = _TextLoader(text, filename)
    except configparser.Error as exc:
        raise PasteError(' '.join(str(exc).split()))
    compute = []
    for pipeline in _pipelines(loader):
        try:
            app = loader.resolve(loadwsgi.APP, pipeline.names[-1])[0]
        except _Unresolved:
            app = None
        if app == COMPUTE_APP:
            compute.append(pipeline)
    if not compute:
        raise PasteError('no pipeline ends in nova\'s compute API '
                         f'({COMPUTE_APP})')
    name, defined = _filter_name(loader)
    inserts, refused = [], []
    for pipeline in compute:
        position, why = _check(loader, pipeline)
        if why:
            refused.append(f'{pipeline}: {why}')
        elif position is not None:
            inserts.append((pipeline, position))
    if refused:
        raise PasteError('refusing to add the freeze filter, nothing '
                         f"changed: {'; '.join(refused)}")
    lines = text.splitlines(keepends=True)
    newline = '\r\n' if text.count('\r\n') > text.count('\n') / 2 else '\n'
    changed = []
    for pipeline, position in inserts:
        names = list(pipeline.names)
        names.insert(position, name)
        _replace_value(lines, pipeline.section, pipeline.key, names, newline)
        changed.append(pipeline.section)
    new_text = ''.join(lines)
    if not defined:
        if new_text and not new_text.endswith('\n'):
            new_text += newline
        new_text += newline + newline.join([
            f'[filter:{name}]', f'paste.filter_factory = {FREEZE}', ''])
        changed.append(f'filter:{name}')
    _verify(new_text, filename, inserts, name)
    return new_text, changed


def _replace_value(lines: list[str], section: str, key: str, names: list[str],
                   newline: str) -> None:
    """Write ``key = names`` over the key's lines (continuations included)."""
    current = None
    key_line = re.compile(rf'^(\s*){re.escape(key)}\s*[=:]\s*')
    for index, line in enumerate(lines):
        header = _SECTION.match(line)
        if header:
            current = header.group(1).strip()
            continue
        match = key_line.match(line)
        if current != section or not match:
            continue
        indent = len(match.group(1))
        end = index + 1
        while end < len(lines) and lines[end].strip() and \
                len(lines[end]) - len(lines[end].lstrip()) > indent:
            end += 1
        ending = line[len(line.rstrip('\r\n')):] or newline
        lines[index:end] = [match.group(0) + ' '.join(names) + ending]
        return
    raise PasteError(f'[{section}] {key}: cannot find the line to edit')


def _verify(new_text: str, filename: str, inserts: list[tuple[_Pipeline, int]],
            name: str) -> None:
    """The edited file reads, through PasteDeploy's parser, as intended."""
    loader = _TextLoader(new_text, filename)
    for pipeline, position in inserts:
        expected = list(pipeline.names)
        expected.insert(position, name)
        if (loader.local(pipeline.section, pipeline.key) or '').split() \
                != expected:
            raise PasteError(f'{pipeline}: the edit did not read back as '
                             'intended; nothing changed')
