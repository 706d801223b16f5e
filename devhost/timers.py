"""Timer triggers: each function on its own thread, never overlapping itself, as in Azure.

After an invocation the next occurrence is taken from the current time, so occurrences that passed
while the function ran are skipped (Azure does the same). If the host was suspended across an
occurrence, the function runs once with ``past_due`` set.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Protocol

from azure.functions.timer import TimerRequest

from devhost.invoke import CallPlan, Invoker
from devhost.ncrontab import CronSchedule
from devhost.settings import ConfigError, parse_timespan, resolve_placeholders

log = logging.getLogger("devhost.timers")

# A wait is cut into slices so that a changed wall clock is noticed.
_MAX_WAIT = 30.0
MANUAL_REASON = "This function was programmatically called via the host APIs."


class Schedule(Protocol):
    def next_occurrence(self, after: datetime) -> datetime: ...


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule (``00:05:00``), which Azure accepts on App Service plans."""

    seconds: float

    def next_occurrence(self, after: datetime) -> datetime:
        return after + timedelta(seconds=self.seconds)


def schedule_for(raw: str, environ: Mapping[str, str] | None = None, *, function: str = "") -> Schedule:
    text = resolve_placeholders(raw, environ, what=f"function {function!r}: schedule")
    if ":" in text:
        seconds = parse_timespan(text, f"function {function!r}: TimeSpan schedule")
        if seconds <= 0:
            raise ConfigError(f"function {function!r}: TimeSpan schedule {text!r} must be longer than zero")
        return IntervalSchedule(seconds)
    try:
        return CronSchedule(text)
    except ValueError as error:
        raise ConfigError(f"function {function!r}: {error}") from None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class TimerJob:
    plan: CallPlan
    schedule: Schedule | None  # None only when timers are off: run() needs no schedule
    run_on_startup: bool
    # Held during an invocation: a timer function never runs twice at once.
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: datetime | None = None

    @property
    def name(self) -> str:
        return self.plan.spec.name


class TimerScheduler:
    def __init__(self, jobs: list[TimerJob], invoker: Invoker, clock: Callable[[], datetime] = utc_now):
        self.jobs = {job.name: job for job in jobs}
        self._invoker = invoker
        self._clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for job in self.jobs.values():
            if job.schedule is None:
                continue
            thread = threading.Thread(target=self._loop, args=(job,), name=f"devhost-timer-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Stop scheduling; a running invocation finishes (up to ``timeout``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run(self, name: str, *, past_due: bool = False, reason: str = MANUAL_REASON) -> None:
        """Invoke the timer function now, in this thread; raises what the function raised."""
        job = self.jobs.get(name)
        if job is None:
            raise LookupError(f"no timer function named {name!r}")
        self._fire(job, None, past_due, reason)

    def _loop(self, job: TimerJob) -> None:
        if job.run_on_startup:
            self._fire_logged(job, None, False)
        after = self._clock()
        while not self._stop.is_set():
            try:
                due = job.schedule.next_occurrence(after)
            except ValueError as error:
                log.error("timer %s stops: %s", job.name, error)
                return
            while not self._stop.is_set():
                remaining = (due - self._clock()).total_seconds()
                if remaining <= 0:
                    break
                self._stop.wait(min(remaining, _MAX_WAIT))
            if self._stop.is_set():
                return
            now = self._clock()
            self._fire_logged(job, due, job.schedule.next_occurrence(due) <= now)
            after = max(due, self._clock())

    def _fire_logged(self, job: TimerJob, due: datetime | None, past_due: bool) -> None:
        fired = due or self._clock()
        try:
            self._fire(job, due, past_due, f"Timer fired at {fired.isoformat()}")
        except Exception:  # noqa: BLE001 - logged by the invoker; the schedule goes on, as in Azure
            pass

    def _fire(self, job: TimerJob, due: datetime | None, past_due: bool, reason: str) -> None:
        with job.lock:
            now = self._clock()
            try:
                upcoming = job.schedule.next_occurrence(max(now, due or now)).isoformat() if job.schedule else None
            except ValueError:
                upcoming = None
            request = TimerRequest(
                past_due=past_due,
                schedule_status={"Last": job.last.isoformat() if job.last else None, "Next": upcoming,
                                 "LastUpdated": now.isoformat()},
                schedule={"AdjustForDST": True},
            )
            job.last = due or now
            self._invoker.invoke(job.plan, request, reason=reason)
