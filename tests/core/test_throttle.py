"""The fixed-window throttle on the cache: counts, limits, resets, keeps idents out of keys."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from propusk.core import throttle

IIN = "900101300123"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def hit(clock, ident=IIN, limit=3, window=60, scope="test"):
    return throttle.hit(scope, ident, limit=limit, window=window, clock=clock)


def test_allows_up_to_the_limit_then_refuses():
    clock = Clock(60 * 1000 + 5)
    results = [hit(clock) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.count for r in results] == [1, 2, 3, 4]


def test_retry_after_is_the_rest_of_the_window():
    clock = Clock(600 * 1000 + 15)  # 15 s into a 600 s window
    for _ in range(3):
        hit(clock, window=600)
    refused = hit(clock, window=600)
    assert not refused.allowed
    assert refused.retry_after == 585
    assert refused.retry_after_minutes == 10


def test_resets_after_the_window():
    clock = Clock(60 * 1000)
    for _ in range(3):
        assert hit(clock).allowed
    assert not hit(clock).allowed
    clock.now += 59
    assert not hit(clock).allowed
    clock.now += 1  # the next window
    assert hit(clock).allowed


def test_counts_are_per_ident_and_per_scope():
    clock = Clock()
    for _ in range(3):
        hit(clock, ident="a")
    assert not hit(clock, ident="a").allowed
    assert hit(clock, ident="b").allowed
    assert hit(clock, ident="a", scope="other").allowed


def test_a_limit_of_zero_turns_it_off():
    clock = Clock()
    assert all(hit(clock, limit=0).allowed for _ in range(10))


def test_keys_hold_a_hash_never_the_ident():
    clock = Clock()
    hit(clock, ident=IIN)
    keys = list(cache._cache.keys())  # LocMemCache's own store
    assert keys
    assert not any(IIN in key for key in keys)
    assert throttle.cache_key("test", IIN, 1) != throttle.cache_key("test", IIN + "0", 1)
    assert IIN not in throttle.cache_key("test", IIN, 1)


def test_peek_counts_nothing_and_refuses_once_a_limit_is_reached():
    clock = Clock(60 * 1000 + 20)
    checks = [("t", "x", 2), ("i", "ip", 3)]
    for _ in range(5):
        assert throttle.peek_all(checks, window=60, clock=clock).allowed  # peeking is free
    assert throttle.record("t", "x", window=60, clock=clock) == 1
    assert throttle.peek_all(checks, window=60, clock=clock).allowed
    throttle.record("t", "x", window=60, clock=clock)
    refused = throttle.peek_all(checks, window=60, clock=clock)
    assert not refused.allowed  # "x" recorded its limit of 2
    assert refused.count == 2
    assert refused.retry_after == 40
    # The same address with another token: the address's own count (0 of 3) allows it.
    assert throttle.peek_all([("t", "y", 2), ("i", "ip", 3)], window=60, clock=clock).allowed


def test_record_and_hit_share_the_counter():
    clock = Clock()
    throttle.record("test", IIN, window=60, clock=clock)
    throttle.record("test", IIN, window=60, clock=clock)
    assert hit(clock).count == 3
    assert not throttle.peek_all([("test", IIN, 3)], window=60, clock=clock).allowed
    clock.now += 60  # the next window
    assert throttle.peek_all([("test", IIN, 3)], window=60, clock=clock).allowed


def test_peek_with_a_limit_of_zero_ignores_that_check():
    clock = Clock()
    for _ in range(5):
        throttle.record("off", "x", window=60, clock=clock)
    assert throttle.peek_all([("off", "x", 0)], window=60, clock=clock).allowed


def test_time_machine_moves_the_window(time_machine):
    time_machine.move_to("2030-03-12 10:00:00+00:00", tick=False)
    for _ in range(3):
        assert throttle.hit("tm", "u", limit=3, window=600).allowed
    assert not throttle.hit("tm", "u", limit=3, window=600).allowed
    time_machine.shift(600)
    assert throttle.hit("tm", "u", limit=3, window=600).allowed
