"""azd's postdeploy hook (hooks/postdeploy.py), the very script azd runs, against the local host: on Azurite
with the mode the Bicep deploys (as if in Azure), and failing loudly for each thing that can be wrong."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import requests

from tests.contract.email_sinks import free_port
from shared.adapters.outbox_email import parse_eml
from tests.e2e.conftest import ROOT, azure_backend, start_host, stop_host, wait_for

pytestmark = pytest.mark.e2e

HOOK = ROOT / "hooks" / "postdeploy.py"
IN_AZURE = {"WEBSITE_SKU": "FlexConsumption"}  # what the platform sets on a Flex instance
KEY = "postdeploy-admin-key-0123456789"


def run_hook(*args: str, base_url: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """As azd runs it: the machine's environment plus the azd environment's values (SERVICE_API_URI)."""
    env = {name: value for name, value in os.environ.items() if name != "SERVICE_API_URI"}
    if base_url is not None:
        env["SERVICE_API_URI"] = base_url
    return subprocess.run([sys.executable, str(HOOK), "--pause", "0.2", "--timeout", str(timeout), *args],
                          capture_output=True, text=True, env=env, timeout=timeout + 60, cwd=ROOT)


@pytest.fixture
def deployed_default(tmp_path, azurite):
    """The host as the Bicep deploys the app: Azure Storage state and queues, no CRM, emails kept as blobs."""
    settings = {**azure_backend(azurite), **IN_AZURE, "SALES_MODE": "none", "EMAIL_TRANSPORT": "storage",
                "EMAIL_OUTBOX_CONTAINER": f"outbox-{uuid.uuid4().hex[:12]}", "DEVHOST_FUNCTION_KEY": KEY}
    host = start_host(tmp_path / "data", settings)
    yield host
    stop_host(host)


def test_the_deployed_default_takes_a_signup_to_a_prospect(deployed_default):
    done = run_hook(base_url=deployed_default.base_url)
    assert done.returncode == 0, done.stdout + done.stderr
    status_line = next(line for line in done.stdout.splitlines() if line.startswith("  status:  "))
    status_url = status_line.split()[-1]
    assert status_url.startswith(f"{deployed_default.base_url}/api/signups/")
    assert f"  console: {deployed_default.base_url}/api/console" in done.stdout
    assert "healthy (azure)" in done.stdout and "SALES_MODE=none" in done.stdout
    assert requests.get(status_url, timeout=30).json()["status"] == "prospect_created"
    prospects = deployed_default.container().operator.prospects(None)
    assert [p.request.company.name for p in prospects] == ["azd postdeploy check"]


def test_on_the_deployed_default_the_clerk_decides_and_the_email_is_kept_for_the_back_office(deployed_default):
    """SALES_MODE=none and EMAIL_TRANSPORT=storage carry a signup to a decision with no outside account."""
    assert run_hook(base_url=deployed_default.base_url).returncode == 0
    admin = {"x-functions-key": KEY}
    decided = requests.post(deployed_default.url("backoffice/prospects/PRO-000001/reject"), headers=admin,
                            json={"operator": "clerk", "reason": "a deployment check"}, timeout=30)
    assert decided.status_code == 200, decided.text

    def kept() -> list[dict]:
        return requests.get(deployed_default.url("backoffice/outbox"), headers=admin, timeout=30).json()["emails"]

    wait_for(lambda: kept(), what="the decline email, kept as a blob")
    (email,) = kept()
    assert email["to"] == "postdeploy-check@example.com"
    eml = requests.get(deployed_default.url(f"backoffice/outbox/{email['id']}"), headers=admin, timeout=30)
    assert eml.status_code == 200 and eml.headers["Content-Type"].startswith("message/rfc822")
    assert parse_eml(eml.content)["Subject"] == email["subject"]


def test_a_refused_mode_fails_at_once_with_the_health_checks_reasons(tmp_path):
    host = start_host(tmp_path / "data", IN_AZURE)  # the embedded default, as if deployed to Flex
    try:
        health = requests.get(host.url("health"), timeout=30)
        assert health.status_code == 503 and health.json()["failing"] == ["mode", "mode", "mode"]
        done = run_hook(base_url=host.base_url, timeout=120)
    finally:
        stop_host(host)
    assert done.returncode == 1
    (failure,) = [line for line in done.stderr.splitlines() if line.startswith("postdeploy: FAILED: ")]
    assert "GET /api/health answers 503" in failure and "mode: STATE_BACKEND=sqlite cannot work in Azure" in failure
    assert "use SALES_MODE=none" in failure and "waiting" not in done.stdout, "a refused mode is not waited out"
    assert "refusing to start: STATE_BACKEND=sqlite" in "".join(host.output), "the one log line"


def test_an_unreachable_app_fails_with_where_it_looked():
    base = f"http://127.0.0.1:{free_port()}"
    done = run_hook(base_url=base, timeout=1)
    assert done.returncode == 1
    assert f"not healthy in time; last: the app is unreachable at {base}/api/health" in done.stderr


def test_a_signup_that_never_becomes_a_prospect_times_out_saying_so(tmp_path):
    # The channel sync's timer once a year: the signup stays 'received'.
    host = start_host(tmp_path / "data", {"CHANNEL_SYNC_SCHEDULE": "0 0 0 1 1 *"})
    try:
        done = run_hook("--base-url", host.base_url, timeout=3)
    finally:
        stop_host(host)
    assert done.returncode == 1, done.stdout
    assert "timed out waiting for signup" in done.stderr and "still 'received'" in done.stderr


def test_without_an_app_url_it_says_how_to_give_one():
    done = run_hook()
    assert done.returncode == 1 and "no app URL" in done.stderr
