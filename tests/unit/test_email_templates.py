"""Email templates: language fallback, escaping, subject and text body, placeholder checks."""
from __future__ import annotations

import html
import re
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import email_templates
from shared.domain.email_templates import (
    APPROVAL_APPROVED,
    APPROVAL_EXPIRED,
    APPROVAL_REJECTED,
    APPROVAL_REQUESTED,
    MERCHANT_DIGEST,
    MERCHANT_NOTICE,
    PLACEHOLDERS,
    PROSPECT_APPROVED,
    PROSPECT_REJECTED,
    SIGNUP_RECEIVED,
    USER_ADDED,
    USER_REMOVED,
    TemplateError,
    load_template,
    validate_templates,
)

_TAGS = re.compile(r"<[A-Za-z/!][^>]*>")

APPROVED_VALUES = {
    "firstname": "Anna", "lastname": "Svensson", "company": "Contoso & Co", "email": "anna@example.com",
    "zipcode": "753 10", "comments": "Call me", "storename": "Fabrikam Store", "storeurl": "https://shop.example/b2b",
    "signinurl": "https://shop.example/sign-in",
}
RECEIVED_VALUES = {"firstname": "Anna", "lastname": "Svensson", "company": "Contoso & Co",
                   "storename": "Fabrikam Store", "storeurl": "https://shop.example/b2b",
                   "statusurl": "https://b2b.example/api/signups/0f8e"}
REJECTED_VALUES = {"firstname": "Anna", "lastname": "Svensson", "company": "Contoso & Co"}
USER_VALUES = {"firstname": "Anna", "lastname": "Svensson", "company": "Contoso & Co", "email": "anna@example.com",
               "storename": "Fabrikam Store", "storeurl": "https://shop.example/b2b"}
VALUES = {SIGNUP_RECEIVED: RECEIVED_VALUES, PROSPECT_APPROVED: APPROVED_VALUES, PROSPECT_REJECTED: REJECTED_VALUES, USER_ADDED: USER_VALUES,
          USER_REMOVED: {k: USER_VALUES[k] for k in ("firstname", "lastname", "company", "storename")},
          MERCHANT_NOTICE: {"number": "PRO-000001", "company": "Anna Svensson Konsult", "country": "SE",
                            "channel": "b2b-web", "receivedat": "2026-12-03 14:02 CET", "storename": "Fabrikam Store",
                            "prospecturl": "https://b2b.example/api/console/prospects/PRO-000001"},
          MERCHANT_DIGEST: {"day": "2026-12-03", "count": "2", "storename": "Anna's Shop",
                            "consoleurl": "https://b2b.example/api/console",
                            "prospects": "PRO-000001 · SE · b2b-web\nPRO-000002 · NO · b2b-web"},
          "signup_confirm": {**{k: RECEIVED_VALUES[k] for k in RECEIVED_VALUES if k != "statusurl"},
                             "confirmurl": "https://b2b.example/api/signup/confirm/0f8e/1767225600/c2ln"},
          "signup_repeat": RECEIVED_VALUES}
# The approval emails (issue 12): each template takes the values its PLACEHOLDERS entry names.
APPROVAL_VALUES = {"firstname": "Anna", "lastname": "Svensson", "company": "Contoso & Co", "orderid": "SO-1001",
                   "amount": "2500.00 SEK", "buyer": "Erik Berg", "approver": "Ada Larsson", "comment": "For the launch",
                   "expiresat": "2026-12-10 16:51 UTC", "approvalsurl": "https://b2b.example/api/portal/approvals",
                   "storename": "Fabrikam Store"}
VALUES.update({name: {k: v for k, v in APPROVAL_VALUES.items() if k in PLACEHOLDERS[name]}
               for name in (APPROVAL_REQUESTED, APPROVAL_APPROVED, APPROVAL_REJECTED, APPROVAL_EXPIRED)})


def shipped_templates() -> list[tuple[str, str]]:
    found = []
    for entry in resources.files("shared.templates").iterdir():
        name = entry.name
        if name.endswith(".html"):
            template, language, _ = name.rsplit(".", 2)
            found.append((template, language))
    return sorted(found)


@pytest.fixture(autouse=True)
def fresh_template_cache():
    load_template.cache_clear()
    yield
    load_template.cache_clear()


@pytest.mark.parametrize("requested, expected", [
    ("sv-SE", "sv"), ("sv", "sv"), ("SV", "sv"), ("sv-FI", "sv"), ("en", "en"), ("en-GB", "en"),
    ("fr", "en"), ("fr-CA", "en"), ("zh-Hant-TW", "en"),
])
@pytest.mark.parametrize("name", [SIGNUP_RECEIVED, PROSPECT_APPROVED, PROSPECT_REJECTED, USER_ADDED, USER_REMOVED])
def test_language_fallback(name, requested, expected):
    template = load_template(name, requested)
    assert template.language == expected
    assert template.name == name
    assert template.render(VALUES[name]).language == expected


def test_unknown_template_name_is_an_error():
    with pytest.raises(TemplateError):
        load_template("prospect_maybe", "en")


@pytest.mark.parametrize("name, language", shipped_templates())
def test_every_shipped_template_uses_only_documented_placeholders_and_renders(name, language):
    assert name in PLACEHOLDERS
    template = load_template(name, language)
    used = set(re.findall(r"%([A-Za-z_]+)%", template.source))
    assert used <= PLACEHOLDERS[name]
    rendered = template.render(VALUES[name])
    assert "%" not in re.sub(r"%[^A-Za-z_]", "", rendered.html_body)
    assert rendered.subject and "\n" not in rendered.subject
    assert "Anna" in rendered.text_body


def test_every_template_has_english_and_swedish():
    assert {(name, language) for name in PLACEHOLDERS for language in ("en", "sv")} <= set(shipped_templates())


def test_values_are_html_escaped():
    hostile = dict(REJECTED_VALUES, company='<script>alert("x")</script>', firstname="Ann & <b>Bo</b>")
    rendered = load_template(PROSPECT_REJECTED, "en").render(hostile)
    assert "<script>" not in rendered.html_body
    assert "<b>Bo</b>" not in rendered.html_body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in rendered.html_body
    assert "Ann &amp; &lt;b&gt;Bo&lt;/b&gt;" in rendered.html_body


def test_attribute_values_cannot_break_out():
    rendered = load_template(PROSPECT_APPROVED, "en").render(
        dict(APPROVED_VALUES, storeurl='https://x.example/" onmouseover="alert(1)'))
    assert '" onmouseover="' not in rendered.html_body
    assert "&quot; onmouseover=&quot;" in rendered.html_body


def test_subject_comes_from_the_title_unescaped():
    rendered = load_template(PROSPECT_REJECTED, "en").render(dict(REJECTED_VALUES, company="<script> & Co"))
    assert rendered.subject == "Your business partner request for <script> & Co"


def test_subject_is_one_line():
    rendered = load_template(PROSPECT_REJECTED, "en").render(dict(REJECTED_VALUES, company="Two\nLines\r\nAB"))
    assert rendered.subject == "Your business partner request for Two Lines AB"


def test_swedish_subject():
    rendered = load_template(PROSPECT_APPROVED, "sv-SE").render(APPROVED_VALUES)
    assert rendered.subject == "Välkommen till Fabrikam Store, Contoso & Co är nu affärspartner"


def test_text_body_has_no_tags_and_unescaped_text():
    rendered = load_template(PROSPECT_APPROVED, "en").render(APPROVED_VALUES)
    assert not _TAGS.search(rendered.text_body)
    assert "Contoso & Co" in rendered.text_body
    assert "&amp;" not in rendered.text_body
    assert rendered.text_body.splitlines()[0] == "Dear Anna Svensson,"
    assert "<title>" not in rendered.text_body and "DOCTYPE" not in rendered.text_body
    assert rendered.text_body == rendered.text_body.strip()


@pytest.mark.parametrize("language", ["en", "sv"])
def test_text_body_keeps_line_breaks_of_br(language):
    rendered = load_template(PROSPECT_APPROVED, language).render(APPROVED_VALUES)
    assert ",Fabrikam Store" not in rendered.text_body
    assert rendered.text_body.splitlines()[-2:] == ["Fabrikam Store", "https://shop.example/b2b"]


def test_text_body_shows_a_hostile_value_as_plain_text():
    rendered = load_template(PROSPECT_REJECTED, "en").render(dict(REJECTED_VALUES, company="<script>"))
    assert "<script>" in rendered.text_body  # text/plain is not HTML: the name is shown as it was written


def test_a_value_with_a_marker_is_not_expanded_again():
    rendered = load_template(PROSPECT_REJECTED, "en").render(dict(REJECTED_VALUES, company="%firstname%"))
    assert "%firstname%" in rendered.html_body


def test_missing_value_is_an_error():
    with pytest.raises(TemplateError, match="company"):
        load_template(PROSPECT_REJECTED, "en").render({"firstname": "A", "lastname": "B"})


def test_unknown_placeholder_is_refused_at_load_time(monkeypatch):
    source = "<html><head><title>Hi %firstname%</title></head><body>%firstname% %password%</body></html>"
    monkeypatch.setattr(email_templates, "_read", lambda name, language: source)
    with pytest.raises(TemplateError, match="password"):
        load_template(PROSPECT_REJECTED, "en")


def test_approved_only_placeholders_are_unknown_in_the_rejected_template(monkeypatch):
    monkeypatch.setattr(email_templates, "_read", lambda name, language: "<body>%storeurl%</body>")
    with pytest.raises(TemplateError, match="storeurl"):
        load_template(PROSPECT_REJECTED, "en")


def test_unknown_placeholder_in_a_fallback_language_is_refused(monkeypatch):
    bodies = {"en": "<body>%nope%</body>"}
    monkeypatch.setattr(email_templates, "_read", lambda name, language: bodies.get(language))
    with pytest.raises(TemplateError, match="nope"):
        load_template(PROSPECT_REJECTED, "de-DE")


def test_no_body_in_any_language_is_an_error(monkeypatch):
    monkeypatch.setattr(email_templates, "_read", lambda name, language: None)
    with pytest.raises(TemplateError):
        load_template(PROSPECT_REJECTED, "sv-SE")


def test_fallback_order_is_exact_tag_then_primary_language_then_default(monkeypatch):
    asked: list[str] = []

    def read(name, language):
        asked.append(language)
        return None

    monkeypatch.setattr(email_templates, "_read", read)
    with pytest.raises(TemplateError):
        load_template(PROSPECT_REJECTED, "sv-SE")
    assert asked == ["sv-SE", "sv", "en"]


_value = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({key: _value for key in sorted(PLACEHOLDERS[PROSPECT_APPROVED])}),
       st.sampled_from(["en", "sv"]))
def test_any_value_appears_escaped_in_the_html(values, language):
    template = load_template(PROSPECT_APPROVED, language)
    rendered = template.render(values)
    for key, value in values.items():
        if f"%{key}%" in template.source:  # a placeholder offered need not be used (the postcode no longer is)
            assert html.escape(value, quote=True) in rendered.html_body
    assert "\n" not in rendered.subject
    # nothing a value holds can open a tag in the HTML body
    assert len(re.findall(r"<script", rendered.html_body, re.I)) == 0


def test_an_operators_folder_overrides_the_shipped_template_file_by_file(tmp_path):
    (tmp_path / "prospect_rejected.sv.html").write_text(
        "<html><head><title>Nej tack, %company%</title></head><body><p>Hej %firstname%</p></body></html>", "utf-8")
    folder = str(tmp_path)
    validate_templates(folder)
    swedish = load_template(PROSPECT_REJECTED, "sv-SE", folder).render(
        {"firstname": "Åsa", "lastname": "Berg", "company": "<AB>"})
    assert swedish.subject == "Nej tack, <AB>" and "&lt;AB&gt;" not in swedish.subject
    assert "Hej Åsa" in swedish.text_body
    english = load_template(PROSPECT_REJECTED, "en", folder)  # not overridden: the shipped file
    assert english.source == load_template(PROSPECT_REJECTED, "en").source


def test_a_broken_override_is_refused_when_the_app_starts(tmp_path):
    (tmp_path / "prospect_rejected.en.html").write_text("<body>%firstname% %password%</body>", "utf-8")
    with pytest.raises(TemplateError, match="password"):
        validate_templates(str(tmp_path))
    (tmp_path / "prospect_rejected.en.html").unlink()
    (tmp_path / "welcome.en.html").write_text("<body></body>", "utf-8")
    with pytest.raises(TemplateError, match="welcome.en.html"):
        validate_templates(str(tmp_path))
    with pytest.raises(TemplateError, match="not a folder"):
        validate_templates(str(tmp_path / "missing"))


def test_a_template_may_name_its_own_sender_and_escapes_values_there():
    rendered = load_template(USER_ADDED, "en").render({**USER_VALUES, "storename": "A&B <Shop>"})
    assert rendered.sender_name == "A&B <Shop> partner accounts"
    assert rendered.sender_address is None  # the settings' address signs it


def test_templates_without_a_sender_leave_it_to_the_settings():
    rendered = load_template(PROSPECT_REJECTED, "en").render(REJECTED_VALUES)
    assert (rendered.sender_name, rendered.sender_address) == (None, None)


@pytest.mark.parametrize("address, good", [("partners@shop.example", True), ("%firstname%@shop.example", False),
                                           ("not an address", False), ("a@b", False)])
def test_a_sender_address_in_a_template_is_checked_at_load(tmp_path, address, good):
    (tmp_path / "user_removed.en.html").write_text(
        f'<html><head><meta name="sender-address" content="{address}"><title>Bye %firstname%</title></head>'
        "<body><p>%lastname%</p></body></html>", "utf-8")
    if good:
        rendered = load_template(USER_REMOVED, "en", str(tmp_path)).render(VALUES[USER_REMOVED])
        assert rendered.sender_address == address
    else:
        with pytest.raises(TemplateError, match="sender-address"):
            load_template(USER_REMOVED, "en", str(tmp_path))


@pytest.mark.parametrize("language", ["en", "sv"])
def test_the_approval_links_the_sign_in_page_not_the_store_and_quotes_no_postcode(language):
    rendered = load_template(PROSPECT_APPROVED, language).render(APPROVED_VALUES)
    sign_in = re.search(r'<a href="([^"]+)">[^<]*</a>[^<]*<strong>anna@example.com', rendered.html_body)
    assert sign_in and sign_in.group(1) == APPROVED_VALUES["signinurl"]
    assert APPROVED_VALUES["zipcode"] not in rendered.html_body + rendered.text_body


@pytest.mark.parametrize("language", ["en", "sv"])
def test_the_received_email_links_the_status_page(language):
    rendered = load_template(SIGNUP_RECEIVED, language).render(RECEIVED_VALUES)
    assert f'href="{RECEIVED_VALUES["statusurl"]}"' in rendered.html_body
    assert RECEIVED_VALUES["statusurl"] in rendered.text_body
    assert "Contoso &amp; Co" in rendered.html_body and "Fabrikam Store" in rendered.subject
    assert rendered.language == language
