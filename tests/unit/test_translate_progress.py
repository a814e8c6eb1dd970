"""The apply's progress bar: counts, rate, time left as the runbook says it,
a line per interval in a log, the last one always."""

import io

from freeze.translate.progress import Progress


def test_line_counts_rate_and_time_left():
    bar = Progress(200, stream=io.StringIO())
    bar(20)
    assert bar.line(bar.began + 10) == (
        'apply [###...........................] 20/200 2.0/s, 1m30s left ')
    assert Progress(5, stream=io.StringIO()).line(0).endswith(' ? left ')


def test_a_log_gets_lines_not_a_redrawn_bar():
    log = io.StringIO()
    bar = Progress(3, label='rules', stream=log, interval=3600)
    bar(1)
    bar(2)   # the last item: written whatever the interval
    bar.close()
    assert log.getvalue().count('\n') == 1
    assert log.getvalue().startswith('rules [') and ' 3/3 ' in log.getvalue()
