"""The timer scheduler and the queue poller on their own, with a recording invoker."""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from devhost.functions import FunctionSpec
from devhost.invoke import CallPlan
from devhost.ncrontab import CronSchedule
from devhost.queues import QueuePoller
from devhost.settings import ConfigError, QueueOptions
from devhost.timers import IntervalSchedule, TimerJob, TimerScheduler, schedule_for
from memory_queue import MemoryQueue
from shared.queue_worker import QueueRules


def plan(name: str) -> CallPlan:
    trigger = {"type": "timerTrigger", "name": "timer"}
    return CallPlan(FunctionSpec(name, lambda timer: None, trigger, (trigger,), "/app"), "timer",
                    lambda value: value, wants_context=False)


class RecordingInvoker:
    def __init__(self, duration: float = 0.0, fail: bool = False):
        self.calls: list[tuple[object, str]] = []
        self.duration, self.fail = duration, fail
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def invoke(self, plan, value, *, reason, trace=None):
        with self._lock:
            self.calls.append((value, reason))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.duration)
        with self._lock:
            self.running -= 1
        if self.fail:
            raise RuntimeError("failed")


def eventually(check, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_run_on_startup_then_on_schedule_without_overlap():
    invoker = RecordingInvoker(duration=0.03)
    scheduler = TimerScheduler([TimerJob(plan("t"), IntervalSchedule(0.01), run_on_startup=True)], invoker)
    scheduler.start()
    try:
        assert eventually(lambda: len(invoker.calls) >= 4)
    finally:
        scheduler.stop()
    first, reason = invoker.calls[0]
    assert first.past_due is False
    assert reason.startswith("Timer fired at ")
    assert invoker.most_at_once == 1


def test_a_failing_timer_keeps_its_schedule():
    invoker = RecordingInvoker(fail=True)
    scheduler = TimerScheduler([TimerJob(plan("t"), IntervalSchedule(0.01), run_on_startup=False)], invoker)
    scheduler.start()
    try:
        assert eventually(lambda: len(invoker.calls) >= 3)
    finally:
        scheduler.stop()


def test_an_occurrence_missed_while_suspended_runs_once_past_due():
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    reads = []

    def clock() -> datetime:  # the first reading schedules; then ten seconds have passed, as after a suspend
        reads.append(1)
        return start if len(reads) == 1 else start + timedelta(seconds=10)

    invoker = RecordingInvoker()
    scheduler = TimerScheduler([TimerJob(plan("t"), IntervalSchedule(1), run_on_startup=False)], invoker, clock)
    scheduler.start()
    try:
        assert eventually(lambda: invoker.calls)
    finally:
        scheduler.stop()
    request, _ = invoker.calls[0]
    assert request.past_due is True
    assert request.schedule_status["Last"] is None
    assert len(invoker.calls) == 1


def test_stop_is_prompt_and_run_works_without_starting():
    invoker = RecordingInvoker()
    scheduler = TimerScheduler([TimerJob(plan("yearly"), CronSchedule("0 0 0 1 1 *"), run_on_startup=False)], invoker)
    scheduler.start()
    began = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - began < 1
    scheduler.run("yearly")
    request, reason = invoker.calls[0]
    assert request.past_due is False
    assert request.schedule_status["Next"].startswith(f"{datetime.now(timezone.utc).year + 1}-01-01T00:00:00")
    assert reason == "This function was programmatically called via the host APIs."
    with pytest.raises(LookupError):
        scheduler.run("other")


def test_schedules_resolve_settings_and_timespans():
    assert schedule_for("%S%", {"S": "*/5 * * * * *"}).seconds == set(range(0, 60, 5))
    assert schedule_for("00:05:00", {}) == IntervalSchedule(300)
    with pytest.raises(ConfigError, match="function 'f': NCRONTAB expression"):
        schedule_for("every minute", {}, function="f")
    with pytest.raises(ConfigError, match="refers to app setting S"):
        schedule_for("%S%", {}, function="f")


def options(batch_size: int, threshold: int, max_polling: float = 0.2) -> QueueOptions:
    rules = QueueRules(batch_size=batch_size, max_dequeue_count=2, visibility_timeout=0)
    return QueueOptions(rules=rules, new_batch_threshold=threshold, max_polling_interval=max_polling)


def test_poller_respects_batch_size_and_new_batch_threshold():
    queue = MemoryQueue()
    for n in range(12):
        queue.send("work", str(n))
    invoker = RecordingInvoker(duration=0.02)
    poller = QueuePoller(plan("q"), "work", queue, options(batch_size=2, threshold=1), invoker)
    poller.start()
    try:
        assert eventually(lambda: queue.count("work") == 0)
    finally:
        poller.stop()
    assert sorted(msg.get_body().decode() for msg, _ in invoker.calls) == sorted(str(n) for n in range(12))
    assert invoker.most_at_once <= 3  # batch size + threshold


def test_notify_ends_the_backoff():
    queue = MemoryQueue()
    invoker = RecordingInvoker()
    poller = QueuePoller(plan("q"), "work", queue, options(batch_size=4, threshold=2, max_polling=30), invoker)
    poller.start()
    try:
        time.sleep(1.6)  # empty polls after 0.1, 0.3, 0.7 and 1.5 s: the next one is not before 3.1 s
        queue.send("work", "now")
        poller.notify()
        assert eventually(lambda: invoker.calls, timeout=1.0)
    finally:
        poller.stop()


def test_poller_stop_finishes_messages_in_progress():
    queue = MemoryQueue()
    queue.send("work", "slow")
    invoker = RecordingInvoker(duration=0.2)
    poller = QueuePoller(plan("q"), "work", queue, options(batch_size=1, threshold=0), invoker)
    poller.start()
    assert eventually(lambda: invoker.running == 1)
    poller.stop()
    assert invoker.running == 0
    assert queue.count("work") == 0


@pytest.fixture(params=["memory", "sqlite"])
def real_time_queue(request, tmp_path):
    """A queue on the wall clock: the in-memory fake and the SQLite adapter the embedded default runs on."""
    if request.param == "memory":
        yield MemoryQueue()
        return
    from shared.adapters.clock import SystemClock
    from shared.adapters.sqlite_queue import SqliteQueue

    queue = SqliteQueue(tmp_path / "queue.db", SystemClock())
    try:
        yield queue
    finally:
        queue.close()


def test_stop_hands_back_messages_taken_but_not_started(real_time_queue):
    queue = real_time_queue
    for n in range(4):
        queue.send("work", str(n))
    invoker = RecordingInvoker(duration=0.5)
    # Batches of 2 while at most 2 are in progress: 4 taken, 2 running on the pool's 2 threads, 2 waiting.
    poller = QueuePoller(plan("q"), "work", queue, options(batch_size=2, threshold=2, max_polling=30), invoker)
    poller.start()
    assert eventually(lambda: invoker.running == 2 and not queue.peek("work", max_messages=10))
    poller.stop(timeout=10)
    ran = sorted(msg.get_body().decode() for msg, _ in invoker.calls)
    assert len(ran) == 2  # the two that had started were finished (and deleted) ...
    handed_back = queue.receive("work", max_messages=10, visibility_timeout=60)
    # ... and the two that had not are visible again at once, not after the 600 s lease.
    assert sorted(m.body for m in handed_back) == sorted(set("0123") - set(ran))
    assert all(m.dequeue_count == 2 for m in handed_back)  # Azure counts every receive; so does the contract


def test_stop_hands_back_what_is_still_taken_when_its_wait_ends(real_time_queue):
    queue = real_time_queue
    queue.send("work", "running")
    queue.send("work", "queued")
    invoker = RecordingInvoker(duration=1.5)
    # One pool thread, batches of 1 while at most 1 is in progress: one message running, one queued behind it.
    poller = QueuePoller(plan("q"), "work", queue, options(batch_size=1, threshold=1, max_polling=30), invoker)
    poller.start()
    assert eventually(lambda: invoker.running == 1 and not queue.peek("work", max_messages=10))
    started = time.monotonic()
    poller.stop(timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert invoker.running == 1  # abandoned by the stop, still running here
    again = queue.receive("work", max_messages=10, visibility_timeout=60)
    assert sorted(m.body for m in again) == ["queued", "running"]
    assert eventually(lambda: invoker.running == 0)
    time.sleep(0.2)  # the queued one's turn on the pool thread: handed back already, it is not run
    assert [msg.get_body().decode() for msg, _ in invoker.calls] == ["running"]
    # The abandoned run could not settle the message another receive holds now.
    assert queue.count("work") == 2
