"""The credit ledger's routes with real azure.functions requests: capture (bearer), payments, the "allow
exceeding" PATCH and the ledger pages and CSV (function key), the partner Admin's ledger (bearer)."""
from __future__ import annotations

import csv
import io

import azure.functions as func

from functions.back_office import backoffice_credit
from functions.back_office_ledger import backoffice_partner_ledger, backoffice_partner_payments, bp
from functions.orders import order_capture, order_release, order_reserve
from functions.partners import partner_credit_ledger
from shared.domain.partners import user_id_for
from tests.functions.test_partner_functions import answer, partner_app, request  # noqa: F401 - fixture
from tests.services.partners import approved_partner, new_user


def test_routes_take_a_function_key():
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: (t.route, t.auth_level, sorted(m.value for m in t.methods)) for name, t in triggers.items()} == {
        "backoffice_partner_payments": ("backoffice/partners/{hierarchyId}/payments", func.AuthLevel.FUNCTION,
                                        ["POST"]),
        "backoffice_partner_ledger": ("backoffice/partners/{hierarchyId}/ledger", func.AuthLevel.FUNCTION, ["GET"]),
    }


def _partner(app, jwks):
    hierarchy, admin = approved_partner(app)
    app.credit.set_line(hierarchy, {"limit": "100.00", "currency": "EUR"})
    token = jwks.header_for(admin.verified_email)
    body = {"hierarchyId": hierarchy, "userId": user_id_for(admin.verified_email), "amount": "60.00", "currency": "EUR"}
    assert order_reserve(request("POST", "orders/SO-1/reserve", body, token=token,
                                 route={"orderId": "SO-1"})).status_code == 201
    return hierarchy, admin, token


def test_capture_answers_200_the_same_again_and_409_for_another_amount_or_a_release(partner_app, jwks):
    hierarchy, _, token = _partner(partner_app, jwks)
    capture = lambda body, order_id="SO-1": order_capture(request("POST", f"orders/{order_id}/capture", body,
                                                                  token=token, route={"orderId": order_id}))
    first, again = capture({"amount": 55.5, "currency": "EUR"}), capture({"amount": "55.50", "currency": "EUR",
                                                                          "hierarchyId": hierarchy})
    assert (first.status_code, again.status_code) == (200, 200) and answer(first) == answer(again)
    assert {k: answer(first)[k] for k in ("status", "reserved", "captured", "released")} == {
        "status": "captured", "reserved": "60.00", "captured": "55.50", "released": "4.50"}
    assert first.headers["Cache-Control"] == "no-store"
    assert capture({"amount": "50.00", "currency": "EUR"}).status_code == 409
    released = order_release(request("POST", "orders/SO-1/release", token=token, route={"orderId": "SO-1"}))
    assert released.status_code == 409 and "captured" in answer(released)["detail"]
    assert capture({"amount": "60.01", "currency": "EUR"}, "SO-2").status_code == 404
    assert capture({"amount": "1", "currency": "EUR", "extra": 1}).status_code == 422
    assert capture(None).status_code in (400, 415, 422)


def test_payments_answer_201_then_200_the_same_and_409_for_another_body(partner_app, jwks):
    hierarchy, _, _ = _partner(partner_app, jwks)
    route = {"hierarchyId": hierarchy}
    pay = lambda body: backoffice_partner_payments(request("POST", f"backoffice/partners/{hierarchy}/payments",
                                                           body, route=route))
    body = {"paymentId": "BANK-1", "amount": "30.00", "currency": "EUR", "reference": "Invoice 1", "operator": "bob"}
    first, again = pay(body), pay(body)
    assert (first.status_code, again.status_code) == (201, 200) and answer(first) == answer(again)
    assert answer(first)["balanceAfter"] == "-30.00" and answer(first)["kind"] == "payment"
    assert pay({**body, "amount": "31.00"}).status_code == 409
    assert pay({**body, "paymentId": "BANK-2", "currency": "SEK"}).status_code == 422
    assert pay({**body, "paymentId": "BANK-2", "amount": 1.505}).status_code == 422  # EUR has 2 decimals
    assert backoffice_partner_payments(request("POST", "backoffice/partners/CH-999999/payments", body,
                                               route={"hierarchyId": "CH-999999"})).status_code == 404


def test_allow_exceeding_is_a_patch_of_the_credit_route(partner_app, jwks):
    hierarchy, _, _ = _partner(partner_app, jwks)
    route = {"hierarchyId": hierarchy}
    patch = lambda body: backoffice_credit(request("PATCH", f"backoffice/partners/{hierarchy}/credit", body,
                                                   route=route))
    on = patch({"allowExceeding": True, "operator": "alice"})
    assert on.status_code == 200 and answer(on)["allowExceeding"] is True and answer(on)["available"] == "40.00"
    assert patch({"allowExceeding": "true"}).status_code == 422
    put = backoffice_credit(request("PUT", f"backoffice/partners/{hierarchy}/credit",
                                    {"limit": "100.00", "currency": "EUR", "allowExceeding": False}, route=route))
    assert put.status_code == 200 and answer(put)["allowExceeding"] is False and answer(put)["balance"] == "0.00"


def test_the_ledger_pages_and_its_csv_for_the_back_office_and_the_partners_admin(partner_app, jwks):
    hierarchy, admin, token = _partner(partner_app, jwks)
    route = {"hierarchyId": hierarchy}
    get = lambda path, **params: backoffice_partner_ledger(func.HttpRequest(
        "GET", f"http://localhost/api/{path}", params=params, route_params=route, body=b""))
    page = get(f"backoffice/partners/{hierarchy}/ledger")
    assert page.status_code == 200 and [e["kind"] for e in answer(page)["entries"]] == ["reserve", "limit"]
    assert answer(page)["nextCursor"] is None and answer(page)["credit"]["reserved"] == "60.00"
    assert get("x", cursor="nope").status_code == 400 and get("x", format="xml").status_code == 400
    exported = get("x", format="csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert 'filename="ledger-' in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_body().decode())))
    assert [(r["seq"], r["kind"], r["orderId"], r["reservedAfter"]) for r in rows] == [
        ("2", "reserve", "SO-1", "60.00"), ("1", "limit", "", "0.00")]
    mine = partner_credit_ledger(request("GET", f"partners/{hierarchy}/credit/ledger", token=token, route=route))
    assert mine.status_code == 200 and answer(mine)["entries"][0]["by"] == f"user:{user_id_for(admin.verified_email)}"
    partner_app.partner_users.add(admin, hierarchy, new_user("buyer@example.se"))
    partner_app.channel_sync.run()
    buyer = jwks.header_for("buyer@example.se")
    refused = partner_credit_ledger(request("GET", f"partners/{hierarchy}/credit/ledger", token=buyer, route=route))
    assert refused.status_code == 403
    assert partner_credit_ledger(request("GET", "x", route=route)).status_code == 401
