"""Settings choose the email transport; bootstrap builds it (nothing is sent here)."""
from __future__ import annotations

import pytest

from shared.bootstrap import build_transport
from shared.config import Settings


def test_smtp_needs_a_host_and_reads_its_options():
    with pytest.raises(ValueError, match="SMTP_HOST"):
        Settings.from_env({"EMAIL_TRANSPORT": "smtp"})
    settings = Settings.from_env({"EMAIL_TRANSPORT": "smtp", "SMTP_HOST": "mail.example", "SMTP_PORT": "2525",
                                  "SMTP_STARTTLS": "false", "SMTP_TIMEOUT_SECONDS": "2.5"})
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_timeout_seconds) == (2525, False, 2.5)
    assert type(build_transport(settings)).__name__ == "SmtpTransport"


def test_ses_needs_a_region():
    with pytest.raises(ValueError, match="SES_REGION"):
        Settings.from_env({"EMAIL_TRANSPORT": "ses"})
    assert type(build_transport(Settings.from_env({"EMAIL_TRANSPORT": "ses", "SES_REGION": "eu-west-1"}))).__name__ \
        == "SesTransport"


@pytest.mark.parametrize("value", ["maybe", ""])
def test_a_flag_that_is_not_true_or_false_is_refused(value):
    with pytest.raises(ValueError, match="SMTP_STARTTLS"):
        Settings.from_env({"SMTP_STARTTLS": value})


def test_dataverse_needs_the_organization_url_and_builds_the_gateway():
    with pytest.raises(ValueError, match="DATAVERSE_URL"):
        Settings.from_env({"SALES_MODE": "dataverse"})
    from shared.bootstrap import build_sales

    settings = Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": "https://contoso.crm4.dynamics.com"})
    assert type(build_sales(settings, queue=None, clock=None)).__name__ == "DataverseSales"


@pytest.mark.parametrize("url", ["http://contoso.crm4.dynamics.com", "http://10.0.0.5:8080", "https://", "contoso",
                                 "ftp://127.0.0.1", "http://127.0.0.1.example.net"])
def test_dataverse_url_is_https_or_plain_http_on_loopback_only(url):
    with pytest.raises(ValueError, match="DATAVERSE_URL"):
        Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": url})


@pytest.mark.parametrize("url", ["https://contoso.crm4.dynamics.com", "http://127.0.0.1:50123", "http://localhost:8000",
                                 "http://[::1]:8000"])
def test_dataverse_url_accepted(url):
    assert Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": url}).dataverse_url == url
