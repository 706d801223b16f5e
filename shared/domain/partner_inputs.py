"""What partner admins, the storefront and the back office send about partners (JSON, camelCase).

Field names follow the storefront's JSON (``hierarchyId``, ``spendingLimit``); snake_case is accepted too.
Amounts are decimal strings (or exact JSON numbers); their currency decides how many decimals they may have.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator
from pydantic.alias_generators import to_camel

from shared.domain.errors import InvalidInput
from shared.domain.money import MoneyError, currency_code
from shared.domain.signup import CountryCode, Email, Language, Phone
from shared.domain.validation import OperatorName, text_field

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


def checked_order_id(value: str) -> str:
    """An order id from a route: the same shape as in a body."""
    if not re.fullmatch(_ID, value or ""):
        raise InvalidInput([("orderId", "is not a valid id (letters, digits, '.', '_', ':' or '-', at most 100)")])
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, alias_generator=to_camel,
                              populate_by_name=True)


def _exact_decimal(value: Any) -> Any:
    """Decimals stay exact: a float has already lost digits (JSON numbers are read as Decimal)."""
    if value is None or isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        return value
    raise ValueError("must be a decimal amount such as \"125.50\"")


# None is part of the checked type, not a union around it: a union would report a float once per branch.
ExactDecimal = Annotated[str | int | Decimal, BeforeValidator(_exact_decimal)]
OptionalExactDecimal = Annotated[str | int | Decimal | None, BeforeValidator(_exact_decimal)]


class NewPartnerUser(_Input):
    first_name: text_field(100)
    last_name: text_field(100)
    email: Email
    role: Literal["User", "Admin"] = "User"
    spending_limit: OptionalExactDecimal = None
    language: Language = "en"


class OperatorNewPartnerUser(NewPartnerUser):
    """Back office: a user an operator adds to a partner (how a partner without an Admin gets one)."""

    operator: OperatorName


class PartnerUserChanges(_Input):
    """An edit: only the fields sent change; ``spendingLimit: null`` removes the user's limit."""

    first_name: text_field(100) | None = None
    last_name: text_field(100) | None = None
    role: Literal["User", "Admin"] | None = None
    spending_limit: OptionalExactDecimal = None
    language: Language | None = None

    def sent(self) -> set[str]:
        return set(self.model_fields_set)


class OperatorPartnerUserChanges(PartnerUserChanges):
    """Back office: an edit of any partner's user (a role, say), with who makes it."""

    operator: OperatorName

    def sent(self) -> set[str]:
        return super().sent() - {"operator"}


class OperatorAction(_Input):
    """Back office: an action that needs nothing but who takes it (removing a user)."""

    operator: OperatorName


class PartnerRename(_Input):
    name: text_field(200)
    operator: OperatorName


class PartnerBlock(_Input):
    """Why the partner is blocked: required, kept in its history with who blocked it."""

    reason: text_field(500, multiline=True)
    operator: OperatorName


class PartnerReactivation(_Input):
    operator: OperatorName
    note: text_field(500, multiline=True) | None = None


class _Currency(_Input):
    currency: str

    @field_validator("currency", mode="before")
    @classmethod
    def _iso_4217(cls, value: Any) -> str:
        try:
            return currency_code(value)
        except MoneyError as error:
            raise ValueError(str(error)) from None


class _Order(_Currency):
    hierarchy_id: str = Field(pattern=_ID)
    user_id: str = Field(pattern=_ID)
    order_id: str | None = Field(None, pattern=_ID)
    amount: ExactDecimal


class OrderCheck(_Order):
    order_id: str = Field(pattern=_ID)


class OrderReservation(_Order):
    """The body of POST /api/orders/{orderId}/reserve: the order id is in the route (the body may repeat it)."""


class OrderRelease(_Input):
    """The (optional) body of POST /api/orders/{orderId}/release: the partner whose order it is. Without it,
    the caller's own partner (a user belongs to one)."""

    hierarchy_id: str | None = Field(None, pattern=_ID)


class CreditLineInput(_Currency):
    limit: ExactDecimal
    allow_exceeding: StrictBool | None = None  # sent: the line may (or may no longer) go over its limit
    operator: OperatorName | None = None  # who in the back office sets it (the ledger's "by")


class ExistingMember(_Input):
    customer_id: str = Field(min_length=1, max_length=100)
    role: Literal["User", "Admin"] = "User"
    spending_limit: OptionalExactDecimal = None


class OnboardExisting(_Input):
    """Back office: make an existing Organization customer a partner, with existing Person customers."""

    organization_customer_id: str = Field(min_length=1, max_length=100)
    members: list[ExistingMember] = Field(min_length=1, max_length=100)
    operator: OperatorName


class NewCustomer(_Input):
    """Back office: a customer that exists outside the onboarding flow (from the ERP), by account number."""

    account_number: str = Field(pattern=_ID)
    type: Literal["Person", "Organization"]
    name: text_field(200) | None = None  # an Organization's name; a Person's is first + last
    first_name: text_field(100) | None = None
    last_name: text_field(100) | None = None
    email: Email | None = None
    phone: Phone | None = None
    street: text_field(200) | None = None
    city: text_field(100) | None = None
    zip_code: text_field(20) | None = None
    country: CountryCode | None = None
