"""The runner's progress: time left and the quiet log lines."""

from freeze.cutover import progress


def test_progress_eta_and_quiet_lines():
    assert progress.eta(10.0, 5, 20) == 40.0
    assert progress.eta(1.0, 0, 20) is None
    assert progress.format_seconds(3725) == '1h02m'
    assert progress.logfmt('x', {'a': 1, 'b': 'two words'}) == \
        'event=x a=1 b="two words"'
