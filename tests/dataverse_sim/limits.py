"""Service protection (sliding window of requests per user, concurrent requests per user) and the
switchable faults a test injects: 429s, 5xx, slow answers."""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from tests.dataverse_sim.odata import CONCURRENCY_LIMIT, REQUESTS_LIMIT, UNEXPECTED, ODataError


class ServiceProtection:
    """Per user: at most ``max_requests`` in any ``window_seconds`` (sliding), ``max_concurrent`` at once.

    A rejected request does not count. ``Retry-After`` says when enough of the window has slid by for
    the request to fit; a ``$batch`` costs one per operation inside it when ``batch_counts_operations``.
    """

    def __init__(self, max_requests: int = 6000, window_seconds: float = 300.0, max_concurrent: int = 52,
                 batch_counts_operations: bool = True, concurrency_retry_after: int = 1,
                 monotonic: Callable[[], float] = time.monotonic):
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self.max_concurrent = max_concurrent
        self.batch_counts_operations = batch_counts_operations
        self.concurrency_retry_after = concurrency_retry_after
        self.enabled = True
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._history: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self.peak_in_flight: dict[str, int] = {}

    def enter(self, user: str) -> None:
        with self._lock:
            current = self._in_flight.get(user, 0)
            if self.enabled and current >= self.max_concurrent:
                raise ODataError(429, CONCURRENCY_LIMIT,
                                 f"Number of concurrent requests exceeded the limit of {self.max_concurrent}.",
                                 {"Retry-After": str(self.concurrency_retry_after)})
            self._in_flight[user] = current + 1
            self.peak_in_flight[user] = max(self.peak_in_flight.get(user, 0), current + 1)

    def leave(self, user: str) -> None:
        with self._lock:
            self._in_flight[user] -= 1

    def admit(self, user: str, cost: int = 1) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._monotonic()
            history = self._history.setdefault(user, deque())
            while history and history[0] <= now - self.window_seconds:
                history.popleft()
            excess = len(history) + cost - self.max_requests
            if excess > 0:
                if cost > self.max_requests or excess > len(history):
                    wait = self.window_seconds
                else:
                    wait = history[excess - 1] + self.window_seconds - now
                raise ODataError(
                    429, REQUESTS_LIMIT,
                    f"Number of requests exceeded the limit of {self.max_requests} over time window of "
                    f"{int(self.window_seconds)} seconds.",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            history.extend([now] * cost)


@dataclass
class Fault:
    """One injected misbehaviour. ``status`` answers with that status (a 429 carries ``retry_after``);
    ``delay`` makes it slow. With ``apply_first`` the request is carried out first and then its answer is
    held back ``delay`` seconds (or replaced by ``status``): the change is made but the client hears of it
    late or never — the case that tempts a client to create twice. Without it the delay comes before
    the work (which still happens unless ``status`` is set)."""

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    apply_first: bool = False
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path)

    def error(self) -> ODataError:
        assert self.status is not None
        if self.status == 429:
            return ODataError(429, REQUESTS_LIMIT, "Number of requests exceeded the limit (injected).",
                              {"Retry-After": str(self.retry_after if self.retry_after is not None else 1)})
        return ODataError(self.status, UNEXPECTED, f"Injected failure {self.status}.")


class Faults:
    """Scripted faults (the next N matching requests) and a switchable one (until cleared)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._always: Fault | None = None

    def next(self, count: int = 1, **fault) -> None:
        with self._lock:
            self._queue.extend(Fault(**fault) for _ in range(count))

    def fail_next(self, count: int = 1, status: int = 503, **match) -> None:
        self.next(count, status=status, **match)

    def throttle_next(self, count: int = 1, retry_after: int = 1, **match) -> None:
        self.next(count, status=429, retry_after=retry_after, **match)

    def slow_next(self, seconds: float, count: int = 1, apply_first: bool = True, **match) -> None:
        self.next(count, delay=seconds, apply_first=apply_first, **match)

    def always(self, **fault) -> None:
        """Switch on a fault for every request (``status=503``, or ``delay=2.0``) until ``clear()``."""
        with self._lock:
            self._always = Fault(**fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._always = None

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.matches(method, path):
                    return self._queue.pop(index)
            if self._always is not None and self._always.matches(method, path):
                return self._always
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)
