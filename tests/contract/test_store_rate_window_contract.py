"""The Store port's contract for the intake's rate-limit windows and shared secrets: every adapter (SQLite,
Azure Tables on Azurite) counts exactly the limit per window under concurrency, starts a new window afresh,
and lets ended windows be expired."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.contract.test_store_contract import harness, store  # noqa: F401 - fixtures
from tests.threads import run_in_threads

START = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def test_counts_up_to_the_limit_then_refuses_without_counting(store):
    answers = [store.count_in_window("ip-a", START, START + MINUTE, 3) for _ in range(5)]
    assert answers == [True, True, True, False, False]
    # Another key has a window of its own.
    assert store.count_in_window("ip-b", START, START + MINUTE, 3) is True


def test_a_new_window_counts_afresh_and_an_older_one_counts_in_the_newer(store):
    for _ in range(2):
        assert store.count_in_window("ip-a", START, START + MINUTE, 2)
    assert not store.count_in_window("ip-a", START, START + MINUTE, 2)
    later = START + MINUTE
    assert [store.count_in_window("ip-a", later, later + MINUTE, 2) for _ in range(3)] == [True, True, False]
    # A caller whose clock is behind (still in the first window) is refused: the newer window is full.
    assert store.count_in_window("ip-a", START, START + MINUTE, 2) is False


def test_exactly_the_limit_of_concurrent_callers_is_counted(store):
    answers = run_in_threads([lambda: store.count_in_window("ip-flood", START, START + MINUTE, 5)] * 16)
    assert answers.count(True) == 5 and answers.count(False) == 11


def test_ended_windows_are_expired_and_current_ones_kept(store):
    store.count_in_window("old-1", START, START + MINUTE, 3)
    store.count_in_window("old-2", START, START + MINUTE, 3)
    later = START + 5 * MINUTE
    store.count_in_window("current", later, later + MINUTE, 3)
    assert store.expire_rate_windows(START + MINUTE, limit=1) == 1
    assert store.expire_rate_windows(START + MINUTE, limit=10) == 1
    assert store.expire_rate_windows(START + MINUTE, limit=10) == 0
    # An expired key counts from one again; the current one kept its count.
    assert [store.count_in_window("old-1", START, START + MINUTE, 1) for _ in range(2)] == [True, False]
    assert [store.count_in_window("current", later, later + MINUTE, 2) for _ in range(2)] == [True, False]


def test_a_shared_secret_is_made_once_and_the_same_for_every_caller(store):
    made = run_in_threads([lambda: store.shared_secret("intake-signing")] * 8)
    assert len(set(made)) == 1 and len(made[0]) == 32
    assert store.shared_secret("intake-signing") == made[0]
    assert store.shared_secret("another") != made[0]


def test_several_windows_at_once_count_as_one_by_one_would(store):
    store.count_in_window("domain-x", START, START + MINUTE, 1)
    both = [("client-y", START, START + MINUTE, 2), ("domain-x", START, START + MINUTE, 1)]
    assert store.count_in_windows(both) == [True, False]
    assert store.count_in_windows(both) == [True, False]
    assert store.count_in_windows(both) == [False, False]
    assert store.count_in_windows([("client-z", START, START + MINUTE, 0), ("domain-w", START, START + MINUTE, 1)]) \
        == [False, True]  # a limit of 0 counts nothing
    assert store.count_in_windows([]) == []


def test_concurrent_batches_count_each_window_exactly(store):
    batch = [("client-q", START, START + MINUTE, 5), ("domain-q", START, START + MINUTE, 7)]
    answers = run_in_threads([lambda: store.count_in_windows(batch)] * 12)
    assert [a[0] for a in answers].count(True) == 5 and [a[1] for a in answers].count(True) == 7
