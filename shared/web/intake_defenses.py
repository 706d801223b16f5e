"""The intake's defenses on the storefront's pages: the form's hidden fields (honeypot, signed stamp), the
CAPTCHA widget and the page policy it needs, the "try again later" page, and decoy requests' views."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.config import Branding
from shared.domain.intake_defenses import CAPTCHA_TOKEN_FIELDS, HONEYPOT_FIELD, STAMP_FIELD
from shared.web.i18n import Reader

DEFENSE_FIELDS = frozenset({HONEYPOT_FIELD, STAMP_FIELD, *CAPTCHA_TOKEN_FIELDS})


def N_(message: str) -> str:
    return message


@dataclass(frozen=True)
class PostedDefenses:
    stamp: str | None
    honeypot: str
    captcha_token: str | None


def take_defense_fields(fields: dict[str, str], token_field: str | None) -> PostedDefenses:
    """The defenses' fields, removed from ``fields`` (they are no part of the request)."""
    posted = {name: fields.pop(name) for name in list(fields) if name in DEFENSE_FIELDS}
    return PostedDefenses(posted.get(STAMP_FIELD), posted.get(HONEYPOT_FIELD, "").strip(),
                          posted.get(token_field) if token_field else None)


def form_defenses(stamp: str, provider: str = "", site_key: str = "", language: str = "") -> dict:
    """What the form template needs: the honeypot's and stamp's names, the stamp, and the CAPTCHA widget."""
    captcha = None
    if provider:
        from shared.adapters.captcha import PROVIDERS

        chosen = PROVIDERS[provider]
        # The widgets speak the page's language: Turnstile and hCaptcha read data-language / hl, reCAPTCHA hl.
        captcha = {"script": f"{chosen.script_url}?hl={language}" if language else chosen.script_url,
                   "widget_class": chosen.widget_class, "site_key": site_key, "language": language}
    return {"honeypot": HONEYPOT_FIELD, "stamp_field": STAMP_FIELD, "stamp": stamp, "captcha": captcha}


def captcha_page_origins(provider: str) -> dict[str, tuple[str, ...]]:
    """The origins the form page's policy must allow for ``provider``'s widget (none without a CAPTCHA)."""
    if not provider:
        return {}
    from shared.adapters.captcha import PROVIDERS

    return PROVIDERS[provider].page_origins


def try_later_page(reader: Reader, branding: Branding, channel: str, retry_after: int) -> str:
    """Too many requests: when to try again, in the reader's words (a minute is said as minutes)."""
    from shared.web.pages import render
    from shared.web.storefront import FORM_PATH, page_values, with_language

    minutes = max(1, -(-retry_after // 60))
    return render("storefront/try_later.html", **page_values(reader, branding, channel, FORM_PATH, channel=channel),
                  page_title=reader.gettext(N_("Too many requests")), minutes=minutes,
                  form_url=with_language(FORM_PATH, reader.language, channel=channel), refresh_seconds=None)


def confirmation_location(signup_id: str, language: str, channel: str) -> str:
    """Where an accepted form post (and a decoy) is sent: its confirmation page, naming the channel when it is
    not the default one, so a decoy's page wears the same branding as a real one's (read from the request)."""
    from shared.web.storefront import DEFAULT_CHANNEL, received_path, with_language

    query = {"channel": channel} if channel != DEFAULT_CHANNEL else {}
    return with_language(received_path(signup_id), language, **query)


def decoy_view(signup_id: str, received_at: datetime, channel: str):
    """A decoy request as its pages show it: received, as every request is at first."""
    from shared.services.intake import SignupStatusView

    return SignupStatusView(signup_id, "received", received_at, [("received", received_at)], channel)
