"""`make run-azurite`: the local host starts the project's Azurite, runs on the Azure backend, stops it."""
from __future__ import annotations

import re
import socket
import subprocess

import pytest
import requests

from devhost.azurite import missing_reason
from tests.e2e.conftest import start_host, wait_for
from tests.parts import missing_part
from tests.services.flow import signup_body

pytestmark = pytest.mark.e2e


def test_the_host_runs_the_flow_on_its_own_azurite_and_stops_it(tmp_path):
    reason = missing_reason()
    if reason:
        missing_part(reason)
    # start_host waits for the host with a deadline and leaves out any STATE_BACKEND the shell exports:
    # --azurite alone must put the host on the Azure backend.
    host = start_host(tmp_path, args=("--azurite",))
    try:
        text = "".join(host.output)
        queue_port = int(re.search(r"Azurite: queues http://127\.0\.0\.1:(\d+)/", text).group(1))
        receipt = requests.post(host.url("signups"), json=signup_body(), timeout=30).json()
        wait_for(lambda: requests.get(receipt["status_url"], timeout=30).json()["status"] == "lead_created",
                 what="the lead, through Azure Storage queues on Azurite")
        assert (tmp_path / "azurite").is_dir() and not (tmp_path / "state.sqlite3").exists()
    finally:
        host.process.terminate()
        try:
            host.process.wait(timeout=60)  # stopping the host stops its Azurite: a host that hangs fails
        except subprocess.TimeoutExpired:
            host.process.kill()
            raise
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", queue_port), timeout=1).close()
