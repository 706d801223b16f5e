"""The intake body: validation and normalization of ``SignupRequest`` and ``validate_signup``."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.errors import InvalidInput
from shared.domain.signup import SignupRequest
from shared.services.intake import validate_signup
from tests.unit.conftest import FULL_BODY, MINIMAL_BODY


def with_value(body: dict, path: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    return body


def without(body: dict, path: str) -> dict:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    del target[leaf]
    return body


def problems(payload) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_signup(payload)
    return dict(caught.value.problems)


def value_at(request: SignupRequest, path: str):
    target = request
    for part in path.split("."):
        target = getattr(target, part)
    return target


# --- valid bodies ----------------------------------------------------------------------------------------

def test_minimal_body(minimal_body):
    request = validate_signup(minimal_body)
    assert request.company.name == "Contoso AB"
    assert request.company.address.country == "SE"
    assert request.company.registration_number is None
    assert request.company.vat_number is None
    assert request.company.address.state is None
    assert request.comments is None
    assert request.contact.preferred_language == "en"
    assert request.channel_id == "b2b-web"


def test_full_body(full_body):
    request = validate_signup(full_body)
    assert request.company.name == "Contoso Söner & Döttrar AB"
    assert request.company.registration_number == "556000-0000"
    assert request.company.vat_number == "SE556000000001"
    assert request.company.address.state == "Uppsala län"
    assert request.company.address.country == "SE"
    assert request.contact.email == "Asa.Oberg@example.com"
    assert request.contact.preferred_language == "sv-SE"
    assert request.comments == "Please call me.\nBest regards"
    assert request.channel_id == "b2b-web.se_1"


def test_text_fields_are_trimmed(minimal_body):
    body = with_value(minimal_body, "company.name", "  Contoso AB \t")
    body = with_value(body, "contact.first_name", "\n Anna ")
    body = with_value(body, "company.address.city", " Uppsala ")
    body = with_value(body, "channel_id", " b2b-web ")
    request = validate_signup(body)
    assert (request.company.name, request.contact.first_name, request.company.address.city, request.channel_id) == (
        "Contoso AB", "Anna", "Uppsala", "b2b-web")


def test_empty_comments_are_allowed(minimal_body):
    assert validate_signup(with_value(minimal_body, "comments", "")).comments == ""


# --- email ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, normalized", [
    ("anna@example.com", "anna@example.com"),
    ("  Anna.Svensson@EXAMPLE.Com  ", "Anna.Svensson@example.com"),
    ("ANNA+b2b@Sub.Example.SE", "ANNA+b2b@sub.example.se"),
    ("åsa@Bücher.DE", "åsa@bücher.de"),
])
def test_email_is_trimmed_and_only_the_domain_folded(minimal_body, raw, normalized):
    assert validate_signup(with_value(minimal_body, "contact.email", raw)).contact.email == normalized


@pytest.mark.parametrize("raw", [
    "", "   ", "anna", "anna@", "@example.com", "anna@@example.com", "anna@example", "an na@example.com",
    "anna@exa mple.com", "anna@example..com", "anna.@example.com", "Anna <anna@example.com>",
    "anna@example.com\nBcc: x@example.com", "anna@localhost",
    "anna@" + "a" * 250 + ".com",
])
def test_invalid_email_is_refused(minimal_body, raw):
    assert "contact.email" in problems(with_value(minimal_body, "contact.email", raw))


# --- phone ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, normalized", [
    ("+46 8 555 000 00", "+46 8 555 000 00"),
    ("(08) 555-000.00", "(08) 555-000.00"),
    ("08/5550000", "08/5550000"),
    ("  +46   70\t123  45 67 ", "+46 70 123 45 67"),
    ("12345", "12345"),
    ("+" + "1" * 20, "+" + "1" * 20),
])
def test_valid_phone_is_normalized(minimal_body, raw, normalized):
    assert validate_signup(with_value(minimal_body, "contact.phone", raw)).contact.phone == normalized
    assert validate_signup(with_value(minimal_body, "company.phone", raw)).company.phone == normalized


@pytest.mark.parametrize("raw", [
    "", "1234", "+1 2 3 4", "1" * 21, "+46 70 abc 45 67", "++46 70 123 45 67", "46+70 123 45 67",
    "070#1234567", "１２３４５６", "٠١٢٣٤٥٦", "070 123 45 67 ext 5", "1" * 41,
])
def test_invalid_phone_is_refused(minimal_body, raw):
    assert "contact.phone" in problems(with_value(minimal_body, "contact.phone", raw))


# --- language ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, normalized", [
    ("sv-se", "sv-SE"), ("SV-SE", "sv-SE"), ("en", "en"), ("EN", "en"), ("en-gb", "en-GB"),
    ("zh-Hant-tw", "zh-Hant-TW"), (" sv ", "sv"), ("fil", "fil"), ("es-419", "es-419"),
])
def test_language_tag_is_normalized(minimal_body, raw, normalized):
    body = with_value(minimal_body, "contact.preferred_language", raw)
    assert validate_signup(body).contact.preferred_language == normalized


@pytest.mark.parametrize("raw", ["", "e", "english", "sv_SE", "sv-", "-SE", "12", "sv-SE-", "sv--SE", "sv-S",
                                 "sv-abcdefghi", "sv SE", "sv-SE\nx"])
def test_invalid_language_tag_is_refused(minimal_body, raw):
    assert "contact.preferred_language" in problems(with_value(minimal_body, "contact.preferred_language", raw))


# --- country ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, normalized", [("se", "SE"), ("Se", "SE"), (" no ", "NO"), ("FI", "FI")])
def test_country_is_upper_cased(minimal_body, raw, normalized):
    body = with_value(minimal_body, "company.address.country", raw)
    assert validate_signup(body).company.address.country == normalized


@pytest.mark.parametrize("raw", ["", "S", "SWE", "Sweden", "S1", "1S", "S-", "ß", "ﬀ", "ÅÄ", "s e"])
def test_country_must_be_two_letters(minimal_body, raw):
    assert "company.address.country" in problems(with_value(minimal_body, "company.address.country", raw))


# --- unknown fields ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "website", "company.website", "company.address.planet", "contact.title", "contact.address",
])
def test_unknown_fields_are_refused_by_dotted_name(minimal_body, path):
    found = problems(with_value(minimal_body, path, "x"))
    assert found == {path: "is not a known field"}


# --- missing and wrong-typed fields --------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "company", "contact", "channel_id", "company.name", "company.phone", "company.address",
    "company.address.street", "company.address.city", "company.address.zip_code", "company.address.country",
    "contact.first_name", "contact.last_name", "contact.email", "contact.phone",
])
def test_required_fields(minimal_body, path):
    assert path in problems(without(minimal_body, path))


@pytest.mark.parametrize("payload", [None, [], "a string", 42, b"bytes"])
def test_a_body_that_is_no_object_is_refused(payload):
    assert "(body)" in problems(payload)


def test_wrong_types_are_refused(minimal_body):
    body = with_value(minimal_body, "company.name", 12)
    body = with_value(body, "contact", "Anna")
    body = with_value(body, "company.address", ["Storgatan 1"])
    assert {"company.name", "contact", "company.address"} <= set(problems(body))


def test_every_problem_is_reported_with_its_dotted_path(minimal_body):
    body = with_value(minimal_body, "contact.email", "not an email")
    body = with_value(body, "company.address.country", "Sweden")
    body = with_value(body, "company.phone", "call me")
    body = with_value(body, "contact.nickname", "Annie")
    body = without(body, "company.name")
    found = problems(body)
    assert set(found) == {"contact.email", "company.address.country", "company.phone", "contact.nickname",
                          "company.name"}
    assert found["contact.nickname"] == "is not a known field"
    assert found["company.phone"].startswith("may hold only digits")
    assert not any(why.startswith("Value error") for why in found.values())
    with pytest.raises(InvalidInput) as caught:
        validate_signup(body)
    assert "contact.email" in str(caught.value)


# --- control characters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
@pytest.mark.parametrize("path", ["company.name", "contact.first_name", "company.address.street", "comments",
                                  "company.registration_number"])
def test_control_characters_are_refused(minimal_body, path, char):
    assert path in problems(with_value(minimal_body, path, f"abc{char}def"))


@pytest.mark.parametrize("char", ["\x85", "\x9b"])
def test_c1_control_characters_are_refused(minimal_body, char):
    assert "company.name" in problems(with_value(minimal_body, "company.name", f"abc{char}def"))


def test_line_breaks_and_tabs_are_allowed_in_comments(minimal_body):
    assert validate_signup(with_value(minimal_body, "comments", "line one\r\nline two\ttab")).comments == (
        "line one\nline two\ttab")  # CR LF as LF, as every other line break is stored


# --- lengths -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, limit", [
    ("company.name", 200), ("company.registration_number", 50), ("company.vat_number", 50),
    ("company.address.street", 200), ("company.address.city", 100), ("company.address.zip_code", 20),
    ("company.address.state", 100), ("contact.first_name", 100), ("contact.last_name", 100), ("comments", 2000),
])
def test_max_lengths(minimal_body, path, limit):
    request = validate_signup(with_value(minimal_body, path, "x" * limit))
    assert value_at(request, path) == "x" * limit
    assert path in problems(with_value(minimal_body, path, "x" * (limit + 1)))
    # surrounding blanks do not count against the limit
    assert value_at(validate_signup(with_value(minimal_body, path, f"  {'x' * limit}  ")), path) == "x" * limit


@pytest.mark.parametrize("path", ["company.name", "company.address.street", "contact.first_name",
                                  "contact.last_name", "company.address.city", "company.address.zip_code"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_required_text_must_not_be_blank(minimal_body, path, blank):
    assert path in problems(with_value(minimal_body, path, blank))


@pytest.mark.parametrize("channel, ok", [
    ("a", True), ("x" * 64, True), ("x" * 65, False), ("b2b web", False), ("b2b/web", False), ("", False),
    ("kanal-å", False), ("b2b-web\n", True),
])
def test_channel_id(minimal_body, channel, ok):
    body = with_value(minimal_body, "channel_id", channel)
    if ok:
        assert validate_signup(body).channel_id == channel.strip()
    else:
        assert "channel_id" in problems(body)


def test_signup_request_refuses_directly_too():
    with pytest.raises(ValidationError):
        SignupRequest.model_validate(with_value(MINIMAL_BODY, "extra", 1))


# --- normalization is idempotent ---------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30)
_name = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip())
_local = st.text(st.sampled_from("abcXYZ019+_-åÖ"), min_size=1, max_size=12)
_domain = st.lists(st.text(st.sampled_from("abcXYZü"), min_size=1, max_size=8), min_size=1, max_size=3).map(
    lambda labels: ".".join(labels + ["Com"]))
_blank = st.sampled_from(["", " ", "  ", "\t", "\n"])
_phone = st.builds(
    lambda plus, groups, seps, pad: pad + plus + "".join(g + s for g, s in zip(groups, seps)).strip() + pad,
    st.sampled_from(["", "+"]),
    st.lists(st.text(st.sampled_from("0123456789"), min_size=2, max_size=4), min_size=3, max_size=5),
    st.lists(st.sampled_from([" ", "  ", "-", ".", "/", "\t"]), min_size=5, max_size=5),
    _blank,
)
_language = st.from_regex(r"\A[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}\Z")
_country = st.tuples(
    _blank,
    st.one_of(st.text(st.sampled_from("abcSEZz"), min_size=2, max_size=2),
              st.text(st.sampled_from("abcSEZzß"), min_size=1, max_size=3)),
    _blank,
).map("".join)

_bodies = st.fixed_dictionaries(
    {
        "company": st.fixed_dictionaries(
            {"name": _name, "phone": _phone,
             "address": st.fixed_dictionaries({"street": _name, "city": _name, "zip_code": _name, "country": _country},
                                              optional={"state": _name})},
            optional={"registration_number": _name, "vat_number": _name}),
        "contact": st.fixed_dictionaries(
            {"first_name": _name, "last_name": _name, "email": st.tuples(_local, _domain).map("@".join),
             "phone": _phone},
            optional={"preferred_language": _language}),
        "channel_id": st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z"),
    },
    optional={"comments": st.one_of(_text, _name)},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_bodies)
def test_validating_a_normalized_signup_again_changes_nothing(body):
    try:
        first = validate_signup(body)
    except InvalidInput:
        assume(False)
        return
    assert validate_signup(first.model_dump()) == first
    assert SignupRequest.model_validate_json(first.model_dump_json()) == first
    assert len(first.company.address.country) == 2 and first.company.address.country.isascii()
    assert first.company.address.country == first.company.address.country.upper()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), st.one_of(st.none(), st.integers(), _text,
                                                     st.dictionaries(st.text(max_size=5), _text, max_size=3)),
                       max_size=5))
def test_any_json_object_is_either_valid_or_invalid_input(payload):
    try:
        validate_signup(payload)
    except InvalidInput as error:
        assert error.problems and all(isinstance(f, str) and isinstance(w, str) for f, w in error.problems)


def test_full_body_constant_is_valid():
    validate_signup(FULL_BODY)
