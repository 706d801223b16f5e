"""The Clock port's contract: timezone-aware UTC that does not run backwards."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from shared.adapters.clock import ManualClock, SystemClock
from shared.ports import Clock

CLOCK_BUILDERS = {"system": SystemClock, "manual": ManualClock}


@pytest.fixture(params=sorted(CLOCK_BUILDERS))
def clock(request) -> Clock:
    return CLOCK_BUILDERS[request.param]()


def test_now_is_timezone_aware_utc(clock):
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_now_does_not_run_backwards(clock):
    readings = [clock.now() for _ in range(1000)]
    assert readings == sorted(readings)


def test_system_clock_is_the_real_time():
    before = datetime.now(timezone.utc)
    now = SystemClock().now()
    after = datetime.now(timezone.utc)
    assert before <= now <= after


def test_manual_clock_starts_at_a_fixed_time_and_stands_still():
    clock = ManualClock()
    assert clock.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert clock.now() == clock.now()


def test_manual_clock_custom_start():
    start = datetime(2030, 6, 1, 8, 30, tzinfo=timezone.utc)
    assert ManualClock(start).now() == start


def test_manual_clock_advance():
    clock = ManualClock()
    start = clock.now()
    clock.advance(5)
    assert clock.now() == start + timedelta(seconds=5)
    clock.advance(0.25)
    assert clock.now() == start + timedelta(seconds=5.25)
    clock.advance(3600 * 24)
    assert clock.now() == start + timedelta(days=1, seconds=5.25)
    assert clock.now().utcoffset() == timedelta(0)


def test_manual_clock_advance_from_many_threads_loses_nothing():
    clock = ManualClock()
    start = clock.now()

    def tick():
        for _ in range(1000):
            clock.advance(1)

    pool = [threading.Thread(target=tick) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert clock.now() == start + timedelta(seconds=8000)
