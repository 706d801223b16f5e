"""The console's Partners pages in a real browser on the local host (SQLite, and the Azure backend on Azurite):
a clerk finds a partner, renames it, makes a second Admin, adds and removes a user, sets the credit line,
blocks the partner and sees its order check denied with a partner token, then reactivates it. A Viewer sees
no actions and is refused a POST. axe-core finds nothing serious on either page."""
from __future__ import annotations

import re

import pytest
import requests

from shared.domain.partners import user_id_for
from tests.browser import axe_serious, browser, console_sign_in, describe, open_page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.e2e.conftest import azure_backend, start_host, stop_host
from tests.e2e.test_partners_through_host import KEY, approved_partner  # approved as the back office does

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(params=["sqlite", "azure"])
def host(request, tmp_path, jwks):
    extra = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    started = start_host(tmp_path / "data", {**extra, **jwks.settings_env(), "SALES_MODE": "none",
                                             "DEVHOST_FUNCTION_KEY": KEY})
    started.backend = request.param
    yield started
    stop_host(started)


def order_check(http, host, jwks, hierarchy: str) -> requests.Response:
    """The storefront asks whether the partner's Admin may put an order on credit (a partner token)."""
    return http.post(host.url("orders/check"), headers={"Authorization": jwks.header_for("person1@example.com")},
                     json={"hierarchyId": hierarchy, "userId": user_id_for("person1@example.com"),
                           "orderId": "order-1", "amount": "100.00", "currency": "EUR"}, timeout=30)


def notice(page) -> str:
    return page.locator("p.notice").inner_text()


def test_a_clerk_runs_a_partner_from_the_console(host, browser, jwks):
    http = requests.Session()
    hierarchy = approved_partner(http, host, 1)
    approved_partner(http, host, 2)
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="operator", name="Alice Clerk")
        page.goto(host.url("/console/partners"))
        assert page.get_by_role("row").count() == 3  # the header and two partners
        page.get_by_label("Search").fill("company 1")
        page.get_by_role("button", name="Search").click()
        assert page.get_by_role("row").count() == 2
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-partners" if host.backend == "sqlite" else "console-partners-azure")
        page.get_by_role("link", name=hierarchy).click()

        page.get_by_label("New name").fill("Fabrikam Nordic")
        page.get_by_role("button", name="Rename").click()
        assert notice(page) == f"Renamed {hierarchy} to “Fabrikam Nordic”."
        assert page.get_by_role("heading", level=1).inner_text().startswith("Fabrikam Nordic")

        for email, first in (("nils@example.se", "Nils"), ("bo@example.se", "Bo")):
            page.get_by_label("First name").fill(first)
            page.get_by_label("Last name").fill("Holm")
            page.get_by_label("Email").fill(email)
            page.get_by_role("button", name="Add user").click()
            assert notice(page) == f"Added {email} as User: Pending until the next user sync."
        page.get_by_role("button", name="Make nils@example.se Admin").click()
        assert notice(page).startswith("nils@example.se is Admin now")
        page.get_by_role("link", name="Remove bo@example.se").click()
        assert "leaves Fabrikam Nordic at the next user sync" in page.locator("main").inner_text()
        page.get_by_role("button", name="Remove user").click()
        assert notice(page).startswith("Removed bo@example.se")
        row = page.get_by_role("row").filter(has_text="bo@example.se")
        assert "Removed" in row.inner_text()

        page.get_by_label("Credit limit").fill("5000.00")
        page.get_by_role("textbox", name=re.compile("^Currency")).fill("EUR")
        page.get_by_role("button", name="Set credit line").click()
        assert notice(page) == f"Credit line of {hierarchy} set to 5000.00 EUR (5000.00 available)."
        assert order_check(http, host, jwks, hierarchy).json()["decision"] == "allow"

        page.get_by_role("link", name="Block partner…").click()
        assert "Nothing is deleted" in page.locator("main").inner_text()
        assert axe_serious(page) == [], describe(axe_serious(page))
        page.get_by_label("Reason").fill("Unpaid invoices since May")
        page.get_by_role("button", name="Block partner").click()
        assert notice(page).startswith(f"Blocked {hierarchy}")
        assert "by back-office:Alice Clerk (development sign-in): Unpaid invoices since May" in page.locator("div.callout[role=note]").inner_text()
        denied = order_check(http, host, jwks, hierarchy)
        assert denied.status_code == 403 and denied.headers["Content-Type"].startswith("application/problem+json")
        assert denied.json()["decision"] == "deny" and denied.json()["reasons"][0]["code"] == "partner_blocked"

        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-partner" if host.backend == "sqlite" else "console-partner-azure")
        page.get_by_role("button", name="Reactivate partner").click()
        assert notice(page).startswith(f"Reactivated {hierarchy}")
        assert order_check(http, host, jwks, hierarchy).json()["decision"] == "allow"
        history = page.locator("ol.timeline").inner_text()
        for action in ("partner renamed", "partner user added", "partner user changed", "partner user removed",
                       "partner blocked", "partner reactivated"):
            assert action in history

        # The rules of the services refuse, in words: the partner keeps an Admin.
        page.get_by_role("link", name="Make person1@example.com User").click()
        page.get_by_role("button", name="Make User").click()
        assert notice(page).startswith("person1@example.com is User now")
        page.get_by_role("link", name="Make nils@example.se User").click()
        page.get_by_role("button", name="Make User").click()
        assert re.match(r"Not done: a partner keeps at least one Admin", notice(page))
        assert page.locator("p.notice.refused").count() == 1
    finally:
        context.close()


def test_a_viewer_sees_no_actions_and_is_refused_a_post(host, browser):
    http = requests.Session()
    hierarchy = approved_partner(http, host, 1)
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="viewer", name="Bo Viewer")
        page.goto(host.url(f"/console/partners/{hierarchy}"))
        assert page.get_by_role("heading", level=1).inner_text().startswith("Company 1")
        assert page.locator("main form").count() == 0 and page.get_by_role("button").count() == 1  # sign out
        assert page.get_by_role("link", name=re.compile("Block|Remove|Make")).count() == 0
        assert axe_serious(page) == [], describe(axe_serious(page))
    finally:
        context.close()
    viewer = ConsoleClient(host.base_url, role="viewer")
    refused = viewer.post(f"/api/console/partners/{hierarchy}/block", {"reason": "no"})
    assert refused.status_code == 403 and "B2B.Operator" in refused.text
    assert host.container().partner_admin.file(hierarchy).hierarchy.status.value == "active"
