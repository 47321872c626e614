"""Announcements of the work pools with runners on other server processes."""

from __future__ import annotations

import json

from runplane.server.cluster_notices import PoolsAnnounced, decode
from runplane.server.delivery.presence import Presence


def _decoded(payload: str) -> PoolsAnnounced:
    notice = decode(payload)
    assert isinstance(notice, PoolsAnnounced)
    return notice


def _hear(presence: Presence, token: str, body: str) -> None:
    """An announcement in the one-letter form of older servers; a malformed one is ignored."""
    notice = decode(f"p {token} {body}")
    if isinstance(notice, PoolsAnnounced):
        presence.heard(notice)


def test_an_announcement_is_heard_as_the_pools_it_names() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    for payload in theirs.announcements(["etl", "ml"]):
        notice = _decoded(payload)
        assert (notice.kind, notice.sender) == ("pools", "b")
        ours.heard(notice)
    assert ours.elsewhere("etl")
    assert ours.elsewhere("ml")
    assert not ours.elsewhere("reports")


def test_many_pools_are_split_into_payloads_that_fit_a_notify() -> None:
    pools = [f"pool-{i:05d}-{'x' * 40}" for i in range(1000)]
    payloads = Presence("b", ttl=60).announcements(pools)
    assert len(payloads) > 1
    assert all(len(payload) < 8000 for payload in payloads)
    parts = [json.loads(payload) for payload in payloads]
    assert {part["n"] for part in parts} == {1}
    heard = [pool for part in parts for pool in part["pools"]]
    assert heard == sorted(pools)


def test_no_pools_withdraws_the_earlier_announcement() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    ours.heard(_decoded(theirs.announcements(["etl"])[0]))
    [empty] = theirs.announcements([])
    ours.heard(_decoded(empty))
    assert not ours.elsewhere("etl")


def test_an_announcement_not_renewed_in_time_is_forgotten() -> None:
    ours = Presence("a", ttl=-1)
    _hear(ours, "b", '{"n": 1, "pools": ["etl"]}')
    assert not ours.elsewhere("etl")


def test_the_parts_of_one_announcement_add_up() -> None:
    ours = Presence("a", ttl=60)
    _hear(ours, "b", '{"n": 4, "pools": ["etl"]}')
    _hear(ours, "b", '{"n": 4, "pools": ["ml"]}')
    assert ours.elsewhere("etl")
    assert ours.elsewhere("ml")


def test_a_malformed_announcement_is_ignored() -> None:
    ours = Presence("a", ttl=60)
    _hear(ours, "b", "not json")
    _hear(ours, "b", '{"etl": 1}')
    _hear(ours, "b", '{"n": 1, "pools": 3}')
    assert not ours.elsewhere("etl")


def test_pools_with_limits_are_announced_and_withdrawn() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    assert not ours.limited_elsewhere()
    for payload in theirs.announcements(["etl", "ml"], limited=["ml", "gone"]):
        ours.heard(_decoded(payload))
    assert ours.limited_elsewhere()
    [unlimited] = theirs.announcements(["etl", "ml"])
    ours.heard(_decoded(unlimited))
    assert not ours.limited_elsewhere()
    assert ours.elsewhere("ml")


def test_an_announcement_without_limits_means_none() -> None:
    ours = Presence("a", ttl=60)
    _hear(ours, "b", '{"n": 1, "pools": ["etl"]}')
    _hear(ours, "c", '{"n": 1, "pools": ["etl"], "limited": 5}')
    assert ours.elsewhere("etl")
    assert not ours.limited_elsewhere()


def test_the_runtimes_of_each_pool_are_announced() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    runtimes = {"etl": ["python"], "mixed": ["node", "python"]}
    for payload in theirs.announcements(["etl", "mixed"], runtimes=runtimes):
        ours.heard(_decoded(payload))
    assert ours.elsewhere("etl", "python")
    assert not ours.elsewhere("etl", "node")
    assert ours.elsewhere("mixed", "node")
    assert ours.elsewhere("etl")


def test_an_announcement_without_runtimes_means_python() -> None:
    ours = Presence("a", ttl=60)
    _hear(ours, "b", '{"n": 1, "pools": ["etl"]}')
    assert ours.elsewhere("etl", "python")
    assert not ours.elsewhere("etl", "node")
