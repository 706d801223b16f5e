"""Money: ISO 4217 codes and their minor units, exact decimals, never float."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.money import MINOR_UNITS, MoneyError, amount_in, currency_code, format_amount


@pytest.mark.parametrize("code, units", [("EUR", 2), ("SEK", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3),
                                         ("CLF", 4), ("USD", 2)])
def test_minor_units_of_well_known_currencies(code, units):
    assert MINOR_UNITS[code] == units


@pytest.mark.parametrize("code", ["XAU", "XXX", "XTS", "EURO", "eu", "", None, 978])
def test_codes_that_are_not_money_are_refused(code):
    with pytest.raises(MoneyError):
        currency_code(code)


def test_codes_are_case_insensitive_and_trimmed():
    assert currency_code(" sek ") == "SEK"


@pytest.mark.parametrize("value, currency, expected", [
    ("125.5", "EUR", "125.50"), ("100", "JPY", "100"), (7, "EUR", "7.00"), (Decimal("0.001"), "BHD", "0.001"),
    ("1.10", "EUR", "1.10"), ("1.100", "EUR", "1.10"), ("1E+2", "EUR", "100.00"),
])
def test_amounts_take_their_currencys_scale(value, currency, expected):
    assert format_amount(amount_in(value, currency)) == expected


@pytest.mark.parametrize("value, currency, why", [
    ("1.001", "EUR", "decimal places"), ("1.5", "JPY", "decimal places"), (1.5, "EUR", "floating-point"),
    (True, "EUR", "floating-point"), ("0", "EUR", "greater than zero"), ("-3", "EUR", "greater than zero"),
    ("NaN", "EUR", "finite"), ("Infinity", "EUR", "finite"), ("12,50", "EUR", "not a decimal"),
    ("1e15", "EUR", "less than"), ([1], "EUR", "decimal string"),
])
def test_amounts_that_are_not_money_are_refused(value, currency, why):
    with pytest.raises(MoneyError, match=why):
        amount_in(value, currency)


def test_zero_when_allowed():
    assert amount_in("0", "EUR", allow_zero=True) == Decimal("0.00")
    with pytest.raises(MoneyError, match="negative"):
        amount_in("-0.01", "EUR", allow_zero=True)


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999"), places=2))
def test_every_two_place_amount_round_trips_exactly(value):
    assert amount_in(format_amount(value), "EUR") == value
    assert format_amount(amount_in(str(value), "EUR")) == format_amount(value.quantize(Decimal("0.01")))
