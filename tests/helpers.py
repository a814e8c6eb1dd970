"""Helpers shared by unit and e2e tests."""

import contextlib
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


@contextlib.contextmanager
def nova_fake_rpc():
    """nova's RPC on oslo.messaging's fake transport, which nova's
    controllers want at construction (as nova's own test fixtures set it
    up); undone on exit."""
    from nova import conf as nova_conf
    from nova import rpc
    from oslo_messaging import conffixture
    messaging_conf = conffixture.ConfFixture(nova_conf.CONF)
    messaging_conf.setUp()
    messaging_conf.transport_url = 'fake:/'
    rpc.init(nova_conf.CONF)
    try:
        yield
    finally:
        rpc.cleanup()
        messaging_conf.cleanUp()


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
