"""The right to erasure in the console, in a real browser on the local host (SQLite, and Tables and Queues on
Azurite): a clerk erases a rejected prospect's personal data from its page (confirm page, reason, CSRF form), is
told what it removed, and a scan of the store, the queues and the kept emails finds none of the applicant's
values after; an approved partner's confirm page says why not and what to do instead; a viewer sees no erase
action and is refused the page. axe-core finds no serious or critical violation; screenshot ``console-erase``."""
from __future__ import annotations

import re

import pytest

from tests.browser import PHONE, axe_serious, browser, console_sign_in, describe, open_page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.e2e.conftest import azure_backend, start_host, stop_host, wait_for
from tests.erasure_scan import scan
from tests.services.test_erasure import applicant, values_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(params=["sqlite", "azure"])
def decided(request, tmp_path):
    """PRO-000001 rejected and PRO-000002 approved by the back office (SALES_MODE=none), their emails sent."""
    backend = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    host = start_host(tmp_path / "data", {**backend, "SALES_MODE": "none"})
    c = host.container()
    try:
        for n in (1, 2):
            c.intake.submit(applicant(n))
        wait_for(lambda: len(c.operator.prospects()) == 2, timeout=60, what="two prospects")
        c.back_office.reject("PRO-000001", "We sell to retailers only", "setup")
        c.back_office.approve("PRO-000002", "setup")
        wait_for(lambda: len(c.transport.list()) == 4, timeout=60, what="the received, decline and approval emails")
        yield host, c
    finally:
        for adapter in (c.store, c.queue):
            adapter.close()
        stop_host(host)


def test_a_clerk_erases_a_rejected_applicant_and_is_told_why_not_for_a_partner(browser, decided):  # noqa: F811
    host, c = decided
    assert scan(c, values_of(applicant(1)))
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="operator", name="Alice Clerk")
        page.goto(host.url("console/prospects/PRO-000001"))
        page.get_by_role("link", name="Erase personal data…").click()
        assert page.locator("h1").inner_text() == "Erase the personal data of PRO-000001?"
        assert "cannot be undone" in page.locator("p.callout").inner_text()
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-erase")
        page.get_by_label(re.compile("^Reason")).fill("The applicant asked us to (ticket 4711)")
        page.get_by_role("button", name="Erase the personal data of PRO-000001").click()
        notice = page.locator("p.notice").inner_text()
        assert "prospect PRO-000001: personal data erased (2 emails, 2 kept email files" in notice, notice
        facts = page.locator("dl.facts").first.inner_text()
        assert "erased by back-office:Alice Clerk (development sign-in)" in facts
        assert page.get_by_role("link", name="Erase personal data…").count() == 0
        assert axe_serious(page) == [], describe(axe_serious(page))
        assert scan(c, values_of(applicant(1))) == []
        assert scan(c, values_of(applicant(2)))  # the partner's are kept

        page.goto(host.url("console/prospects/PRO-000002"))
        page.get_by_role("link", name="Erase personal data…").click()
        refusal = page.locator("p.callout").inner_text()
        assert "PRO-000002 is an approved partner (CH-000001)" in refusal and "Remove the person" in refusal
        assert page.get_by_role("button").filter(has_text="Erase").count() == 0
        assert axe_serious(page) == [], describe(axe_serious(page))
        assert not [e for e in page.console_errors if "Content Security Policy" in e]
    finally:
        context.close()

    context, page = open_page(browser, viewport=PHONE)  # the confirm page at phone width
    try:
        console_sign_in(page, host.base_url, role="operator", name="Alice Clerk")
        page.goto(host.url("console/prospects/PRO-000002/erase"))
        screenshot(page, "console-erase-phone")
    finally:
        context.close()

    viewer = ConsoleClient(host.base_url, "viewer")
    assert "Erase personal data" not in viewer.get("/api/console/prospects/PRO-000002").text
    assert viewer.get("/api/console/prospects/PRO-000002/erase").status_code == 403
    assert viewer.post("/api/console/prospects/PRO-000002/erase").status_code == 403
