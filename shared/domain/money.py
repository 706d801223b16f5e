"""Money: ``Decimal`` amounts in an ISO 4217 currency, never float.

An amount may not carry more decimals than its currency has minor units (12.345 EUR is not an amount a
payment can settle; 100.5 JPY neither), and only currencies that are money (not gold, test or fund
codes such as XAU or XXX) are accepted.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Active ISO 4217 codes by their number of minor units (the standard's table, 2025 amendments included).
_MINOR_UNITS: dict[int, str] = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: (
        "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF "
        "CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ "
        "GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
        "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON "
        "RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
        "UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
    ),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
MINOR_UNITS: dict[str, int] = {code: units for units, codes in _MINOR_UNITS.items() for code in codes.split()}

# Large enough for any order or credit line, small enough that a typo of extra digits is refused.
MAX_AMOUNT = Decimal("1e15")


class MoneyError(ValueError):
    """A currency or amount that is not money; the message says which rule it breaks."""


def currency_code(value: object) -> str:
    if not isinstance(value, str) or value.strip().upper() not in MINOR_UNITS:
        raise MoneyError(f"{value!r} is not an ISO 4217 currency code (for example EUR, USD, SEK, JPY)")
    return value.strip().upper()


def amount_in(value: object, currency: str, *, allow_zero: bool = False) -> Decimal:
    """``value`` as an amount of ``currency``: at most the currency's minor units (see ``decimal_amount``)."""
    units = MINOR_UNITS[currency_code(currency)]
    amount = decimal_amount(value, units, allow_zero=allow_zero, what=currency)
    return amount.quantize(Decimal(1).scaleb(-units))


def decimal_amount(value: object, places: int, *, allow_zero: bool = False, what: str = "the amount") -> Decimal:
    """``value`` (a decimal string, an int or a Decimal; a float is refused, it is not exact): finite, positive
    (or zero when allowed), below MAX_AMOUNT, with at most ``places`` decimals."""
    if isinstance(value, (bool, float)):
        raise MoneyError("an amount is a decimal string such as \"125.50\", not a floating-point number")
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a decimal amount") from None
    elif isinstance(value, (int, Decimal)):
        amount = Decimal(value)
    else:
        raise MoneyError("an amount is a decimal string such as \"125.50\"")
    if not amount.is_finite():
        raise MoneyError("an amount must be a finite number")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise MoneyError("an amount may not be negative" if allow_zero else "an amount must be greater than zero")
    if amount >= MAX_AMOUNT:
        raise MoneyError(f"an amount must be less than {MAX_AMOUNT:,.0f}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise MoneyError(f"{what} has {places} decimal places; {value} has more")
    return amount


def format_amount(amount: Decimal) -> str:
    """The amount as a plain decimal string, the way it travels in JSON (never as a float)."""
    return format(amount, "f")


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """``amount`` (any sign: a balance may be negative) with exactly ``currency``'s decimals, for display: 0
    becomes 0.00 EUR. Only for amounts that are exact already (sums of amounts in the currency)."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency_code(currency)]))
