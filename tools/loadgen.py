"""A tenant, an admin and the migration operator using the cloud during a
cutover, every answer recorded; then the figures that matter, measured.

Each actor is a thread with its own Keystone token, calling nova-api and
whatever Neutron endpoint Keystone's catalog names at that moment (the
step-0 proxy, then the real Neutron after the switch).  A record is one
JSON line per request: when it was sent and answered, who, which API, the
call, its status, and whether a 503 was the freeze's own.

``figures(records, report)`` reads the records against the freeze windows
of ``nova-cutover report -f json``: the windows come from the freeze
history, not from what the load saw, so a request refused outside a
window shows as one.  Whether a window's mode refuses a request is asked
of the freeze's own decision (freeze.cutover.availability), with the
actor's roles.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

from freeze.cutover import availability, timeline
from tools.localcloud import USERS, call

MISSING = str(uuid.UUID(int=0))
#: what the freeze's own 503 says (freeze.middleware)
FROZEN = 'The compute API is frozen'
#: a change of the freeze state is in force on every worker once the
#: freeze-ctl command that made it returned (it waits for each worker's
#: acknowledgement); a change no journalled command made (none found) is
#: taken to be in force this long after it
EDGE = 1.0


def _keypair() -> dict:
    return {'keypair': {'name': f'kp-{uuid.uuid4().hex[:12]}'}}


MIGRATE = ('POST', f'/v2.1/servers/{MISSING}/action', lambda: {
    'migrate': None}, 'migrate')
#: actor -> (user, calls); a call is (api, method, path, body, action)
ACTORS = {
    'tenant': ('demo-member', [
        ('nova', 'GET', '/v2.1/servers', None, None),
        ('nova', 'POST', '/v2.1/os-keypairs', _keypair, None),
        ('nova', *MIGRATE),
        ('neutron', 'GET', '/v2.0/networks', None, None)]),
    'admin': ('admin', [
        ('nova', 'GET', '/v2.1/flavors', None, None),
        ('nova', 'GET', '/v2.1/servers?all_tenants=1', None, None),
        ('neutron', 'GET', '/v2.0/ports', None, None)]),
    'operator': ('demo-migration', [
        ('nova', *MIGRATE),
        ('nova', 'GET', '/v2.1/servers', None, None),
        ('neutron', 'GET', '/v2.0/networks', None, None)]),
}


class LoadGenerator:
    """The three actors, until ``stop()``; ``records`` once stopped."""

    def __init__(self, nova_url: str, token: Callable[[str], str],
                 network_url: Callable[[], str | None], backends: dict,
                 pause: float = 0.1):
        """``network_url()``: the catalog's network endpoint now;
        ``backends``: URL -> name (proxy, neutron) for the record."""
        self.nova_url, self.network_url = nova_url, network_url
        self.backends, self.pause = backends, pause
        self.tokens = {actor: token(user)
                       for actor, (user, _) in ACTORS.items()}
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._play, args=(actor,),
                                          daemon=True) for actor in ACTORS]
        self._neutron = None

    def start(self) -> LoadGenerator:
        self._watch()
        watcher = threading.Thread(target=self._watch_loop, daemon=True)
        self._threads.append(watcher)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[dict]:
        self._done.set()
        for thread in self._threads:
            thread.join()
        self.records.sort(key=lambda r: r['start'])
        return self.records

    def write(self, path: str) -> None:
        with open(path, 'w') as f:
            for record in self.records:
                f.write(json.dumps(record) + '\n')

    def _watch(self):
        try:
            self._neutron = self.network_url()
        except (OSError, RuntimeError):  # Keystone busy: keep the last one
            pass

    def _watch_loop(self):
        while not self._done.wait(0.5):
            self._watch()

    def _play(self, actor):
        calls = ACTORS[actor][1]
        n = 0
        while not self._done.is_set():
            api, method, path, body, action = calls[n % len(calls)]
            n += 1
            base = self.nova_url if api == 'nova' else self._neutron
            if base is None:
                continue
            started = time.time()
            try:
                reply = call(method, base + path,
                             body=body() if body else None,
                             token=self.tokens[actor])
                status, answer = reply.status, reply.body
            except OSError as exc:  # refused, reset: no answer at all
                status, answer = 0, str(exc)
            message = (answer.get('serviceUnavailable', {}).get('message', '')
                       if isinstance(answer, dict) else '')
            with self._lock:
                self.records.append({
                    'start': started, 'end': time.time(), 'actor': actor,
                    'api': api, 'backend': self.backends.get(base, api),
                    'method': method, 'path': path.split('?')[0],
                    'action': action, 'status': status,
                    'frozen': status == 503 and message.startswith(FROZEN),
                    'error': None if status and status < 500 else str(
                        answer)[:200]})
            self._done.wait(self.pause)


def read(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# -- the figures -------------------------------------------------------------

def blocks(mode: str, record: dict) -> bool:
    """Would a freeze in ``mode`` refuse this request (nova's decision)?"""
    return availability.refuses(mode, USERS[ACTORS[record['actor']][0]][2],
                                record['method'], record['path'],
                                record['action'])


def _in_force(report: dict) -> Callable[[float], float]:
    """When a freeze state written at ``t`` was in force on every worker:
    the end of the journal's freeze or thaw command that ran over ``t``."""
    commands = [(timeline.seconds_of(a['start']),
                 timeline.seconds_of(a['end']))
                for stage in report['stages'] for run in stage['runs']
                for a in run['actions']
                if a['action'] in ('freeze', 'thaw') and a['end']]
    return lambda t: next((end for start, end in commands
                           if start <= t <= end), t + EDGE)


def _where(record, windows):
    """('inside', window) | ('outside', None) | ('edge', None): a request
    sent while a change of the freeze state was not yet in force everywhere
    is at an edge."""
    for w in windows:
        if w['in_force'] <= record['start'] and record['end'] <= w['end']:
            return 'inside', w
        if record['end'] > w['start'] and record['start'] < w['thawed']:
            return 'edge', None
    return 'outside', None


def _ratio(records):
    served = sum(1 for r in records if 0 < r['status'] < 500)
    return {'served': served, 'total': len(records)}


def figures(records: list[dict], report: dict) -> dict:
    """What the run measured; ``report``: ``nova-cutover report -f json``."""
    in_force = _in_force(report)
    windows = []
    for w in report['windows']:
        start = timeline.seconds_of(w['start'])
        end = (float('inf') if w['end'] is None
               else timeline.seconds_of(w['end']))
        windows.append(dict(w, start=start, end=end, in_force=in_force(start),
                            thawed=in_force(end)))
    placed = [(r, *_where(r, windows)) for r in records]
    nova = [(r, where, w) for r, where, w in placed if r['api'] == 'nova']
    tenant_writes = [(r, where, w) for r, where, w in nova
                     if r['actor'] == 'tenant' and r['method'] != 'GET']
    refused = [r for r in records if r['frozen']]
    hosts = {outcome: {} for outcome in ('converted', 'fallen-back',
                                         'retried')}
    for stage in report['stages']:
        if any(stage['outcomes'].values()):   # a stage with hosts
            for outcome, counts in hosts.items():
                counts[stage['stage']] = len(stage['outcomes'][outcome])
    return {
        'requests': len(records),
        'windows': [{'mode': w['mode'], 'reason': w['reason'],
                     'seconds': w['seconds']} for w in report['windows']],
        'admin_reads_in_windows': _ratio(
            [r for r, where, _ in nova if where == 'inside'
             and r['actor'] == 'admin' and r['method'] == 'GET']),
        'operator_in_windows': _ratio(
            [r for r, where, _ in nova if where == 'inside'
             and r['actor'] == 'operator']),
        'tenant_writes': {
            'outside_windows': _ratio([r for r, where, _ in tenant_writes
                                       if where == 'outside']),
            'inside_refused_by_mode': {
                'refused': sum(1 for r, where, w in tenant_writes
                               if where == 'inside' and blocks(w['mode'], r)
                               and r['frozen']),
                'total': sum(1 for r, where, w in tenant_writes
                             if where == 'inside' and blocks(w['mode'], r))},
            'inside_allowed_by_mode': _ratio(
                [r for r, where, w in tenant_writes
                 if where == 'inside' and not blocks(w['mode'], r)]),
            'at_window_edges': sum(1 for _, where, _ in tenant_writes
                                   if where == 'edge')},
        'refused_outside_windows': sum(
            1 for r, where, _ in placed if r['frozen'] and where == 'outside'),
        'refused_against_mode': sum(
            1 for r, where, w in placed if r['frozen'] and where == 'inside'
            and not blocks(w['mode'], r)),
        'freeze_503s': len(refused),
        'server_errors': [r for r in records if r['status'] >= 500
                          and not r['frozen']],
        'no_answer': [r for r in records if r['status'] == 0],
        'neutron_reads': {backend: _ratio(
            [r for r in records if r['api'] == 'neutron'
             and r['backend'] == backend])
            for backend in sorted({r['backend'] for r in records
                                   if r['api'] == 'neutron'})},
        'hosts': hosts,
        'first_freeze_to_last_thaw_seconds': report['freeze_to_thaw_seconds'],
    }


def lines(fig: dict) -> list[str]:
    """The figures as the demo prints them."""
    def pct(r):
        return (f'{r["served"]}/{r["total"]} ('
                f'{100 * r["served"] / r["total"]:.0f}%)' if r['total']
                else 'none sent')
    tw = fig['tenant_writes']
    out = [f'{fig["requests"]} requests recorded.', 'Freeze windows:']
    out += [f'  {w["mode"]:8} {w["seconds"] or 0:6.1f} s  {w["reason"]}'
            for w in fig['windows']]
    out += [
        f'Admins\' reads served during the windows: '
        f'{pct(fig["admin_reads_in_windows"])}',
        f'Migration operator\'s calls served during the windows: '
        f'{pct(fig["operator_in_windows"])}',
        f'Tenant writes outside the windows served: '
        f'{pct(tw["outside_windows"])}',
        f'Tenant writes a window\'s mode refuses, refused inside it: '
        f'{tw["inside_refused_by_mode"]["refused"]}/'
        f'{tw["inside_refused_by_mode"]["total"]}',
        f'Tenant writes a window\'s mode allows, served inside it: '
        f'{pct(tw["inside_allowed_by_mode"])}',
        f'Refused outside any window: {fig["refused_outside_windows"]}; '
        f'against the window\'s mode: {fig["refused_against_mode"]} '
        f'({tw["at_window_edges"]} tenant writes sent while a freeze or '
        f'thaw was not yet in force on every worker counted apart)',
        f'5xx other than the freeze\'s 503: {len(fig["server_errors"])} '
        f'(the freeze\'s: {fig["freeze_503s"]}); no answer: '
        f'{len(fig["no_answer"])}',
        'Neutron endpoint reads served: ' + ', '.join(
            f'{name} {pct(r)}' for name, r in fig['neutron_reads'].items()),
    ]
    for outcome, stages in fig['hosts'].items():
        out.append(f'Hosts {outcome}: ' + ', '.join(
            f'{stage} {n}' for stage, n in stages.items()))
    span = fig['first_freeze_to_last_thaw_seconds']
    out.append('First freeze to last thaw: '
               + (f'{span:.1f} s' if span is not None else 'still frozen'))
    return out
