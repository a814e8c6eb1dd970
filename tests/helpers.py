"""Helpers shared by unit and e2e tests."""

import time

import pytest


class Clock:
    """A monotonic clock that moves only when the test says: ``now`` is
    set, or advanced by ``sleep`` (to pass as both ``clock`` and ``sleep``
    to code that polls)."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01,
               what: str = 'the condition'):
    """Poll ``predicate`` until it returns something true, and return that;
    fail the test naming ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f'{what}: not within {timeout}s')
        time.sleep(interval)
