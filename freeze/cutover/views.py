"""Pure: journal rows -> where each host and each stage stands.

The runner never keeps state of its own between actions: after a crash the
same functions over the same rows say what is done, what is in doubt (an
intent without a result) and what must be reverted.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
from typing import TYPE_CHECKING

from freeze.cutover.journal import CONFIRM, INTENT, LOST

if TYPE_CHECKING:
    from freeze.cutover.journal import Row

#: host marks; the first two make a host pending again
MARK_BATCH = 'batch-reverted'     # its batch stopped: reverted with it
MARK_ROLLED_BACK = 'rolled-back'  # the stage was rolled back
MARK_FALLEN_BACK = 'fallen-back'  # its own step failed: reverted alone
MARK_STUCK = 'revert-failed'      # a revert failed: needs an operator
MARK_ACCEPTED = 'accepted'        # fallen back, then accepted as done
PENDING_MARKS = (MARK_BATCH, MARK_ROLLED_BACK)
#: host statuses that keep a host out of every later stage
LEFT_BEHIND = (MARK_FALLEN_BACK, MARK_STUCK)
#: a host of a later stage kept out by one of those
SKIPPED = 'skipped'

#: run statuses
RUNNING, STOPPED, AWAITING = 'running', 'stopped', 'awaiting-confirmation'
DONE, ROLLING_BACK, ROLLED_BACK = 'done', 'rolling-back', 'rolled-back'
#: a stage status: its run is done, but hosts fell back (or were skipped)
DONE_WITH_FALLBACKS = 'done-with-fallbacks'
UNFINISHED = (RUNNING, STOPPED, AWAITING, ROLLING_BACK)


@dataclasses.dataclass
class UnitView:
    """One host in one stage (or one run's stage-level actions).

    ``applied`` are the steps that may have changed the host (done, failed
    half-way, or started without a result), ``completed`` those known done;
    a revert that succeeds removes a step from both.  ``failed`` stays set
    until the host is marked, so a fallback cut short is finished on resume.
    """

    applied: list = dataclasses.field(default_factory=list)
    completed: list = dataclasses.field(default_factory=list)
    in_doubt: object = None     # the Row of an action without a result
    failed: object = None       # the Row of a failed step or revert
    mark: str | None = None     # the last mark, and its run
    mark_run: int | None = None
    run_id: int | None = None  # the run of the rows after the mark
    last: object = None         # the last command Row
    confirmed: bool = False     # the point of no return was confirmed

    def status(self, steps: list[str]) -> str:
        if self.failed is not None:
            return 'failing'
        if self.run_id is None:
            return self.mark if self.mark and self.mark not in \
                PENDING_MARKS else 'pending'
        if self.in_doubt is None and self.completed == list(steps):
            return 'done'
        return 'running'

    def to_revert(self) -> list[str]:
        """Steps that may have changed the host, last first."""
        return self.applied[::-1]


def unit_view(rows: Iterable[Row]) -> UnitView:
    """Fold one unit's rows (in journal order) into its view."""
    view = UnitView()
    for row in rows:
        if row.op == CONFIRM:
            view.confirmed = True
            continue
        if row.op == 'mark':
            view = UnitView(mark=row.status, mark_run=row.run_id,
                            last=view.last,
                            applied=view.applied if row.status == MARK_STUCK
                            else [])
            continue
        view.run_id, view.last = row.run_id, row
        if row.status == LOST:  # no longer in doubt; maybe half applied
            view.in_doubt = None
            if row.op == 'do':
                _add(view.applied, row.step)
            continue
        if row.status == INTENT:
            if row.op != 'check':
                view.in_doubt = row
                if row.op == 'do':
                    _add(view.applied, row.step)
            continue
        if row.op == 'check':
            if row.status == 'ok':
                _add(view.completed, row.step)
                view.in_doubt = None
            continue  # a failed check leaves the action in doubt
        view.in_doubt = None
        if row.op == 'do':
            _add(view.applied, row.step)
            if row.status == 'ok':
                _add(view.completed, row.step)
            else:
                view.failed = row
        elif row.op == 'revert':
            if row.status == 'ok':
                for steps in (view.applied, view.completed):
                    if row.step in steps:
                        steps.remove(row.step)
            else:
                view.failed = row
    return view


def _add(steps: list[str], step: str) -> None:
    if step not in steps:
        steps.append(step)
