"""Approval routing end to end in Chromium on the local host (LOCAL_ISSUER=true), as issue 12 asks: the demo
partner's Admin makes a user an Approver on the portal; the buyer (Erik, 2000.00 SEK per order) submits an order
over his limit through the partner API; the Approver approves it on the portal's Approvals page, which holds
the amount on the credit line; the buyer sees it approved; the order is captured (invoiced) and paid, and the
Admin's credit page shows the whole way in the ledger. axe finds no serious or critical violation; the page
is saved as screenshots/portal-approvals.png (and at phone width, portal-approvals-phone.png)."""
from __future__ import annotations

import re

import pytest
import requests

from shared.demo import DEMO_PARTNER_USER
from tests.browser import PHONE, axe_serious, browser, describe, page, screenshot  # noqa: F401
from tests.e2e.conftest import start_host, stop_host, wait_for
from tests.e2e.test_portal_browser import row, sign_in_as
from tests.e2e.test_portal_credit_browser import first_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

APPROVER = "Ada Larsson"
KEY = "e2e-approvals-key-0123456789"  # the back office's key for the payment


@pytest.fixture(scope="module")
def live_host(tmp_path_factory):
    host = start_host(tmp_path_factory.mktemp("portal-approvals") / "data", {"LOCAL_ISSUER": "true",
                                                                             "DEVHOST_FUNCTION_KEY": KEY})
    yield host
    stop_host(host)


def token_for(host, email: str) -> str:
    """The local issuer's token for ``email``, as `b2b token` prints it (signed with the host's own key)."""
    from shared.adapters.local_issuer import LocalIssuer

    s = host.container().settings
    return LocalIssuer(s.data_dir, s.public_base_url, s.portal_redirect_uri).token_for(email)


def test_a_buyers_over_limit_order_is_approved_on_the_portal_and_reserved(live_host, page):
    # The demo partner, and its Admin makes Ada an Approver.
    first_sign_in(page, live_host)
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Larsson")
    page.get_by_label("Email address").fill("ada@fabrikam.example")
    page.get_by_label("Role").select_option("Approver")
    with page.expect_navigation():
        page.get_by_role("button", name="Add user").click()

    def active() -> bool:
        page.reload()
        return row(page, APPROVER).get_by_text("Active").count() == 1

    wait_for(active, timeout=30, interval=0.5, what="the sync to make Ada Active")
    assert "Approver" in row(page, APPROVER).inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()

    # The buyer's order of 2500.00 SEK is over his 2000.00 per order: he submits it for approval (the API).
    buyer = {"Authorization": f"Bearer {token_for(live_host, DEMO_PARTNER_USER['email'])}"}
    me = requests.get(live_host.url("partners/me"), headers=buyer, timeout=10).json()
    hierarchy, user_id = me["partner"]["hierarchyId"], me["user"]["id"]
    order = {"hierarchyId": hierarchy, "userId": user_id, "amount": "2500.00", "currency": "SEK"}
    denied = requests.post(live_host.url("orders/SO-E2E-1/reserve"), json=order, headers=buyer, timeout=10)
    assert denied.status_code == 409 and [r["code"] for r in denied.json()["reasons"]] == ["over_user_limit"]
    submitted = requests.post(live_host.url("orders/SO-E2E-1/approval"), json=order, headers=buyer, timeout=10)
    assert submitted.status_code == 201 and submitted.json()["status"] == "pending_approval"

    # Ada approves it on the Approvals page.
    sign_in_as(page, live_host, rf"^{APPROVER} \(Approver\)")
    with page.expect_navigation():
        page.get_by_role("navigation", name="Portal pages").get_by_role("link", name="Approvals").click()
    pending = page.get_by_role("region", name="Waiting for your decision")
    assert "Order SO-E2E-1 · 2500.00 SEK" in pending.inner_text() and "Erik Berg" in pending.inner_text()
    serious = axe_serious(page)
    assert serious == [], describe(serious)
    screenshot(page, "portal-approvals")
    page.set_viewport_size(PHONE)
    screenshot(page, "portal-approvals-phone")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    page.set_viewport_size({"width": 1280, "height": 900})

    # A rejection without a comment is said beside the field; then approve with one.
    with page.expect_navigation():
        pending.get_by_role("button", name="Reject order SO-E2E-1").click()
    assert "Write a comment to reject" in page.get_by_role("region", name="Waiting for your decision").inner_text()
    page.get_by_label(re.compile("^Comment")).fill("For the spring launch")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve order SO-E2E-1").click()
    assert "Order SO-E2E-1 approved" in page.get_by_role("status").inner_text()
    decided = page.get_by_role("region", name="Decided")
    assert "Approved" in decided.inner_text() and "For the spring launch" in decided.inner_text()
    serious = axe_serious(page)
    assert serious == [], describe(serious)

    # Reserved: the credit line holds it, and the buyer's own reserve of the order finds it held.
    credit = requests.get(live_host.url(f"partners/{hierarchy}/credit"), headers=buyer, timeout=10).json()
    assert credit["reserved"] == "2500.00"
    held = requests.post(live_host.url("orders/SO-E2E-1/reserve"), json=order, headers=buyer, timeout=10)
    assert held.status_code == 200 and held.json()["reservation"]["status"] == "held"

    # The buyer sees his request approved on his own Approvals page, in his language (Swedish).
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_host, r"^Erik Berg \(User\)")
    page.goto(live_host.url("portal/approvals"))
    assert page.locator("html").get_attribute("lang") == "sv"
    mine = page.get_by_role("region", name="Dina begäranden")
    assert "SO-E2E-1" in mine.inner_text() and "Godkänd" in mine.inner_text() and APPROVER in mine.inner_text()
    assert page.get_by_role("region", name="Väntar på ditt beslut").count() == 0
    serious = axe_serious(page)
    assert serious == [], describe(serious)
    screenshot(page, "portal-approvals-buyer")

    # Invoiced for less than was held (the rest is released), then paid: the ledger tells it all.
    captured = requests.post(live_host.url("orders/SO-E2E-1/capture"), headers=buyer, timeout=10,
                             json={"amount": "2400.00", "currency": "SEK", "hierarchyId": hierarchy})
    assert captured.status_code == 200 and captured.json()["captured"] == "2400.00"
    assert captured.json()["released"] == "100.00"
    paid = requests.post(live_host.url(f"backoffice/partners/{hierarchy}/payments"), headers={"x-functions-key": KEY},
                         json={"paymentId": "BANK-E2E-1", "amount": "2400.00", "currency": "SEK",
                               "reference": "Invoice SO-E2E-1", "operator": "alice"}, timeout=10)
    assert paid.status_code in (200, 201), paid.text
    credit = requests.get(live_host.url(f"partners/{hierarchy}/credit"), headers=buyer, timeout=10).json()
    assert (credit["reserved"], credit["balance"], credit["available"]) == ("0.00", "0.00", "50000.00")

    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^(Sign out|Logga ut)$")).click()
    sign_in_as(page, live_host, r"^Astrid Lindqvist \(Admin\)")
    page.goto(live_host.url("portal/credit?lang=en"))
    ledger = page.get_by_role("region", name="Credit ledger").inner_text()
    for kind in ("Order reserved", "Order invoiced", "Payment received"):
        assert kind in ledger, (kind, ledger)
    assert "SO-E2E-1" in ledger and APPROVER in ledger  # the hold is the approver's movement
    serious = axe_serious(page)
    assert serious == [], describe(serious)
    screenshot(page, "portal-approvals-paid-credit")
