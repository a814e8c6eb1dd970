"""The plan: validated before anything runs, errors that say where."""

import pytest
import yaml

from freeze.cutover import plan as plan_mod

BASE = {
    'name': 'p',
    'vars': {'dir': '/x'},
    'defaults': {'batch_size': 2, 'failure_threshold': '50%'},
    'cells': {'c1': ['a', 'b', 'c'], 'c2': ['d']},
    'stages': [
        {'name': 'proxy', 'commands': [{'name': 'up', 'run': 'echo {dir}'}]},
        {'name': 'compute-l2', 'freeze': {'mode': 'network',
                                          'grants': ['alice:ops']},
         'steps': [{'name': 'switch', 'run': 'ssh {host} switch',
                    'check': 'ssh {host} true', 'revert': 'ssh {host} back'}],
         'health': 'ssh {host} health'},
    ],
}


def load(**changes):
    data = dict(BASE, **changes)
    return plan_mod.load(yaml.safe_dump(data))


def test_a_good_plan():
    plan = load()
    stage = plan.stage('compute-l2')
    assert [s.name for s in stage.steps] == ['switch', 'health']
    assert stage.freeze.mode == 'network' and stage.thaw
    assert plan.render(stage.steps[0].run, 'compute-l2', 'b') == 'ssh b switch'
    assert plan.batches(stage, list(plan.hosts)) == [['a', 'b'], ['c'], ['d']]
    assert stage.threshold(2) == 1 and stage.threshold(5) == 3
    assert plan.select(cell='c2') == ['d']
    assert plan.select(hosts=['d', 'a']) == ['a', 'd']


@pytest.mark.parametrize('changes, message', [
    ({'stages': [{'name': 'x', 'commands': [{'name': 'a',
                                             'run': 'echo {nope}'}]}]},
     'unknown variable {nope}'),
    ({'stages': [{'name': 'x', 'commands': [{'name': 'a',
                                             'run': 'echo {host}'}]}]},
     'unknown variable {host}'),
    ({'stages': [{'name': 'x', 'commands': [{'name': 'a', 'run': 'a',
                                             'rnu': 'b'}]}]},
     'unknown key(s): rnu'),
    ({'cells': {'c1': ['a'], 'c2': ['a']}}, 'listed in cells c1 and c2'),
    ({'cells': {'c1': ['a; rm -rf /']}}, 'bad host name'),
    ({'defaults': {'failure_threshold': 0}}, 'failure_threshold'),
    ({'defaults': {'failure_budget': 'some'}}, 'failure_budget'),
    ({'defaults': {'batchsize': 3}}, 'unknown key(s): batchsize'),
    ({'stages': []}, 'non-empty list'),
    ({'stages': [{'name': 'x', 'freeze': {'mode': 'frozen'},
                  'commands': [{'name': 'a', 'run': 'a'}]}]},
     'mode must be one of'),
    ({'stages': [{'name': 'x', 'point_of_no_return': 'data',
                  'commands': [{'name': 'a', 'run': 'a'}]}]},
     'needs thaw'),
    ({'stages': [{'name': 'x', 'commands': [{'name': 'a', 'run': 'a'}]},
                 {'name': 'x', 'commands': [{'name': 'a', 'run': 'a'}]}]},
     'names must be unique'),
])
def test_bad_plans_are_refused_with_where(changes, message):
    with pytest.raises(plan_mod.PlanError, match=message.replace(
            '(', r'\(').replace(')', r'\)').replace('{', r'\{')):
        load(**changes)


def test_not_yaml():
    with pytest.raises(plan_mod.PlanError, match='not valid YAML'):
        plan_mod.load('stages: [')


def test_unknown_stage_cell_host():
    plan = load()
    with pytest.raises(plan_mod.PlanError, match='unknown stage'):
        plan.stage('translate')
    with pytest.raises(plan_mod.PlanError, match='unknown cell'):
        plan.select(cell='c9')
    with pytest.raises(plan_mod.PlanError, match='unknown host'):
        plan.select(hosts=['zz'])


def test_the_example_plan_loads():
    from pathlib import Path
    text = (Path(__file__).parents[2] / 'tools'
            / 'cutover-plan.example.yaml').read_text()
    plan = plan_mod.load(text)
    assert [s.name for s in plan.stages] == [
        'proxy', 'compute-l2', 'pre-copy', 'translate', 'next-gen']
    assert plan.stage('translate').point_of_no_return
    # restore writes Neutron's database before Neutron is switched onto it
    runs = [c.run for c in plan.stage('translate').commands]
    assert 'translate restore' in runs[0] and '--neutron-db' in runs[0]
    assert 'neutron-db-switch --to neutron' in runs[1]


def test_inventory_from_nova_groups_by_zone():
    from freeze.cutover import inventory
    services = [('c2', 'az2', 'enabled'), ('c1', 'az1', 'enabled'),
                ('c3', 'az1', 'disabled')]
    assert inventory.group(services) == {'c1': 'az1', 'c2': 'az2'}
    assert inventory.group(services, 'none', disabled=True) == dict.fromkeys(
        ('c1', 'c3', 'c2'), 'all')
    with pytest.raises(plan_mod.PlanError, match='only {from: nova}'):
        inventory.settings({'from': 'ldap'})
    text = yaml.safe_dump(dict(BASE, inventory={'from': 'nova'}))
    assert plan_mod.inventory_settings(text) == {'from': 'nova'}
    plan = plan_mod.load(text, hosts={'x1': 'az1'})
    assert plan.hosts == {'x1': 'az1'}


def test_the_dry_run_as_data_and_as_text(tmp_path, capsys):
    from freeze.cli import nova_cutover
    path = tmp_path / 'plan.yaml'
    path.write_text(yaml.safe_dump(BASE))
    assert nova_cutover.main(['plan', '-f', 'json', str(path)]) == 0
    run = yaml.safe_load(capsys.readouterr().out)
    assert (run['plan'], run['hosts'], run['cells']) == ('p', 4, 2)
    proxy, l2 = run['stages']
    assert proxy['actions'] == [{'n': 1, 'action': 'up', 'run': 'echo /x',
                                 'revert': None}]
    actions = [a['action'] for a in l2['actions']]
    assert actions == ['freeze-before', 'freeze', 'batch', 'batch', 'batch',
                       'thaw']
    assert (proxy['failure_budget'], l2['failure_budget']) == (None, None)
    first = l2['actions'][2]
    assert (first['cell'], first['hosts'], first['stops_at_failed']) == (
        'c1', ['a', 'b'], 1)
    assert first['steps'][0] == {'host': 'a', 'step': 'switch',
                                 'run': 'ssh a switch'}
    assert nova_cutover.main(['plan', str(path), '--stage', 'compute-l2',
                              '--cell', 'c2']) == 0
    text = capsys.readouterr().out
    assert '  3. batch 1/1, cell c2: 1 host(s)' in text
    assert 'd switch: ssh d switch' in text and 'ssh a' not in text
