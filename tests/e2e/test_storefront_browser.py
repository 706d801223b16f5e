"""The onboarding form in a real browser (Debian's chromium, driven by Playwright) against the local host.

A person opens the form, gets some fields wrong, reads the errors beside them, fixes them, sends the
request, follows the status link and watches it reach the sales team. Hostile input stays text.
"""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import read_store, start_host, stop_host, wait_for
from tests.browser import browser, open_page, page  # noqa: F401


@pytest.fixture
def live_host(tmp_path):
    """The pages are the same on every backend: the browser runs against the embedded default only."""
    host = start_host(tmp_path / "data")
    yield host
    stop_host(host)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# What a person types, by the label they read on the form.
VALID = {
    "Company name": "Fabrikam Åkeri AB",
    "Registration number": "556677-8899",
    "VAT number": "SE556677889901",
    "Company phone": "+46 8 123 456 00",
    "Street address": "Storgatan 1",
    "City": "Stockholm",
    "Postal code": "111 22",
    "Country": "SE",
    "First name": "Astrid",
    "Last name": "Lind",
    "Email": "astrid@fabrikam.example",
    "Phone": "+46 70 123 45 67",
    "Language we answer you in": "sv",
    "Comments": "We order weekly.",
}
WRONG = {"Company name": "", "Email": "astrid.fabrikam.example", "Country": ""}
SELECTS = {"Country", "Language we answer you in"}  # chosen from a list, not typed
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_COMMENT = "</textarea><script>alert(2)</script>"
HOSTILE_LAST_NAME = '"><svg onload=alert(3)>'


def field(page, label: str):
    # "Phone" and "Company phone" both contain "Phone": labels are matched whole.
    return page.get_by_label(label, exact=True)


def fill(page, values: dict[str, str]) -> None:
    for label, value in values.items():
        if label in SELECTS:
            field(page, label).select_option(value)
        else:
            field(page, label).fill(value)


def submit(page):
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Send request").click()
    return navigation.value


def stored_state(live_host) -> tuple[list, list]:
    """Pending signups and prospects, read in one snapshot: the sync moves a signup from one to the other
    in a single transaction, so a stored signup shows up in exactly one of them whatever the timer does."""
    with read_store(live_host) as uow:
        return uow.pending_signups(1000), uow.list_prospects(None, 1000)


def stored_signup(live_host, signup_id: str):
    with read_store(live_host) as uow:
        return uow.get_signup(signup_id)


def assert_error_beside(page, label: str) -> str:
    """The field is marked invalid and described by a visible error message right below it; its text."""
    control = field(page, label)
    assert control.get_attribute("aria-invalid") == "true", f"{label} is not marked invalid"
    described_by = control.get_attribute("aria-describedby")
    assert described_by, f"{label} has no aria-describedby"
    error = page.locator(f"#{described_by}")
    assert error.count() == 1 and error.is_visible(), f"{label}: no visible #{described_by}"
    message = error.inner_text().strip()
    assert message, f"{label}: the error message is empty"
    box, error_box = control.bounding_box(), error.bounding_box()
    gap = error_box["y"] - (box["y"] + box["height"])
    assert -1 <= gap <= 30, f"{label}: its error is {gap:.0f}px away from the field"
    # Nothing else stands between the field and its message (a screen reader reads them together too).
    assert control.evaluate("(el, id) => el.nextElementSibling && el.nextElementSibling.id === id",
                            described_by), f"{label}: the error is not the element after the field"
    return message


def test_a_person_corrects_the_form_sends_it_and_follows_the_request(page, live_host, http, tmp_path):
    # The form, with every field a person needs, each found by its label.
    response = page.goto(live_host.url("signup"))
    assert response.status == 200
    assert page.title() == "Become a business partner · Contoso B2B"
    for label in VALID:
        assert field(page, label).is_visible(), f"the form has no field labelled {label!r}"
        # empty, but the language we answer in, which starts as the page's
        assert field(page, label).input_value() == ("en" if label == "Language we answer you in" else "")

    # Three fields wrong: no company name, an email without @, a three-letter country.
    fill(page, {**VALID, **WRONG})
    answer = submit(page)
    assert answer.status == 422
    assert "text/html" in answer.headers["content-type"]
    assert page.locator("#error-summary-title").inner_text() == "Please correct 3 fields"
    messages = {label: assert_error_beside(page, label) for label in WRONG}
    assert messages["Company name"] == "Fill in this field."
    assert "email" in messages["Email"].lower()
    assert messages["Country"] == "Choose a country from the list."
    assert page.locator(".error").count() == len(WRONG), "errors shown for fields that were right"
    for label in set(VALID) - set(WRONG):
        assert field(page, label).get_attribute("aria-invalid") is None, f"{label} marked invalid"
    # What was typed is still there, the wrong values too, so the person only fixes what is wrong.
    for label, value in {**VALID, **WRONG}.items():
        assert field(page, label).input_value() == value, f"{label} lost what was typed"
    page.screenshot(path=str(tmp_path / "form-with-errors.png"), full_page=True)
    pending, prospects = stored_state(live_host)
    assert pending == [] and prospects == [], "a refused form was stored"

    # Fixed and sent: 303 to the confirmation with the request id and the link to follow it.
    fill(page, {label: VALID[label] for label in WRONG})
    answer = submit(page)
    assert answer.status == 200 and answer.request.redirected_from.method == "POST"
    page.screenshot(path=str(tmp_path / "confirmation.png"), full_page=True)
    signup_id = page.locator("#request-id").inner_text().strip()
    assert str(uuid.UUID(signup_id)) == signup_id
    link = page.locator("#status-link")
    status_url = live_host.url(f"signups/{signup_id}")
    assert link.get_attribute("href") == status_url + "?lang=en"
    assert link.inner_text() == "Follow your request"
    record = stored_signup(live_host, signup_id)
    assert record is not None
    assert record.request.company.name == "Fabrikam Åkeri AB"  # non-ASCII survives the form post
    assert record.request.company.address.country == "SE"
    assert record.request.contact.email == "astrid@fabrikam.example"
    assert record.request.comments == "We order weekly."

    # Following the link in the browser: the status page (HTML, as a browser asks for it).
    with page.expect_navigation() as navigation:
        link.click()
    assert navigation.value.status == 200
    assert page.url == status_url + "?lang=en"
    assert page.locator("#status").is_visible()

    def handed_to_sales() -> bool:
        page.reload()
        return page.locator("#status").inner_text() == "Our sales team has your request"

    wait_for(handed_to_sales, timeout=15, interval=0.3, what="the status page to say 'Our sales team has your request'")
    steps = page.locator("ol.steps li.done .step-text").all_inner_texts()
    assert steps == ["We received your request", "Your request is registered", "Our sales team has your request"]

    # The same link read as JSON (what the storefront's own code would call) agrees and holds no personal data.
    api = http.get(status_url, headers={"Accept": "application/json"}, timeout=10)
    assert api.status_code == 200 and api.headers["content-type"].startswith("application/json")
    assert api.json()["status"] == "lead_created" and api.json()["id"] == signup_id
    assert "astrid" not in api.text.lower() and "fabrikam" not in api.text.lower()
    pending, prospects = stored_state(live_host)
    assert pending == [] and len(prospects) == 1
    assert page.dialogs == []


def test_hostile_input_stays_text(browser, live_host, tmp_path):
    # The pages send a Content-Security-Policy that would block an injected script on its own; this
    # browser ignores it, so that a dialog here would mean the escaping itself failed.
    context, page = open_page(browser, bypass_csp=True)
    dialogs = page.dialogs
    try:
        response = page.goto(live_host.url("signup") + "?channel=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(4)%3E")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert page.locator('input[name="channel_id"]').get_attribute("value") == "b2b-web"

        hostile = {**VALID, "Company name": HOSTILE_NAME, "Last name": HOSTILE_LAST_NAME,
                   "Comments": HOSTILE_COMMENT, "Email": "not an email"}
        fill(page, hostile)
        answer = submit(page)
        assert answer.status == 422
        page.wait_for_load_state("load")
        # Shown back as the text typed, not as markup.
        assert field(page, "Company name").input_value() == HOSTILE_NAME
        assert field(page, "Last name").input_value() == HOSTILE_LAST_NAME
        assert field(page, "Comments").input_value() == HOSTILE_COMMENT
        assert page.locator("img, svg, script").count() == 0
        # The visible fields, the channel and form key, and the defenses' stamp and honeypot (all hidden).
        assert page.locator("form input, form textarea, form select").count() == len(VALID) + 4
        assert_error_beside(page, "Email")

        field(page, "Email").fill(VALID["Email"])
        answer = submit(page)
        assert answer.status == 200 and "/api/signup/received/" in page.url
        page.wait_for_load_state("load")
        assert page.locator("img, svg, script").count() == 0
        record = stored_signup(live_host, page.locator("#request-id").inner_text().strip())
        # Stored as typed (escaping belongs to the page that shows it, not to the data).
        assert record.request.company.name == HOSTILE_NAME
        assert record.request.contact.last_name == HOSTILE_LAST_NAME
        assert record.request.comments == HOSTILE_COMMENT

        page.locator("#status-link").click()
        page.wait_for_load_state("load")
        assert page.locator("#status").is_visible()
        page.wait_for_timeout(300)  # an <img onerror> fires right after load
        assert dialogs == [], f"a dialog fired: {dialogs}"
    finally:
        context.close()
