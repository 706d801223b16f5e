"""The merchant's "new partner request" notice: one email per new prospect (each), or one a day listing the day's
new prospects (daily), in the merchant's language, with the console link; read back as the .eml the outbox keeps."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.email_templates import MERCHANT_DIGEST, MERCHANT_NOTICE
from tests.services.flow import signup_body, work

MERCHANT = "orders@contoso.example, sales@contoso.example"
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def build(tmp_path, **settings: str) -> Container:
    environ = {"SALES_MODE": "none", "SEND_RECEIVED_EMAIL": "false", "OPERATOR_EMAIL": MERCHANT,
               "PUBLIC_BASE_URL": "https://b2b.contoso.example", **settings}
    return Container.build(Settings.from_env(environ, data_dir=tmp_path), clock=ManualClock(NOON))


def kept(c: Container) -> list:
    return [c.transport.read(summary["id"]) for summary in c.transport.list()]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_each_new_prospect_is_told_to_every_merchant_address_once_with_its_console_link(tmp_path):
    c = build(tmp_path)  # OPERATOR_NOTICE unset: each, since OPERATOR_EMAIL is
    c.intake.submit(signup_body(1))
    c.channel_sync.run()
    c.channel_sync.run()  # a second run writes nothing again
    work(c)
    emails = kept(c)
    assert sorted(str(m["To"]) for m in emails) == ["orders@contoso.example", "sales@contoso.example"]
    message = emails[0]
    assert message["Subject"] == "New partner request: Company 1 & Sons (PRO-000001)"
    assert "<html lang=\"en\">" in message.get_body(("html",)).get_content()
    text = text_of(message)
    for expected in ("Prospect: PRO-000001", "Company: Company 1 & Sons", "Country: SE", "Channel: b2b-web",
                     "https://b2b.contoso.example/api/console/prospects/PRO-000001"):
        assert expected in text
    html = message.get_body(("html",)).get_content()
    assert 'href="https://b2b.contoso.example/api/console/prospects/PRO-000001"' in html
    assert "Company 1 &amp; Sons" in html
    # on the prospect's page: the notice is one of its emails (and erased with it)
    assert {e.template for e in c.prospect_timeline.show("PRO-000001").emails} == {MERCHANT_NOTICE}


def test_the_notice_speaks_the_merchants_language_and_links_the_console_url_set(tmp_path):
    c = build(tmp_path, OPERATOR_LANGUAGE="sv", OPERATOR_EMAIL="orders@contoso.example",
              CONSOLE_URL="https://console.contoso.example/api/console/")
    c.intake.submit(signup_body(1, language="en"))  # the applicant's language is not the merchant's
    c.channel_sync.run()
    work(c)
    (message,) = kept(c)
    assert message["Subject"] == "Ny partnerförfrågan: Company 1 & Sons (PRO-000001)"
    assert "<html lang=\"sv\">" in message.get_body(("html",)).get_content()
    assert "https://console.contoso.example/api/console/prospects/PRO-000001" in text_of(message)
    assert "Land: SE" in text_of(message)


def test_daily_sends_one_digest_of_the_days_prospects_once_however_often_it_runs(tmp_path):
    c = build(tmp_path, OPERATOR_NOTICE="daily", OPERATOR_EMAIL="orders@contoso.example")
    for n in (1, 2):
        c.intake.submit(signup_body(n))
    c.channel_sync.run()  # both prospects at noon on 3 December
    work(c)
    assert kept(c) == []  # no email per request when daily
    c.clock.advance(13 * 3600)  # 01:00 on 4 December
    c.intake.submit(signup_body(3))
    c.channel_sync.run()  # the next day's: not in this digest
    report = c.merchant_notice.send_digest()
    assert (report.day.isoformat(), report.prospects, report.emails_written) == ("2026-12-03", 2, 1)
    assert c.merchant_notice.send_digest().emails_written == 0  # a second run (or instance) sends nothing
    again = Container.build(c.settings, clock=c.clock)
    assert again.merchant_notice.send_digest().emails_written == 0
    work(c)
    (message,) = kept(c)
    assert message["Subject"] == "New partner requests on 2026-12-03: 2"
    text = text_of(message)
    assert "PRO-000001 · SE · b2b-web · https://b2b.contoso.example/api/console/prospects/PRO-000001" in text
    assert "PRO-000002" in text and "PRO-000003" not in text
    assert "Company 1" not in text  # names no applicant: it outlives every one of them
    assert "https://b2b.contoso.example/api/console" in text
    with c.store.unit_of_work(read_only=True) as uow:
        assert [e.template for e in uow.list_emails(10)] == [MERCHANT_DIGEST]


def test_a_day_without_requests_sends_no_digest_and_off_sends_nothing(tmp_path):
    daily = build(tmp_path / "daily", OPERATOR_NOTICE="daily")
    assert daily.merchant_notice.send_digest().emails_written == 0
    off = build(tmp_path / "off", OPERATOR_NOTICE="off")
    off.intake.submit(signup_body(1))
    off.channel_sync.run()
    off.clock.advance(86400)
    assert off.merchant_notice.send_digest().emails_written == 0
    work(off)
    assert kept(off) == []


@pytest.mark.parametrize("environ, words", [
    ({"OPERATOR_NOTICE": "daily"}, "needs OPERATOR_EMAIL"),
    ({"OPERATOR_NOTICE": "weekly", "OPERATOR_EMAIL": "a@b.example"}, "not one of each, daily, off"),
    ({"OPERATOR_EMAIL": "orders at contoso"}, "not an email address"),
])
def test_settings_refuse_a_notice_that_cannot_be_sent(environ, words):
    with pytest.raises(ValueError, match=words):
        Settings.from_env(environ)
