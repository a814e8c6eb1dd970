"""``nova-cutover report``: the timeline folded from a real runner's journal
over a small simulated fleet and the real freeze-ctl's history on a state
file; the HTML page checked by parsing it."""

import html.parser
import io
import json
import subprocess
import sys
import time

import pytest

from freeze.cutover import journal as journal_mod
from freeze.cutover import plan as plan_mod
from freeze.cutover import progress
from freeze.cutover import report
from freeze.cutover import runner as runner_mod
from freeze.cutover import timeline
from freeze.cutover import timeline_html
from freeze.cutover import views
from tools.fleet import Fleet, freeze_ctl_command

STAGES = ('proxy', 'compute-l2', 'translate', 'next-gen')


def make_runner(journal_url, **options):
    return runner_mod.Runner(journal_mod.Journal(journal_url),
                             progress.Progress(io.StringIO(), tty=False),
                             **options)


def fold(runner):
    runs = runner.journal.runs()
    return report.timeline(runner, runs, runner.journal.rows(),
                           runner.freeze_history(runner.plan_of(runs[-1])))


@pytest.fixture(scope='module')
def cutover(tmp_path_factory):
    """The whole plan over 6 hosts in 2 cells (batches of 2), the freeze on a
    state file: cmp001 and cmp004 fall back in compute-l2 and are skipped in
    next-gen; then cmp001 is retried (healed) and cmp004 accepted."""
    root = tmp_path_factory.mktemp('timeline')
    fleet = Fleet(root / 'fleet', size=6).create()
    state = f"file://{root / 'state.json'}"
    plan_file = root / 'plan.yaml'
    plan_file.write_text(fleet.plan(
        stages=STAGES, freeze_command=freeze_ctl_command(state),
        batch_size=2, concurrency=2))
    url = f"sqlite:///{root / 'journal.sqlite'}"
    journal_mod.Journal(url, create=True)
    for host in ('cmp001', 'cmp004'):
        fleet.inject(host, 'switch')
    runner = make_runner(url, confirm=True, skip_fallen=True)
    plan = plan_mod.load(plan_file.read_text())
    try:
        assert runner.run(plan) == views.DONE_WITH_FALLBACKS
        first = fold(runner)
        fleet.heal('cmp001', 'switch')
        assert runner.run(plan, 'compute-l2', (None, ['cmp001']),
                          retry=True) == views.DONE_WITH_FALLBACKS
        assert runner.accept('compute-l2', ['cmp004']) == views.DONE
        yield {'runner': runner, 'first': first, 'last': fold(runner),
               'url': url, 'root': root, 'fleet': fleet}
    finally:
        fleet.stop()


def by_stage(data):
    return {s['stage']: s for s in data['stages']}


def between(iso, start, end):
    t = timeline.seconds_of(iso)
    return start - 1e-3 <= t <= end + 1e-3


def test_stages_runs_and_host_outcomes(cutover):
    first, last = by_stage(cutover['first']), by_stage(cutover['last'])
    assert [s['stage'] for s in cutover['last']['stages']] == list(STAGES)
    assert {k: s['status'] for k, s in first.items()} == {
        'proxy': 'done', 'compute-l2': views.DONE_WITH_FALLBACKS,
        'translate': 'done', 'next-gen': views.DONE_WITH_FALLBACKS}
    l2 = first['compute-l2']
    assert l2['outcomes']['fallen-back'] == ['cmp001', 'cmp004']
    assert l2['outcomes']['converted'] == ['cmp000', 'cmp002', 'cmp003',
                                           'cmp005']
    assert first['next-gen']['outcomes']['skipped'] == ['cmp001', 'cmp004']
    # batches as the plan makes them: never two cells in one
    [run] = l2['runs']
    assert [(b['cell'], [h['host'] for h in b['hosts']])
            for b in run['batches']] == [
        ('cell1', ['cmp000', 'cmp001']), ('cell1', ['cmp002']),
        ('cell2', ['cmp003', 'cmp004']), ('cell2', ['cmp005'])]
    assert {h['host']: h['outcome'] for b in run['batches']
            for h in b['hosts']}['cmp004'] == 'fallen-back'

    l2 = last['compute-l2']
    assert l2['status'] == 'done' and len(l2['runs']) == 2
    assert l2['outcomes']['retried'] == ['cmp001']
    assert l2['outcomes']['accepted'] == ['cmp004']
    assert 'cmp001' in l2['outcomes']['converted']
    retry = l2['runs'][1]
    assert [h['host'] for b in retry['batches'] for h in b['hosts']] == [
        'cmp001']
    # the fallen-back host's first run still says so
    assert l2['runs'][0]['batches'][0]['hosts'][1]['outcome'] == \
        'fallen-back'


def test_times_are_the_journals(cutover):
    journal = cutover['runner'].journal
    journalled = {p.id: p for p in journal.runs()}
    rows = journal.rows()
    data = cutover['last']
    runs = [r for s in data['stages'] for r in s['runs']]
    assert sorted(r['run'] for r in runs) == sorted(journalled)
    for run in runs:
        p = journalled[run['run']]
        assert timeline.seconds_of(run['start']) == pytest.approx(
            p.started, abs=1e-3)
        assert run['status'] == p.status
        for batch in run['batches']:
            for host in batch['hosts']:
                mine = [r for r in rows if r.run_id == p.id
                        and r.unit == host['host'] and r.op != 'mark']
                assert between(host['start'], mine[0].started,
                               mine[0].started)
                assert between(host['start'], timeline.seconds_of(
                    batch['start']), timeline.seconds_of(batch['end']))
            assert between(batch['start'], p.started,
                           timeline.seconds_of(run['end']))
    assert timeline.seconds_of(data['start']) == pytest.approx(
        min(p.started for p in journalled.values()), abs=1e-3)


def test_freeze_windows_from_the_history(cutover):
    """A window per freeze the runner journalled: it starts inside the
    freeze action's command and ends inside the thaw's."""
    rows = cutover['runner'].journal.rows()
    data = cutover['last']
    freezes = [r for r in rows if r.op == 'do' and r.step == 'freeze']
    thaws = [r for r in rows if r.op == 'do' and r.step == 'thaw']
    modes = [w['mode'] for w in data['windows']]
    assert modes == ['network', 'full', 'network']   # the retry freezes too
    for window, freeze, thaw in zip(data['windows'], freezes, thaws):
        assert window['reason'] == 'nova-network to neutron'
        assert between(window['start'], freeze.started, freeze.finished)
        assert between(window['end'], thaw.started, thaw.finished)
        assert window['seconds'] == pytest.approx(
            timeline.seconds_of(window['end'])
            - timeline.seconds_of(window['start']), abs=1e-3)
    assert data['first_freeze'] == data['windows'][0]['start']
    assert data['last_thaw'] == data['windows'][-1]['end']
    assert data['freeze_to_thaw_seconds'] == pytest.approx(
        timeline.seconds_of(data['last_thaw'])
        - timeline.seconds_of(data['first_freeze']), abs=1e-3)


def test_windows_mode_changes_open_windows_and_the_span(tmp_path, capsys):
    """History as freeze-ctl writes it: a mode change while frozen starts a
    new window, a freeze not ended is open, the span keeps its own."""
    from freeze.cli import freeze_ctl
    state = ['--state', f"file://{tmp_path / 's.json'}"]
    for words in (['on', '--mode', 'network', '--reason', 'before'],
                  ['off'],
                  ['on', '--mode', 'network', '--reason', 'switch hosts'],
                  ['on', '--mode', 'full', '--reason', 'switch hosts'],
                  ['on', '--mode', 'full', '--reason', 'translate'],
                  ['off'],
                  ['on', '--mode', 'writes', '--reason', 'late']):
        assert freeze_ctl.main(state + words) == 0
    capsys.readouterr()
    assert freeze_ctl.main(state + ['history', '-f', 'json']) == 0
    history = json.loads(capsys.readouterr().out)
    every = timeline.windows(history)
    assert [(w['mode'], w['reason']) for w in every] == [
        ('network', 'before'), ('network', 'switch hosts'),
        ('full', 'switch hosts'), ('full', 'translate'), ('writes', 'late')]
    assert every[1]['end'] == every[2]['start']
    assert every[2]['end'] == every[3]['start'] and every[4]['end'] is None
    span = timeline.windows(history, every[1]['start'], every[3]['end'])
    assert [w['reason'] for w in span] == ['switch hosts'] * 2 + [
        'translate']
    with pytest.raises(timeline.TimelineError):
        timeline.windows([{'frozen': True}])


class Page(html.parser.HTMLParser):
    """Every element's attributes and the page's text, from the HTML."""

    def __init__(self):
        super().__init__()
        self.elements, self.text, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def of(self, cls):
        return [a for _, a in self.elements if a.get('class') == cls]


def nova_cutover(url, *args):
    return subprocess.run(
        [sys.executable, '-m', 'freeze.cli.nova_cutover', '--journal', url]
        + list(args), capture_output=True, text=True, timeout=120)


def test_report_html_and_json(cutover, tmp_path):
    page_file = tmp_path / 'report.html'
    done = nova_cutover(cutover['url'], 'report', '--html', str(page_file))
    assert done.returncode == 0 and done.stdout == '', done.stderr
    shown = nova_cutover(cutover['url'], 'report', '-f', 'json')
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data == cutover['last']   # the fold's, as it was made

    page = Page()
    page.feed(page_file.read_text())
    assert not {'script', 'link', 'img', 'iframe'} & set(page.tags)
    [svg] = [a for t, a in page.elements if t == 'svg' and 'data-t0' in a]
    t0, t1 = float(svg['data-t0']), float(svg['data-t1'])
    x0, width = float(svg['data-x0']), float(svg['data-plot'])

    def x(iso):
        return x0 + (timeline.seconds_of(iso) - t0) / (t1 - t0) * width

    def drawn_at(bar, start, end):
        assert bar['data-start'] == start and bar['data-end'] == end
        assert float(bar['x']) == pytest.approx(x(start), abs=0.02)
        assert float(bar['x']) + float(bar['width']) == pytest.approx(
            max(x(end), x(start) + 1), abs=0.02)

    windows = page.of('window')
    assert len(windows) == len(data['windows']) == 3
    for bar, window in zip(windows, data['windows']):
        assert (bar['data-mode'], bar['data-reason']) == (
            window['mode'], window['reason'])
        drawn_at(bar, window['start'], window['end'])
    runs = {(b['data-stage'], int(b['data-run'])): b for b in page.of('run')}
    for stage in data['stages']:
        assert stage['runs'], stage['stage']
        for run in stage['runs']:
            bar = runs.pop((stage['stage'], run['run']))
            assert bar['data-status'] == run['status']
            drawn_at(bar, run['start'], run['end'])
    assert runs == {}
    hosts = {(h['data-stage'], int(h['data-run']), h['data-host']):
             h['data-outcome'] for h in page.of('host')}
    expected = {(s['stage'], r['run'], h['host']): h['outcome']
                for s in data['stages'] for r in s['runs']
                for b in r['batches'] for h in b['hosts']}
    assert hosts == expected
    assert {h for _, _, h in hosts} == set(cutover['fleet'].hosts)
    assert hosts[('compute-l2', data['stages'][1]['runs'][0]['run'],
                  'cmp001')] == 'fallen-back'
    final = {}
    for square in page.of('final'):
        final.setdefault(square['data-stage'], {})[square['data-host']] = (
            square['data-outcome'], 'data-retried' in square)
    for stage in data['stages']:
        hosts_now = {h: (outcome, h in stage['outcomes']['retried'])
                     for outcome, names in stage['outcomes'].items()
                     if outcome != 'retried' for h in names}
        assert final.get(stage['stage'], {}) == hosts_now
    assert set(final['next-gen']) == set(cutover['fleet'].hosts)
    assert final['compute-l2']['cmp001'] == ('converted', True)
    assert final['compute-l2']['cmp004'] == ('accepted', False)
    text = ''.join(page.text)
    for stage in data['stages']:
        assert stage['stage'] in text
    assert 'nova-network to neutron' in text and 'cmp004' in text


def test_report_errors_are_one_line(tmp_path, cutover):
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    journal_mod.Journal(url, create=True)
    empty = nova_cutover(url, 'report')
    assert empty.returncode == 1
    assert empty.stderr == 'nova-cutover: error: nothing has run yet: no ' \
        'report\n'
    nowhere = nova_cutover(cutover['url'], 'report', '--html',
                           str(tmp_path / 'no' / 'report.html'))
    assert nowhere.returncode == 1 and nowhere.stdout == ''
    assert nowhere.stderr.startswith('nova-cutover: error: cannot write ')
    assert nowhere.stderr.count('\n') == 1


def test_an_unreadable_freeze_history_is_said():
    plan = plan_mod.load(
        'name: x\nfreeze: {command: sh -c "echo etcd down >&2; exit 2" --}\n'
        'stages: [{name: a, freeze: {mode: full}, commands: '
        '[{name: c, run: "true"}]}]\n')
    with pytest.raises(runner_mod.CutoverError,
                       match='^freeze-ctl history: etcd down$'):
        runner_mod.Runner(None, None).freeze_history(plan)
    thawless = plan_mod.load('name: x\nfreeze: {command: "false"}\nstages: '
                             '[{name: a, commands: [{name: c, run: "true"}]}]')
    assert runner_mod.Runner(None, None).freeze_history(thawless) == []


def test_a_stopped_stage_leaves_its_window_open(tmp_path):
    """A run stopped at its threshold keeps the freeze on: the window has
    no end, nor has the freeze-to-thaw time; the page draws it to the
    axis' end."""
    fleet = Fleet(tmp_path / 'fleet', size=2).create()
    try:
        fleet.inject('cmp000', 'switch')
        plan = plan_mod.load(fleet.plan(
            stages=('compute-l2',), failure_threshold=1,
            freeze_command=freeze_ctl_command(
                f"file://{tmp_path / 'state.json'}")))
        url = f"sqlite:///{tmp_path / 'j.sqlite'}"
        journal_mod.Journal(url, create=True)
        runner = make_runner(url)
        assert runner.run(plan) == views.STOPPED
        data = fold(runner)
        assert runner.rollback() == views.ROLLED_BACK
        rolled_back = fold(runner)
    finally:
        fleet.stop()
    [stage] = data['stages']
    assert stage['status'] == views.STOPPED
    assert stage['runs'][0]['batches'][0]['hosts'][0]['outcome'] == \
        'batch-reverted'
    [window] = data['windows']
    assert window['mode'] == 'network' and window['end'] is None
    assert window['seconds'] is None and data['last_thaw'] is None
    assert data['freeze_to_thaw_seconds'] is None
    page = Page()
    page.feed(timeline_html.page(data))
    [svg] = [a for t, a in page.elements if t == 'svg' and 'data-t0' in a]
    [bar] = page.of('window')
    assert 'data-end' not in bar
    assert float(bar['x']) + float(bar['width']) == pytest.approx(
        float(svg['data-x0']) + float(svg['data-plot']), abs=0.02)
    assert 'still frozen' in ''.join(page.text)

    # the rollback puts the freeze back as it was before: the window ends
    # inside the rollback's revert of the freeze, in the same run
    [stage] = rolled_back['stages']
    assert stage['status'] == stage['runs'][0]['status'] == \
        views.ROLLED_BACK
    [window] = rolled_back['windows']
    [revert] = [r for r in runner.journal.rows()
                if r.op == 'revert' and r.step == 'freeze']
    assert between(window['end'], revert.started, revert.finished)
    assert rolled_back['last_thaw'] == window['end']
    assert between(stage['runs'][0]['end'], revert.finished, time.time())
