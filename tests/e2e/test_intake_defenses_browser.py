"""The form's defenses in a real browser (Debian's chromium, Playwright) against the local host with them on:
a person who fills the form is accepted (the honeypot stays empty and hidden, the stamp goes back), a bot
that fills every field it finds is answered the same way and not kept, and the form still looks as it did
and has no serious accessibility finding (the honeypot is out of reach of screen readers and the keyboard)."""
from __future__ import annotations

import time

import pytest

from tests.browser import axe_serious, browser, describe, open_page, page, screenshot  # noqa: F401
from tests.e2e.conftest import read_store, start_host, stop_host, wait_for
from tests.e2e.test_storefront_browser import VALID, fill, submit

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MIN_FILL_SECONDS = 2


@pytest.fixture
def live_host(tmp_path):
    host = start_host(tmp_path / "data", {"INTAKE_MIN_FILL_SECONDS": str(MIN_FILL_SECONDS),
                                          "INTAKE_RATE_LIMIT_PER_MINUTE": "30",
                                          "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "30"})
    yield host
    stop_host(host)


def kept(live_host) -> int:
    with read_store(live_host) as uow:
        return len(uow.pending_signups(100)) + len(uow.list_prospects(None, 100))


def test_a_person_is_accepted_and_the_honeypot_is_out_of_their_way(page, live_host):
    page.goto(live_host.url("/signup?lang=en"))
    honeypot = page.locator('input[name="website"]')
    assert honeypot.count() == 1 and not honeypot.is_visible()
    assert page.locator('input[name="form_stamp"]').get_attribute("value")
    serious = axe_serious(page)
    assert not serious, describe(serious)
    screenshot(page, "storefront-form")
    # The keyboard never reaches it: Tab through the whole page and it never has the focus.
    focused = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.name || document.activeElement.tagName"))
    assert "website" not in focused and "company.name" in focused
    page.locator("body").click(position={"x": 1, "y": 1})
    started = time.monotonic()
    fill(page, VALID)
    time.sleep(max(0.0, MIN_FILL_SECONDS + 0.5 - (time.monotonic() - started)))  # a person takes longer still
    confirmation = submit(page)
    assert confirmation.status == 200 and "/api/signup/received/" in page.url
    wait_for(lambda: kept(live_host) == 1, what="the person's request kept")


def test_a_bot_filling_every_field_is_answered_the_same_and_not_kept(page, live_host):
    page.goto(live_host.url("/signup?lang=en"))
    fill(page, VALID)
    # What a form-filling bot does: every input it finds gets a value, hidden or not, at once.
    page.evaluate("() => { document.querySelector('input[name=website]').value = 'http://spam.example'; }")
    confirmation = submit(page)
    assert confirmation.status == 200 and "/api/signup/received/" in page.url
    assert page.locator("#request-id").inner_text()  # a request number, as for anyone
    page.locator("#status-link").click()
    assert page.locator("h1").inner_text()  # the status page opens as well
    time.sleep(1.5)  # the sync timer runs every second in the tests' host: nothing to find
    assert kept(live_host) == 0


def test_a_bot_that_posts_at_once_is_not_kept(page, live_host):
    page.goto(live_host.url("/signup?lang=en"))
    fill(page, VALID)  # Playwright fills in well under the minimum fill time
    confirmation = submit(page)
    assert confirmation.status == 200 and "/api/signup/received/" in page.url
    time.sleep(1.5)
    assert kept(live_host) == 0


def test_the_form_at_phone_width(browser, live_host):
    context, phone = open_page(browser, viewport={"width": 390, "height": 844})
    try:
        phone.goto(live_host.url("/signup?lang=sv"))
        assert not phone.locator('input[name="website"]').is_visible()
        serious = axe_serious(phone)
        assert not serious, describe(serious)
        screenshot(phone, "storefront-form-phone-defenses")
    finally:
        context.close()
