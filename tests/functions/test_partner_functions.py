"""The partner and order functions with real azure.functions requests: token checks, status codes, exact money."""
from __future__ import annotations

import json

import azure.functions as func
import pytest

from functions._runtime import container, reset_container
from functions.orders import order_check, order_release, order_reserve
from functions.partners import partner_me, partner_users
from shared.domain.partners import user_id_for
from tests.services.partners import approved_partner

BASE = "http://localhost:7071/api"


def request(method: str, path: str, body: object = None, *, token: str | None = None, route: dict | None = None,
            raw: bytes | None = None, content_type: str = "application/json") -> func.HttpRequest:
    headers = {"content-type": content_type} if body is not None or raw is not None else {}
    if token:
        headers["authorization"] = token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return func.HttpRequest(method, f"{BASE}/{path}", headers=headers, route_params=route or {}, body=data)


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


@pytest.fixture
def partner_app(tmp_path, monkeypatch, jwks):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SALES_MODE", "none")
    for name, value in jwks.settings_env().items():
        monkeypatch.setenv(name, value)
    reset_container()
    c = container()
    yield c
    c.store.close()
    c.queue.close()
    reset_container()


def test_partner_routes_without_token_settings_answer_503_not_500(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    reset_container()
    try:
        response = partner_me(request("GET", "partners/me", token="Bearer abc"))
        assert response.status_code == 503 and "PARTNER_TOKEN" in answer(response)["detail"]
    finally:
        c = container()
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
        reset_container()


def test_401_carries_the_bearer_challenge(partner_app, jwks):
    missing = partner_me(request("GET", "partners/me"))
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="b2b-partners"'
    expired = partner_me(request("GET", "partners/me", token=jwks.header_for("a@x.example", lifetime_seconds=-600)))
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert answer(expired)["detail"] == "token expired" and expired.mimetype == "application/problem+json"


def test_a_signed_in_stranger_gets_404_and_the_admin_201_then_200(partner_app, jwks):
    hierarchy, admin = approved_partner(partner_app)
    route = {"hierarchyId": hierarchy}
    body = {"firstName": "Nils", "lastName": "H", "email": "nils@example.se", "spendingLimit": 99.5}
    stranger = partner_users(request("GET", f"partners/{hierarchy}/users", token=jwks.header_for("x@y.example"),
                                     route=route))
    assert stranger.status_code == 404
    first = partner_users(request("POST", f"partners/{hierarchy}/users", body, token=jwks.header_for(admin.verified_email),
                                  route=route))
    assert first.status_code == 201 and answer(first)["spendingLimit"] == "99.5"  # a JSON number, kept exact
    again = partner_users(request("POST", f"partners/{hierarchy}/users", body, token=jwks.header_for(admin.verified_email),
                                  route=route))
    assert again.status_code == 200
    clash = partner_users(request("POST", f"partners/{hierarchy}/users", {**body, "firstName": "Other"},
                                  token=jwks.header_for(admin.verified_email), route=route))
    assert clash.status_code == 409
    bad = partner_users(request("POST", f"partners/{hierarchy}/users", raw=b"{", token=jwks.header_for(admin.verified_email),
                                route=route))
    assert bad.status_code == 400


def test_order_answers_check_200_reserve_201_200_409(partner_app, jwks):
    hierarchy, admin = approved_partner(partner_app)
    partner_app.credit.set_line(hierarchy, {"limit": "100.00", "currency": "EUR"})
    token = jwks.header_for(admin.verified_email)
    body = {"hierarchyId": hierarchy, "userId": user_id_for(admin.verified_email), "amount": 60.10, "currency": "EUR"}
    check = order_check(request("POST", "orders/check", {**body, "orderId": "SO-1"}, token=token))
    assert check.status_code == 200 and answer(check)["decision"] == "allow" and answer(check)["amount"] == "60.10"
    reserve = lambda order_id: order_reserve(request("POST", f"orders/{order_id}/reserve", body, token=token,
                                                     route={"orderId": order_id}))
    first, again, over = reserve("SO-1"), reserve("SO-1"), reserve("SO-2")
    assert (first.status_code, again.status_code, over.status_code) == (201, 200, 409)
    assert answer(first)["availableCredit"] == "39.90"
    assert [r["code"] for r in answer(over)["reasons"]] == ["over_credit"]


def test_release_takes_an_optional_body_naming_the_partner(partner_app, jwks):
    hierarchy, admin = approved_partner(partner_app)
    partner_app.credit.set_line(hierarchy, {"limit": "100.00", "currency": "EUR"})
    token, route = jwks.header_for(admin.verified_email), {"orderId": "SO-1"}
    body = {"hierarchyId": hierarchy, "userId": user_id_for(admin.verified_email), "amount": "5", "currency": "EUR"}
    assert order_reserve(request("POST", "orders/SO-1/reserve", body, token=token, route=route)).status_code == 201
    release = lambda **given: order_release(request("POST", "orders/SO-1/release", token=token, route=route, **given))
    assert release(body={"hierarchyId": "CH-999999"}).status_code == 404
    assert release(raw=b"{", content_type="application/json").status_code == 400
    assert release(body={"hierarchyId": hierarchy}, content_type="text/plain").status_code == 415
    assert release(body={"hierarchyId": hierarchy, "amount": "5"}).status_code == 422
    first, again = release(), release(body={"hierarchyId": hierarchy})
    assert (first.status_code, answer(first)["changed"], again.status_code, answer(again)["changed"]) == (
        200, True, 200, False)


def test_partner_and_order_answers_are_not_stored_by_caches(partner_app, jwks):
    hierarchy, admin = approved_partner(partner_app)
    partner_app.credit.set_line(hierarchy, {"limit": "100.00", "currency": "EUR"})
    token, route = jwks.header_for(admin.verified_email), {"hierarchyId": hierarchy}
    me = partner_me(request("GET", "partners/me", token=token))
    listed = partner_users(request("GET", f"partners/{hierarchy}/users", token=token, route=route))
    added = partner_users(request("POST", f"partners/{hierarchy}/users", {"firstName": "N", "lastName": "H",
                                  "email": "n@example.se"}, token=token, route=route))
    body = {"hierarchyId": hierarchy, "userId": user_id_for(admin.verified_email), "amount": "1.00", "currency": "EUR"}
    check = order_check(request("POST", "orders/check", {**body, "orderId": "SO-1"}, token=token))
    for response in (me, listed, added, check):
        assert response.status_code in (200, 201) and response.headers["Cache-Control"] == "no-store"
    assert added.headers["Location"] == f"/api/partners/{hierarchy}/users/{answer(added)['id']}"


@pytest.mark.parametrize("value, status", [("true", 200), ("False", 200), ("null", 422), ("", 422), ("ture", 422)])
def test_include_removed_is_true_or_false_and_nothing_else(partner_app, jwks, value, status):
    hierarchy, admin = approved_partner(partner_app)
    response = partner_users(func.HttpRequest(
        "GET", f"{BASE}/partners/{hierarchy}/users?includeRemoved={value}", body=b"",
        headers={"authorization": jwks.header_for(admin.verified_email)}, params={"includeRemoved": value},
        route_params={"hierarchyId": hierarchy}))
    assert response.status_code == status, response.get_body()
    if status == 422:
        assert answer(response)["errors"] == [{"field": "includeRemoved", "message": "must be true or false"}]


def test_any_active_user_reads_the_credit_line_and_a_stranger_gets_404(partner_app, jwks):
    from functions.partners import partner_credit

    hierarchy, admin = approved_partner(partner_app)
    route, token = {"hierarchyId": hierarchy}, jwks.header_for(admin.verified_email)
    read = lambda who: partner_credit(request("GET", f"partners/{hierarchy}/credit", token=who, route=route))
    assert read(token).status_code == 404  # no credit line yet
    partner_app.credit.set_line(hierarchy, {"limit": "100.00", "currency": "EUR"})
    line = read(token)
    assert line.status_code == 200 and answer(line)["available"] == "100.00" and answer(line)["reserved"] == "0.00"
    assert line.headers["Cache-Control"] == "no-store"
    assert read(jwks.header_for("stranger@elsewhere.example")).status_code == 404
    assert read(None).status_code == 401
