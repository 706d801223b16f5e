"""The pages' languages: which one a request gets, its messages, its dates and its names of countries and
languages, all from Babel (CLDR data and gettext catalogs).

A page language is one with a catalog, ``locales/<lang>/LC_MESSAGES/messages.po``; a language we can answer
in is one with email templates (shared/templates/*.<lang>.html). Adding a language is adding those files.
The catalogs are the ``.po`` files themselves, compiled in memory on first use: no build step, no ``.mo``
to forget or to let go stale beside its ``.po`` (a few milliseconds once per language and process).
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"

# Two-letter territory codes CLDR names that ISO 3166-1 does not assign to a country: exceptional
# reservations (AC, CP, CQ, DG, EA, IC, TA), groupings (EU, EZ, UN), pseudo and unknown regions (QO, XA, XB,
# ZZ) and XK, a user-assigned code. What is left of CLDR's two-letter codes is ISO 3166-1's 249.
_NOT_ISO_3166 = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"})


@functools.cache
def page_languages() -> tuple[str, ...]:
    """The languages the pages are written in: the default and every language with a catalog."""
    found = {path.parent.parent.name for path in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {DEFAULT_LANGUAGE}))


@functools.cache
def answer_languages() -> tuple[str, ...]:
    """The languages we can answer a request in (the form's language select): those our emails are written in."""
    from shared.domain.email_templates import template_languages

    return tuple(sorted(template_languages() | {DEFAULT_LANGUAGE}))


def accept_language(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, the most wanted first (q-values; q=0 means "not this")."""
    ranked = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        tag, quality = tag.strip(), 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(requested: str | None, accept_language_header: str | None) -> str:
    """The page's language: ``?lang=`` if we have it, else the best of Accept-Language, else the default."""
    from babel import negotiate_locale

    available = page_languages()
    for preferred in ([requested] if requested else [], accept_language(accept_language_header)):
        found = negotiate_locale(preferred, available, sep="-")
        if found:
            return found.split("-")[0].lower()
    return DEFAULT_LANGUAGE


@functools.cache
def _translations(language: str):
    """The language's catalog compiled in memory (Babel reads the .po and writes the .mo it would build)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(frozen=True)
class Reader:
    """One request's language: its words, its dates (in the store's time zone), its names of countries."""

    language: str
    time_zone: str = "UTC"

    @property
    def gettext(self) -> Callable[[str], str]:
        return _translations(self.language).gettext

    @property
    def ngettext(self) -> Callable[[str, str, int], str]:
        return _translations(self.language).ngettext

    def datetime(self, moment: datetime) -> str:
        """``moment`` as the reader writes a date and time (CLDR's long pattern), in the store's time zone."""
        from zoneinfo import ZoneInfo

        from babel.dates import format_datetime

        return format_datetime(moment, "long", tzinfo=ZoneInfo(self.time_zone), locale=self.language)

    def countries(self) -> list[tuple[str, str]]:
        """ISO 3166-1 countries (code, name in the reader's language), sorted as the reader sorts names."""
        return _countries(self.language)

    def languages(self) -> list[tuple[str, str]]:
        """The languages we answer in (tag, its own name and the reader's name for it)."""
        return _languages(self.language)


@functools.cache
def _countries(language: str) -> list[tuple[str, str]]:
    from babel import Locale

    names = Locale.parse(language).territories
    countries = [(code, name) for code, name in names.items()
                 if len(code) == 2 and code.isalpha() and code not in _NOT_ISO_3166]
    return sorted(countries, key=lambda entry: _sort_key(entry[1]))


@functools.cache
def _languages(language: str) -> list[tuple[str, str]]:
    from babel import Locale

    reader = Locale.parse(language)
    options = []
    for tag in answer_languages():
        own = Locale.parse(tag)
        own_name, readers_name = own.get_display_name(own), own.get_display_name(reader)
        label = own_name.capitalize() if own_name == readers_name else \
            f"{own_name.capitalize()} ({readers_name})"
        options.append((tag, label))
    return options


def _sort_key(name: str) -> str:
    """Names sorted by their letters with accents ignored (Östeuropa's Ö as O). A language's own collation
    (Swedish puts Å, Ä, Ö after Z) needs ICU, a large native package; this order is close enough to find a
    country in a select, where typing its first letters jumps to it anyway."""
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(ch))


def newstyle_gettext(translate: Callable[[str], str]):
    """A ``gettext`` for templates with Jinja2's i18n extension in newstyle mode: the message translated,
    marked safe only after translation and then %-formatted with escaped values, as Jinja2's own does.
    Passed per render (not installed on the shared environment): requests in other languages run at once."""
    from jinja2 import pass_context
    from markupsafe import Markup

    @pass_context
    def gettext(context, message: str, **variables):
        text = translate(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return gettext


def newstyle_ngettext(translate: Callable[[str, str, int], str]):
    from jinja2 import pass_context
    from markupsafe import Markup

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables):
        variables.setdefault("num", num)
        text = translate(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return ngettext
