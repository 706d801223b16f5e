"""A queue message body as an operator may read it without seeing personal data.

Poison messages carry whatever their producer put in them: a lead draft or a Sales qualification holds
names, emails, phones and addresses. Masking decides by field name first (a ``first_name``, an
``emailaddress1``, a ``street`` is masked whatever its value looks like), then by value shape (an email
address or a phone number inside any other text, found by the same patterns as the log redaction), so a
field nobody foresaw still does not show an address. Ids, kinds, times and schema names stay: they say
what the message was about. A body that is not JSON is masked by value shape only.
"""
from __future__ import annotations

import hashlib
import json
import re

from shared.observability import redact

MASK = "•••"

# Field names that hold personal data, matched on the name lower-cased without separators: the app's own
# (first_name, company_name, zip_code …) and Dataverse's (firstname, emailaddress1, telephone1,
# address1_line1, address1_postalcode …). "name" alone is a company's or a person's name.
_PERSONAL_FIELD = re.compile(
    r"name|mail|phone|mobile|fax|street|address|line\d|city|zip|postal|postcode|comment|description|note|"
    r"subject|contact|birth|ssn|iban|vat|registration"
)


def is_personal_field(name: str) -> bool:
    """Whether a field of this name holds personal data; an id (``contact_id``, ``emailid``) never does."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return bool(_PERSONAL_FIELD.search(key)) and not key.endswith(("id", "ids"))


def _mask(value: object, personal: bool) -> object:
    if isinstance(value, dict):
        return {key: _mask(item, personal or is_personal_field(str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, personal) for item in value]
    if personal and value is not None and not isinstance(value, bool):
        return MASK
    return redact(value) if isinstance(value, str) else value


def _parsed(body: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def pretty_body(body: str, *, masked: bool) -> str:
    """The body pretty-printed when it is JSON (as sent otherwise); ``masked``: without personal data."""
    data = _parsed(body)
    if data is _NOT_JSON:
        return redact(body) if masked else body
    return json.dumps(_mask(data, False) if masked else data, indent=2, ensure_ascii=False)


def fingerprint(body: str) -> str:
    """Identifies a body exactly (it tells two discarded messages apart) without saying what is in it."""
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


_ABOUT_KEYS = ("schema", "version", "kind", "source")


def body_about(body: str) -> str:
    """What a message was about, in one line without personal data: its schema and kind and the ids it
    names (``deliver-email v1 email_id=…``), for an audit record that outlives the message."""
    data = _parsed(body)
    if data is _NOT_JSON:
        return f"not JSON ({len(body.encode('utf-8'))} bytes)"
    if not isinstance(data, dict):
        return f"JSON {type(data).__name__}, not an object"
    head = " ".join(f"v{data[k]}" if k == "version" else str(data[k]) for k in _ABOUT_KEYS
                    if isinstance(data.get(k), (str, int)) and not isinstance(data.get(k), bool))
    ids = " ".join(f"{k}={v}" for k, v in data.items()
                   if k.endswith("_id") and isinstance(v, str) and not is_personal_field(k))
    return " ".join(part for part in (head, ids) if part)[:300] or "JSON object"
