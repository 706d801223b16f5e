"""The onboarding request a storefront posts: company and the person submitting it."""
from __future__ import annotations

import re
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.validation import refused, text_field

_PHONE_ALLOWED = re.compile(r"^\+?[0-9 ()./-]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _normalize_email(value: str) -> str:
    value = value.strip()
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise refused("email", f"not a valid email address: {error}") from None
    # The local part is case-sensitive by the RFC; only the domain is folded.
    return f"{checked.local_part}@{checked.domain.lower()}"


def _normalize_phone(value: str) -> str:
    value = " ".join(value.split())
    if not _PHONE_ALLOWED.match(value):
        raise refused("phone", "may hold only digits, spaces, + ( ) . / -")
    digits = sum(ch.isdigit() for ch in value)
    if not 5 <= digits <= 20:
        raise refused("phone", "must have between 5 and 20 digits")
    return value


def _normalize_language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise refused("language", "must be a language tag such as 'en' or 'sv-SE'")
    head, *rest = value.split("-")
    return "-".join([head.lower(), *(part.upper() if len(part) == 2 else part for part in rest)])


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_normalize_email)]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_normalize_phone)]
Language = Annotated[str, StringConstraints(strip_whitespace=True, max_length=35), AfterValidator(_normalize_language)]
def _country_code(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise refused("country", "must be a two-letter country code, such as SE or GB")
    return value.upper()


CHANNEL_ID_PATTERN = r"[A-Za-z0-9_.-]{1,64}"


def _channel_id(value: str) -> str:
    if not re.fullmatch(CHANNEL_ID_PATTERN, value):
        raise ValueError("must be 1 to 64 letters, digits, '.', '_' or '-'")
    return value


CountryCode = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_country_code)]
ChannelId = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_channel_id)]


class _Input(BaseModel):
    # Unknown fields are refused by name: a typo in a storefront form must not silently lose data.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Input):
    street: text_field(200)
    city: text_field(100)
    zip_code: text_field(20)
    country: CountryCode
    state: text_field(100) | None = None


class Company(_Input):
    name: text_field(200)
    registration_number: text_field(50) | None = None
    vat_number: text_field(50) | None = None
    address: Address
    phone: Phone


class ContactPerson(_Input):
    first_name: text_field(100)
    last_name: text_field(100)
    email: Email
    phone: Phone
    preferred_language: Language = "en"


def _policy_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
        raise refused("policy_url", "must be the absolute http(s) URL of the privacy policy agreed to")
    return value


PolicyUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_policy_url)]


class PrivacyConsent(_Input):
    """The requester agreed to this privacy policy; the intake records when (the time it received the request)."""

    privacy_policy_url: PolicyUrl


class SignupRequest(_Input):
    """Version 1 of the intake body."""

    company: Company
    contact: ContactPerson
    comments: text_field(2000, min_length=0, multiline=True) | None = None
    consent: PrivacyConsent | None = Field(None, description="The privacy policy the requester agreed to, "
                                           "when the storefront asks for consent.")
    channel_id: ChannelId = Field(description="The channel (online store) the request came from.")
