"""The intake's rate-limit windows that ended, deleted on a timer: a client or domain that went quiet leaves
no row behind (the windows themselves: shared/services/intake_guard.py)."""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from shared.observability import correlation
from shared.services.intake_guard import EXPIRE_BATCH

bp = func.Blueprint()


@bp.function_name("expire_rate_windows")
@bp.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False, use_monitor=False)
def expire_rate_windows(timer: func.TimerRequest) -> None:
    with correlation():
        guard = container().intake_guard
        while guard.expire_windows() == EXPIRE_BATCH:
            pass  # a full batch: more may be left
