"""The double opt-in walked in a real browser (issue 11) against the local host with REQUIRE_EMAIL_CONFIRMATION on:
the form → "check your email" → the .eml in the outbox → its link → the confirm button → confirmed → after a sync
the status page moves on. Every new page passes axe with no serious finding, at desktop and at phone width."""
from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

import pytest

from tests.browser import DESKTOP, PHONE, axe_serious, browser, describe, page, screenshot  # noqa: F401
from tests.e2e.conftest import start_host, stop_host, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FUNCTION_KEY = "confirmation-walk-key"


@pytest.fixture
def live_host(tmp_path):
    host = start_host(tmp_path / "data", {"REQUIRE_EMAIL_CONFIRMATION": "true", "DEVHOST_FUNCTION_KEY": FUNCTION_KEY},
                      args=("--no-timers",))
    yield host
    stop_host(host)


FORM = {
    "Company name": "Fabrikam Åkeri AB", "Company phone": "+46 8 123 456 00", "Street address": "Storgatan 1",
    "City": "Stockholm", "Postal code": "111 22", "First name": "Astrid", "Last name": "Lind",
    "Email": "astrid@fabrikam.example", "Phone": "+46 70 123 45 67",
}


def assert_accessible(page, what: str) -> None:
    violations = axe_serious(page)
    assert violations == [], f"{what}: {describe(violations)}"


def shoot(page, name: str) -> None:
    """The page at desktop width, then at phone width (and back), each checked with axe."""
    assert_accessible(page, name)
    screenshot(page, name)
    page.set_viewport_size(PHONE)
    assert_accessible(page, f"{name} at phone width")
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def confirm_link_from_outbox(live_host) -> str:
    """The link in the confirm email, as the requester reads it: the .eml the host's outbox folder keeps."""
    c = live_host.container()
    try:
        kept = wait_for(lambda: [e for e in c.transport.list() if "Confirm your email" in e["subject"]],
                        what="the confirm email in the outbox")
        message = BytesParser(policy=policy.default).parsebytes(c.transport.read_bytes(kept[0]["id"]))
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
    assert message["To"] == "astrid@fabrikam.example"
    text = message.get_body(("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/api/signup/confirm/\S+", text)
    return link


def test_a_person_confirms_their_email_and_the_request_moves_on(page, live_host, http):
    page.goto(live_host.url("signup?lang=en"))
    for label, value in FORM.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Country", exact=True).select_option("SE")
    with page.expect_navigation():
        page.get_by_role("button", name="Send request").click()
    assert "/api/signup/received/" in page.url
    assert "Check your email" in page.locator("#check-email").inner_text()
    shoot(page, "storefront-confirm-email")
    status_url = page.locator("#status-link").get_attribute("href")

    link = confirm_link_from_outbox(live_host)
    opened = page.goto(link)
    assert opened.status == 200 and page.locator("h1").inner_text() == "Confirm your email address"
    shoot(page, "storefront-confirm-button")
    page.goto(status_url)
    assert "Check your email" in page.locator("#status").inner_text()  # opening the link confirmed nothing

    page.goto(link)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Confirm my email address").click()
    assert navigation.value.status == 200
    assert page.locator("h1").inner_text() == "Your email address is confirmed"
    shoot(page, "storefront-confirmed")

    answer = http.post(f"{live_host.base_url}/admin/functions/channel_sync", json={"input": ""},
                       headers={"x-functions-key": FUNCTION_KEY}, timeout=30)
    assert answer.status_code == 202, answer.text
    # A prospect, and perhaps a lead already: the host's lead queue trigger may pick it up before a look.
    wait_for(lambda: http.get(status_url.split("?")[0], timeout=30).json()["status"]
             in {"prospect_created", "lead_created"}, what="the prospect")
    with page.expect_navigation():
        page.locator("#status-link").click()
    # Registered, and perhaps with the sales team already (the host's lead queue trigger is quick).
    assert page.locator("#status").inner_text() in {"Your request is registered", "Our sales team has your request"}

    again = page.goto(link)  # the link once more: confirmed already, said plainly
    assert again.status == 200 and "already" in page.locator("#confirmed").inner_text()
    broken = page.goto(link[:-3] + "xyz")
    assert broken.status == 404 and page.locator("h1").inner_text() == "This link does not work"
    shoot(page, "storefront-confirm-link-broken")
