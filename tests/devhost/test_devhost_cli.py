"""``python -m devhost`` as ``make run`` uses it: startup lines on stdout, a clean stop on SIGTERM."""
import json
import os
import queue
import shutil
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


def start_cli(app_dir: Path, env: dict[str, str], stderr, *args: str) -> tuple[subprocess.Popen, list[str]]:
    """The host started as ``make run`` starts it; returns the process and its lines up to "Host listening on"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--module", "sample_function_app",
         "--port", "0", "--no-queues", "--no-timers", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while not (seen and seen[-1].startswith("Host listening on ")):
        assert time.monotonic() < deadline and process.poll() is None, (seen, Path(stderr.name).read_text())
        try:
            seen.append(lines.get(timeout=0.1))
        except queue.Empty:
            pass
    return process, seen


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def cli_env(**values: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", **values}
    env.pop("DEVHOST_FUNCTION_KEY", None)
    return env


def test_cli_starts_serves_and_stops_on_sigterm(tmp_path):
    with (tmp_path / "stderr.txt").open("w") as stderr:
        process, seen = start_cli(SAMPLE_DIR, cli_env(SAMPLE_SCHEDULE="0 0 0 1 1 *"), stderr,
                                  "--function", "get_signup", "keyed", "--function", "tick")
        try:
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
            stop(process)


def test_no_local_settings_keeps_a_developers_file_out(tmp_path):
    # The tests' hosts run in the project folder, where `make run` leaves a local.settings.json.
    app_dir = tmp_path / "app"
    shutil.copytree(SAMPLE_DIR, app_dir)
    (app_dir / "local.settings.json").write_text(json.dumps({"Values": {
        "SAMPLE_SCHEDULE": "0 0 12 * * *", "DEVHOST_FUNCTION_KEY": "from-the-file"}}))
    with (tmp_path / "stderr.txt").open("w") as stderr:
        # The key line shows only a generated key: the file's key is not generated, the flag leaves none set.
        for flags, schedule, key_generated in (((), "0 0 12 * * *", False),
                                               (("--no-local-settings",), "0 0 0 1 1 *", True)):
            process, seen = start_cli(app_dir, cli_env(**({} if not flags else {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"})),
                                      stderr, "--function", "tick", "keyed", *flags)
            stop(process)
            assert f"  tick: timerTrigger ({schedule}) [timers off]" in seen
            assert any(line.startswith("Function key: ") for line in seen) is key_generated, seen
