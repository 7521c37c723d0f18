"""A relay's claim on outbox rows must outlive the longest wait for publisher confirms: a lease
that ended first would let a second relay claim and publish the same rows again."""

from types import SimpleNamespace

import pytest

from shared.relay import CLAIM_LEASE, Relay


def test_the_claim_lease_outlives_the_default_confirm_timeout():
    from shared.bus import Publisher

    default_timeout = Publisher.__init__.__defaults__[0]  # confirm_timeout's default
    assert CLAIM_LEASE.total_seconds() > default_timeout


def test_a_relay_refuses_a_publisher_that_may_wait_past_its_lease():
    slow = SimpleNamespace(confirm_timeout=CLAIM_LEASE.total_seconds())
    outbox = SimpleNamespace(table=None, service="registration")
    with pytest.raises(ValueError, match="lease"):
        Relay(database=None, outbox=outbox, publisher=slow)  # type: ignore[arg-type]
