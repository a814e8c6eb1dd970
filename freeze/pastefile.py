"""Insert the freeze filter into an existing api-paste.ini, as text.

Operators' api-paste.ini files carry comments and local changes, so this edits
lines rather than rewriting the file through configparser.  Idempotent: a file
that already has the filter comes back unchanged.
"""

import re

FILTER_SECTION = ('[filter:freeze]\n'
                  'paste.filter_factory = freeze.middleware:filter_factory\n')

_SECTION = re.compile(r'^\s*\[([^\]]+)\]')
_PIPELINE_KEY = re.compile(r'^(\s*(?:pipeline|keystone)\s*[=:]\s*)(.*?)(\s*)$')


class PasteError(ValueError):
    """The file cannot take the filter safely."""


def insert_filter(text):
    """Return ``(new_text, changed_pipelines)`` with ``freeze`` placed.

    Every pipeline that runs ``authtoken keystonecontext`` gets ``freeze``
    right after ``keystonecontext``.  A file where no pipeline does is refused:
    there the filter would see unconfirmed identity.
    """
    lines = text.splitlines(keepends=True)
    section = None
    changed = []
    authenticated = 0
    for index, line in enumerate(lines):
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            continue
        match = _PIPELINE_KEY.match(line)
        if not match or not section:
            continue
        head, pipeline, tail = match.groups()
        names = pipeline.split()
        if 'keystonecontext' not in names:
            continue
        position = names.index('keystonecontext')
        if position == 0 or names[position - 1] != 'authtoken':
            raise PasteError('[%s]: keystonecontext does not follow authtoken; '
                             'refusing to add the freeze filter there'
                             % section)
        authenticated += 1
        if 'freeze' in names:
            if names.index('freeze') != position + 1:
                raise PasteError('[%s]: freeze is present but not right after '
                                 'keystonecontext' % section)
            continue
        names.insert(position + 1, 'freeze')
        lines[index] = head + ' '.join(names) + (tail or '\n')
        changed.append(section)
    if not authenticated:
        raise PasteError('no pipeline runs "authtoken keystonecontext"; the '
                         'freeze filter must come after both')
    new_text = ''.join(lines)
    if not any(_SECTION.match(line) and _SECTION.match(line).group(1).strip()
               == 'filter:freeze' for line in lines):
        if new_text and not new_text.endswith('\n'):
            new_text += '\n'
        new_text += '\n' + FILTER_SECTION
        changed.append('filter:freeze')
    return new_text, changed
