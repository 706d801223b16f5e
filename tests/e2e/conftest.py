"""The local host in its own process, as `make run` starts it, on a fresh state folder."""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from devhost.host import KEY_SETTING
from shared.bootstrap import Container
from shared.config import SETTING_NAMES, Settings
from tests.dataverse_sim import running_simulator
from tests.e2e.dataverse_app import app_on_simulator

ROOT = Path(__file__).resolve().parents[2]

FAST_HOST = {
    "CHANNEL_SYNC_SCHEDULE": "*/1 * * * * *",
    "LEAD_BATCH_SCHEDULE": "*/1 * * * * *",
    "RETENTION_SCHEDULE": "0 0 0 1 1 *",  # the tests run retention and the digest themselves
    "OPERATOR_DIGEST_SCHEDULE": "0 0 0 1 1 *",
    "LEAD_QUEUE": "b2b-leads",
    "OUTCOME_QUEUE": "b2b-sales-outcomes",
    "EMAIL_QUEUE": "b2b-emails",
    # Every log call of the host runs (tests/conftest.py says why); stop_host fails on a logging error.
    "LOG_LEVEL": "DEBUG",
    # host.json stays as shipped; tests shorten its waits the way Azure app settings override it.
    "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
    "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00",
    "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "3",
}
# The intake's defenses off for the tests of everything else (they post many signups from one address and
# fill forms faster than a person); tests/e2e/test_intake_defenses_*.py turn them on.
DEFENSES_OFF = {"INTAKE_RATE_LIMIT_PER_MINUTE": "0", "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "0",
                "INTAKE_MIN_FILL_SECONDS": "0"}
FAST_HOST.update(DEFENSES_OFF)


@dataclass
class LiveHost:
    base_url: str
    settings: dict[str, str]
    process: subprocess.Popen
    output: list[str]

    def container(self) -> Container:
        """The same state the host works on, for what a salesperson or operator does beside it."""
        return Container.build(Settings.from_env(self.settings))

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/{path.lstrip('/')}"


def wait_for(condition, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# What the host and the app read besides SETTING_NAMES: host.json overrides, a function's Disabled switch,
# devhost's function key, and the credentials azure-identity picks up (a managed identity endpoint, a
# service principal).
_HOST_SETTING_PREFIXES = ("AzureFunctionsJobHost__", "AzureWebJobs", "IDENTITY_", "MSI_", "AZURE_")


def is_app_setting(name: str) -> bool:
    return name in SETTING_NAMES or name == KEY_SETTING or name.startswith(_HOST_SETTING_PREFIXES)


def host_environment(settings: dict[str, str]) -> dict[str, str]:
    """The shell's environment without any app or host setting it happens to export (STATE_BACKEND,
    SALES_MODE, EMAIL_TRANSPORT, PARTNER_TOKEN_* ...), then the test's: only the test decides them."""
    inherited = {name: value for name, value in os.environ.items() if not is_app_setting(name)}
    return {**inherited, **settings, "PYTHONUNBUFFERED": "1"}


# The host prints this line's text and its newline in two writes, while its pollers may log (stderr, the same
# pipe) at once: at DEBUG a log line can land between the URL and the newline. The URL is what comes first.
LISTENING = re.compile(r"Host listening on (https?://[^\s{]+)")


def start_host(data_dir: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> LiveHost:
    settings = {**FAST_HOST, "DATA_DIR": str(data_dir), **(extra_env or {})}
    env = host_environment(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(ROOT), "--port", "0", "--no-local-settings", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        listening = LISTENING.match(line)
        if listening:
            return LiveHost(listening.group(1), settings, process, output)
    process.kill()
    raise AssertionError("the local host did not start:\n" + "".join(output))


# What logging.Handler.handleError prints for a record it could not emit; a log call that raised shows as the
# KeyError in a function's failure instead.
LOGGING_ERROR = "--- Logging error ---"
LOG_RECORD_CLASH = "Attempt to overwrite"  # makeRecord: "Attempt to overwrite 'created' in LogRecord"


def stop_host(host: LiveHost) -> None:
    host.process.terminate()
    try:
        host.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        host.process.kill()
    failed = [line for line in host.output if LOGGING_ERROR in line or LOG_RECORD_CLASH in line]
    assert not failed, "the host's logging failed:\n" + "".join(failed)


def azure_backend(azurite) -> dict[str, str]:
    """Settings for the Azure backend on the session's Azurite, with names of this test's own."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "STATE_BACKEND": "azure",
        "AzureWebJobsStorage": azurite.connection_string,
        "STATE_TABLE": f"state{suffix}",
        "LEAD_QUEUE": f"leads-{suffix}",
        "OUTCOME_QUEUE": f"outcomes-{suffix}",
        "EMAIL_QUEUE": f"emails-{suffix}",
    }


@pytest.fixture(params=["sqlite", "azure"])
def live_host(request, tmp_path):
    """The host on the embedded default, and on the Azure backend (Storage Queues and Tables on Azurite)."""
    extra = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    host = start_host(tmp_path / "data", extra)
    yield host
    stop_host(host)


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture
def sim():
    """The Dataverse simulator on loopback, stamping ``modifiedon`` with the wall clock."""
    with running_simulator() as simulator:
        yield simulator


@pytest.fixture
def app(sim, tmp_path, monkeypatch) -> Iterator[Container]:
    """The functions' container in this process with Sales on ``sim`` (tests/e2e/dataverse_app.py).
    test_dataverse_through_host.py overrides it with the state of a host in its own process."""
    with app_on_simulator(sim, tmp_path, monkeypatch) as c:
        yield c


@contextmanager
def read_store(live_host: LiveHost):
    """A read-only unit of work on the host's state, beside the running host (its adapters closed after)."""
    c = live_host.container()
    try:
        with c.store.unit_of_work(read_only=True) as uow:
            yield uow
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
