"""The approval routes with real azure.functions requests: status codes, problem+json members, the query checks."""
from __future__ import annotations

import pytest

from functions.approvals import (
    backoffice_partner_time_zone,
    order_approval,
    partner_approval_approve,
    partner_approval_reject,
    partner_approvals,
)
from functions.orders import order_check
from shared.domain.partners import user_id_for
from tests.functions.test_partner_functions import answer, partner_app, request  # noqa: F401 - fixture
from tests.services.partners import approved_partner, new_user


@pytest.fixture
def partner(partner_app, jwks):  # noqa: F811 - the fixture imported above
    """A partner with 500.00 EUR of credit: its Admin, an Approver and a buyer with 100.00 per order, 150.00 a month."""
    hierarchy, admin = approved_partner(partner_app)
    partner_app.credit.set_line(hierarchy, {"limit": "500.00", "currency": "EUR"})
    partner_app.partner_users.add(admin, hierarchy, new_user("approver@example.se", role="Approver"))
    partner_app.partner_users.add(admin, hierarchy, new_user("buyer@example.se", spendingLimit="100.00",
                                                             monthlyLimit="150.00"))
    partner_app.channel_sync.run()
    tokens = {who: jwks.header_for(email) for who, email in (
        ("admin", admin.verified_email), ("approver", "approver@example.se"), ("buyer", "buyer@example.se"))}
    return hierarchy, tokens


def order(hierarchy, amount):
    return {"hierarchyId": hierarchy, "userId": user_id_for("buyer@example.se"), "amount": amount, "currency": "EUR"}


def submit(hierarchy, token, order_id, amount):
    return order_approval(request("POST", f"orders/{order_id}/approval", order(hierarchy, amount), token=token,
                                  route={"orderId": order_id}))


def decide(route_function, hierarchy, token, order_id, body=None):
    name = "approve" if route_function is partner_approval_approve else "reject"
    return route_function(request("POST", f"partners/{hierarchy}/approvals/{order_id}/{name}", body, token=token,
                                  route={"hierarchyId": hierarchy, "orderId": order_id}))


def test_the_order_check_names_the_monthly_limit_with_what_remains(partner):
    hierarchy, tokens = partner
    check = order_check(request("POST", "orders/check", {**order(hierarchy, "151.00"), "orderId": "SO-1"},
                                token=tokens["buyer"]))
    reasons = answer(check)["reasons"]
    assert [r["code"] for r in reasons] == ["over_user_limit", "over_user_period_limit"]
    assert reasons[1]["remaining"] == "150.00" and answer(check)["userPeriod"]["limit"] == "150.00"


def test_submit_201_then_200_then_approve_holds_and_a_second_decision_is_409(partner):
    hierarchy, tokens = partner
    first, again = submit(hierarchy, tokens["buyer"], "SO-1", "300.00"), submit(hierarchy, tokens["buyer"], "SO-1", 300)
    assert (first.status_code, again.status_code) == (201, 200) and answer(first)["status"] == "pending_approval"
    mine = order_approval(request("GET", "orders/SO-1/approval", token=tokens["buyer"], route={"orderId": "SO-1"}))
    assert mine.status_code == 200 and answer(mine)["buyerName"] == "Nils Holgersson"
    own = decide(partner_approval_approve, hierarchy, tokens["buyer"], "SO-1")
    assert own.status_code == 403
    approved = decide(partner_approval_approve, hierarchy, tokens["approver"], "SO-1", {"comment": "OK"})
    assert approved.status_code == 200 and answer(approved)["reservation"]["amount"] == "300.00"
    assert answer(approved)["changed"] is True
    same = decide(partner_approval_approve, hierarchy, tokens["admin"], "SO-1")
    assert same.status_code == 200 and answer(same)["changed"] is False
    other = decide(partner_approval_reject, hierarchy, tokens["admin"], "SO-1", {"comment": "no"})
    assert other.status_code == 409 and other.mimetype == "application/problem+json"


def test_refusals_answer_409_with_every_reason_and_the_figures(partner):
    hierarchy, tokens = partner
    within = submit(hierarchy, tokens["buyer"], "SO-1", "10.00")
    assert within.status_code == 409 and "reserve it" in answer(within)["detail"]
    over_credit = submit(hierarchy, tokens["buyer"], "SO-2", "600.00")
    assert over_credit.status_code == 409 and answer(over_credit)["decision"] == "deny"
    assert [r["code"] for r in answer(over_credit)["reasons"]][-1] == "over_credit"
    assert answer(over_credit)["availableCredit"] == "500.00"
    assert submit(hierarchy, tokens["buyer"], "SO-3", "450.00").status_code == 201
    assert submit(hierarchy, tokens["buyer"], "SO-4", "400.00").status_code == 201
    assert decide(partner_approval_approve, hierarchy, tokens["admin"], "SO-3").status_code == 200
    short = decide(partner_approval_approve, hierarchy, tokens["admin"], "SO-4")
    assert short.status_code == 409 and answer(short)["availableCredit"] == "50.00"
    assert [r["code"] for r in answer(short)["reasons"]] == ["over_credit"]


def test_a_rejection_without_a_comment_is_422(partner):
    hierarchy, tokens = partner
    submit(hierarchy, tokens["buyer"], "SO-1", "120.00")
    assert decide(partner_approval_reject, hierarchy, tokens["approver"], "SO-1").status_code == 422
    assert decide(partner_approval_reject, hierarchy, tokens["approver"], "SO-1", {"comment": " "}).status_code == 422
    done = decide(partner_approval_reject, hierarchy, tokens["approver"], "SO-1", {"comment": "Too much"})
    assert done.status_code == 200 and answer(done)["status"] == "rejected" and answer(done)["reservation"] is None


@pytest.mark.parametrize("query, status", [
    ({"status": "pending"}, 200), ({"status": "approved"}, 200), ({"mine": "true"}, 200),
    ({"status": "open"}, 400), ({"mine": "yes"}, 400),
])
def test_the_list_takes_a_status_and_mine(partner, query, status):
    hierarchy, tokens = partner
    submit(hierarchy, tokens["buyer"], "SO-1", "120.00")
    listing = partner_approvals(func_request_with_params(hierarchy, tokens["approver"], query))
    assert listing.status_code == status
    if status == 200:  # the approver's own requests (mine) are none; the partner's pending one is SO-1
        expected = [] if query.get("mine") or query.get("status") == "approved" else ["SO-1"]
        assert [a["orderId"] for a in answer(listing)["approvals"]] == expected


def test_a_user_lists_only_their_own(partner):
    hierarchy, tokens = partner
    submit(hierarchy, tokens["buyer"], "SO-1", "120.00")
    assert partner_approvals(func_request_with_params(hierarchy, tokens["buyer"], {})).status_code == 403
    mine = partner_approvals(func_request_with_params(hierarchy, tokens["buyer"], {"mine": "true"}))
    assert [a["orderId"] for a in answer(mine)["approvals"]] == ["SO-1"]


def test_the_back_office_sets_the_time_zone(partner):
    hierarchy, _ = partner
    route = {"hierarchyId": hierarchy}
    bad = backoffice_partner_time_zone(request("PUT", f"backoffice/partners/{hierarchy}/time-zone",
                                               {"timeZone": "Moon/Base", "operator": "alice"}, route=route))
    assert bad.status_code == 422
    done = backoffice_partner_time_zone(request("PUT", f"backoffice/partners/{hierarchy}/time-zone",
                                                {"timeZone": "Europe/Stockholm", "operator": "alice"}, route=route))
    assert done.status_code == 200 and answer(done)["timeZone"] == "Europe/Stockholm" and answer(done)["changed"]


def func_request_with_params(hierarchy, token, params):
    import azure.functions as func

    return func.HttpRequest("GET", f"http://localhost:7071/api/partners/{hierarchy}/approvals",
                            headers={"authorization": token}, route_params={"hierarchyId": hierarchy},
                            params=params, body=b"")
