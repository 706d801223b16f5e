"""The back-office functions called with real azure.functions requests: thin, admin-keyed, honest status codes."""
from __future__ import annotations

import json

import azure.functions as func

from functions.back_office import (
    backoffice_acknowledge,
    backoffice_approve,
    backoffice_partner_users,
    backoffice_partners,
    backoffice_reject,
    bp,
)
from tests.services.flow import signup_body, work
from tests.services.partners import customers, new_user, partner_without_admin

BASE = "http://localhost:7071/api/backoffice/prospects"


def call(function, key: str, payload: object, content_type: str = "application/json") -> func.HttpResponse:
    action = "approve" if function is backoffice_approve else "reject"
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = func.HttpRequest("POST", f"{BASE}/{key}/{action}", headers={"content-type": content_type},
                               route_params={"key": key}, body=body)
    return function(request)


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def pending(c, n: int = 1) -> None:
    for i in range(1, n + 1):
        c.intake.submit(signup_body(i))
    c.channel_sync.run()


def test_routes_need_a_key_never_the_console_sign_in():
    """Automation calls them with a key of its own (the host key `backoffice`, auth level FUNCTION), not the
    master key; people use the console."""
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: (t.route, t.auth_level, [m.value for m in t.methods]) for name, t in triggers.items()} == {
        "backoffice_approve": ("backoffice/prospects/{key}/approve", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_reject": ("backoffice/prospects/{key}/reject", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_acknowledge": ("backoffice/prospects/{key}/acknowledge", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_partner_users": ("backoffice/partners/{hierarchyId}/users", func.AuthLevel.FUNCTION,
                                     ["GET", "POST"]),
        "backoffice_credit": ("backoffice/partners/{hierarchyId}/credit", func.AuthLevel.FUNCTION,
                              ["GET", "PUT", "PATCH"]),
        "backoffice_customers": ("backoffice/customers", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_partners": ("backoffice/partners", func.AuthLevel.FUNCTION, ["GET", "POST"]),
        "backoffice_outbox": ("backoffice/outbox", func.AuthLevel.FUNCTION, ["GET"]),
        "backoffice_outbox_email": ("backoffice/outbox/{messageId}", func.AuthLevel.FUNCTION, ["GET"]),
    }


def test_approve_then_again_then_reject_is_a_conflict(app_container):
    pending(app_container)
    response = call(backoffice_approve, "PRO-000001", {"operator": "alice"})
    assert response.status_code == 200 and response.headers["x-correlation-id"]
    data = answer(response)
    assert data["status"] == "Approved" and data["changed"] is True and data["number"] == "PRO-000001"
    assert data["hierarchy_id"] == "CH-000001" and data["decided_by"] == "back-office:alice"

    again = call(backoffice_approve, data["id"], {"operator": "alice"})
    assert again.status_code == 200 and answer(again)["changed"] is False

    conflict = call(backoffice_reject, "pro-000001", {"operator": "bob", "reason": "no"})
    assert conflict.status_code == 409 and conflict.mimetype == "application/problem+json"
    decided_at = app_container.operator.prospect("PRO-000001").prospect.decided_at.isoformat()
    assert answer(conflict) == {
        "type": "about:blank", "title": "Conflict", "status": 409,
        "detail": f"prospect PRO-000001 was already Approved by back-office:alice at {decided_at[:19]}+00:00; "
                  "it cannot become Rejected",
        "decision": {"number": "PRO-000001", "status": "Approved", "decided_by": "back-office:alice",
                     "decided_at": decided_at},
    }
    work(app_container)
    assert [e.template for e in app_container.operator.emails()] == ["signup_received", "prospect_approved"]


def test_reject(app_container):
    pending(app_container, 2)
    response = call(backoffice_reject, "PRO-000002", {"operator": "bob", "reason": "Outside our market"})
    assert response.status_code == 200 and answer(response)["status"] == "Rejected"
    assert call(backoffice_approve, "PRO-000002", {"operator": "bob"}).status_code == 409
    details = app_container.operator.prospect("PRO-000002")
    assert details.prospect.rejection_reason == "Outside our market"
    assert any(h.actor == "back-office:bob" and h.action == "rejected" for h in details.history)


def test_refusals(app_container):
    pending(app_container)
    assert call(backoffice_approve, "PRO-424242", {"operator": "alice"}).status_code == 404
    assert call(backoffice_approve, "PRO-000001", b"{nope").status_code == 400
    assert call(backoffice_approve, "PRO-000001", {"operator": "alice"}, content_type="text/plain").status_code == 415
    assert call(backoffice_approve, "PRO-000001", [1]).status_code == 422
    missing = call(backoffice_approve, "PRO-000001", {})
    assert missing.status_code == 422 and answer(missing)["errors"] == [{"field": "operator", "message": "is required"}]
    no_reason = call(backoffice_reject, "PRO-000001", {"operator": "alice"})
    assert no_reason.status_code == 422 and answer(no_reason)["errors"][0]["field"] == "reason"
    assert call(backoffice_approve, "PRO-000001", {"operator": 7}).status_code == 422
    assert app_container.operator.prospect("PRO-000001").prospect.status.value == "Pending"


def post(function, url: str, route_params: dict, payload: object) -> func.HttpResponse:
    return function(func.HttpRequest("POST", url, headers={"content-type": "application/json"},
                                     route_params=route_params, body=json.dumps(payload).encode()))


def test_an_operator_adds_an_admin_then_acknowledges_the_flag(app_container):
    hierarchy, number = partner_without_admin(app_container)
    url = f"http://localhost:7071/api/backoffice/partners/{hierarchy}/users"
    body = {**new_user("boss@company2.example", role="Admin", spendingLimit="250.00"), "operator": "alice"}
    created = post(backoffice_partner_users, url, {"hierarchyId": hierarchy}, body)
    assert created.status_code == 201
    user = answer(created)
    assert (user["hierarchyId"], user["role"], user["status"], user["spendingLimit"]) == (
        hierarchy, "Admin", "Pending", "250.00")
    assert post(backoffice_partner_users, url, {"hierarchyId": hierarchy}, body).status_code == 200
    taken = post(backoffice_partner_users, url, {"hierarchyId": hierarchy},
                 {**new_user("person2@example.com"), "operator": "alice"})
    assert taken.status_code == 409 and "CH-000001" not in answer(taken)["detail"]
    assert post(backoffice_partner_users, url.replace(hierarchy, "CH-424242"), {"hierarchyId": "CH-424242"},
                body).status_code == 404
    listed = backoffice_partner_users(func.HttpRequest("GET", url, route_params={"hierarchyId": hierarchy}, body=b""))
    assert listed.status_code == 200 and [u["email"] for u in answer(listed)["users"]] == ["boss@company2.example"]
    assert backoffice_partner_users(func.HttpRequest("GET", url, route_params={"hierarchyId": "CH-424242"},
                                                     body=b"")).status_code == 404
    no_operator = post(backoffice_partner_users, url, {"hierarchyId": hierarchy}, new_user("x@example.com"))
    assert no_operator.status_code == 422 and answer(no_operator)["errors"] == [
        {"field": "operator", "message": "is required"}]

    url = f"{BASE}/{number}/acknowledge"
    no_note = post(backoffice_acknowledge, url, {"key": number}, {"operator": "alice"})
    assert no_note.status_code == 422 and answer(no_note)["errors"][0]["field"] == "note"
    done = post(backoffice_acknowledge, url, {"key": number}, {"operator": "alice", "note": "Admin added"})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert answer(done)["changed"] is True and "signs in for partner" in answer(done)["flag"]
    again = post(backoffice_acknowledge, url, {"key": number}, {"operator": "alice", "note": "Admin added"})
    assert answer(again) == {"number": number, "changed": False, "flag": None}
    assert post(backoffice_acknowledge, f"{BASE}/PRO-424242/acknowledge", {"key": "PRO-424242"},
                {"operator": "alice", "note": "n"}).status_code == 404


def test_partners_are_listed_in_number_order_and_onboarded_over_http(app_container):
    url = "http://localhost:7071/api/backoffice/partners"
    pending(app_container)
    app_container.back_office.approve("PRO-000001", "alice")  # a partner from a prospect first
    org, anna, _ = customers(app_container)
    body = {"organizationCustomerId": org.id, "operator": "alice", "members": [{"customerId": anna.id, "role": "Admin"}]}
    onboarded = post(backoffice_partners, url, {}, body)
    assert onboarded.status_code == 201, onboarded.get_body()
    data = answer(onboarded)
    assert (data["hierarchyId"], data["name"], data["prospectId"]) == ("CH-000002", "Fabrikam AB", None)
    assert [u["email"] for u in data["users"]] == ["anna@fabrikam.example"]
    assert post(backoffice_partners, url, {}, body).status_code == 200

    listed = backoffice_partners(func.HttpRequest("GET", url, body=b""))
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
    partners = answer(listed)["partners"]
    assert [(p["hierarchyId"], p["name"]) for p in partners] == [("CH-000001", "Company 1 & Sons"),
                                                                ("CH-000002", "Fabrikam AB")]
    assert partners[0]["prospectId"] and partners[0]["purpose"] == "B2B organization"
