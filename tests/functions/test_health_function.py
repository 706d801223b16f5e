"""GET /api/health in process: 200 when the app can work where it runs, 503 naming what cannot; and a refused
mode fails every other function loudly (503), with one log line, instead of taking work it would lose."""
from __future__ import annotations

import json
import logging
import threading
import time
from types import SimpleNamespace

import azure.functions as func
import pytest

from functions._runtime import reset_container
from functions.health import health
from functions.signups import signup_intake
from shared.services.health import check_health
from tests.services.flow import signup_body


def get_health() -> tuple[int, dict]:
    response = health(func.HttpRequest("GET", "http://localhost:7071/api/health", body=b""))
    assert response.mimetype == "application/json" and response.headers["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.get_body())


def post_signup() -> func.HttpResponse:
    return signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups",
                                          body=json.dumps(signup_body()).encode(),
                                          headers={"content-type": "application/json"}))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    for name in ("WEBSITE_SKU", "LEGION_SERVICE_HOST", "WEBSITE_INSTANCE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    reset_container()
    yield monkeypatch
    reset_container()


def test_the_embedded_default_is_healthy_on_one_machine(app_container):
    status, report = get_health()
    assert status == 200 and report["status"] == "healthy" and report["failing"] == []
    assert report["environment"] == "local"
    names = [check["name"] for check in report["checks"]]
    assert names == ["settings", "mode", "storage", "queues", "sales", "email"]
    queues = next(check["detail"] for check in report["checks"] if check["name"] == "queues")
    assert "b2b-leads: 0" in queues and "b2b-emails-poison: 0" in queues


def test_in_azure_the_embedded_default_is_refused_everywhere_with_one_log_line(fresh, caplog):
    fresh.setenv("WEBSITE_SKU", "FlexConsumption")
    with caplog.at_level(logging.ERROR, logger="b2b.runtime"):
        status, report = get_health()
        refused_signup = post_signup()
        get_health()
    assert status == 503 and report["environment"] == "azure"
    assert report["failing"] == ["mode", "mode", "mode"]
    details = [check["detail"] for check in report["checks"] if check["name"] == "mode"]
    assert [detail.split(" ")[0] for detail in details] == ["STATE_BACKEND=sqlite", "SALES_MODE=embedded",
                                                            "EMAIL_TRANSPORT=outbox"]
    assert refused_signup.status_code == 503 and b"use STATE_BACKEND=azure" in refused_signup.get_body()
    lines = [record for record in caplog.records if record.name == "b2b.runtime"]
    assert len(lines) == 1, "one clear line, not one per request"
    assert "STATE_BACKEND=sqlite" in lines[0].getMessage() and "use EMAIL_TRANSPORT=storage" in lines[0].getMessage()


def test_settings_that_do_not_load_are_a_failing_check_not_a_500(fresh):
    fresh.setenv("EMAIL_TRANSPORT", "smtp")
    fresh.delenv("SMTP_HOST", raising=False)
    status, report = get_health()
    assert status == 503 and report["failing"] == ["settings"]
    assert report["checks"][0]["detail"] == "EMAIL_TRANSPORT=smtp needs SMTP_HOST"


def test_the_azure_default_is_healthy_in_azure(fresh, azurite):
    fresh.setenv("WEBSITE_SKU", "FlexConsumption")
    for name, value in {"STATE_BACKEND": "azure", "SALES_MODE": "none", "EMAIL_TRANSPORT": "storage",
                        "AzureWebJobsStorage": azurite.connection_string, "STATE_TABLE": "healthstate",
                        "EMAIL_OUTBOX_CONTAINER": "health-outbox"}.items():
        fresh.setenv(name, value)
    status, report = get_health()
    assert status == 200, report
    details = {check["name"]: check["detail"] for check in report["checks"]}
    assert details["mode"].endswith("each works in Azure")
    assert details["sales"].startswith("SALES_MODE=none")
    assert details["email"] == "kept as blobs in the container health-outbox (created with the first email)"
    assert details["storage"] == "the state store answers (table healthstate)"


class Unreachable:
    def __init__(self, hang: threading.Event | None = None):
        self.hang = hang

    def __getattr__(self, name):
        if self.hang is not None:
            self.hang.wait(30)  # a storage account that does not answer (the SDK retrying)
        raise ConnectionError("storage out of reach")


def with_store(container, store):
    return SimpleNamespace(settings=container.settings, store=store, queue=container.queue,
                           transport=container.transport)


def test_storage_out_of_reach_fails_its_check(app_container):
    report = check_health(lambda: with_store(app_container, Unreachable()), {})
    assert report.status == "unhealthy" and report.failing == ["storage"]
    assert report.checks[2].detail == "ConnectionError: storage out of reach"


def test_a_check_that_does_not_answer_fails_within_the_budget(app_container):
    hang = threading.Event()
    try:
        started = time.monotonic()
        report = check_health(lambda: with_store(app_container, Unreachable(hang)), {}, budget=0.3)
        assert time.monotonic() - started < 5
    finally:
        hang.set()
    assert report.failing == ["storage"] and report.checks[2].detail == "no answer within 0.3 s"


def test_adapters_that_cannot_be_built_in_time_fail_the_wiring_check_within_the_budget():
    hang = threading.Event()

    def build():
        hang.wait(30)  # the table created at startup, on a storage account that does not answer
        raise ConnectionError("storage out of reach")

    try:
        started = time.monotonic()
        report = check_health(build, {}, budget=0.3)
        assert time.monotonic() - started < 5
    finally:
        hang.set()
    assert report.failing == ["wiring"] and "not built within 0.3 s" in report.checks[-1].detail


def test_adapters_that_fail_to_build_fail_the_wiring_check():
    def build():
        raise ConnectionError("storage out of reach")

    report = check_health(build, {})
    assert report.failing == ["wiring"]
    assert report.checks[-1].detail.endswith("ConnectionError: storage out of reach")
