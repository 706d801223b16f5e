"""When two partner requests are "the same": the keys a store indexes each request under, so that a repeat is
found by a lookup, never by reading every request.

- **The requester's email** (``email_key``): the whole address lower-cased (mail providers treat the local part
  case-insensitively in practice, although RFC 5321 lets them not to). Plus-addressing (``anna+shop@…``) is NOT
  folded into ``anna@…``: on many domains ``+`` is an ordinary character of another mailbox, and merging two
  people's requests would hide one of them; a company applying again under a tagged address is still caught
  by its organization keys below.
- **The organization** (``organization_keys``): its registration number within its country, its VAT number
  (which carries its country), and its name within its country, each compacted (case, accents, spaces and
  punctuation do not count) and, for the name, without the legal form ("Fabrikam AB" = "FABRIKAM"), so the
  usual ways of typing one company meet.

Keys are stored hashed (``index_key``): an index row then holds no email or name, only a digest; what a
lookup finds is the request itself, read like any other.
"""
from __future__ import annotations

import re

from shared.domain.ids import hash_key
from shared.domain.prospect_directory import fold
from shared.domain.signup import SignupRequest

# Legal forms that end (or start) a company name and say nothing about which company it is. Compared after
# folding and compacting, so "A/S", "a.s." and "AS" are one.
LEGAL_FORMS = frozenset({
    "ab", "abp", "hb", "kb", "ek", "ekforening", "as", "asa", "aps", "oy", "oyj", "ltd", "limited", "plc", "llc",
    "llp", "inc", "corp", "corporation", "co", "company", "gmbh", "ag", "kg", "ohg", "ug", "sa", "sas", "sarl",
    "srl", "spa", "bv", "nv", "sl", "sro", "spzoo", "kft", "zrt", "doo", "ehf", "hf",
})


def email_key(email: str) -> str:
    return email.strip().lower()


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", fold(text))


def company_name_key(name: str) -> str:
    """The name as the duplicate check compares it: folded words, a leading or trailing legal form dropped
    (one of each: "AB Volvo" and "Volvo AB" meet), the rest compacted."""
    words = [_compact(word) for word in re.split(r"[\s,]+", fold(name).replace("&", " and "))]
    words = [word for word in words if word]
    if len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    if len(words) > 1 and words[0] in LEGAL_FORMS:
        words.pop(0)
    return "".join(words)


def organization_keys(request: SignupRequest) -> frozenset[str]:
    company = request.company
    country = company.address.country
    keys = set()
    if company.registration_number and _compact(company.registration_number):
        keys.add(f"registration:{country}:{_compact(company.registration_number)}")
    if company.vat_number and _compact(company.vat_number):
        keys.add(f"vat:{_compact(company.vat_number)}")
    if company_name_key(company.name):
        keys.add(name_key(country, company.name))
    return frozenset(keys)


def name_key(country: str, name: str) -> str:
    """A company name within its country (a request's, or an organization customer's onboarded by hand)."""
    return f"name:{country.strip().upper()}:{company_name_key(name)}"


def requester_key(request: SignupRequest) -> str:
    return f"email:{email_key(request.contact.email)}"


def index_key(key: str) -> str:
    """The form a store keeps a key in: a digest (no personal data in index rows; safe in any row key)."""
    return hash_key("duplicate\x1f" + key)


def index_keys(request: SignupRequest) -> frozenset[str]:
    """Every key a request is indexed under (``UnitOfWork.signups_with_key`` finds it by any of them)."""
    return frozenset(index_key(key) for key in {requester_key(request), *organization_keys(request)})
