"""The scheduled channel sync (pull channel requests, then synchronize customers and channel requests)."""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from shared.observability import correlation

bp = func.Blueprint()


@bp.function_name("channel_sync")
@bp.timer_trigger(arg_name="timer", schedule="%CHANNEL_SYNC_SCHEDULE%", run_on_startup=False, use_monitor=True)
def channel_sync(timer: func.TimerRequest) -> None:
    with correlation():
        container().channel_sync.run()
