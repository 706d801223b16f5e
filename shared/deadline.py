"""A time budget for the work of one request, seen by every call it makes (a context variable, as the
correlation id is): the adapters read it without every port method growing a parameter, and work outside a
request (queue handlers, timers) has none and keeps its own retry policies.

Why: a caller that stops waiting for us (Dataverse waits 60 s for a webhook's answer) gains nothing from work
done after it left; an adapter must not sleep out a ``Retry-After`` the budget cannot hold, and should fail at
once instead, so the caller can answer in time (and be retried later)."""
from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from typing import Callable, Iterator

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)


class Deadline:
    """``seconds`` from now on ``monotonic``'s clock."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._monotonic = monotonic
        self._ends = monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._ends - self._monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def allows(self, wait: float) -> bool:
        """Whether waiting ``wait`` seconds still leaves time to do something after it."""
        return wait < self.remaining()


def current_deadline() -> Deadline | None:
    return _current.get()


@contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Run the block under ``deadline`` (a nested one may only shorten it: the earlier of the two holds)."""
    outer = _current.get()
    effective = outer if outer is not None and outer.remaining() < deadline.remaining() else deadline
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)
