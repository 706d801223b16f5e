"""The storefront's onboarding pages: plain server-rendered HTML, every value escaped."""
from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from shared.domain.errors import MalformedBody

# (field name, label, input type, required); the names are the JSON paths of the intake body.
FORM_FIELDS: list[tuple[str, str, str, bool]] = [
    ("company.name", "Company name", "text", True),
    ("company.registration_number", "Registration number", "text", False),
    ("company.vat_number", "VAT number", "text", False),
    ("company.phone", "Company phone", "tel", True),
    ("company.address.street", "Street address", "text", True),
    ("company.address.city", "City", "text", True),
    ("company.address.zip_code", "ZIP / postal code", "text", True),
    ("company.address.country", "Country (two letters, e.g. SE)", "text", True),
    ("contact.first_name", "First name", "text", True),
    ("contact.last_name", "Last name", "text", True),
    ("contact.email", "Email", "email", True),
    ("contact.phone", "Phone", "tel", True),
    ("contact.preferred_language", "Preferred language", "text", False),
    ("comments", "Comments", "textarea", False),
]
_SECTIONS = {"company.name": "Your company", "contact.first_name": "You, the person submitting"}

def page(title: str, body: str) -> str:
    # The page policy forbids inline styles: the look comes from the shared stylesheet.
    from shared.web.assets import asset_url

    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><link rel="stylesheet" href="{escape(asset_url("site.css"))}">'
            f'</head><body><main id="main" class="narrow">{body}</main></body></html>')


FORM_KEY = "form_key"
DEFAULT_CHANNEL = "b2b-web"


def form_channel(requested: str | None) -> str:
    """The channel a form is for: the one asked for (``?channel=``) if the intake accepts it as a channel
    id, else the storefront's default."""
    if not requested:
        return DEFAULT_CHANNEL
    # Here, not at the top: the domain model loads pydantic, which the app does not import at cold start.
    from shared.domain.signup import _channel_id

    try:
        return _channel_id(requested)
    except ValueError:
        return DEFAULT_CHANNEL


def form_page(action: str, channel_id: str, form_key: str, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, notice: str | None = None) -> str:
    """The form. ``form_key`` identifies this one filling-in: sending it twice (a reload, a double
    click) finds the first request instead of making a second."""
    values, errors = values or {}, errors or {}
    rows = []
    if notice:
        rows.append(f'<p class="error-summary" role="alert">{escape(notice)}</p>')
    elif errors:
        rows.append('<p class="error-summary" role="alert">Please correct the fields marked below.</p>')
    for name, label, kind, required in FORM_FIELDS:
        if name in _SECTIONS:
            rows.append(f"<h2>{escape(_SECTIONS[name])}</h2>")
        field_id = name.replace(".", "-")
        value = escape(values.get(name, ""))
        error = errors.get(name)
        attributes = f'id="{field_id}" name="{escape(name)}"' + (" required" if required else "")
        if error:
            attributes += f' aria-invalid="true" aria-describedby="{field_id}-error"'
        control = (f"<textarea {attributes} rows=4>{value}</textarea>" if kind == "textarea"
                   else f'<input type="{kind}" {attributes} value="{value}">')
        rows.append(f'<label for="{field_id}">{escape(label)}</label>{control}')
        if error:
            rows.append(f'<p class="error" id="{field_id}-error">{escape(error)}</p>')
    other = {k: v for k, v in errors.items() if k not in {n for n, *_ in FORM_FIELDS}}
    for name, message in other.items():
        rows.append(f'<p class="error">{escape(name)}: {escape(message)}</p>')
    return page("Become a business partner", (
        "<h1>Become a business partner</h1>"
        "<p>Tell us about your company. We review every request and answer by email.</p>"
        f'<form method="post" action="{escape(action)}" novalidate>'
        f'<input type="hidden" name="channel_id" value="{escape(channel_id)}">'
        f'<input type="hidden" name="{FORM_KEY}" value="{escape(form_key)}">'
        + "".join(rows) + '<button type="submit">Send request</button></form>'
    ))


def confirmation_page(signup_id: str, status_url: str) -> str:
    return page("Request received", (
        "<h1>Thank you, your request was received</h1>"
        f'<p>Your request id is <code id="request-id">{escape(signup_id)}</code>.</p>'
        f'<p>You can follow it here: <a id="status-link" href="{escape(status_url)}">{escape(status_url)}</a></p>'
        "<p>We will email you once it has been reviewed.</p>"
    ))


_STATUS_TEXT = {
    "received": "Received, waiting to be registered",
    "prospect_created": "Registered as a prospect",
    "lead_created": "Handed to our sales team",
    "under_review": "Under review",
    "approved": "Approved",
    "rejected": "Not approved",
}


def status_page(view: dict) -> str:
    steps = "".join(
        f"<li>{escape(_STATUS_TEXT.get(step['status'], step['status']))} <small>({escape(step['at'])})</small></li>"
        for step in view["steps"]
    )
    current = _STATUS_TEXT.get(view["status"], view["status"])
    return page("Request status", f'<h1>Your request</h1><p id="status">{escape(current)}</p><ol>{steps}</ol>')


# The form has 16 fields; a post with many more is not from it. The cap bounds the parsing work.
MAX_FORM_FIELDS = 100


def form_fields(body: bytes) -> dict[str, str]:
    """The posted form, only the known fields (blank ones kept, so the form shows them again);
    MalformedBody when it has more than ``MAX_FORM_FIELDS`` fields."""
    known = {name for name, *_ in FORM_FIELDS} | {"channel_id", FORM_KEY}
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # "Max number of fields exceeded", the only error parse_qsl raises when not strict
        raise MalformedBody([("(form)", f"has more than {MAX_FORM_FIELDS} fields")]) from None
    return {name: value for name, value in pairs if name in known}


def payload_from_form(fields: dict[str, str]) -> dict:
    """Dotted form names → the nested JSON body the intake takes."""
    payload: dict = {}
    for name, value in fields.items():
        if not value.strip() or name == FORM_KEY:
            continue
        target = payload
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                break  # a field named like a parent object: the intake reports it as the wrong type
        else:
            target.setdefault(leaf, value)
    return payload


def errors_by_field(problems: list[tuple[str, str]]) -> dict[str, str]:
    """Validation problems keyed by form field. A missing group (all of "contact" left empty) is shown
    on each of its required fields, so one submit shows every field that needs a value."""
    required = [name for name, _, _, needed in FORM_FIELDS if needed]
    names = {name for name, *_ in FORM_FIELDS}
    shown: dict[str, str] = {}
    for field, message in problems:
        targets = [field] if field in names else [n for n in required if n.startswith(field + ".")] or [field]
        for target in targets:
            shown.setdefault(target, message)
    return shown
