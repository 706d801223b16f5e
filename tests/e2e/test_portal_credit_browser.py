"""The portal's credit page in Chromium on the local host (LOCAL_ISSUER=true, as `make run`): the demo partner's
Admin follows the link from its home page to the credit line and its ledger — an order reserved and invoiced,
a payment — with who did what by name, in English and in Swedish, and pages back; a User is refused the page.
axe-core finds nothing serious; the page is looked at on a phone too."""
from __future__ import annotations

import re

import pytest

from shared.adapters.local_issuer import subject_for
from shared.config import LOCAL_ISSUER_ID
from shared.demo import demo_partner_admin_email
from shared.domain.partners import user_id_for
from shared.ports import Caller
from tests.browser import PHONE, axe_serious, browser, describe, open_page, page, screenshot  # noqa: F401
from tests.e2e.conftest import start_host, stop_host
from tests.e2e.test_portal_browser import sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def live_host(tmp_path):
    host = start_host(tmp_path / "data", {"LOCAL_ISSUER": "true"})
    yield host
    stop_host(host)


def first_sign_in(page, host) -> str:
    """The demo partner created from the local issuer's page, its Admin signed in: the hierarchy id."""
    page.goto(host.url("portal"))
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Create the demo partner").click()
    with page.expect_navigation(url=re.compile(r"/api/portal$")):
        page.get_by_role("button", name=re.compile(r"^Astrid Lindqvist \(Admin\)")).click()
    return host.container().partner_admin.page(None, None).rows[0].hierarchy.id


def invoiced_and_paid(host, hierarchy: str) -> None:
    """The Admin's order of 1200.00 SEK reserved and invoiced 1000.00; the back office records 400.00 paid."""
    c = host.container()
    email = demo_partner_admin_email()
    admin = Caller(issuer=LOCAL_ISSUER_ID, subject=subject_for(email), verified_email=email)
    c.credit.reserve(admin, "SO-1001", {"hierarchyId": hierarchy, "userId": user_id_for(email), "amount": "1200.00",
                                        "currency": "SEK"})
    c.ledger.capture(admin, "SO-1001", {"amount": "1000.00", "currency": "SEK"})
    c.ledger.record_payment(hierarchy, {"paymentId": "BG-77", "amount": "400.00", "currency": "SEK",
                                        "operator": "bob"})


def test_the_admin_reads_the_credit_ledger_in_english_and_swedish(live_host, browser):
    context, page = open_page(browser)
    try:
        hierarchy = first_sign_in(page, live_host)
        invoiced_and_paid(live_host, hierarchy)
        page.reload()
        assert "600.00 SEK" in page.get_by_role("region", name="Credit").inner_text()  # unpaid on the home page
        with page.expect_navigation():
            page.get_by_role("link", name=re.compile("^Credit ledger")).click()
        # Astrid's language is Swedish: the page is in her words, unless a ?lang= asks otherwise.
        assert page.get_by_role("heading", level=1).inner_text().startswith("Kredit ·")
        assert page.locator("html").get_attribute("lang") == "sv"
        assert "Betalning mottagen" in page.get_by_role("row").nth(1).inner_text()
        assert "Backoffice" in page.get_by_role("row").nth(1).inner_text()
        assert axe_serious(page) == [], describe(axe_serious(page))

        page.goto(live_host.url("portal/credit?lang=en"))
        facts = page.get_by_role("region", name="Credit line").inner_text()
        assert "600.00 SEK" in facts and "49400.00 SEK" in facts  # unpaid; available = 50000 − 0 − 600
        rows = page.get_by_role("row")
        assert rows.count() == 5  # the header; limit, reserve, capture, payment
        assert "Payment received" in rows.nth(1).inner_text() and "Back office" in rows.nth(1).inner_text()
        assert "Order invoiced" in rows.nth(2).inner_text() and "Astrid Lindqvist" in rows.nth(2).inner_text()
        assert "SO-1001" in rows.nth(2).inner_text()
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "portal-credit")

        page.goto(live_host.url("portal/credit?cursor=x&lang=en"))
        assert page.get_by_role("heading", level=1).inner_text() == "This page link is not valid"
    finally:
        context.close()

    phone, small = open_page(browser, viewport=PHONE)
    try:
        sign_in_as(small, live_host, r"^Astrid Lindqvist \(Admin\)")
        small.goto(live_host.url("portal/credit?lang=en"))
        assert axe_serious(small) == [], describe(axe_serious(small))
        screenshot(small, "portal-credit-phone")
    finally:
        phone.close()


def test_a_user_is_refused_the_credit_ledger(live_host, page):
    first_sign_in(page, live_host)
    page.context.clear_cookies()
    sign_in_as(page, live_host, r"^Erik Berg \(User\)")
    assert page.get_by_role("link", name=re.compile("^Credit ledger")).count() == 0
    answer = page.goto(live_host.url("portal/credit"))
    assert answer.status == 403
    # Erik's language is Swedish: the page is in his words.
    assert page.get_by_role("heading", level=1).inner_text() == "Bara en administratör kan se kreditreskontran"
    assert axe_serious(page) == [], describe(axe_serious(page))
