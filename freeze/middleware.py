"""The freeze filter for nova's api-paste pipeline.

Placed right after ``authtoken keystonecontext``: it reads the identity those
two established, asks ``decision.decide`` and either passes the request on
untouched or answers it the way nova answers an unavailable service.  While
thawed the cost is a cached state read and one substring test.  The state
comes from the watcher's view in memory: no request waits on the state
backend (``freeze.state.watch``).

Paste::

    [filter:freeze]
    paste.filter_factory = freeze.middleware:filter_factory
    # optional overrides of the [freeze] options in nova.conf, e.g.
    # migration_roles = migration,cutover
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import datetime
import json
import os
import threading
from typing import Any
import weakref

from oslo_config import cfg
from oslo_log import log as logging
import webob

from freeze import conf as freeze_conf
from freeze import decision
from freeze import identity
from freeze import nova_policy
from freeze import routes
from freeze import routing
from freeze.state import document
from freeze.state import open_backend
from freeze.state import watch

LOG = logging.getLogger(__name__)

MONITOR_PATH = '/os-freeze'


def _caller(environ: dict[str, Any]) -> identity.Caller:
    """The caller as authentication confirmed it (no roles if it did not)."""
    return identity.caller(environ) or identity.UNCONFIRMED


def _action_from_body(environ: dict[str, Any]) -> str | None:
    """The server action named by the JSON body, as nova's action_peek reads it.

    Returns None when the body is not a JSON object with exactly one key,
    including one nested too deeply for the parser (RecursionError), and
    when the body cannot be read (a chunked body over sizelimit's maximum,
    one cut short): an unparseable body, blocked for those the mode blocks,
    and not a failure of the filter that would block migrators too; nova's
    own read fails the same way.  The body stays readable for nova.
    """
    try:
        raw = webob.Request(environ).body
    except Exception:  # whatever webob or a reader below it raise
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(body, dict) and len(body) == 1:
        return next(iter(body))
    return None


def _json_response(start_response: Callable[..., Any], status: str,
                   body: dict[str, Any],
                   headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    payload = json.dumps(body).encode('utf-8')
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(payload)))]
                   + list(headers))
    return [payload]


class FreezeMiddleware:
    """WSGI adapter around ``decision.decide``."""

    def __init__(self, application: Callable[..., Any],
                 settings: freeze_conf.Settings,
                 watcher: watch.StateWatcher | None = None,
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.application = application
        self.settings = settings
        self.rules = settings.rules
        self.watcher = watcher or shared_watcher(settings)
        self.clock = clock or document.utcnow

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            answer = self._answer(environ, start_response)
        except Exception:
            answer = self._own_failure(environ, start_response)
        if answer is None:
            return self.application(environ, start_response)
        return answer

    def _answer(self, environ: dict[str, Any],
                start_response: Callable[..., Any]) -> list[bytes] | None:
        """The filter's own response, or None to pass the request on."""
        path_info = environ.get('PATH_INFO', '')
        if 'os-freeze' in path_info:
            path = routes.normalise(path_info)
            if path == MONITOR_PATH:
                return self._monitor(environ, start_response)
        view = self.watcher.current()
        now = self.clock()
        if not view.state.in_force(now):
            return None
        # The method and path nova's router will act on (a ``_method``
        # override included); a method that cannot be told counts as a write.
        method, path = routing.request_target(environ)
        action = None
        if view.state.mode == 'network' and routes.needs_action(method, path):
            action = _action_from_body(environ)
        facts = decision.RequestFacts(method=method, path=path,
                                      roles=_caller(environ).roles,
                                      action=action)
        verdict = decision.decide(facts, view.state, self.rules, now)
        if verdict.allowed:
            return None
        return self._block(environ, start_response, facts, view, verdict, now)

    def _own_failure(self, environ: dict[str, Any],
                     start_response: Callable[..., Any]) -> list[bytes] | None:
        """A bug in this filter must not become nova's 500, nor open the
        API by accident: ``fail_mode`` decides, as for an unreadable state
        (closed: every request gets the freeze's 503, migrators included,
        since no part of the decision can be trusted; open: pass)."""
        LOG.exception('Freeze filter failed on %s %s; fail_mode=%s',
                      environ.get('REQUEST_METHOD'),
                      environ.get('PATH_INFO'), self.settings.fail_mode)
        if self.settings.fail_mode == 'open':
            return None
        return _json_response(
            start_response, '503 Service Unavailable',
            {'serviceUnavailable': {
                'code': 503,
                'message': 'The compute API is frozen: the freeze filter '
                           'failed on this request and fails closed; ask '
                           'the operators (see nova-api\'s log).'}},
            [('Retry-After', str(self.settings.retry_after))])

    def _retry_after(self, state: document.FreezeState,
                     now: datetime.datetime) -> int:
        if state.until is not None and state.until > now:
            return max(1, int((state.until - now).total_seconds()))
        return self.settings.retry_after

    def _block(self, environ: dict[str, Any],
               start_response: Callable[..., Any],
               facts: decision.RequestFacts, view: watch.View,
               verdict: decision.Decision,
               now: datetime.datetime) -> list[bytes]:
        state = view.state
        caller = _caller(environ)
        LOG.warning('Freeze blocked request %s: user %s project %s %s %s '
                    '(mode %s, epoch %s): %s',
                    environ.get('openstack.request_id', '-'), caller.user_id,
                    caller.project_id,
                    facts.method, facts.path, state.mode, state.epoch,
                    verdict.reason)
        end = (document.format_time(state.until) if state.until
               else 'not set; ask the operators')
        message = ('The compute API is frozen for a migration (mode '
                   f'{state.mode}): {verdict.reason}. Reason: '
                   f"{state.reason or 'none given'}. Expected end: {end}.")
        return _json_response(
            start_response, '503 Service Unavailable',
            {'serviceUnavailable': {'code': 503, 'message': message}},
            [('Retry-After', str(self._retry_after(state, now)))])

    def _monitor(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> list[bytes]:
        """``GET /os-freeze``: the state document, for readers and migrators."""
        method = environ.get('REQUEST_METHOD', '').upper()
        if method not in routes.READ_METHODS:
            return _json_response(
                start_response, '405 Method Not Allowed',
                {'badMethod': {'code': 405,
                               'message': 'os-freeze is read-only; use '
                                          'freeze-ctl to change the freeze'}},
                [('Allow', 'GET, HEAD')])
        roles = _caller(environ).roles
        if not roles & (self.rules.reader_roles | self.rules.migration_roles):
            return _json_response(
                start_response, '403 Forbidden',
                {'forbidden': {'code': 403,
                               'message': 'os-freeze needs a reader or '
                                          'migration role'}})
        view = self.watcher.current()
        body = {'freeze': dict(view.state.to_dict(),
                               in_force=view.state.in_force(self.clock()),
                               problem=view.problem, failing=view.failing,
                               worker=f'{self.watcher.host}:{os.getpid()}')}
        return _json_response(start_response, '200 OK', body)


_WATCHERS = weakref.WeakValueDictionary()  # state URL -> watcher
_OPTIONS = {}  # state URL -> the options its watcher was made with
_WATCHERS_LOCK = threading.Lock()


def _watcher_options(settings: freeze_conf.Settings) -> dict[str, Any]:
    return dict(fail_mode=settings.fail_mode,
                check_interval=settings.check_interval,
                stale_after=settings.stale_after,
                heartbeat_interval=settings.heartbeat_interval,
                ack_expiry=settings.ack_expiry,
                overlay_path=settings.policy_dir and os.path.join(
                    settings.policy_dir, nova_policy.OVERLAY_NAME))


def shared_watcher(settings: freeze_conf.Settings) -> watch.StateWatcher:
    """The process's one watcher of ``settings.state_url``, started.

    nova's api-paste.ini builds the filter once per pipeline (v2.1 and the
    legacy v2), but a process must have one view and one acknowledgement:
    with two, one could acknowledge an epoch the other does not enforce yet.
    """
    options = _watcher_options(settings)
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(settings.state_url)
        if watcher is None:
            watcher = watch.StateWatcher(open_backend(settings.state_url),
                                         **options)
            watcher.start()
            _WATCHERS[settings.state_url] = watcher
            _OPTIONS[settings.state_url] = options
        elif _OPTIONS[settings.state_url] != options:
            LOG.warning('Two [filter:freeze] sections watch %s with different '
                        'options; the first one\'s apply to both: %s',
                        settings.state_url, _OPTIONS[settings.state_url])
        return watcher


def filter_factory(global_conf: dict[str, str],
                   **local_conf: str) -> Callable[[Any], FreezeMiddleware]:
    """Paste entry point: ``[freeze]`` from nova.conf, paste options on top."""
    unknown = set(local_conf) - {opt.dest for opt in freeze_conf.OPTS}
    if unknown:
        LOG.warning('[filter:freeze] ignores unknown options: %s',
                    ', '.join(sorted(unknown)))
    settings = freeze_conf.load_settings(
        cfg.CONF, {k: v for k, v in local_conf.items() if k not in unknown})

    def _filter(application: Callable[..., Any]) -> FreezeMiddleware:
        return FreezeMiddleware(application, settings)
    return _filter
