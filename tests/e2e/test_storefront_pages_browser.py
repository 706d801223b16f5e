"""The applicant's pages in a real browser (Debian's chromium, Playwright) against the local host, in Swedish and
in English: the form, its errors (summary and beside each field, in the page's language), consent, the POST's
303 to the confirmation, a reload that sends nothing again, the status page with local dates; axe-core finds
no serious or critical violation on any of them; each page is saved as a screenshot, at phone width too."""
from __future__ import annotations

import re

import pytest

from tests.browser import DESKTOP, PHONE, axe_serious, browser, describe, open_page, screenshot  # noqa: F401
from tests.e2e.conftest import read_store, start_host, stop_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

POLICY = "https://contoso.example/privacy"

# The words each language's page uses, as a person reads them.
WORDS = {
    "sv": {
        "title": "Bli affärspartner", "send": "Skicka ansökan", "company": "Företagsnamn", "email": "E-post",
        "country": "Land", "consent": "Jag har läst och godkänner integritetspolicyn",
        "labels": {"Organisationsnummer": "556677-8899", "Företagets telefon": "+46 8 123 456 00",
                   "Gatuadress": "Storgatan 1", "Ort": "Stockholm", "Postnummer": "111 22", "Förnamn": "Astrid",
                   "Efternamn": "Lind", "Telefon": "+46 70 123 45 67", "Kommentarer": "Vi beställer varje vecka."},
        "required": "Fyll i det här fältet.", "bad_email": "Ange en e-postadress, till exempel namn@exempel.se.",
        "tick": "Kryssa i rutan för att godkänna integritetspolicyn.", "summary": "Rätta 3 fält",
        "thanks": "Tack, vi har tagit emot din ansökan", "received": "Vi har tagit emot din ansökan",
        "month": r"\d{1,2} (januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december) "
                 r"\d{4} \d{2}:\d{2}:\d{2}",
        "shop": "Tillbaka till Contoso B2B", "stop": "Sluta uppdatera", "resume": "Uppdatera sidan av sig själv",
    },
    "en": {
        "title": "Become a business partner", "send": "Send request", "company": "Company name", "email": "Email",
        "country": "Country", "consent": "I have read and accept the privacy policy",
        "labels": {"Registration number": "556677-8899", "Company phone": "+46 8 123 456 00",
                   "Street address": "Storgatan 1", "City": "Stockholm", "Postal code": "111 22",
                   "First name": "Astrid", "Last name": "Lind", "Phone": "+46 70 123 45 67",
                   "Comments": "We order weekly."},
        "required": "Fill in this field.", "bad_email": "Enter an email address such as name@example.com.",
        "tick": "Tick the box to accept the privacy policy.", "summary": "Please correct 3 fields",
        "thanks": "Thank you, we received your request", "received": "We received your request",
        "month": r"(January|February|March|April|May|June|July|August|September|October|November|December) "
                 r"\d{1,2}, \d{4}",
        "shop": "Back to Contoso B2B", "stop": "Stop updating", "resume": "Update this page by itself",
    },
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def live_host(tmp_path_factory):
    host = start_host(tmp_path_factory.mktemp("storefront") / "data",
                      {"PRIVACY_POLICY_URL": POLICY, "SUPPORT_EMAIL": "partners@contoso.example"})
    yield host
    stop_host(host)


def signups_of(live_host, company: str) -> list:
    with read_store(live_host) as uow:
        return [s for s in uow.pending_signups(1000) if s.request.company.name == company] + \
            [p for p in uow.list_prospects(None, 1000) if p.request.company.name == company]


def assert_accessible(page, what: str) -> None:
    violations = axe_serious(page)
    assert violations == [], f"{what}: {describe(violations)}"


def shoot(page, name: str) -> None:
    """The page at desktop width, then at phone width (and back)."""
    screenshot(page, name)
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def send(page, words):
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=words["send"]).click()
    return navigation.value


@pytest.mark.parametrize("language", ["sv", "en"])
def test_an_applicant_in_their_language_corrects_consents_sends_reloads_and_follows_the_request(
        browser, live_host, language):  # noqa: F811
    words = WORDS[language]
    company = f"Fabrikam Åkeri {language} AB"
    context, page = open_page(browser, extra_http_headers={"Accept-Language": f"{language},en;q=0.3"})
    try:
        # The form, in the language the browser asks for.
        response = page.goto(live_host.url("signup"))
        assert response.status == 200
        assert page.locator("html").get_attribute("lang") == language
        assert page.title().startswith(words["title"])
        assert page.get_by_label(words["country"], exact=True).evaluate("el => el.tagName") == "SELECT"
        assert_accessible(page, "the form")
        if language == "sv":
            shoot(page, "storefront-form-sv")

        # Company name left empty, an email without @, the consent box not ticked.
        for label, value in words["labels"].items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(words["country"], exact=True).select_option("SE")
        page.get_by_label(words["email"], exact=True).fill("astrid.fabrikam.example")
        answer = send(page, words)
        assert answer.status == 422
        summary = page.locator("#error-summary")
        assert summary.is_visible()
        assert page.evaluate("document.activeElement.id") == "error-summary", "the focus is not on the summary"
        assert summary.get_by_role("heading").inner_text() == words["summary"]
        links = summary.get_by_role("link")
        assert [links.nth(n).get_attribute("href") for n in range(links.count())] == [
            "#company-name", "#contact-email", "#consent"]
        assert words["bad_email"] in links.nth(1).inner_text()
        beside = {label: page.locator(f"#{control}-error").inner_text() for label, control in (
            ("company", "company-name"), ("email", "contact-email"), ("consent", "consent"))}
        assert beside == {"company": words["required"], "email": words["bad_email"], "consent": words["tick"]}
        assert not re.search(r"@-sign|Field required|String should|valid email address", page.content())
        assert_accessible(page, "the form with errors")
        if language == "sv":
            shoot(page, "storefront-errors-sv")

        # A summary link takes the focus to its field.
        links.nth(1).click()
        assert page.evaluate("document.activeElement.id") == "contact-email"

        # Fixed, consent given, sent: 303 to the confirmation page.
        page.get_by_label(words["company"], exact=True).fill(company)
        # An address of its own per language: the same one again would be a repeat of the open request (issue 11).
        page.get_by_label(words["email"], exact=True).fill(f"astrid.{language}@fabrikam.example")
        page.get_by_label(words["consent"]).check()
        answer = send(page, words)
        assert answer.status == 200 and answer.request.redirected_from is not None
        assert answer.request.redirected_from.method == "POST"
        assert re.search(r"/api/signup/received/[0-9a-f-]{36}\?lang=" + language + "$", page.url), page.url
        assert page.get_by_role("heading", level=1).inner_text() == words["thanks"]
        assert company not in page.content() and "astrid" not in page.content().lower()
        assert_accessible(page, "the confirmation")
        if language == "sv":
            shoot(page, "storefront-confirmation")

        # A reload GETs the confirmation again: nothing is sent twice.
        reloaded = page.reload()
        assert reloaded.status == 200 and reloaded.request.method == "GET"
        [signup] = signups_of(live_host, company)
        assert signup.request.consent.privacy_policy_url == POLICY
        assert signup.request.contact.preferred_language == language

        # The status page: the steps in words with local dates, what happens next, no personal data.
        with page.expect_navigation():
            page.locator("#status-link").click()
        assert page.locator("html").get_attribute("lang") == language
        done = page.locator("ol.steps li.done")
        assert done.first.locator(".step-text").inner_text() == words["received"]
        when = done.first.locator(".when").inner_text()
        assert re.search(words["month"], when), when
        assert not ISO_DATE.search(page.locator("main").inner_text())
        assert page.get_by_role("link", name=words["shop"]).is_visible()
        assert company not in page.content() and "astrid" not in page.content().lower()
        # Nothing decided yet: it reloads itself (its own script file, which the page's policy lets it load),
        # and the first thing after the status is the link that stops it (WCAG 2.2.1 "turn off").
        assert page.locator('script[src*="status-refresh.js"]').get_attribute("data-seconds") == "30"
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
        violations = axe_serious(page)
        assert violations == [], describe(violations)
        stop = page.locator("#updates a")
        assert stop.inner_text() == words["stop"]
        if language == "sv":
            shoot(page, "storefront-status")
        with page.expect_navigation():
            stop.click()
        assert page.locator('script[src*="status-refresh.js"]').count() == 0
        assert page.locator("#updates a").inner_text() == words["resume"]
        assert_accessible(page, "the status page without its refresh")
        # The form's 422 and the browser's own /favicon.ico (404) are logged as failed loads; nothing else may be,
        # a refused style or script (CSP) least of all.
        assert page.dialogs == []
        assert [e for e in page.console_errors if not e.startswith("Failed to load resource")] == []
    finally:
        context.close()
