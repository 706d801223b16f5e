"""Logs are JSON lines with a correlation id, and no email address or phone number is ever logged."""
from __future__ import annotations

import io
import json
import logging

import azure.functions as func
from azure.functions.timer import TimerRequest

from functions.channel_sync import channel_sync
from functions.queues import create_lead, deliver_email, propagate_sales_outcome
from functions.signups import signup_intake
from shared.observability import JsonFormatter
from shared.queue_worker import QueueRules, QueueWorker
from tests.services.flow import signup_body


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def raw_text(record: logging.LogRecord) -> str:
    """Everything a record carries before any redaction: message, extras, exception."""
    parts = [record.getMessage(), *(str(v) for k, v in vars(record).items() if k not in ("msg", "args"))]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return " ".join(parts)


def test_a_whole_flow_logs_json_with_correlation_ids_and_no_contact_data(app_container):
    c = app_container
    stream = io.StringIO()
    formatted = logging.StreamHandler(stream)
    formatted.setFormatter(JsonFormatter())
    raw = Records()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(formatted)
    root.addHandler(raw)
    bodies = [signup_body(n) for n in range(3)]
    bodies[1]["company"]["name"] = "Contact me at boss@company.example or +46 70 111 22 33"
    secrets = []
    for body in bodies:
        secrets += [body["contact"]["email"].split("@")[0], body["contact"]["phone"], body["company"]["phone"],
                    body["contact"]["last_name"]]
    try:
        for n, body in enumerate(bodies):
            request = func.HttpRequest("POST", "http://localhost/api/signups", body=json.dumps(body).encode(),
                                       headers={"content-type": "application/json", "x-correlation-id": f"corr-{n:04d}"})
            assert signup_intake(request).status_code == 202
        malformed = func.HttpRequest("POST", "http://localhost/api/signups", body=b'{"contact": {"email": "x@y.example"}}',
                                     headers={"content-type": "application/json"})
        assert signup_intake(malformed).status_code == 422
        channel_sync(TimerRequest())
        functions = {c.settings.lead_queue: create_lead, c.settings.outcome_queue: propagate_sales_outcome,
                     c.settings.email_queue: deliver_email}

        def drain():
            for name, function in functions.items():
                QueueWorker(c.queue, name, lambda m, f=function: f(func.QueueMessage(id=m.id, body=m.body.encode())),
                            QueueRules(max_dequeue_count=2)).drain()

        drain()
        leads = c.sales.b2b_leads()
        c.sales.win(c.sales.qualify(leads[0]["leadid"]).opportunity_id)
        c.sales.disqualify(leads[1]["leadid"])
        c.queue.send(c.settings.outcome_queue, "garbage that fails")
        drain()
        drain()
    finally:
        root.removeHandler(formatted)
        root.removeHandler(raw)
        root.setLevel(old_level)

    assert len(c.transport.list()) == 5, "the flow ran to its emails (three received, an approval, a decline)"
    ours = [r for r in raw.records if r.name.startswith("b2b")]
    assert len(ours) >= 10
    for record in ours:
        text = raw_text(record)
        for secret in secrets:
            assert secret not in text, f"{record.name}: {record.getMessage()!r} carries contact data"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    b2b_lines = [line for line in lines if line["logger"].startswith("b2b")]
    assert b2b_lines and all("correlation_id" in line for line in b2b_lines)
    assert {"corr-0000", "corr-0001", "corr-0002"} <= {line["correlation_id"] for line in b2b_lines}
    formatted_text = stream.getvalue()
    assert "boss@company.example" not in formatted_text and "111 22 33" not in formatted_text


def test_the_functions_container_installs_log_hygiene_at_log_level(tmp_path, monkeypatch):
    """In Azure the worker owns the root handler: building the container puts the redaction and the
    correlation id on it, at LOG_LEVEL (not at import: indexing the functions must do no such work)."""
    from functions._runtime import container, reset_container
    from shared.observability import LogHygiene, correlation

    root, azure = logging.getLogger(), logging.getLogger("azure")
    saved = list(root.handlers), root.level, azure.level
    worker = Records()  # stands in for the worker's handler
    root.handlers[:] = [worker]
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    reset_container()
    try:
        assert not worker.filters
        c = container()
        assert [type(f) for f in worker.filters] == [LogHygiene]
        assert (root.level, azure.level) == (logging.WARNING, logging.WARNING)
        with correlation("corr-00000042"):
            logging.getLogger("b2b.test").warning("mail %s", "x@y.example")
        logging.getLogger("b2b.test").info("below LOG_LEVEL")
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
    finally:
        reset_container()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        azure.setLevel(saved[2])
    assert [r.getMessage() for r in worker.records if r.name == "b2b.test"] == [
        "mail [email] [correlation_id=corr-00000042]"]
