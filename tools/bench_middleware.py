"""Benchmark: what the freeze filter costs per request, side by side.

Measures in one run, so that the figures share the machine's noise:
  1. a WSGI pipeline with and without the filter, thawed and frozen;
  2. one oslo.policy ``Enforcer.enforce`` of a nova rule, for scale;
  3. real nova-api ``GET /v2.1/flavors``, with and without the filter
     (two nova-api processes on the same databases, requests interleaved).

Usage: python tools/bench_middleware.py [--rounds N] [--no-nova]
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

from oslo_config import cfg
from oslo_context import context as oslo_context

from freeze import conf as freeze_conf
from freeze import middleware
from freeze.state import document
from freeze.state import file as file_backend

GOALS_US = {'thawed': 5.0, 'frozen': 20.0}


def _app(environ, start_response):
    start_response('200 OK', [])
    return [b'']


def _start_response(status, headers):
    return None


def _environ(roles, method='GET', path='/servers'):
    return {'REQUEST_METHOD': method, 'PATH_INFO': path,
            'SCRIPT_NAME': '/v2.1',
            'nova.context': oslo_context.RequestContext(
                user_id='u', project_id='p', roles=roles)}


def _per_call_us(wsgi, environ, loops):
    start = time.perf_counter()
    for _ in range(loops):
        wsgi(environ, _start_response)
    return (time.perf_counter() - start) / loops * 1e6


def _median_us(wsgi, environ, loops, repeats):
    return statistics.median(_per_call_us(wsgi, environ, loops)
                             for _ in range(repeats))


def bench_pipeline(loops, repeats):
    """Per-request cost of the filter over a bare app, in microseconds."""
    workdir = tempfile.mkdtemp(prefix='freeze-bench-')
    state_path = os.path.join(workdir, 'state.json')
    conf = cfg.ConfigOpts()
    conf([], project='nova', default_config_files=[])
    settings = freeze_conf.load_settings(
        conf, {'state_url': 'file://' + state_path})
    filtered = middleware.FreezeMiddleware(_app, settings)
    backend = file_backend.FileBackend(state_path)
    cases = {}
    bare = _median_us(_app, _environ(['member']), loops, repeats)
    cases['bare app'] = bare
    cases['thawed'] = _median_us(filtered, _environ(['member']), loops,
                                 repeats)
    now = document.utcnow()
    backend.update(lambda old: document.FreezeState(
        epoch=old.epoch + 1, frozen=True, mode='full', reason='bench',
        started_at=now), 'bench', now)
    time.sleep(settings.check_interval + 0.1)
    cases['frozen, admin GET passes'] = _median_us(
        filtered, _environ(['admin']), loops, repeats)
    cases['frozen, member POST blocked'] = _median_us(
        filtered, _environ(['member'], 'POST', '/os-keypairs'), loops,
        repeats)
    freeze_log = logging.getLogger('freeze')
    freeze_log.setLevel(logging.ERROR)
    cases['same, without the log line'] = _median_us(
        filtered, _environ(['member'], 'POST', '/os-keypairs'), loops,
        repeats)
    freeze_log.setLevel(logging.NOTSET)
    backend.update(lambda old: document.FreezeState(
        epoch=old.epoch + 1, frozen=True, mode='network', reason='bench',
        started_at=now), 'bench', now)
    time.sleep(settings.check_interval + 0.1)
    cases['network, member POST passes'] = _median_us(
        filtered, _environ(['member'], 'POST', '/os-keypairs'), loops,
        repeats)
    return bare, cases


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


def bench_nova(rounds):
    """Median GET /v2.1/flavors latency through nova with and without it."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import localcloud
    workdir = tempfile.mkdtemp(prefix='freeze-bench-nova-')
    state_url = 'file://%s/state.json' % workdir
    paste = os.path.join(localcloud.REPO, 'paste', 'api-paste.ini')
    stock = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
    with localcloud.LocalCloud(workdir, paste,
                               {'freeze': {'state_url': state_url}}) as cloud:
        plain = cloud.start_nova(stock)
        token = cloud.token('demo-member')
        urls = {'with filter': cloud.nova_url, 'without filter': plain.url}
        samples = {name: [] for name in urls}
        for name, url in urls.items():  # warm up both
            for _ in range(20):
                localcloud.call('GET', url + '/v2.1/flavors', token=token)
        for _ in range(rounds):
            for name, url in urls.items():
                start = time.perf_counter()
                reply = localcloud.call('GET', url + '/v2.1/flavors',
                                        token=token)
                samples[name].append((time.perf_counter() - start) * 1e3)
                assert reply.status == 200, reply
        plain.stop()
    return {name: statistics.median(values) for name, values in
            samples.items()}


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
    bare, cases = bench_pipeline(args.loops, args.repeats)
    enforce = bench_enforce(max(1, args.loops // 20), args.repeats)
    print('WSGI pipeline (median of %d x %d calls), per request:'
          % (args.repeats, args.loops))
    print('  %-30s %8s %12s %8s' % ('case', 'us', 'added us', 'goal'))
    for name, value in cases.items():
        added = value - bare
        goal = (GOALS_US['thawed'] if name == 'thawed'
                else None if name == 'bare app' else GOALS_US['frozen'])
        print('  %-30s %8.2f %12s %8s' % (
            name, value, '' if name == 'bare app' else '%+.2f' % added,
            '' if goal is None else '<= %g' % goal))
    print('oslo.policy Enforcer.enforce(os-keypairs:create): %.1f us '
          '(thawed filter = %.1f%% of it)'
          % (enforce, 100 * (cases['thawed'] - bare) / enforce))
    if not args.no_nova:
        nova = bench_nova(args.rounds)
        ratio = nova['with filter'] / nova['without filter']
        print('real nova-api GET /v2.1/flavors, median of %d interleaved '
              'requests:' % args.rounds)
        for name, value in nova.items():
            print('  %-30s %8.2f ms' % (name, value))
        print('  ratio with/without            %8.3f (goal <= 1.01)' % ratio)


if __name__ == '__main__':
    main()
