"""The queue and email routes of the back office, called with real azure.functions requests."""
from __future__ import annotations

import json

import azure.functions as func

from functions import back_office_queues as routes
from shared.domain.model import EmailStatus
from shared.queue_worker import poison_queue_name
from tests.contract.factories import at, email_record

BASE = "http://localhost:7071/api/backoffice"
LEAD = {"schema": "create-lead", "version": 1, "prospect_id": "p-1", "contact": {"email": "asa@example.com"}}


def call(function, method: str, path: str, payload: object | None = None, params: dict | None = None,
         **route_params: str) -> tuple[int, dict]:
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = {"content-type": "application/json"} if payload is not None else {}
    response = function(func.HttpRequest(method, f"{BASE}/{path}", headers=headers, params=params or {},
                                         route_params=route_params, body=body))
    return response.status_code, json.loads(response.get_body())


def test_every_route_takes_a_function_key():
    triggers = [b._function.get_trigger() for b in routes.bp._function_builders]
    assert len(triggers) == 11 and {t.auth_level for t in triggers} == {func.AuthLevel.FUNCTION}


def test_poison_routes_mask_reveal_discard_and_replay(app_container):
    c = app_container
    lead_queue = c.settings.lead_queue
    first = c.queue.send(poison_queue_name(lead_queue), json.dumps(LEAD))
    second = c.queue.send(poison_queue_name(lead_queue), "{broken")

    status, depths = call(routes.backoffice_queues, "GET", "queues")
    assert status == 200 and {"queue": lead_queue, "depth": 0, "poisonQueue": poison_queue_name(lead_queue),
                              "poisonDepth": 2} in depths["queues"]
    status, listed = call(routes.backoffice_poison, "GET", f"queues/{lead_queue}/poison", queue=lead_queue)
    assert status == 200 and {m["id"] for m in listed["messages"]} == {first, second}
    assert "asa@example.com" not in json.dumps(listed)
    status, shown = call(routes.backoffice_poison_message, "GET", "…", queue=lead_queue, messageId=first)
    assert status == 200 and shown["masked"] and "asa@example.com" not in shown["body"]
    assert call(routes.backoffice_poison_message, "GET", "…", queue="nope", messageId=first)[0] == 404

    status, revealed = call(routes.backoffice_poison_reveal, "POST", "…", {"operator": "alice"}, queue=lead_queue,
                            messageId=first)
    assert status == 200 and not revealed["masked"] and json.loads(revealed["body"]) == LEAD
    assert call(routes.backoffice_poison_reveal, "POST", "…", {}, queue=lead_queue, messageId=first)[0] == 422

    status, refused = call(routes.backoffice_poison_discard, "POST", "…", {"operator": "alice"}, queue=lead_queue,
                           messageId=second)
    assert status == 422 and refused["errors"][0]["field"] == "reason"
    status, discarded = call(routes.backoffice_poison_discard, "POST", "…", {"operator": "alice", "reason": "junk"},
                             queue=lead_queue, messageId=second)
    assert status == 200 and discarded["action"] == "discard" and discarded["reason"] == "junk"

    status, replayed = call(routes.backoffice_poison_replay_all, "POST", "…", {"operator": "bob"}, queue=lead_queue)
    assert status == 200 and [r["messageId"] for r in replayed["replayed"]] == [first]
    assert call(routes.backoffice_poison_replay, "POST", "…", {"operator": "bob"}, queue=lead_queue,
                messageId=first)[0] == 404  # replayed already

    status, audit = call(routes.backoffice_audit, "GET", "audit")
    assert status == 200 and [e["action"] for e in audit["entries"]] == ["replay", "discard", "reveal"]


def test_email_routes_list_read_and_retry(app_container):
    c = app_container
    with c.store.unit_of_work() as uow:
        uow.add_email(email_record("e-1", at(0), EmailStatus.FAILED).model_copy(update={"last_error": "boom"}))
        uow.add_email(email_record("e-2", at(1)))
    status, page = call(routes.backoffice_emails, "GET", "emails", params={"status": "", "limit": "1"})
    assert status == 200 and [e["id"] for e in page["emails"]] == ["e-2"] and page["nextCursor"]
    assert page["emails"][0]["toDomain"] == "example.com" and "to" not in page["emails"][0]
    status, rest = call(routes.backoffice_emails, "GET", "emails", params={"cursor": page["nextCursor"]})
    assert [e["id"] for e in rest["emails"]] == ["e-1"] and rest["nextCursor"] is None
    assert call(routes.backoffice_emails, "GET", "emails", params={"status": "lost"})[0] == 422
    assert call(routes.backoffice_emails, "GET", "emails", params={"limit": "x"})[0] == 422

    status, email = call(routes.backoffice_email, "GET", "emails/e-1", emailId="e-1")
    assert status == 200 and email["to"] == "asa@example.com" and email["status"] == "failed"
    assert email["subject"] and "<html" in email["html"].lower() and email["lastError"] == "boom"
    assert call(routes.backoffice_email, "GET", "emails/e-9", emailId="e-9")[0] == 404

    status, queued = call(routes.backoffice_email_retry, "POST", "…", {"operator": "alice"}, emailId="e-1")
    assert status == 200 and queued["status"] == "queued" and queued["attempts"] == 0
    status, again = call(routes.backoffice_email_retry, "POST", "…", {"operator": "alice"}, emailId="e-1")
    assert status == 409 and "not failed" in again["detail"]
