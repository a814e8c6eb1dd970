"""The gate: what a command leaves behind for a runner that did not see it
end is what the runner that did see it got."""

import pytest

from freeze.cutover import executor


@pytest.mark.parametrize('command, status, rc, output', [
    ('true', 'ok', 0, ''),
    ('echo out; echo err >&2; exit 3', 'failed', 3, 'out\nerr\n'),
    ('echo "[$#$1]"', 'ok', 0, '[0]\n'),          # no arguments, as sh -c
    ("trap 'echo bye' EXIT; exit 4", 'failed', 4, 'bye\n'),  # its own trap
    ('exec sh -c "exit 5"', 'failed', 5, ''),      # it execs
    ('if then', 'failed', 2, None),                # not even shell
])
def test_the_status_a_command_leaves_is_the_one_seen(tmp_path, command,
                                                     status, rc, output):
    log = str(tmp_path / '1-h-step-do.log')
    seen = executor.Gated(command, log).release(10)
    assert (seen.status, seen.rc) == (status, rc)
    assert output is None or seen.output == output
    left = executor.collected(log)
    assert (left.status, left.rc, left.output) == (seen.status, seen.rc,
                                                   seen.output)


def test_a_gate_never_opened_runs_nothing_and_leaves_no_status(tmp_path):
    log = str(tmp_path / '1-h-step-do.log')
    gated = executor.Gated(f"touch {tmp_path / 'ran'}", log)
    gated.abandon()                     # its runner died before the gate
    assert gated.proc.returncode == executor.NOT_STARTED
    assert not (tmp_path / 'ran').exists()
    assert executor.collected(log) is None


def test_a_timeout_kills_the_group_and_leaves_no_status(tmp_path):
    log = str(tmp_path / '1-h-step-do.log')
    seen = executor.Gated('sleep 30 & sleep 30', log).release(0.3)
    assert seen.status == 'timeout' and 'killed after 0.3s' in seen.output
    assert executor.collected(log) is None
