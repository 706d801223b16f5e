"""The back office's partner routes with real azure.functions requests (function key), and what a blocked
partner's users get from the partner routes: 403 problem+json with the code partner_blocked."""
from __future__ import annotations

import azure.functions as func

from functions.back_office import backoffice_partners
from functions.back_office_partners import (
    backoffice_partner,
    backoffice_partner_block,
    backoffice_partner_reactivate,
    backoffice_partner_user,
    bp,
)
from functions.orders import order_check, order_release, order_reserve
from functions.partners import partner_me, partner_user, partner_users
from shared.domain.partners import user_id_for
from tests.functions.test_partner_functions import answer, partner_app, request  # noqa: F401 - fixture
from tests.services.partners import approved_partner, new_user


def test_routes_take_a_function_key():
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: (t.route, t.auth_level, sorted(m.value for m in t.methods)) for name, t in triggers.items()} == {
        "backoffice_partner": ("backoffice/partners/{hierarchyId}", func.AuthLevel.FUNCTION, ["GET", "PATCH"]),
        "backoffice_partner_block": ("backoffice/partners/{hierarchyId}/block", func.AuthLevel.FUNCTION, ["POST"]),
        "backoffice_partner_reactivate": ("backoffice/partners/{hierarchyId}/reactivate", func.AuthLevel.FUNCTION,
                                          ["POST"]),
        "backoffice_partner_user": ("backoffice/partners/{hierarchyId}/users/{userId}", func.AuthLevel.FUNCTION,
                                    ["DELETE", "PATCH"]),
    }


def test_block_refuses_every_partner_route_with_403_and_reactivate_gives_them_back(partner_app, jwks):
    hierarchy, admin = approved_partner(partner_app)
    partner_app.credit.set_line(hierarchy, {"limit": "500.00", "currency": "EUR"})
    token = jwks.header_for(admin.verified_email)
    me = user_id_for(admin.verified_email)
    route = {"hierarchyId": hierarchy}
    order = {"hierarchyId": hierarchy, "userId": me, "orderId": "o-1", "amount": "10.00", "currency": "EUR"}
    calls = {
        "me": lambda: partner_me(request("GET", "partners/me", token=token)),
        "users": lambda: partner_users(request("GET", f"partners/{hierarchy}/users", token=token, route=route)),
        "user": lambda: partner_user(request("GET", f"partners/{hierarchy}/users/{me}", token=token,
                                             route={**route, "userId": me})),
        "check": lambda: order_check(request("POST", "orders/check", order, token=token)),
        "reserve": lambda: order_reserve(request("POST", "orders/o-2/reserve", {**order, "orderId": "o-2"},
                                                 token=token, route={"orderId": "o-2"})),
        "release": lambda: order_release(request("POST", "orders/o-2/release", {"hierarchyId": hierarchy},
                                                 token=token, route={"orderId": "o-2"})),
        "release unknown": lambda: order_release(request("POST", "orders/o-9/release", {"hierarchyId": hierarchy},
                                                         token=token, route={"orderId": "o-9"})),
    }
    assert calls["check"]().status_code == 200 and calls["reserve"]().status_code == 201
    assert calls["release unknown"]().status_code == 404

    path = f"backoffice/partners/{hierarchy}/block"
    no_reason = backoffice_partner_block(request("POST", path, {"operator": "alice"}, route=route))
    assert no_reason.status_code == 422 and answer(no_reason)["errors"][0]["field"] == "reason"
    blocked = backoffice_partner_block(request("POST", path, {"operator": "alice", "reason": "Unpaid"}, route=route))
    assert blocked.status_code == 200 and blocked.headers["Cache-Control"] == "no-store"
    assert {k: answer(blocked)[k] for k in ("status", "changed", "blockReason", "statusChangedBy")} == {
        "status": "blocked", "changed": True, "blockReason": "Unpaid", "statusChangedBy": "back-office:alice"}
    again = backoffice_partner_block(request("POST", path, {"operator": "bob", "reason": "Other"}, route=route))
    assert answer(again)["changed"] is False and answer(again)["blockReason"] == "Unpaid"

    for name, call in calls.items():
        refused = call()
        assert (refused.status_code, refused.mimetype) == (403, "application/problem+json"), name
        assert answer(refused)["code"] == "partner_blocked", name
    denied = answer(calls["check"]())
    assert denied["decision"] == "deny" and [r["code"] for r in denied["reasons"]] == ["partner_blocked"]

    reactivated = backoffice_partner_reactivate(request("POST", f"backoffice/partners/{hierarchy}/reactivate",
                                                        {"operator": "bob"}, route=route))
    assert answer(reactivated)["status"] == "active" and answer(reactivated)["changed"] is True
    assert answer(calls["check"]())["decision"] == "allow"
    assert calls["release"]().status_code == 200


def test_the_partner_whole_renamed_and_its_users_changed_over_http(partner_app):
    hierarchy, _ = approved_partner(partner_app)
    route = {"hierarchyId": hierarchy}
    path = f"backoffice/partners/{hierarchy}"
    renamed = backoffice_partner(request("PATCH", path, {"operator": "alice", "name": "Fabrikam Nordic"}, route=route))
    assert renamed.status_code == 200 and answer(renamed)["name"] == "Fabrikam Nordic"
    partner_app.partner_users.add_by_operator(hierarchy, {"operator": "alice", **new_user("nils@example.se")})
    partner_app.channel_sync.run()
    nils = user_id_for("nils@example.se")
    user_route = {**route, "userId": nils}
    made_admin = backoffice_partner_user(request("PATCH", f"{path}/users/{nils}", {"operator": "alice", "role": "Admin"},
                                                 route=user_route))
    assert made_admin.status_code == 202 and answer(made_admin)["role"] == "Admin"
    requester = user_id_for("person1@example.com")
    removed = backoffice_partner_user(request("DELETE", f"{path}/users/{requester}", {"operator": "alice"},
                                              route={**route, "userId": requester}))
    assert removed.status_code == 202 and answer(removed)["status"] == "Removed"
    last = backoffice_partner_user(request("DELETE", f"{path}/users/{nils}", {"operator": "alice"}, route=user_route))
    assert last.status_code == 409 and "at least one Admin" in answer(last)["detail"]
    missing = backoffice_partner_user(request("DELETE", f"{path}/users/{nils}", {}, route=user_route))
    assert missing.status_code == 422

    whole = answer(backoffice_partner(request("GET", path, route=route)))
    assert whole["name"] == "Fabrikam Nordic" and whole["status"] == "active" and whole["openReservations"] == []
    assert [(u["email"], u["role"], u["status"]) for u in whole["users"]] == [
        ("nils@example.se", "Admin", "Active"), ("person1@example.com", "Admin", "Removed")]
    assert [h["action"] for h in whole["history"] if h["actor"] == "back-office:alice"] == [
        "customers created", "approved", "partner renamed", "partner user added", "partner user changed",
        "partner user removed"]
    assert backoffice_partner(request("GET", "backoffice/partners/CH-999999",
                                      route={"hierarchyId": "CH-999999"})).status_code == 404


def test_the_list_pages_and_searches(partner_app):
    for n in (1, 2, 3):
        approved_partner(partner_app, n)
    url = "backoffice/partners"
    first = answer(backoffice_partners(func.HttpRequest("GET", f"http://x/api/{url}", body=b"",
                                                        params={"limit": "2"})))
    assert [p["hierarchyId"] for p in first["partners"]] == ["CH-000001", "CH-000002"] and first["next"] == "CH-000002"
    assert first["partners"][0]["users"] == 1 and first["partners"][0]["status"] == "active"
    rest = answer(backoffice_partners(func.HttpRequest("GET", f"http://x/api/{url}", body=b"",
                                                       params={"limit": "2", "cursor": first["next"]})))
    assert [p["hierarchyId"] for p in rest["partners"]] == ["CH-000003"] and rest["next"] is None
    found = answer(backoffice_partners(func.HttpRequest("GET", f"http://x/api/{url}", body=b"",
                                                        params={"q": "person2@example.com"})))
    assert [p["hierarchyId"] for p in found["partners"]] == ["CH-000002"]
    bad = backoffice_partners(func.HttpRequest("GET", f"http://x/api/{url}", body=b"", params={"limit": "many"}))
    assert bad.status_code == 422
