"""The storefront's server-rendered pages and form handling."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput
from shared.services.intake import validate_signup
from shared.storefront import (
    FORM_FIELDS,
    confirmation_page,
    errors_by_field,
    form_fields,
    form_page,
    payload_from_form,
    status_page,
)

NAMES = [name for name, *_ in FORM_FIELDS]
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>\'</textarea>'


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
    assert not [t for t, _ in found if t in ("script", "img")]
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
        errors = errors_by_field(error.problems)
        page = form_page("/api/signup", "b2b-web", "key-1", fields, errors)
        assert 'role="alert"' in page
        assert_no_injection(page)


# --- form_fields -------------------------------------------------------------------------------------

def test_form_fields_keeps_known_names_only():
    body = b"company.name=Contoso+%26+Co&evil=1&contact.email=a%40example.com&channel_id=b2b-web&company=x"
    assert form_fields(body) == {"company.name": "Contoso & Co", "contact.email": "a@example.com",
                                 "channel_id": "b2b-web"}


def test_form_fields_survives_bad_utf8():
    assert form_fields(b"company.name=%FF%FE\xff") == {"company.name": "\ufffd\ufffd\ufffd"}


def test_form_fields_last_value_wins():
    assert form_fields(b"comments=a&comments=b") == {"comments": "b"}


# --- errors_by_field -----------------------------------------------------------------------------------

def test_errors_by_field_maps_problems_to_form_fields():
    shown = errors_by_field([
        ("contact.email", "not a valid email address"),
        ("company.address", "Field required"),
        ("contact", "Field required"),
        ("channel_id", "String should match pattern"),
        ("website", "is not a known field"),
    ])
    # a missing group is shown on each of its required fields, so one submit shows them all
    assert shown == {
        "contact.email": "not a valid email address",
        "company.address.street": "Field required",
        "company.address.city": "Field required",
        "company.address.zip_code": "Field required",
        "company.address.country": "Field required",
        "contact.first_name": "Field required",
        "contact.last_name": "Field required",
        "contact.phone": "Field required",
        "channel_id": "String should match pattern",
        "website": "is not a known field",
    }


def test_errors_by_field_keeps_the_first_message_per_field():
    assert errors_by_field([("company.name", "first"), ("company.name", "second")]) == {"company.name": "first"}


def test_errors_by_field_of_real_validation():
    with pytest.raises(InvalidInput) as caught:
        validate_signup({"channel_id": "b2b-web", "company": {"name": "X"}})
    shown = errors_by_field(caught.value.problems)
    assert "company.phone" in shown
    assert "company.address.street" in shown
    assert "contact.first_name" in shown
    assert set(shown) <= set(NAMES) | {"channel_id", "(body)"}


# --- pages escape everything -----------------------------------------------------------------------------

def test_form_page_has_every_field_and_the_channel():
    page = form_page("/api/signup", "b2b-web", "key-1")
    found = {attrs.get("name"): (tag, attrs) for tag, attrs in tags(page)
             if tag in ("input", "textarea") and attrs.get("name")}
    assert set(found) == set(NAMES) | {"channel_id", "form_key"}
    assert found["channel_id"][1]["value"] == "b2b-web"
    assert found["form_key"][1] == {"type": "hidden", "name": "form_key", "value": "key-1"}
    assert found["comments"][0] == "textarea"
    assert "role=\"alert\"" not in page


def test_form_page_escapes_hostile_values_errors_action_and_channel():
    values = {name: HOSTILE for name in NAMES}
    errors = {"company.name": HOSTILE, "contact.email": HOSTILE, HOSTILE: HOSTILE}
    page = form_page(HOSTILE, HOSTILE, HOSTILE, values, errors)
    assert "<script>" not in page
    assert_no_injection(page)
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if attrs.get("name")}
    assert found["company.name"]["value"] == HOSTILE  # shown back exactly as typed
    assert found["channel_id"]["value"] == HOSTILE
    assert found["company.name"]["aria-invalid"] == "true"
    assert page.count("</textarea>") == 1


def test_form_page_marks_the_fields_in_error():
    page = form_page("/api/signup", "b2b-web", "key-1", {}, {"contact.email": "not valid"})
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if attrs.get("name")}
    assert found["contact.email"]["aria-describedby"] == "contact-email-error"
    assert "aria-invalid" not in found["company.name"]
    assert 'id="contact-email-error"' in page


def test_confirmation_page_escapes():
    page = confirmation_page(HOSTILE, "https://shop.example/api/signups/" + HOSTILE)
    assert "<script>" not in page
    assert_no_injection(page)
    link = next(attrs for tag, attrs in tags(page) if tag == "a")
    assert link["href"] == "https://shop.example/api/signups/" + HOSTILE


def test_confirmation_page_shows_the_id_and_link():
    page = confirmation_page("abc-123", "https://shop.example/api/signups/abc-123")
    assert re.search(r'<code id="request-id">abc-123</code>', page)
    assert 'href="https://shop.example/api/signups/abc-123"' in page


def test_status_page_escapes():
    page = status_page({"status": HOSTILE, "steps": [{"status": HOSTILE, "at": HOSTILE},
                                                     {"status": "approved", "at": "2026-01-01"}]})
    assert "<script>" not in page
    assert_no_injection(page)
    assert "Approved" in page


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.text(max_size=40)),
       st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=10)), st.text(max_size=40), max_size=4),
       st.text(max_size=20))
def test_form_page_never_lets_a_value_open_a_tag(values, errors, channel):
    page = form_page("/api/signup", channel, "key-1", values, errors)
    assert_no_injection(page)
    # every control's value round-trips through the HTML parser unchanged
    found = {attrs.get("name"): attrs for tag, attrs in tags(page) if tag == "input" and attrs.get("name")}
    for name, value in values.items():
        if name != "comments":
            assert found[name]["value"] == value
