"""Announcements of the work pools with runners on other server processes."""

from __future__ import annotations

import json

from runplane.server.delivery.presence import Presence


def test_an_announcement_is_heard_as_the_pools_it_names() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    for payload in theirs.announcements(["etl", "ml"]):
        kind, token, body = payload.split(" ", 2)
        assert (kind, token) == ("p", "b")
        ours.heard(token, body)
    assert ours.elsewhere("etl")
    assert ours.elsewhere("ml")
    assert not ours.elsewhere("reports")


def test_many_pools_are_split_into_payloads_that_fit_a_notify() -> None:
    pools = [f"pool-{i:05d}-{'x' * 40}" for i in range(1000)]
    payloads = Presence("b", ttl=60).announcements(pools)
    assert len(payloads) > 1
    assert all(len(payload) < 8000 for payload in payloads)
    parts = [json.loads(payload.split(" ", 2)[2]) for payload in payloads]
    assert {part["n"] for part in parts} == {1}
    heard = [pool for part in parts for pool in part["pools"]]
    assert heard == sorted(pools)


def test_no_pools_withdraws_the_earlier_announcement() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    ours.heard("b", theirs.announcements(["etl"])[0].split(" ", 2)[2])
    [empty] = theirs.announcements([])
    ours.heard("b", empty.split(" ", 2)[2])
    assert not ours.elsewhere("etl")


def test_an_announcement_not_renewed_in_time_is_forgotten() -> None:
    ours = Presence("a", ttl=-1)
    ours.heard("b", '{"n": 1, "pools": ["etl"]}')
    assert not ours.elsewhere("etl")


def test_the_parts_of_one_announcement_add_up() -> None:
    ours = Presence("a", ttl=60)
    ours.heard("b", '{"n": 4, "pools": ["etl"]}')
    ours.heard("b", '{"n": 4, "pools": ["ml"]}')
    assert ours.elsewhere("etl")
    assert ours.elsewhere("ml")


def test_a_malformed_announcement_is_ignored() -> None:
    ours = Presence("a", ttl=60)
    ours.heard("b", "not json")
    ours.heard("b", '{"etl": 1}')
    ours.heard("b", '{"n": 1, "pools": 3}')
    assert not ours.elsewhere("etl")


def test_pools_with_limits_are_announced_and_withdrawn() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    assert not ours.limited_elsewhere()
    for payload in theirs.announcements(["etl", "ml"], limited=["ml", "gone"]):
        ours.heard("b", payload.split(" ", 2)[2])
    assert ours.limited_elsewhere()
    [unlimited] = theirs.announcements(["etl", "ml"])
    ours.heard("b", unlimited.split(" ", 2)[2])
    assert not ours.limited_elsewhere()
    assert ours.elsewhere("ml")


def test_an_announcement_without_limits_means_none() -> None:
    ours = Presence("a", ttl=60)
    ours.heard("b", '{"n": 1, "pools": ["etl"]}')
    ours.heard("c", '{"n": 1, "pools": ["etl"], "limited": 5}')
    assert ours.elsewhere("etl")
    assert not ours.limited_elsewhere()


def test_the_runtimes_of_each_pool_are_announced() -> None:
    ours, theirs = Presence("a", ttl=60), Presence("b", ttl=60)
    runtimes = {"etl": ["python"], "mixed": ["node", "python"]}
    for payload in theirs.announcements(["etl", "mixed"], runtimes=runtimes):
        ours.heard("b", payload.split(" ", 2)[2])
    assert ours.elsewhere("etl", "python")
    assert not ours.elsewhere("etl", "node")
    assert ours.elsewhere("mixed", "node")
    assert ours.elsewhere("etl")


def test_an_announcement_without_runtimes_means_python() -> None:
    ours = Presence("a", ttl=60)
    ours.heard("b", '{"n": 1, "pools": ["etl"]}')
    assert ours.elsewhere("etl", "python")
    assert not ours.elsewhere("etl", "node")
