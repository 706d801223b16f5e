"""The pages' languages (shared/web/i18n.py): negotiation, catalogs that cover every message, and a language
added by files alone."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.web import i18n
from shared.web.i18n import Reader, accept_language, negotiate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("requested, header, expected", [
    (None, None, "en"),
    (None, "sv", "sv"),
    (None, "sv-SE,sv;q=0.9,en;q=0.5", "sv"),
    (None, "de-DE,de;q=0.9,sv;q=0.8,en;q=0.7", "sv"),  # no German pages: the next best we have
    (None, "en;q=0.4,sv;q=0.8", "sv"),  # by q-value, not by position
    (None, "sv;q=0,en", "en"),  # q=0 means "not this"
    (None, "*", "en"),
    (None, "garbage;;;q=x,,", "en"),
    ("en", "sv", "en"),  # ?lang= wins over the header
    ("sv-FI", None, "sv"),
    ("xx", "sv", "sv"),  # a ?lang= we do not have falls back to the header
])
def test_the_page_language_is_lang_then_accept_language_then_the_default(requested, header, expected):
    assert negotiate(requested, header) == expected


def test_accept_language_orders_by_quality_then_position():
    assert accept_language("da, en-GB;q=0.8, en;q=0.8, sv;q=0.9") == ["da", "sv", "en-GB", "en"]


def _extracted() -> set[str]:
    """Every message the pages use, as pybabel extracts them with shared/web/babel.cfg."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(ROOT / "shared/web/babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str):
    from babel.messages.pofile import read_po

    with open(i18n.LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as source:
        return read_po(source, locale=language)


def test_the_catalogs_hold_every_message_the_pages_use_and_swedish_translates_each():
    used = _extracted()
    assert "Send request" in used and "Become a business partner" in used and len(used) > 50
    for language in ("en", "sv"):
        catalog = _catalog(language)
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        assert used <= ids, f"{language}: not in the catalog, run `make translations`: {sorted(used - ids)}"
    untranslated = [m.id for m in _catalog("sv") if m.id and (m.fuzzy or not all(
        m.string if isinstance(m.string, tuple) else [m.string]))]
    assert untranslated == []
    # Babel's own checks: the same %(name)s placeholders in both (a typo such as "%(seconds)e" fails here)
    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalog("sv").check()]
    assert problems == []


def test_a_language_is_added_by_files_alone(tmp_path, monkeypatch):
    locales = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES, locales)
    german = locales / "de" / "LC_MESSAGES"
    german.mkdir(parents=True)
    source = (locales / "sv" / "LC_MESSAGES" / "messages.po").read_text("utf-8")
    german.joinpath("messages.po").write_text(
        source.replace('msgstr "Skicka ansökan"', 'msgstr "Anfrage senden"').replace("Language: sv", "Language: de"),
        "utf-8")
    monkeypatch.setattr(i18n, "LOCALES", locales)
    for cached in (i18n.page_languages, i18n._translations):
        cached.cache_clear()
    try:
        assert i18n.page_languages() == ("de", "en", "sv")
        assert negotiate(None, "de-AT,de;q=0.9") == "de"
        assert Reader("de").gettext("Send request") == "Anfrage senden"
        assert dict(Reader("de").countries())["SE"] == "Schweden"
    finally:
        for cached in (i18n.page_languages, i18n._translations):
            cached.cache_clear()


def test_we_answer_in_the_languages_our_emails_are_written_in():
    from shared.domain.email_templates import template_languages

    assert set(i18n.answer_languages()) == set(template_languages()) == {"en", "sv"}


def test_dates_are_in_the_readers_words_and_the_stores_time_zone():
    from datetime import datetime, timezone

    moment = datetime(2026, 7, 1, 10, 30, tzinfo=timezone.utc)
    assert Reader("sv", "Europe/Stockholm").datetime(moment) == "1 juli 2026 12:30:00 CEST"
    assert Reader("en").datetime(moment).startswith("July 1, 2026")
