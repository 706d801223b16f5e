"""`make run-azurite`: the local host starts the project's Azurite, runs on the Azure backend, stops it."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
import requests

from devhost.azurite import missing_reason
from tests.e2e.conftest import FAST_HOST, ROOT, wait_for
from tests.parts import missing_part
from tests.services.flow import signup_body

pytestmark = pytest.mark.e2e


def test_the_host_runs_the_flow_on_its_own_azurite_and_stops_it(tmp_path):
    reason = missing_reason()
    if reason:
        missing_part(reason)
    env = {**os.environ, **FAST_HOST, "DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("STATE_BACKEND", None)
    process = subprocess.Popen([sys.executable, "-m", "devhost", "--app-dir", str(ROOT), "--port", "0", "--azurite"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Host listening on "):
                break
        text = "".join(lines)
        queue_port = int(re.search(r"Azurite: queues http://127\.0\.0\.1:(\d+)/", text).group(1))
        base = lines[-1].split()[-1]
        receipt = requests.post(f"{base}/api/signups", json=signup_body(), timeout=30).json()
        wait_for(lambda: requests.get(receipt["status_url"], timeout=30).json()["status"] == "lead_created",
                 what="the lead, through Azure Storage queues on Azurite")
        assert (tmp_path / "azurite").is_dir() and not (tmp_path / "state.sqlite3").exists()
    finally:
        process.terminate()
        process.wait(timeout=60)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", queue_port), timeout=1).close()
