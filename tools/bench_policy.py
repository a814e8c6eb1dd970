"""Benchmark: what the policy overlay costs to make and to enforce.

Measures in one run, so that the figures share the machine's noise:
  1. generating the overlay for every nova rule: the effective rules
     (oslo.policy's Enforcer over nova's defaults) and
     ``overlay_rules.generate`` per mode;
  2. ``Enforcer.enforce`` of a few nova rules, as nova calls it (with a
     RequestContext), without and with the overlay (mode full) in the
     policy dir, the two enforcers interleaved round by round.

Usage: python -m tools.bench_policy [--rounds N] [--loops N]
"""

import argparse
import logging
import os
import statistics
import tempfile
import time

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_policy import policy as oslo_policy

from freeze import conf as freeze_conf
from freeze import nova_policy
from freeze import overlay_rules
from freeze.state import document

# (rule, roles of the caller): reads and writes, callers the full freeze
# denies (cheaper: the role check fails first) and admits (both checks run).
CASES = (
    ('os_compute_api:servers:index', ['member', 'reader']),
    ('os_compute_api:servers:index', ['admin']),
    ('os_compute_api:os-keypairs:create', ['member', 'reader']),
    ('os_compute_api:servers:create', ['member', 'reader', 'migration']),
    ('os_compute_api:os-server-external-events:create', ['service']),
)


def _ms(function, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _enforcer(directory, defaults):
    """An Enforcer as nova builds one: a policy file, then a policy dir."""
    os.makedirs(os.path.join(directory, 'policy.d'))
    policy_file = os.path.join(directory, 'policy.yaml')
    with open(policy_file, 'w', encoding='utf-8') as f:
        f.write('{}\n')
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[])
    enforcer = oslo_policy.Enforcer(conf, policy_file=policy_file)
    conf.set_override('policy_dirs', [os.path.join(directory, 'policy.d')],
                      'oslo_policy')
    enforcer.suppress_deprecation_warnings = True
    enforcer.register_defaults(defaults)
    enforcer.load_rules()
    return enforcer


def _enforce_us(enforcer, rule, context, loops):
    target = {'project_id': context.project_id, 'user_id': context.user_id}
    start = time.perf_counter()
    for _ in range(loops):
        enforcer.enforce(rule, target, context)
    return (time.perf_counter() - start) / loops * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=15,
                        help='repetitions; medians are reported')
    parser.add_argument('--loops', type=int, default=500,
                        help='enforce calls per round and case')
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[])
    rules = freeze_conf.load_settings(conf).rules
    defaults = nova_policy.nova_defaults()
    effective, operations = nova_policy.effective_rules(defaults)
    print(f'Generation over all {len(effective)} nova rules '
          f'({len(operations)} documented), median of {args.rounds}:')
    ms = _ms(lambda: nova_policy.effective_rules(defaults), args.rounds)
    print(f"  {'effective rules (oslo Enforcer)':<34} {ms:8.2f} ms")
    for mode in document.MODES:
        size = len(overlay_rules.generate(effective, operations, mode, rules))
        ms = _ms(lambda: overlay_rules.generate(effective, operations, mode,
                                                rules), args.rounds)
        what = f'overlay_rules.generate, mode {mode}'
        print(f'  {what:<34} {ms:8.2f} ms  ({size} rules wrapped)')

    with tempfile.TemporaryDirectory(prefix='bench-policy-') as tmp:
        plain = _enforcer(os.path.join(tmp, 'plain'), defaults)
        frozen = _enforcer(os.path.join(tmp, 'frozen'), defaults)
        text = overlay_rules.render(
            overlay_rules.generate(effective, operations, 'full', rules), [])
        with open(os.path.join(tmp, 'frozen', 'policy.d',
                               nova_policy.OVERLAY_NAME), 'w') as f:
            f.write(text)
        frozen.load_rules()
        print('Enforcer.enforce with a RequestContext, median of '
              f'{args.rounds} x {args.loops} calls:')
        print(f"  {'rule':<48} {'roles':<23} {'frozen':<7} "
              f"{'plain us':>9} {'frozen us':>9} {'ratio':>6}")
        for rule, roles in CASES:
            context = oslo_context.RequestContext(
                user_id='u1', project_id='p1', roles=roles)
            verdict = frozen.enforce(rule, {'project_id': 'p1',
                                            'user_id': 'u1'}, context)
            samples = {'plain': [], 'frozen': []}
            for _ in range(args.rounds):
                samples['plain'].append(
                    _enforce_us(plain, rule, context, args.loops))
                samples['frozen'].append(
                    _enforce_us(frozen, rule, context, args.loops))
            without = statistics.median(samples['plain'])
            with_overlay = statistics.median(samples['frozen'])
            said = 'allows' if verdict else 'denies'
            print(f"  {rule:<48} {','.join(roles):<23} {said:<7} "
                  f'{without:9.1f} {with_overlay:9.1f} '
                  f'{with_overlay / without:6.2f}')


if __name__ == '__main__':
    main()
