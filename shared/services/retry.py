"""Run a unit of work again when an optimistic store says another writer got there first."""
from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from shared.domain.errors import ConcurrencyConflict

R = TypeVar("R")


def on_conflict(work: Callable[[], R], attempts: int = 50) -> R:
    """``work()``, again after a short random pause while it loses races (ETag mismatches); the last
    conflict propagates. Stores that serialize writers never raise, so this costs them nothing."""
    for attempt in range(attempts):
        try:
            return work()
        except ConcurrencyConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, min(0.002 * 2 ** attempt, 0.1)))
    raise AssertionError("unreachable")
