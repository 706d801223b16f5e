"""The storefront's onboarding pages (form, confirmation, status) as view models for the Jinja2 templates in
``templates/storefront/``, in the reader's language, and the form post read back into the intake's body.

The form's fields are listed once, in ``FORM_FIELDS``: the template, the post's parsing, the error summary and
the OpenAPI document all read them (a field added here is a field everywhere)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from shared.config import Branding
from shared.domain.errors import MalformedBody
from shared.web.i18n import Reader, newstyle_gettext, newstyle_ngettext, page_languages


def N_(message: str) -> str:
    """Marks a message for the catalogs (pybabel extract -k N_); translated where it is shown."""
    return message


@dataclass(frozen=True)
class FormField:
    name: str  # the dotted JSON path in the intake body
    label: str  # a message id
    kind: str  # text, email, tel, textarea, country, language
    required: bool
    autocomplete: str
    section: str | None = None  # a heading before the field


FORM_FIELDS: tuple[FormField, ...] = (
    FormField("company.name", N_("Company name"), "text", True, "organization", N_("Your company")),
    FormField("company.registration_number", N_("Registration number"), "text", False, "off"),
    FormField("company.vat_number", N_("VAT number"), "text", False, "off"),
    FormField("company.phone", N_("Company phone"), "tel", True, "work tel"),
    FormField("company.address.street", N_("Street address"), "text", True, "address-line1"),
    FormField("company.address.city", N_("City"), "text", True, "address-level2"),
    FormField("company.address.zip_code", N_("Postal code"), "text", True, "postal-code"),
    FormField("company.address.country", N_("Country"), "country", True, "country"),
    FormField("contact.first_name", N_("First name"), "text", True, "given-name",
              N_("You, the person sending the request")),
    FormField("contact.last_name", N_("Last name"), "text", True, "family-name"),
    FormField("contact.email", N_("Email"), "email", True, "email"),
    FormField("contact.phone", N_("Phone"), "tel", True, "tel"),
    FormField("contact.preferred_language", N_("Language we answer you in"), "language", False, "language"),
    FormField("comments", N_("Comments"), "textarea", False, "off"),
)
FORM_KEY = "form_key"
CONSENT = "consent"  # the checkbox, shown when the channel has a privacy policy
CONSENT_LABEL = N_("I have read and accept the privacy policy")
DEFAULT_CHANNEL = "b2b-web"
# The form has about 17 fields; a post with many more is not from it. The cap bounds the parsing work.
MAX_FORM_FIELDS = 100

# Our own words for each rule the intake applies (InvalidInput.kinds), never the library's.
_MESSAGES = {
    "missing": N_("Fill in this field."),
    "string_too_short": N_("Fill in this field."),
    "string_too_long": N_("Shorten this to at most %(max_length)s characters."),
    "email": N_("Enter an email address such as name@example.com."),
    "phone": N_("Enter a phone number with 5 to 20 digits; it may also hold spaces and + ( ) . / -"),
    "country": N_("Choose a country from the list."),
    "language": N_("Choose a language from the list."),
    "line_break": N_("Write this on one line, without line breaks."),
    "tab": N_("Remove the tab characters from this field."),
    "hidden_character": N_("This has a hidden character (%(character)s), often pasted along with copied text: "
                           "please type it again."),
    "consent": N_("Tick the box to accept the privacy policy."),
}
# A select left empty: "choose one", not "fill in".
_REQUIRED_CHOICE = {kind: _MESSAGES[kind] for kind in ("country", "language")}
_OTHERWISE = N_("Check what you entered here.")

# The steps of a request in the applicant's words, and what happens after each.
STEP_TEXT = {
    "awaiting_confirmation": N_("Check your email: confirm your address with the link we sent you"),
    "received": N_("We received your request"),
    "prospect_created": N_("Your request is registered"),
    "lead_created": N_("Our sales team has your request"),
    "under_review": N_("Our sales team is reviewing your request"),
    "approved": N_("Approved: welcome as a business partner"),
    "rejected": N_("Not approved"),
}
NEXT_TEXT = {
    "awaiting_confirmation": N_("Open the link in the email we sent you and press its button. Then we register your "
                                "request. A request that is not confirmed in time is deleted."),
    "received": N_("Within a few minutes we register your request and hand it to our sales team."),
    "prospect_created": N_("We are handing your request to our sales team."),
    "lead_created": N_("Our sales team reviews your request, usually within a few working days, and may call "
                       "you."),
    "under_review": N_("Our sales team decides on your request and we email you the answer."),
    "approved": N_("We have emailed you how to sign in."),
    "rejected": N_("We have emailed you our answer."),
}
_COMING = ("received", "prospect_created", "lead_created", "under_review")
REFRESH_SECONDS = 30  # the status page reloads itself while nothing is decided


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


def form_fields(body: bytes) -> dict[str, str]:
    """The posted form, only the known fields (blank ones kept, so the form shows them again);
    MalformedBody when it has more than ``MAX_FORM_FIELDS`` fields."""
    from shared.web.intake_defenses import DEFENSE_FIELDS

    known = {f.name for f in FORM_FIELDS} | {"channel_id", FORM_KEY, CONSENT} | DEFENSE_FIELDS
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # "Max number of fields exceeded", the only error parse_qsl raises when not strict
        raise MalformedBody([("(form)", f"has more than {MAX_FORM_FIELDS} fields")]) from None
    return {name: value for name, value in pairs if name in known}


def payload_from_form(fields: dict[str, str], privacy_policy_url: str = "") -> dict:
    """Dotted form names → the nested JSON body the intake takes; a ticked consent box becomes consent to the
    channel's policy (the server's URL, never one the post names)."""
    payload: dict = {}
    for name, value in fields.items():
        if not value.strip() or name in (FORM_KEY, CONSENT):
            continue
        target = payload
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                break  # a field named like a parent object: the intake reports it as the wrong type
        else:
            target.setdefault(leaf, value)
    if privacy_policy_url and fields.get(CONSENT) == "yes":
        payload[CONSENT] = {"privacy_policy_url": privacy_policy_url}
    return payload


@dataclass(frozen=True)
class FieldError:
    field: str  # the form field's name, or the intake's path for a problem no field shows
    anchor: str | None  # the id of the control to link to and focus; None when the form has no such field
    label: str  # translated
    message: str  # translated


def field_id(name: str) -> str:
    return name.replace(".", "-")


def field_errors(problems: list[tuple[str, str]], kinds: list[tuple[str, dict]], reader: Reader) -> list[FieldError]:
    """The intake's problems in the reader's words, one per form field in the form's order. A missing group
    (all of "contact" left empty) is shown on each of its required fields, so one submit shows every field
    that needs a value."""
    _ = reader.gettext
    by_name = {f.name: f for f in FORM_FIELDS}
    shown: dict[str, FieldError] = {}
    for (path, _english), (kind, context) in zip(problems, kinds):
        targets = [path] if path in by_name or path == CONSENT else \
            [f.name for f in FORM_FIELDS if f.required and f.name.startswith(path + ".")] or [path]
        for target in targets:
            if target in shown:
                continue
            form_field = by_name.get(target)
            if target == CONSENT:
                shown[target] = FieldError(target, CONSENT, _(N_("Privacy policy")), _(_MESSAGES["consent"]))
                continue
            wording = _MESSAGES.get(kind, _OTHERWISE)
            if form_field and kind in ("missing", "string_too_short") and form_field.kind in _REQUIRED_CHOICE:
                wording = _REQUIRED_CHOICE[form_field.kind]
            message = _(wording) % {key: value for key, value in context.items() if isinstance(value, (int, str))} \
                if "%(" in wording else _(wording)
            label = _(form_field.label) if form_field else target
            shown[target] = FieldError(target, field_id(target) if form_field else None, label, message)
    order = [f.name for f in FORM_FIELDS] + [CONSENT]
    return sorted(shown.values(), key=lambda e: order.index(e.field) if e.field in order else len(order))


def theme_css(branding: Branding) -> str:
    """The channel's stylesheet: its accent colour (a checked hex colour, so it cannot become CSS of its own)
    and the text colour that reads best on it (WCAG contrast: black or white, whichever is higher)."""
    accent = _hex6(branding.accent_color)
    on_accent = "#000000" if _contrast(accent, "#000000") >= _contrast(accent, "#ffffff") else "#ffffff"
    return f":root {{ --brand: {accent}; --on-brand: {on_accent}; }}\n"


def theme_version(branding: Branding) -> str:
    """Changes when the stylesheet does: the link carries it, so a long cache never shows an old colour."""
    return hashlib.sha256(theme_css(branding).encode()).hexdigest()[:12]


def _hex6(colour: str) -> str:
    colour = colour.lower()
    return "#" + "".join(ch * 2 for ch in colour[1:]) if len(colour) == 4 else colour


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def with_language(path: str, language: str, **query: str) -> str:
    """A link to one of our pages that keeps the page's language (a ``?lang=`` the reader chose, or the one
    negotiated: the next page then speaks the same one whatever the browser sends)."""
    return f"{path}?{urlencode({**query, 'lang': language})}"


def page_values(reader: Reader, branding: Branding, channel: str, here: str, /, **query: str) -> dict:
    """What every storefront template reads: the language's words, the branding and theme of ``channel``, and
    ``here`` (the page's path and ``query``) in each page language for the language links."""
    from babel import Locale

    languages = [{"lang": tag, "name": Locale.parse(tag).get_display_name(tag).capitalize(),
                  "href": with_language(here, tag, **query), "current": tag == reader.language}
                 for tag in page_languages()]
    return {
        "lang": reader.language, "reader": reader, "branding": branding, "language_links": languages,
        "gettext": newstyle_gettext(reader.gettext), "_": newstyle_gettext(reader.gettext),
        "ngettext": newstyle_ngettext(reader.ngettext),
        # The theme route looks the channel up as the page did, so the two always agree.
        "theme_url": with_language(f"/api/signup/theme/{channel}", reader.language, v=theme_version(branding)),
    }


def status_steps(view, reader: Reader) -> list[dict]:
    """The request's steps in words: each one done with its local date, then those still to come (none once
    decided)."""
    _ = reader.gettext
    done = [{"status": name, "text": _(STEP_TEXT.get(name, name)), "at": reader.datetime(at), "done": True}
            for name, at in view.steps]
    if view.decided:
        return done
    reached = max((_COMING.index(name) for name, _at in view.steps if name in _COMING), default=-1)
    coming = [{"status": name, "text": _(STEP_TEXT[name]), "at": None, "done": False}
              for name in _COMING[reached + 1:]]
    decision = {"status": "decision", "text": _(N_("The decision, by email")), "at": None, "done": False}
    return done + coming + [decision]


# --- the pages -----------------------------------------------------------------------------------------------

FORM_PATH = "/api/signup"
NOTICES = {
    "too_large": N_("Your request was too large to send. Please fill in the form again with shorter texts."),
    "unreadable": N_("Your request could not be read. Please fill in the form again and send it."),
    "sent_already": N_("This form was sent already. Open the form again to send another request."),
    # The CAPTCHA (shared/services/intake_guard.py): not done, not solved, spent, or the provider unreachable.
    "captcha_missing": N_("Please complete the check that you are not a robot, then send the form again."),
    "captcha_failed": N_("The check that you are not a robot did not succeed. Please try it again."),
    "captcha_expired": N_("The check that you are not a robot expired. Please do it again, then send the form."),
    "captcha_unavailable": N_("We cannot check right now that you are not a robot. Please send the form again in a "
                              "few minutes."),
}


def received_path(signup_id: str) -> str:
    """The confirmation page of a request: its id only, so whoever has the URL learns no personal data."""
    return f"{FORM_PATH}/received/{signup_id}"


def form_page(reader: Reader, branding: Branding, *, channel_id: str, form_key: str,
              values: dict[str, str] | None = None, errors: list[FieldError] = (), notice: str | None = None,
              defenses: dict | None = None) -> str:
    """The form, with what was typed and the errors (a summary at the top, each one beside its field);
    ``defenses``: its honeypot, stamp and CAPTCHA widget (shared.web.intake_defenses.form_defenses)."""
    from shared.web.pages import render

    values = values or {}
    _ = reader.gettext
    return render(
        "storefront/form.html", **page_values(reader, branding, channel_id, FORM_PATH, channel=channel_id),
        page_title=_(N_("Become a business partner")), action=with_language(FORM_PATH, reader.language),
        channel_id=channel_id, form_key=form_key, values=values, fields=FORM_FIELDS, errors=list(errors),
        errors_by_field={error.field: error for error in errors}, notice=_(NOTICES[notice]) if notice else None,
        countries=reader.countries(), languages=reader.languages(), consent_label=CONSENT_LABEL,
        selected=_selected(values, reader), refresh_seconds=None, defenses=defenses or {},
    )


def _selected(values: dict[str, str], reader: Reader) -> dict[str, str]:
    """The options chosen in the selects: the posted ones, else the page's language for the answer language
    (a posted sv-SE chooses sv, the language we answer in)."""
    country = values.get("company.address.country", "").strip().upper()
    wanted = values.get("contact.preferred_language", "").strip() or reader.language
    tags = [tag for tag, _name in reader.languages()]
    language = next((tag for tag in tags if tag == wanted.lower()), None) or \
        next((tag for tag in tags if tag == wanted.split("-")[0].lower()), "")
    return {"company.address.country": country, "contact.preferred_language": language}


def confirmation_page(reader: Reader, branding: Branding, view, status_url: str, *, received_email: bool) -> str:
    from shared.web.pages import render

    return render(
        "storefront/confirmation.html", **page_values(reader, branding, view.channel_id, received_path(view.signup_id)),
        page_title=reader.gettext(N_("Thank you, we received your request")), signup_id=view.signup_id,
        status_url=with_language(status_url, reader.language), received_email=received_email, refresh_seconds=None,
        awaiting_confirmation=view.status == "awaiting_confirmation",
    )


def status_page(reader: Reader, branding: Branding, view, status_path: str, *, auto_update: bool = True) -> str:
    """Where a request stands, in words with local dates. Until the request is decided it reloads itself (a small
    script file, static/status-refresh.js), unless the reader turned that off (``auto_update``): a page that changes by itself
    can lose a screen reader's place, so the first thing after the status is the link that stops it (WCAG
    2.2.1, "turn off"), and the page without it links back to the updating one."""
    from shared.web.pages import render

    _ = reader.gettext
    undecided = not view.decided
    return render(
        "storefront/status.html", **page_values(reader, branding, view.channel_id, status_path),
        page_title=_(N_("Your request")), current=_(STEP_TEXT.get(view.status, view.status)),
        steps=status_steps(view, reader), next=_(NEXT_TEXT.get(view.status, NEXT_TEXT["received"])),
        refresh_seconds=REFRESH_SECONDS if undecided and auto_update else None,
        stop_url=with_language(status_path, reader.language, updates="off") if undecided and auto_update else None,
        resume_url=with_language(status_path, reader.language) if undecided and not auto_update else None,
    )


def not_found_page(reader: Reader, branding: Branding, here: str) -> str:
    from shared.web.pages import render

    return render("storefront/not_found.html", **page_values(reader, branding, DEFAULT_CHANNEL, here),
                  page_title=reader.gettext(N_("We cannot find this request")), refresh_seconds=None)
