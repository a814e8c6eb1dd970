"""Benchmark: what the freeze filter costs per request, side by side.

Measures in one run, so that the figures share the machine's noise:
  1. a WSGI pipeline with and without the filter, thawed and frozen
     (including requests with ``_method`` overrides, which the filter
     resolves with routes' own code as nova's router will);
  2. one oslo.policy ``Enforcer.enforce`` of a nova rule, for scale;
  3. real nova-api ``GET /v2.1/flavors``, with and without the filter
     (one nova-api process serving both pipelines, requests interleaved,
     with an identical twin as a control for the measurement's own bias).

Usage: python -m tools.bench_middleware [--rounds N] [--no-nova]
"""

import argparse
import io
import logging
import os
import statistics
import tempfile
import time

from oslo_config import cfg
from oslo_context import context as oslo_context

from freeze import conf as freeze_conf
from freeze import middleware
from freeze.state import document
from freeze.state import file as file_backend
from tools.localcloud import REPO

GOALS_US = {'thawed': 5.0, 'frozen': 20.0}


def _app(environ, start_response):
    start_response('200 OK', [])
    return [b'']


def _start_response(status, headers):
    return None


def _environ(roles, method='GET', path='/servers', query='',
             form=None):
    """A factory of fresh environs: webob caches what it parsed from the
    query string and body in the environ, as a real request's is new."""
    environ = {'REQUEST_METHOD': method, 'PATH_INFO': path,
               'QUERY_STRING': query, 'SCRIPT_NAME': '/v2.1',
               'nova.context': oslo_context.RequestContext(
                   user_id='u', project_id='p', roles=roles)}
    if form is None:
        return lambda: environ.copy()
    environ.update(CONTENT_TYPE='application/x-www-form-urlencoded',
                   CONTENT_LENGTH=str(len(form)))
    return lambda: dict(environ, **{'wsgi.input': io.BytesIO(form)})


def _per_call_us(wsgi, make_environ, loops):
    start = time.perf_counter()
    for _ in range(loops):
        wsgi(make_environ(), _start_response)
    return (time.perf_counter() - start) / loops * 1e6


def _median_us(wsgi, make_environ, loops, repeats):
    return statistics.median(_per_call_us(wsgi, make_environ, loops)
                             for _ in range(repeats))


def _router_step():
    """routes' RoutesMiddleware as nova builds it, over an empty mapper:
    its method-override step, then the bare app."""
    import routes
    from routes import middleware as routes_middleware
    mapper = routes.Mapper()
    mapper.connect('/never', controller='x')
    return routes_middleware.RoutesMiddleware(_app, mapper, singleton=False)


def bench_pipeline(loops, repeats):
    """Per-request cost of the filter and of a bare app, in microseconds:
    name -> (with the filter, bare app given the same environs)."""
    workdir = tempfile.mkdtemp(prefix='freeze-bench-')
    state_path = os.path.join(workdir, 'state.json')
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    settings = freeze_conf.load_settings(
        conf, {'state_url': 'file://' + state_path})
    filtered = middleware.FreezeMiddleware(_app, settings)
    backend = file_backend.FileBackend(state_path)
    now = document.utcnow()

    def freeze(mode):
        backend.update(lambda old: old.successor(
            frozen=True, mode=mode, reason='bench', started_at=now),
            'bench', now)
        time.sleep(settings.check_interval + 0.1)

    def case(make_environ):
        return (_median_us(filtered, make_environ, loops, repeats),
                _median_us(_app, make_environ, loops, repeats))

    freeze_log = logging.getLogger('freeze')
    cases = {'thawed': case(_environ(['member']))}
    freeze('full')
    cases['frozen, admin GET passes'] = case(_environ(['admin']))
    cases['frozen, member POST blocked'] = case(
        _environ(['member'], 'POST', '/os-keypairs'))
    freeze_log.setLevel(logging.ERROR)
    cases['same, without the log line'] = case(
        _environ(['member'], 'POST', '/os-keypairs'))
    cases['admin POST ?_method=GET passes'] = case(
        _environ(['admin'], 'POST', '/flavors/f1', '_method=GET'))
    form = _environ(['admin'], 'POST', '/flavors/f1', form=b'_method=GET')
    cases['admin form POST _method=GET passes'] = case(form)
    # nova's router parses the same form; webob keeps the parse in the
    # environ, so behind the filter it costs the router nothing.
    router = _router_step()
    cases['same, app = nova router\'s override step'] = (
        _median_us(middleware.FreezeMiddleware(router, settings), form,
                   loops, repeats),
        _median_us(router, form, loops, repeats))
    freeze_log.setLevel(logging.NOTSET)
    freeze('network')
    cases['network, member POST passes'] = case(
        _environ(['member'], 'POST', '/os-keypairs'))
    return cases


def bench_enforce(loops, repeats):
    """One oslo.policy enforce of a nova rule, for scale."""
    from nova import context as nova_context
    from nova import policy as nova_policy
    from oslo_policy import policy as oslo_policy
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    enforcer = oslo_policy.Enforcer(conf)
    enforcer.register_defaults(nova_policy.policies.list_rules())
    enforcer.load_rules()
    ctx = nova_context.RequestContext(user_id='u', project_id='p',
                                      roles=['member', 'reader'],
                                      is_admin=False)
    target = {'project_id': 'p', 'user_id': 'u'}
    rule = 'os_compute_api:os-keypairs:create'

    def once():
        start = time.perf_counter()
        for _ in range(loops):
            enforcer.enforce(rule, target, ctx)
        return (time.perf_counter() - start) / loops * 1e6
    return statistics.median(once() for _ in range(repeats))


def _paste_with_twin_pipelines(path):
    """The shipped api-paste.ini plus two twins of its pipeline without the
    filter, at ``/nofreeze`` and ``/control``.

    All three live in one nova-api process, sharing its caches and database,
    so the filter is the only difference; the two identical twins measure the
    bias of the measurement itself.
    """
    with open(os.path.join(REPO, 'paste', 'api-paste.ini')) as f:
        text = f.read()
    pipeline = [line for line in text.splitlines()
                if line.startswith('keystone = ') and 'legacy' not in line][0]
    text = text.replace('/v2.1/+: openstack_compute_api_v21\n',
                        '/v2.1/+: openstack_compute_api_v21\n'
                        '/nofreeze/+: bench_nofreeze\n'
                        '/control/+: bench_nofreeze\n')
    text += ('\n[composite:bench_nofreeze]\n'
             'use = call:nova.api.auth:pipeline_factory_v21\n'
             + pipeline.replace(' freeze ', ' ') + '\n')
    with open(path, 'w') as f:
        f.write(text)
    return path


def bench_nova(rounds):
    """nova's GET flavors latency, and what the filter adds to it.

    Requests rotate between the pipelines; added costs are medians of
    differences within a round, which cancels the machine's slow drifts.
    """
    from tools import localcloud
    workdir = tempfile.mkdtemp(prefix='freeze-bench-nova-')
    state_url = f'file://{workdir}/state.json'
    paste = _paste_with_twin_pipelines(os.path.join(workdir, 'bench-paste.ini'))
    with localcloud.LocalCloud(workdir, paste,
                               {'freeze': {'state_url': state_url}}) as cloud:
        token = cloud.token('demo-member')
        urls = {'filter': cloud.nova_url + '/v2.1/flavors',
                'nofreeze': cloud.nova_url + '/nofreeze/flavors',
                'control': cloud.nova_url + '/control/flavors'}
        for url in urls.values():  # warm up
            for _ in range(20):
                localcloud.call('GET', url, token=token)
        rounds_ms = []
        for i in range(rounds):
            timings = {}
            order = list(urls.items())
            for name, url in order[i % 3:] + order[:i % 3]:
                start = time.perf_counter()
                reply = localcloud.call('GET', url, token=token)
                timings[name] = (time.perf_counter() - start) * 1e3
                assert reply.status == 200, reply
            rounds_ms.append(timings)
    base = statistics.median(r['nofreeze'] for r in rounds_ms)
    return base, {
        name: statistics.median(r[name] - r['nofreeze'] for r in rounds_ms)
        for name in ('filter', 'control')}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--loops', type=int, default=20000)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--rounds', type=int, default=300,
                        help='nova requests per variant')
    parser.add_argument('--no-nova', action='store_true',
                        help='skip the real nova-api comparison')
    args = parser.parse_args()
    # Blocked calls are logged, as in nova: format them into a real handler.
    logging.getLogger('freeze').addHandler(logging.FileHandler(os.devnull))
    logging.getLogger('freeze').propagate = False
    cases = bench_pipeline(args.loops, args.repeats)
    enforce = bench_enforce(max(1, args.loops // 20), args.repeats)
    print(f'WSGI pipeline (median of {args.repeats} x {args.loops} calls), '
          'per request, the bare app given the same (fresh) environs:')
    print(f'  {"case":<40} {"bare us":>8} {"us":>8} {"added us":>10} '
          f'{"goal":>8}')
    for name, (value, bare) in cases.items():
        goal = GOALS_US['thawed' if name == 'thawed' else 'frozen']
        print('  %-40s %8.2f %8.2f %+10.2f %8s' % (
            name, bare, value, value - bare, f'<= {goal:g}'))
    thawed, bare = cases['thawed']
    print(f'oslo.policy Enforcer.enforce(os-keypairs:create): {enforce:.1f} '
          f'us (thawed filter = {100 * (thawed - bare) / enforce:.1f}% of it)')
    if not args.no_nova:
        base, added = bench_nova(args.rounds)
        print(f'real nova-api GET flavors, {args.rounds} rounds in one '
              'process, median of per-round differences:')
        print(f'  {"pipeline without the filter":<34} {base:8.2f} ms')
        print('  %-34s %+8.3f ms  ratio %.4f (goal <= 1.01)'
              % ('with the filter', added['filter'],
                 (base + added['filter']) / base))
        print('  %-34s %+8.3f ms  ratio %.4f (measurement bias)'
              % ('control: identical twin, no filter', added['control'],
                 (base + added['control']) / base))

if __name__ == '__main__':
    main()
