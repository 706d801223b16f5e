"""The prospect timeline, replay and drift routes (an email's retry is the Emails routes') called with real azure.functions requests."""
from __future__ import annotations

import json

import azure.functions as func

from functions.back_office_prospect import (
    backoffice_drift,
    backoffice_drift_reconcile,
    backoffice_prospect,
    backoffice_replay,
    bp,
)
from shared.bootstrap import Container
from shared.domain.messages import CreateLead
from shared.queue_worker import poison_queue_name
from tests.services.flow import signup_body, synced, take_all, work
from tests.services.test_prospect_timeline import RefusingTransport

API = "http://localhost:7071/api/backoffice"


def get(function, url: str, route_params: dict | None = None, params: dict | None = None) -> func.HttpResponse:
    return function(func.HttpRequest("GET", url, route_params=route_params or {}, params=params or {}, body=b""))


def post(function, url: str, route_params: dict, payload: object) -> func.HttpResponse:
    return function(func.HttpRequest("POST", url, headers={"content-type": "application/json"},
                                     route_params=route_params, body=json.dumps(payload).encode()))


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def test_routes_take_a_function_key():
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: (t.route, t.auth_level, [m.value for m in t.methods]) for name, t in triggers.items()} == {
        "backoffice_prospect": ("backoffice/prospects/{key}", func.AuthLevel.FUNCTION, ["GET"]),
        "backoffice_replay": ("backoffice/prospects/{key}/replay", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_drift": ("backoffice/drift", func.AuthLevel.FUNCTION, ["GET"]),
        "backoffice_drift_reconcile": ("backoffice/drift/reconcile", func.AuthLevel.FUNCTION, ["POST"]),
    }


def test_the_timeline_then_retry_and_replay(app_container):
    c = app_container
    c.intake.submit(signup_body(1))
    c.channel_sync.run()
    work(c)
    c.back_office.approve("PRO-000001", "alice")
    work(Container.build(c.settings, clock=c.clock, store=c.store, queue=c.queue, sales=c.sales,
                         transport=RefusingTransport()))
    prospect_id = c.operator.prospect("PRO-000001").prospect.id
    c.queue.send(poison_queue_name(c.settings.lead_queue), CreateLead(prospect_id=prospect_id).to_json())

    shown = get(backoffice_prospect, f"{API}/prospects/pro-000001", {"key": "pro-000001"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    data = answer(shown)
    assert (data["number"], data["status"], data["id"]) == ("PRO-000001", "Approved", prospect_id)
    assert [s["entity"] for s in data["sales"]] == ["lead"] and data["sales"][0]["url"] is None
    received, email = [e for e in data["timeline"] if e["source"] == "email"]  # "we received it", the decision's
    assert received["what"].startswith("email “signup received”")
    assert email["emailStatus"] == "failed"
    [poisoned] = [e for e in data["timeline"] if e["source"] == "queue"]
    assert poisoned["poisoned"] is True and poisoned["queue"] == poison_queue_name(c.settings.lead_queue)
    assert get(backoffice_prospect, f"{API}/prospects/PRO-424242", {"key": "PRO-424242"}).status_code == 404

    url = f"{API}/prospects/PRO-000001/replay"
    assert post(backoffice_replay, url, {"key": "PRO-000001"}, {}).status_code == 422
    replayed = post(backoffice_replay, url, {"key": "PRO-000001"}, {"operator": "bob"})
    assert replayed.status_code == 200
    body = answer(replayed)
    assert body["changed"] is True and body["replayed"][0]["messageId"] == poisoned["messageId"]
    again = post(backoffice_replay, url, {"key": "PRO-000001"}, {"operator": "bob"})
    assert answer(again) == {"changed": False, "replayed": []}


def test_drift_and_reconcile(app_container):
    c = app_container
    synced(c, 1, 2)
    c.sales.disqualify(c.operator.prospect("PRO-000002").prospect.lead_id, 5)
    take_all(c, c.settings.outcome_queue)

    listed = get(backoffice_drift, f"{API}/drift")
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
    assert answer(listed) == {"drift": [{"number": "PRO-000002", "ours": "Pending, no customers",
                                         "sales": "lead Disqualified (Cannot Contact)",
                                         "problem": "Sales says Rejected, we say Pending", "reconcilable": True}],
                              "checked": 2, "more": False}
    assert answer(get(backoffice_drift, f"{API}/drift", params={"limit": "1"}))["more"] is True
    for bad in ("0", "1001", "x", "-1"):
        refused = get(backoffice_drift, f"{API}/drift", params={"limit": bad})
        assert refused.status_code == 422 and answer(refused)["errors"][0]["field"] == "limit"

    url = f"{API}/drift/reconcile"
    assert post(backoffice_drift_reconcile, url, {}, {"key": 7}).status_code == 422
    assert post(backoffice_drift_reconcile, url, {}, {"key": "PRO-424242"}).status_code == 404
    done = post(backoffice_drift_reconcile, url, {}, {})
    assert done.status_code == 200
    [reconciled] = answer(done)["reconciled"]
    assert (reconciled["number"], reconciled["changed"], reconciled["after"]) == ("PRO-000002", True, None)
    assert reconciled["outcomes"] == [{"kind": "lead_disqualified", "result": "applied"}]
    assert reconciled["summary"] == "PRO-000002: applied lead disqualified; it agrees with Sales now"
    assert answer(post(backoffice_drift_reconcile, url, {}, {}))["reconciled"] == []


def test_drift_without_sales_is_a_conflict(tmp_path, monkeypatch):
    from functions._runtime import container, reset_container

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SALES_MODE", "none")
    reset_container()
    try:
        refused = get(backoffice_drift, f"{API}/drift")
        assert refused.status_code == 409 and "SALES_MODE=none" in answer(refused)["detail"]
    finally:
        container().store.close()
        container().queue.close()
        reset_container()
