"""The storefront's server-rendered pages and form handling (shared/web/storefront.py)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import Settings
from shared.domain.errors import InvalidInput
from shared.services.intake import SignupStatusView, validate_signup
from shared.web.i18n import Reader
from shared.web.storefront import (
    FORM_FIELDS,
    confirmation_page,
    field_errors,
    form_fields,
    form_page,
    payload_from_form,
    status_page,
)

NAMES = [f.name for f in FORM_FIELDS]
SELECTS = {f.name for f in FORM_FIELDS if f.kind in ("country", "language")}
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>\'</textarea>'
EN, SV = Reader("en"), Reader("sv", "Europe/Stockholm")
BRANDING = Settings.from_env({"PRIVACY_POLICY_URL": "https://contoso.example/privacy"}).branding("b2b-web")


def errors_by_field(problems, reader=EN, kinds=None):
    kinds = kinds or [("", {}) for _ in problems]
    return {e.field: e.message for e in field_errors(problems, kinds, reader)}


def page_of(values=None, errors=(), channel="b2b-web", key="key-1", reader=EN, notice=None):
    return form_page(reader, BRANDING, channel_id=channel, form_key=key, values=values, errors=errors,
                     notice=notice)


def view(status="lead_created", steps=None, channel="b2b-web"):
    at = datetime(2026, 12, 3, 13, 5, tzinfo=timezone.utc)
    steps = steps or [("received", at), ("prospect_created", at), ("lead_created", at)]
    return SignupStatusView("abc-123", status, at, steps, channel)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict]]:
    collector = _Collector()
    collector.feed(page)
    return collector.tags


def assert_no_injection(page: str) -> None:
    found = tags(page)
    # The status page's own refresh script (a file of this host) is the one script a page may carry.
    own = {"/api/assets/status-refresh.js"}
    assert not [t for t, a in found if t == "img" or (t == "script" and (a.get("src") or "").split("?")[0] not in own)]
    assert not [a for _, a in found if any(k.startswith("on") for k in a)]


# --- payload_from_form ---------------------------------------------------------------------------------

def test_payload_from_form_nests_dotted_names():
    payload = payload_from_form({
        "company.name": "Contoso", "company.address.city": "Uppsala", "company.address.country": "SE",
        "contact.email": "a@example.com", "channel_id": "b2b-web", "comments": "hi",
    })
    assert payload == {
        "company": {"name": "Contoso", "address": {"city": "Uppsala", "country": "SE"}},
        "contact": {"email": "a@example.com"}, "channel_id": "b2b-web", "comments": "hi",
    }


def test_payload_from_form_leaves_out_blank_fields():
    payload = payload_from_form({"company.name": "Contoso", "company.vat_number": "", "comments": "   \n",
                                 "contact.first_name": "\t"})
    assert payload == {"company": {"name": "Contoso"}}


def test_payload_from_form_keeps_values_as_typed():
    assert payload_from_form({"company.name": "  Contoso  "}) == {"company": {"name": "  Contoso  "}}


def test_a_complete_form_is_a_valid_signup():
    fields = {
        "company.name": "Contoso AB", "company.phone": "+46 8 555 000 00", "company.address.street": "Storgatan 1",
        "company.address.city": "Uppsala", "company.address.zip_code": "753 10", "company.address.country": "se",
        "contact.first_name": "Anna", "contact.last_name": "Svensson", "contact.email": "anna@example.com",
        "contact.phone": "070-123 45 67", "contact.preferred_language": "", "company.vat_number": "",
        "comments": "", "channel_id": "b2b-web",
    }
    request = validate_signup(payload_from_form(fields))
    assert request.company.address.country == "SE"
    assert request.contact.preferred_language == "en"
    assert request.comments is None


_known_fields = st.dictionaries(st.sampled_from(NAMES + ["channel_id"]), st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(_known_fields)
def test_payload_from_form_never_crashes_on_form_fields(fields):
    payload = payload_from_form(fields)

    def leaves(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    assert dict(leaves(payload)) == {k: v for k, v in fields.items() if v.strip()}


def test_payload_from_form_with_a_field_named_like_a_parent():
    payload_from_form({"company": "x", "company.name": "y"})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.lists(st.tuples(st.sampled_from(NAMES + ["channel_id", "x", "company"]),
                                                    st.text(max_size=20)), max_size=10).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8")))
def test_any_posted_body_gives_a_valid_signup_or_a_form_with_errors(body):
    fields = form_fields(body)
    assert set(fields) <= set(NAMES) | {"channel_id"}
    try:
        validate_signup(payload_from_form(fields))
    except InvalidInput as error:
        errors = field_errors(error.problems, error.kinds, EN)
        page = page_of(fields, errors)
        assert 'role="alert"' in page
        assert_no_injection(page)


# --- form_fields -------------------------------------------------------------------------------------

def test_form_fields_keeps_known_names_only():
    body = b"company.name=Contoso+%26+Co&evil=1&contact.email=a%40example.com&channel_id=b2b-web&company=x&consent=yes"
    assert form_fields(body) == {"company.name": "Contoso & Co", "contact.email": "a@example.com",
                                 "channel_id": "b2b-web", "consent": "yes"}


def test_form_fields_survives_bad_utf8():
    assert form_fields(b"company.name=%FF%FE\xff") == {"company.name": "\ufffd\ufffd\ufffd"}


def test_form_fields_last_value_wins():
    assert form_fields(b"comments=a&comments=b") == {"comments": "b"}


def test_a_ticked_box_is_consent_to_the_channels_policy_never_to_one_the_post_names():
    fields = {"company.name": "Contoso", "consent": "yes"}
    assert payload_from_form(fields, "https://contoso.example/privacy")["consent"] == {
        "privacy_policy_url": "https://contoso.example/privacy"}
    assert "consent" not in payload_from_form(fields, "")  # no policy: no consent to record
    assert "consent" not in payload_from_form({"consent": "no"}, "https://contoso.example/privacy")


# --- field_errors: the intake's problems in the reader's words --------------------------------------------

def test_errors_map_problems_to_form_fields():
    shown = errors_by_field([
        ("contact.email", "not a valid email address"),
        ("company.address", "Field required"),
        ("contact", "Field required"),
        ("channel_id", "String should match pattern"),
        ("website", "is not a known field"),
    ], kinds=[("email", {}), ("missing", {}), ("missing", {}), ("string_pattern_mismatch", {}),
              ("extra_forbidden", {})])
    # a missing group is shown on each of its required fields, so one submit shows them all
    assert shown == {
        "contact.email": "Enter an email address such as name@example.com.",
        "company.address.street": "Fill in this field.",
        "company.address.city": "Fill in this field.",
        "company.address.zip_code": "Fill in this field.",
        "company.address.country": "Choose a country from the list.",
        "contact.first_name": "Fill in this field.",
        "contact.last_name": "Fill in this field.",
        "contact.phone": "Fill in this field.",
        "channel_id": "Check what you entered here.",
        "website": "Check what you entered here.",
    }


def test_errors_keep_the_first_message_per_field():
    assert errors_by_field([("company.name", "first"), ("company.name", "second")],
                           kinds=[("missing", {}), ("string_too_long", {"max_length": 5})]) == {
        "company.name": "Fill in this field."}


LIBRARY_WORDING = re.compile(r"@-sign|String should|Value error|Field required|valid email address", re.I)


@pytest.mark.parametrize("reader", [EN, SV])
@pytest.mark.parametrize("change, field, english, swedish", [
    ({"contact": {"email": "astrid.fabrikam.example"}}, "contact.email", "Enter an email address",
     "Ange en e-postadress"),
    ({"contact": {"email": "astrid@"}}, "contact.email", "Enter an email address", "Ange en e-postadress"),
    ({"contact": {"phone": "call me"}}, "contact.phone", "phone number", "telefonnummer"),
    ({"company": {"name": "x" * 201}}, "company.name", "at most 200 characters", "högst 200 tecken"),
    ({"company": {"name": "Fabrikam\u200bAB"}}, "company.name", "hidden character", "dolt tecken"),
    ({"company": {"name": "Fabrikam\nAB"}}, "company.name", "one line", "på en rad"),
    ({"company": {"address": {"country": "SWE"}}}, "company.address.country", "Choose a country",
     "Välj ett land"),
    ({"contact": {"preferred_language": "swedish!"}}, "contact.preferred_language", "Choose a language",
     "Välj ett språk"),
])
def test_each_refusal_is_in_our_words_in_the_pages_language(reader, change, field, english, swedish):
    from tests.services.flow import signup_body

    body = signup_body()
    for part, values in change.items():
        for key, value in values.items():
            if isinstance(value, dict):
                body[part][key].update(value)
            else:
                body[part][key] = value
    with pytest.raises(InvalidInput) as refused:
        validate_signup(body)
    shown = {e.field: e for e in field_errors(refused.value.problems, refused.value.kinds, reader)}
    assert set(shown) == {field}
    message = shown[field].message
    assert (english if reader is EN else swedish) in message
    assert not LIBRARY_WORDING.search(message), message


def test_errors_of_real_validation_stay_on_the_forms_fields():
    with pytest.raises(InvalidInput) as caught:
        validate_signup({"channel_id": "b2b-web", "company": {"name": "X"}})
    shown = errors_by_field(caught.value.problems, kinds=caught.value.kinds)
    assert "company.phone" in shown
    assert "company.address.street" in shown
    assert "contact.first_name" in shown
    assert set(shown) <= set(NAMES) | {"channel_id", "(body)"}


# --- pages escape everything and speak the reader's language ----------------------------------------------

def test_form_page_has_every_field_the_channel_and_autocomplete():
    page = page_of()
    found = {attrs.get("name"): (tag, attrs) for tag, attrs in tags(page)
             if tag in ("input", "textarea", "select") and attrs.get("name")}
    assert set(found) == set(NAMES) | {"channel_id", "form_key", "consent"}
    assert found["channel_id"][1]["value"] == "b2b-web"
    assert found["form_key"][1] == {"type": "hidden", "name": "form_key", "value": "key-1"}
    assert found["comments"][0] == "textarea"
    assert found["company.address.country"][0] == found["contact.preferred_language"][0] == "select"
    assert {name: attrs["autocomplete"] for name, (_, attrs) in found.items() if name in NAMES} == {
        f.name: f.autocomplete for f in FORM_FIELDS}
    assert {name for name, (_, attrs) in found.items() if "required" in attrs} == {
        f.name for f in FORM_FIELDS if f.required} | {"consent"}
    assert 'role="alert"' not in page


def test_the_country_select_lists_iso_3166_in_the_readers_language():
    english = [attrs["value"] for tag, attrs in tags(page_of()) if tag == "option" and len(attrs.get("value", "")) == 2
               and attrs["value"].isupper()]
    assert len(english) == 249 and {"SE", "GB", "AX", "US"} <= set(english) and "EU" not in english
    swedish = page_of(reader=SV)
    assert '<option value="SE">Sverige</option>' in swedish and '<option value="DE">Tyskland</option>' in swedish


def test_the_language_select_offers_the_languages_we_answer_in_and_preselects_the_pages():
    page = page_of(reader=SV)
    options = re.findall(r'<option value="([a-z]{2})"( selected)?>([^<]*)', page)
    assert [(code, name) for code, _, name in options] == [("en", "English (engelska)"), ("sv", "Svenska")]
    assert [code for code, chosen, _ in options if chosen] == ["sv"]
    posted = page_of({"contact.preferred_language": "en-GB"}, reader=SV)
    assert re.search(r'<option value="en" selected>', posted)


def test_form_page_escapes_hostile_values_errors_and_channel():
    from shared.web.storefront import FieldError

    values = {name: HOSTILE for name in NAMES if name not in SELECTS}
    errors = [FieldError("company.name", "company-name", HOSTILE, HOSTILE), FieldError(HOSTILE, None, HOSTILE, HOSTILE)]
    page = page_of(values, errors, channel=HOSTILE, key=HOSTILE)
    assert "<script>" not in page
    assert_no_injection(page)
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if attrs.get("name")}
    assert found["company.name"]["value"] == HOSTILE  # shown back exactly as typed
    assert found["channel_id"]["value"] == HOSTILE
    assert found["company.name"]["aria-invalid"] == "true"
    assert page.count("</textarea>") == 1


def test_the_error_summary_links_each_error_to_its_field_and_takes_the_focus():
    errors = field_errors([("contact.email", "x"), ("consent", "y")], [("email", {}), ("consent", {})], SV)
    page = page_of({}, errors, reader=SV)
    summary = page[page.index('class="error-summary"'):page.index("</div>", page.index('class="error-summary"'))]
    assert "autofocus" in page[page.index("<div class=\"error-summary\""):][:200]
    assert re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary) == [
        ("contact-email", "E-post: Ange en e-postadress, till exempel namn@exempel.se."),
        ("consent", "Integritetspolicy: Kryssa i rutan för att godkänna integritetspolicyn.")]
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if attrs.get("name")}
    assert found["contact.email"]["aria-describedby"] == "contact-email-error"
    assert "aria-invalid" not in found["company.name"]
    assert 'id="contact-email-error"' in page and 'id="consent-error"' in page


def test_confirmation_page_shows_the_id_the_status_link_and_no_personal_data():
    page = confirmation_page(SV, BRANDING, view(), "https://shop.example/api/signups/abc-123", received_email=True)
    assert re.search(r'<code id="request-id">abc-123</code>', page)
    assert 'href="https://shop.example/api/signups/abc-123?lang=sv"' in page
    assert "Vad händer nu" in page and '<html lang="sv">' in page


def test_confirmation_page_escapes():
    page = confirmation_page(EN, BRANDING, view(), "https://shop.example/api/signups/" + HOSTILE,
                             received_email=False)
    assert "<script>" not in page
    assert_no_injection(page)


def test_status_page_says_the_steps_in_words_with_local_dates_and_refreshes_until_decided():
    page = status_page(SV, BRANDING, view(), "/api/signups/abc-123")
    assert "Vårt säljteam har din ansökan" in page
    assert "3 december 2026 14:05:00 CET" in page  # 13:05 UTC in Stockholm, in Swedish
    assert "2026-12-03" not in page and "T13:05" not in page
    assert 'status-refresh.js' in page and 'data-seconds="30"' in page
    decided = view("approved", [("received", view().updated_at), ("approved", view().updated_at)])
    done = status_page(EN, BRANDING, decided, "/api/signups/abc-123")
    assert "status-refresh.js" not in done and "Approved: welcome as a business partner" in done
    assert "December 3, 2026" in status_page(EN, BRANDING, view(), "/api/signups/abc-123")


def test_status_page_escapes():
    page = status_page(EN, BRANDING, view(HOSTILE, [("received", view().updated_at), (HOSTILE, view().updated_at)]),
                       "/api/signups/" + HOSTILE)
    assert "<script>" not in page
    assert_no_injection(page)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([n for n in NAMES if n not in SELECTS]), st.text(max_size=40)),
       st.text(max_size=20))
def test_form_page_never_lets_a_value_open_a_tag(values, channel):
    page = page_of(values, channel=channel)
    assert_no_injection(page)
    # every control's value round-trips through the HTML parser unchanged
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if tag == "input" and attrs.get("name")}
    for name, value in values.items():
        if name != "comments":
            assert found[name]["value"] == value


def test_the_reader_can_stop_the_status_page_updating_itself_and_start_it_again():
    updating = status_page(EN, BRANDING, view(), "/api/signups/abc-123")
    assert 'href="/api/signups/abc-123?updates=off&amp;lang=en">Stop updating</a>' in updating
    # the link comes right after the status, before the page goes on
    assert updating.index("Stop updating") < updating.index("<h2>")
    still = status_page(EN, BRANDING, view(), "/api/signups/abc-123", auto_update=False)
    assert "status-refresh.js" not in still and 'href="/api/signups/abc-123?lang=en">Update this page by itself</a>' in still
    decided = view("rejected", [("received", view().updated_at), ("rejected", view().updated_at)])
    assert "Stop updating" not in status_page(EN, BRANDING, decided, "/x")
    assert "by itself" not in status_page(EN, BRANDING, decided, "/x", auto_update=False)
