"""The local Functions host for the benches, as `make run` starts it, and a console visitor with a keep-alive
connection (a requests session signed in through the development sign-in, as a browser is)."""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"Host listening on (https?://[^\s{]+)")
# What `make run` sets (local.settings.json.example); the benches measure pages, not the timers: the channel
# sync and the lead batches do not run meanwhile.
_SETTINGS = {"CHANNEL_SYNC_SCHEDULE": "0 */1 * * * *", "LEAD_BATCH_SCHEDULE": "0 */1 * * * *",
             "LEAD_QUEUE": "b2b-leads", "OUTCOME_QUEUE": "b2b-sales-outcomes", "EMAIL_QUEUE": "b2b-emails",
             "AzureWebJobs.channel_sync.Disabled": "true", "AzureWebJobs.create_lead_batches.Disabled": "true",
             "LOG_LEVEL": "WARNING"}


@contextmanager
def local_host(settings: dict[str, str]) -> Iterator[str]:
    """The host on a free loopback port with these app settings (and no others from the shell); its base URL."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("STATE_", "Azure", "SALES_", "EMAIL_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(ROOT), "--port", "0", "--no-local-settings"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        # This folder's code, even when it is a copy beside the installed project (a bench run from a snapshot).
        env={**inherited, **_SETTINGS, **settings, "PYTHONPATH": str(ROOT)})
    lines: queue.Queue[str] = queue.Queue()
    said: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            said.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                found = _LISTENING.match(lines.get(timeout=0.5))
            except queue.Empty:
                if process.poll() is not None:
                    raise RuntimeError("the local host stopped before it listened:\n" + "".join(said)) from None
                continue
            if found:
                yield found.group(1)
                return
        raise RuntimeError("the local host did not start in time")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def console_session(base_url: str):
    """A requests session signed in as an operator through the development sign-in (one kept-alive connection)."""
    import requests

    session = requests.Session()
    session.get(f"{base_url}/api/console/sign-in", timeout=30)
    token = next((session.cookies[name] for name in ("b2b_csrf", "__Host-b2b_csrf") if name in session.cookies), "")
    answer = session.post(f"{base_url}/api/console/sign-in", data={"csrf": token, "name": "Bench", "role": "operator"},
                          allow_redirects=False, timeout=30)
    if answer.status_code != 303:
        raise RuntimeError(f"the development sign-in answered {answer.status_code}")
    return session
