"""Requests waiting for a sign-in: bounded per browser and in time."""
from __future__ import annotations

from idp.authn import pending


def test_add_get_drop():
    mapping, first = pending.add(None, {"client": "masar"}, now=100.0)
    assert pending.get(mapping, first, now=101.0) == {"client": "masar", "created": 100.0}
    assert pending.get(mapping, "unknown", now=101.0) is None
    assert pending.get(pending.drop(mapping, first), first, now=101.0) is None


def test_requests_expire():
    mapping, request_id = pending.add({}, {}, now=0.0)
    assert pending.get(mapping, request_id, now=pending.PENDING_SECONDS) is not None
    assert pending.get(mapping, request_id, now=pending.PENDING_SECONDS + 1) is None


def test_the_oldest_gives_way_and_expired_ones_are_dropped():
    mapping, ids = {}, []
    for second in range(pending.MAX_PENDING + 2):
        mapping, request_id = pending.add(mapping, {}, now=float(second))
        ids.append(request_id)
    assert len(mapping) == pending.MAX_PENDING
    assert ids[0] not in mapping and ids[1] not in mapping and ids[-1] in mapping
    mapping, fresh = pending.add(mapping, {}, now=10_000.0)
    assert list(mapping) == [fresh]


def test_the_caller_mapping_is_not_changed():
    original = {"x": {"created": 0.0}}
    pending.add(original, {}, now=1.0)
    pending.drop(original, "x")
    assert original == {"x": {"created": 0.0}}
