"""The emails a transport keeps, read in the back office (GET /api/backoffice/outbox[/{messageId}]) and with
`b2b outbox`: the folder of .eml files on one machine, and the blobs of EMAIL_TRANSPORT=storage, alike."""
from __future__ import annotations

import json
import uuid

import azure.functions as func
import pytest

from functions.back_office import backoffice_outbox, backoffice_outbox_email
from shared.adapters.outbox_email import parse_eml
from shared.cli import main
from tests.contract.email_sinks import outgoing
from tests.functions.conftest import container_with


@pytest.fixture(params=["outbox", "storage"])
def keeping_container(request, tmp_path, monkeypatch):
    settings = {}
    if request.param == "storage":
        azurite = request.getfixturevalue("azurite")
        settings = {"EMAIL_TRANSPORT": "storage", "AzureWebJobsStorage": azurite.connection_string,
                    "EMAIL_OUTBOX_CONTAINER": f"kept-{uuid.uuid4().hex[:12]}"}
    yield from container_with(tmp_path, monkeypatch, **settings)


def listing() -> func.HttpResponse:
    return backoffice_outbox(func.HttpRequest("GET", "http://localhost:7071/api/backoffice/outbox", body=b""))


def one(message_id: str) -> func.HttpResponse:
    return backoffice_outbox_email(func.HttpRequest(
        "GET", f"http://localhost:7071/api/backoffice/outbox/{message_id}", body=b"",
        route_params={"messageId": message_id}))


def test_the_back_office_lists_kept_emails_and_reads_one_as_eml(keeping_container):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    keeping_container.transport.send(outgoing(first, subject="Välkommen, Åsa"))
    keeping_container.transport.send(outgoing(second, to="åsa@example.com"))
    answer = listing()
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    emails = {e["id"]: e for e in json.loads(answer.get_body())["emails"]}  # oldest first, to the second
    assert set(emails) == {first, second}
    assert emails[first]["subject"] == "Välkommen, Åsa" and emails[second]["to"] == "åsa@example.com"
    assert set(emails[first]) == {"id", "to", "subject", "date"}
    read = one(first)
    assert read.status_code == 200 and read.mimetype == "message/rfc822"
    assert read.headers["Content-Disposition"] == f'attachment; filename="{first}.eml"'
    message = parse_eml(read.get_body())
    assert message["Subject"] == "Välkommen, Åsa" and message.get_body(("plain",)).get_content().startswith("Dear")


@pytest.mark.parametrize("message_id", ["no-such-email", "..%2F..%2Fstate.sqlite3", "../state"])
def test_an_email_it_does_not_keep_is_404(keeping_container, message_id):
    answer = one(message_id)
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"


def test_a_transport_that_sends_on_keeps_nothing_to_read(tmp_path, monkeypatch):
    for _ in container_with(tmp_path, monkeypatch, EMAIL_TRANSPORT="smtp", SMTP_HOST="smtp.contoso.example"):
        answer = listing()
        assert answer.status_code == 503 and b"EMAIL_TRANSPORT=smtp sends the emails on" in answer.get_body()
        assert one("x").status_code == 503


def test_b2b_outbox_lists_and_reads_the_kept_emails(keeping_container, capsys):
    message_id = str(uuid.uuid4())
    keeping_container.transport.send(outgoing(message_id, subject="Your request"))
    assert main(["outbox"]) == 0
    out = capsys.readouterr().out
    assert message_id in out and "Your request" in out
    assert main(["outbox", message_id]) == 0
    out = capsys.readouterr().out
    assert "Subject: Your request" in out and "Dear Anna," in out
    assert main(["outbox", "no-such-email"]) == 1
    assert "no email no-such-email in the outbox" in capsys.readouterr().err
