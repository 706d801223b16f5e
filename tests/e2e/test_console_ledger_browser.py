"""The console's "Credit ledger" section in a real browser on the local host (SQLite, and the Azure backend on
Azurite): a partner's order reserved and captured through the API shows in the ledger; the clerk records a
payment (the same id again records nothing), allows the line to exceed its limit (only once ticked that orders
may then go over it), downloads the CSV and pages back. A Viewer sees the ledger without the forms. axe-core
finds nothing serious; the page is looked at on a phone too."""
from __future__ import annotations

import csv
import io

import pytest
import requests

from shared.domain.partners import user_id_for
from tests.browser import PHONE, axe_serious, browser, console_sign_in, describe, open_page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.e2e.test_console_partners_browser import host  # noqa: F401  (the same host: SQLite and Azurite)
from tests.e2e.test_partners_through_host import KEY, approved_partner

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def invoiced_order(http, host, jwks, hierarchy: str) -> None:
    """The back office gives the partner 1000.00 EUR; its Admin reserves 300.00 and the order is invoiced 250.00."""
    assert http.put(host.url(f"backoffice/partners/{hierarchy}/credit"), headers={"x-functions-key": KEY},
                    json={"limit": "1000.00", "currency": "EUR", "operator": "alice"}, timeout=30).status_code == 200
    token = {"Authorization": jwks.header_for("person1@example.com")}
    body = {"hierarchyId": hierarchy, "userId": user_id_for("person1@example.com"), "amount": "300.00",
            "currency": "EUR"}
    assert http.post(host.url("orders/SO-1/reserve"), headers=token, json=body, timeout=30).status_code == 201
    captured = http.post(host.url("orders/SO-1/capture"), headers=token, json={"amount": "250.00", "currency": "EUR"},
                         timeout=30)
    assert captured.status_code == 200 and captured.json()["released"] == "50.00"


def notice(page) -> str:
    return page.locator("p.notice").inner_text()


def test_a_clerk_reads_the_ledger_records_a_payment_and_allows_exceeding(host, browser, jwks):
    http = requests.Session()
    hierarchy = approved_partner(http, host, 1)
    invoiced_order(http, host, jwks, hierarchy)
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url)
        page.goto(host.url(f"/console/partners/{hierarchy}"))
        table = page.get_by_role("table", name="Ledger of Company 1 & Sons, in EUR")
        rows = table.get_by_role("row")
        assert rows.count() == 4  # the header; limit, reserve, capture
        assert "capture" in rows.nth(1).inner_text() and "SO-1" in rows.nth(1).inner_text()
        assert "250.00" in rows.nth(1).inner_text()
        assert "First1 Last1 (user)" in rows.nth(1).inner_text()  # a member by name, not by id
        assert "alice (back office)" in rows.nth(3).inner_text()  # who set the limit

        page.get_by_label("Payment id").fill("BANK-1")
        page.get_by_label("Amount").fill("100.00")
        page.get_by_label("Reference").fill("Invoice 1001")
        page.get_by_role("button", name="Record payment").click()
        assert notice(page) == "Payment BANK-1 of 100.00 EUR recorded: unpaid 150.00, available 850.00."
        page.get_by_label("Payment id").fill("BANK-1")
        page.get_by_label("Amount").fill("100.00")
        page.get_by_label("Reference").fill("Invoice 1001")
        page.get_by_role("button", name="Record payment").click()
        assert notice(page) == "Nothing changed: payment BANK-1 was recorded before with these details."
        page.get_by_label("Payment id").fill("BANK-1")
        page.get_by_label("Amount").fill("99.00")
        page.get_by_role("button", name="Record payment").click()
        assert notice(page).startswith("Not done: payment BANK-1 was recorded already with 100.00 EUR")

        page.get_by_label("Orders may then go over the credit limit").check()
        page.get_by_role("button", name="Allow exceeding the limit").click()
        assert notice(page) == f"{hierarchy} may now go over its credit limit."
        assert "allowed" in page.locator("dl.facts").last.inner_text()
        assert page.get_by_role("button", name="Stop allowing it").count() == 1
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-ledger" if host.backend == "sqlite" else "console-ledger-azure")

        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
        assert [r["kind"] for r in rows] == ["allow_exceeding", "payment", "capture", "reserve", "limit"]
        assert rows[1]["note"] == "Invoice 1001" and rows[1]["by"] == "operator:Alice Clerk (development sign-in)"
    finally:
        context.close()

    phone, small = open_page(browser, viewport=PHONE)
    try:
        console_sign_in(small, host.base_url)
        small.goto(host.url(f"/console/partners/{hierarchy}#credit-ledger"))
        assert axe_serious(small) == [], describe(axe_serious(small))
        screenshot(small, "console-ledger-phone" if host.backend == "sqlite" else "console-ledger-phone-azure")
    finally:
        phone.close()


def test_the_ledger_pages_back_and_a_viewer_sees_no_forms(host, browser, jwks):
    http = requests.Session()
    hierarchy = approved_partner(http, host, 1)
    invoiced_order(http, host, jwks, hierarchy)
    ledger = host.container().ledger
    for n in range(55):  # more than a page
        ledger.record_payment(hierarchy, {"paymentId": f"P-{n}", "amount": "1.00", "currency": "EUR",
                                          "operator": "bob"})
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="viewer", name="Bo Viewer")
        page.goto(host.url(f"/console/partners/{hierarchy}"))
        table = page.get_by_role("table", name="Ledger of Company 1 & Sons, in EUR")
        assert table.get_by_role("row").count() == 51 and "P-54" in table.get_by_role("row").nth(1).inner_text()
        assert page.locator("main form").count() == 0
        page.get_by_role("link", name="Older entries").click()
        table = page.get_by_role("table", name="Ledger of Company 1 & Sons, in EUR")
        assert table.get_by_role("row").count() == 9  # 58 entries: 50, then 8
        assert "limit" in table.get_by_role("row").last.inner_text()
        assert page.get_by_role("link", name="Newest entries").count() == 1
        assert axe_serious(page) == [], describe(axe_serious(page))
    finally:
        context.close()
    viewer = ConsoleClient(host.base_url, role="viewer")
    refused = viewer.post(f"/api/console/partners/{hierarchy}/payments", {"paymentId": "X", "amount": "1.00"})
    assert refused.status_code == 403
    operator = ConsoleClient(host.base_url)
    refused = operator.post(f"/api/console/partners/{hierarchy}/payments", {"paymentId": "X", "amount": "1.00"},
                            csrf="forged")
    assert refused.status_code == 403
    unticked = operator.post(f"/api/console/partners/{hierarchy}/credit/exceeding", {"allow": "on"})
    assert unticked.status_code == 303 and host.container().credit.line(hierarchy).allow_exceeding is False
