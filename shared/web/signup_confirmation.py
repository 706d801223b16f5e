"""The double opt-in's page (issue 11) in the reader's language: the button that confirms, what a confirmed
request does next, and what to do with an expired or broken link."""
from __future__ import annotations

from shared.config import Branding
from shared.web.i18n import Reader
from shared.web.storefront import DEFAULT_CHANNEL, FORM_PATH, N_, page_values, with_language

TITLES = {
    "ready": N_("Confirm your email address"),
    "confirmed": N_("Your email address is confirmed"),
    "already_confirmed": N_("Your email address is confirmed"),
    "expired": N_("This link has expired"),
    "invalid": N_("This link does not work"),
}
MESSAGES = {
    "confirmed": N_("Thank you. Your request is on its way to our sales team."),
    "already_confirmed": N_("You confirmed your email address already: there is nothing more to do."),
    "expired": N_("A request whose email is not confirmed in time is deleted. Please send the form again."),
    "invalid": N_("Open the whole link from the email; if it still does not work, send the form again."),
}
STATUS = {"ready": 200, "confirmed": 200, "already_confirmed": 200, "expired": 410, "invalid": 404}


def confirm_page(reader: Reader, branding: Branding, state: str, here: str, *, channel_id: str | None,
                 status_url: str | None) -> str:
    from shared.web.pages import render

    _ = reader.gettext
    channel = channel_id or DEFAULT_CHANNEL
    return render(
        "storefront/confirm_email.html", **page_values(reader, branding, channel, here),
        page_title=_(TITLES[state]), state=state, message=_(MESSAGES[state]) if state in MESSAGES else None,
        action=with_language(here, reader.language),
        status_url=with_language(status_url, reader.language) if status_url else None,
        form_url=with_language(FORM_PATH, reader.language, channel=channel), refresh_seconds=None,
    )
