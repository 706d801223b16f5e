"""``python -m devhost`` as ``make run`` uses it: startup lines on stdout, a clean stop on SIGTERM."""
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
SAMPLE_DIR = Path(__file__).parent / "sample_app"


def test_cli_starts_serves_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SAMPLE_SCHEDULE": "0 0 0 1 1 *", "LOG_LEVEL": "WARNING"}
    env.pop("DEVHOST_FUNCTION_KEY", None)
    stderr = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(SAMPLE_DIR), "--module", "sample_function_app",
         "--port", "0", "--no-queues", "--no-timers", "--function", "get_signup", "keyed", "--function", "tick"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in process.stdout], daemon=True).start()
    try:
        seen = []
        deadline = time.monotonic() + 10
        while not (seen and seen[-1].startswith("Host listening on ")):
            assert time.monotonic() < deadline and process.poll() is None, (seen, (tmp_path / "stderr.txt").read_text())
            try:
                seen.append(lines.get(timeout=0.1))
            except queue.Empty:
                pass
        base_url = seen[-1].removeprefix("Host listening on ")
        assert seen[0] == "Functions:"
        assert f"  get_signup: [GET] {base_url}/api/signups/{{id}}" in seen
        assert "  tick: timerTrigger (0 0 0 1 1 *) [timers off]" in seen
        key_line = next(line for line in seen if line.startswith("Function key: "))
        key = key_line.split()[2]
        assert requests.get(f"{base_url}/api/signups/7").json()["id"] == "7"
        assert requests.get(f"{base_url}/api/keyed", headers={"x-functions-key": key}).text == "secret"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr.close()
