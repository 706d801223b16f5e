"""Email templates: HTML with %placeholder% markers, one body per language, values HTML-escaped."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

SIGNUP_RECEIVED = "signup_received"
PROSPECT_APPROVED = "prospect_approved"
PROSPECT_REJECTED = "prospect_rejected"
USER_ADDED = "user_added"
USER_REMOVED = "user_removed"
MERCHANT_NOTICE = "partner_request"  # to the merchant (OPERATOR_EMAIL): a new prospect, with its console link
MERCHANT_DIGEST = "partner_requests_digest"  # to the merchant: a day's new prospects, once a day
SIGNUP_CONFIRM = "signup_confirm"  # REQUIRE_EMAIL_CONFIRMATION: the link that confirms the request (issue 11)
SIGNUP_REPEAT = "signup_repeat"  # the requester has an open request already: its status link (issue 11)
APPROVAL_REQUESTED = "approval_requested"  # to each Approver and Admin: an order awaits their approval
APPROVAL_APPROVED = "approval_approved"  # to the buyer
APPROVAL_REJECTED = "approval_rejected"  # to the buyer, with the approver's comment
APPROVAL_EXPIRED = "approval_expired"  # to the buyer: no one decided in time

# The placeholders each notification type offers (the product's documented lists, plus signinurl: where an
# approved partner signs in, and the received email of our own with the status page's statusurl). storename
# and storeurl are the channel's (the online store the request came from).
PLACEHOLDERS: dict[str, frozenset[str]] = {
    SIGNUP_RECEIVED: frozenset({"firstname", "lastname", "company", "storename", "storeurl", "statusurl"}),
    PROSPECT_APPROVED: frozenset(
        {"firstname", "lastname", "company", "email", "zipcode", "comments", "storename", "storeurl", "signinurl"}
    ),
    PROSPECT_REJECTED: frozenset({"firstname", "lastname", "company"}),
    USER_ADDED: frozenset({"firstname", "lastname", "company", "email", "storename", "storeurl"}),
    USER_REMOVED: frozenset({"firstname", "lastname", "company", "storename"}),
    MERCHANT_NOTICE: frozenset({"number", "company", "country", "channel", "receivedat", "prospecturl", "storename"}),
    # The digest names each prospect by number, country and channel, without its company: one email about many
    # applicants outlives each of them (erasing one never has to rewrite it); the link opens the rest.
    MERCHANT_DIGEST: frozenset({"day", "count", "prospects", "consoleurl", "storename"}),
    SIGNUP_CONFIRM: frozenset({"firstname", "lastname", "company", "storename", "storeurl", "confirmurl"}),
    SIGNUP_REPEAT: frozenset({"firstname", "lastname", "company", "storename", "storeurl", "statusurl"}),
    APPROVAL_REQUESTED: frozenset({"firstname", "lastname", "company", "orderid", "amount", "buyer", "expiresat",
                                   "approvalsurl", "storename"}),
    APPROVAL_APPROVED: frozenset({"firstname", "lastname", "company", "orderid", "amount", "approver", "comment",
                                  "approvalsurl", "storename"}),
    APPROVAL_REJECTED: frozenset({"firstname", "lastname", "company", "orderid", "amount", "approver", "comment",
                                  "approvalsurl", "storename"}),
    APPROVAL_EXPIRED: frozenset({"firstname", "lastname", "company", "orderid", "amount", "expiresat",
                                 "approvalsurl", "storename"}),
}
DEFAULT_LANGUAGE = "en"

_MARKER = re.compile(r"%([A-Za-z_]+)%")
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_LINE_BREAK = re.compile(r"<br\s*/?>|</p>|</li>|</h[1-6]>", re.I)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
# A template may name its own sender; without these the settings' sender (EMAIL_SENDER_*) signs it.
_SENDER = {field: re.compile(rf'<meta\s+name="sender-{field}"\s+content="([^"]*)"\s*/?>', re.I)
           for field in ("name", "address")}
_ADDRESS = re.compile(r"[^@\s<>\"%]+@[^@\s<>\"%]+\.[^@\s<>\"%]+")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html_body: str
    text_body: str
    language: str
    sender_name: str | None = None
    sender_address: str | None = None


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    language: str
    source: str

    def render(self, values: dict[str, str]) -> RenderedEmail:
        missing = set(_MARKER.findall(self.source)) - set(values)
        if missing:
            raise TemplateError(f"template {self.name}: no value for {sorted(missing)}")
        body = _MARKER.sub(lambda m: html.escape(values[m.group(1)], quote=True), self.source)
        title = _TITLE.search(body)
        subject = html.unescape(title.group(1)).strip() if title else self.name
        inner = _BODY.search(body)
        text = html.unescape(_TAG.sub("", _LINE_BREAK.sub("\n", inner.group(1) if inner else body)))
        text = "\n".join(line.strip() for line in text.splitlines()).strip()
        sender = {field: html.unescape(found.group(1)).strip() if (found := pattern.search(body)) else None
                  for field, pattern in _SENDER.items()}
        return RenderedEmail(subject=" ".join(subject.split()), html_body=body, text_body=text, language=self.language,
                             sender_name=sender["name"] or None, sender_address=sender["address"] or None)


def _read(name: str, language: str) -> str | None:
    resource = resources.files("shared.templates").joinpath(f"{name}.{language}.html")
    return resource.read_text("utf-8") if resource.is_file() else None


def _read_override(folder: str, name: str, language: str) -> str | None:
    path = Path(folder) / f"{name}.{language}.html"
    return path.read_text("utf-8") if path.is_file() else None


@cache
def load_template(name: str, language: str, override_folder: str = "") -> EmailTemplate:
    """The template in ``language`` (``sv-SE`` falls back to ``sv``, then to the default language).

    An operator's folder (setting EMAIL_TEMPLATES_DIR) wins over the files shipped in the package, file by
    file. An unknown placeholder is an error here, at load time, not a blank in somebody's inbox."""
    if name not in PLACEHOLDERS:
        raise TemplateError(f"no email template named {name!r}")
    for candidate in _language_fallbacks(language):
        source = (_read_override(override_folder, name, candidate) if override_folder else None) \
            or _read(name, candidate)
        if source is not None:
            unknown = set(_MARKER.findall(source)) - PLACEHOLDERS[name]
            if unknown:
                raise TemplateError(f"template {name}.{candidate} uses unknown placeholders {sorted(unknown)}")
            address = _SENDER["address"].search(source)
            if address and not _ADDRESS.fullmatch(html.unescape(address.group(1)).strip()):
                raise TemplateError(f"template {name}.{candidate}: sender-address {address.group(1)!r} is not an "
                                    "email address (placeholders are not allowed there)")
            return EmailTemplate(name, candidate, source)
    raise TemplateError(f"template {name} has no body in {language!r} nor in {DEFAULT_LANGUAGE!r}")


def validate_templates(override_folder: str = "") -> None:
    """Load every template an override folder holds, so a broken one stops the app at start."""
    if not override_folder:
        return
    folder = Path(override_folder)
    if not folder.is_dir():
        raise TemplateError(f"EMAIL_TEMPLATES_DIR {override_folder!r} is not a folder")
    for path in sorted(folder.glob("*.html")):
        name, _, language = path.stem.partition(".")
        if name not in PLACEHOLDERS or not language:
            raise TemplateError(f"{path.name}: not <template>.<language>.html for a known template {sorted(PLACEHOLDERS)}")
        load_template(name, language, override_folder)


def template_languages() -> frozenset[str]:
    """The languages some shipped email template is written in: the languages we can answer a request in."""
    return frozenset(entry.name.split(".")[1] for entry in resources.files("shared.templates").iterdir()
                     if entry.name.endswith(".html") and entry.name.count(".") == 2)


def _language_fallbacks(language: str) -> list[str]:
    tags = [language, language.split("-")[0], DEFAULT_LANGUAGE]
    return list(dict.fromkeys(tag.lower() if "-" not in tag else tag for tag in tags))
