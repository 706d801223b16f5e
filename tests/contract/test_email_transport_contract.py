"""The EmailTransport port's contract: what is sent arrives as a deliverable MIME email.

To add a transport, add a builder to ``TRANSPORT_BUILDERS`` yielding an ``EmailHarness`` whose
``delivered()`` returns every email that reached the other side (parsed ``EmailMessage``s), for example
an SMTP transport pointed at an in-process SMTP sink. ``dedupes`` says whether the transport can tell
that a message id was delivered already (the outbox folder and the storage outbox can; SMTP cannot). ``checks_addresses`` says
whether it refuses a recipient that is not a plain addr-spec with ``UnsupportedAddress`` before building
the message (SMTP and SES put the addresses on an envelope; the outbox folder only writes the header).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Callable, ContextManager

import pytest

from shared.adapters.outbox_email import OutboxFolderTransport, parse_eml
from shared.adapters.smtp_email import UnsupportedAddress
from shared.ports import EmailTransport
from tests.contract.email_sinks import SES_REGION, SmtpSink, outgoing, ses_delivered
from tests.contract.factories import build_harness


@dataclass
class EmailHarness:
    transport: EmailTransport
    delivered: Callable[[], list[EmailMessage]]
    dedupes: bool
    checks_addresses: bool
    # SES has no SMTPUTF8: a non-ASCII local part cannot be sent through it at all.
    ascii_local_parts_only: bool = False


@contextmanager
def _outbox_folder(tmp_path):
    folder = tmp_path / "outbox"
    transport = OutboxFolderTransport(folder)

    def delivered() -> list[EmailMessage]:
        if not folder.is_dir():
            return []
        leftovers = [p.name for p in folder.iterdir() if p.suffix != ".eml"]
        assert not leftovers, f"half-written files left behind: {leftovers}"
        return [parse_eml(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]

    yield EmailHarness(transport, delivered, dedupes=True, checks_addresses=False)


@contextmanager
def _smtp(tmp_path):
    # SMTP to an in-process server that offers SMTPUTF8 (STARTTLS and AUTH: tests/integration/test_smtp_*).
    from shared.adapters.smtp_email import SmtpTransport

    with SmtpSink() as sink:
        transport = SmtpTransport("127.0.0.1", sink.port, starttls=False, timeout=5, local_hostname="localhost")
        yield EmailHarness(transport, sink.delivered, dedupes=False, checks_addresses=True)


@contextmanager
def _ses(tmp_path):
    # Amazon SES (SESv2 SendEmail with raw content) on moto; the sender's domain is a verified identity.
    import boto3
    from moto import mock_aws

    from shared.adapters.ses_email import SesTransport

    with mock_aws():
        client = boto3.client("sesv2", region_name=SES_REGION)
        client.create_email_identity(EmailIdentity="contoso.example")
        yield EmailHarness(SesTransport(region=SES_REGION), ses_delivered, dedupes=False, checks_addresses=True,
                           ascii_local_parts_only=True)


@contextmanager
def _storage(tmp_path, azurite):
    # Blobs in a container of the session's Azurite (a name of this test's own), read back as the back office
    # and `b2b outbox` read them.
    import uuid

    from shared.adapters.blob_outbox_email import BlobOutboxTransport
    from shared.config import Settings

    settings = Settings.from_env({"EMAIL_TRANSPORT": "storage", "AzureWebJobsStorage": azurite.connection_string,
                                  "EMAIL_OUTBOX_CONTAINER": f"outbox-{uuid.uuid4().hex[:12]}"})
    transport = BlobOutboxTransport.from_settings(settings)

    def delivered() -> list[EmailMessage]:
        return [transport.read(summary["id"]) for summary in transport.list()]

    yield EmailHarness(transport, delivered, dedupes=True, checks_addresses=False)


_storage.fixtures = ("azurite",)

TRANSPORT_BUILDERS: dict[str, Callable[..., ContextManager[EmailHarness]]] = {
    "outbox": _outbox_folder, "storage": _storage, "smtp": _smtp, "ses": _ses,
}


@pytest.fixture(params=sorted(TRANSPORT_BUILDERS))
def harness(request, tmp_path) -> EmailHarness:
    with build_harness(TRANSPORT_BUILDERS, request, tmp_path) as built:
        yield built


def only_delivery(harness: EmailHarness) -> EmailMessage:
    (message,) = harness.delivered()
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}


def test_sent_email_is_a_complete_mime_message(harness):
    email = outgoing()
    harness.transport.send(email)
    message = only_delivery(harness)
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (email.sender_name, email.sender_address)
    (recipient,) = message["To"].addresses
    assert recipient.addr_spec == email.to
    assert message["Subject"] == email.subject
    assert email.message_id in message["Message-ID"]
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(">")
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message.get_content_type() == "multipart/alternative"
    bodies = parts(message)
    assert set(bodies) == {"text/plain", "text/html"}
    assert bodies["text/plain"].rstrip("\n") == email.text_body
    assert bodies["text/html"].rstrip("\n") == email.html_body
    assert message.get_body(("plain",)).get_content().rstrip("\n") == email.text_body
    assert message.get_body(("html",)).get_content().rstrip("\n") == email.html_body


def test_plain_part_comes_before_html_part(harness):
    """Mail clients show the last alternative they understand: HTML must be last."""
    harness.transport.send(outgoing())
    message = only_delivery(harness)
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]


def test_a_repeat_is_dropped_or_honestly_delivered_again(harness):
    """A transport that can tell a repeat (the outbox folder) delivers it once; one that cannot (SMTP,
    SES) delivers it again rather than pretend: the delivery service never repeats a delivered email."""
    if not harness.dedupes:
        harness.transport.send(outgoing())
        harness.transport.send(outgoing())
        assert len(harness.delivered()) == 2
        return
    harness.transport.send(outgoing())
    harness.transport.send(outgoing())
    harness.transport.send(outgoing(subject="a changed subject"))
    message = only_delivery(harness)
    assert message["Subject"] == outgoing().subject


def test_distinct_message_ids_are_distinct_emails(harness):
    harness.transport.send(outgoing("id-1", subject="one"))
    harness.transport.send(outgoing("id-2", subject="two"))
    assert sorted(m["Subject"] for m in harness.delivered()) == ["one", "two"]


def test_unicode_subject_sender_and_bodies(harness):
    email = outgoing(
        sender_name="Åsas Butik, \"Göteborg\" AB",
        subject="Välkommen till Åsas butik – 商店 😀, Company & Söner <AB> är nu affärspartner",
        html_body="<p>Hej Åsa Öberg,</p><p>&lt;AB&gt; 商店 😀</p>",
        text_body="Hej Åsa Öberg,\n<AB> 商店 😀\nrad två",
        language="sv",
    )
    harness.transport.send(email)
    message = only_delivery(harness)
    assert message["Subject"] == email.subject
    (sender,) = message["From"].addresses
    assert sender.display_name == email.sender_name
    bodies = parts(message)
    assert bodies["text/plain"].rstrip("\n") == email.text_body
    assert bodies["text/html"].rstrip("\n") == email.html_body


def test_long_subject_survives_folding(harness):
    email = outgoing(subject=" ".join(f"ord{i}" for i in range(60)) + " slut")
    harness.transport.send(email)
    assert only_delivery(harness)["Subject"] == email.subject


def test_long_body_lines_survive(harness):
    text = "x" * 2000 + "\n" + "å" * 1500
    html = "<p>" + "y" * 5000 + "</p>"
    harness.transport.send(outgoing(text_body=text, html_body=html))
    bodies = parts(only_delivery(harness))
    assert bodies["text/plain"].rstrip("\n") == text
    assert bodies["text/html"].rstrip("\n") == html


# How a line break in each field is refused: the email package refuses it in a header value and in the parts
# of an Address (every transport builds its message with mime_message); a transport that checks addresses
# refuses the recipient earlier, as not a plain addr-spec.
HEADER_REFUSED = (ValueError, "may not contain linefeed or carriage return characters")
NAME_REFUSED = (ValueError, "address parts cannot contain CR or LF")
ADDRESS_REFUSED = (UnsupportedAddress, r"^not a plain email address \(local-part@domain\)$")


def injection_refusal(harness: EmailHarness, field: str) -> tuple[type[Exception], str]:
    if field == "sender_name":
        return NAME_REFUSED
    if field == "to" and harness.checks_addresses:
        return ADDRESS_REFUSED
    return HEADER_REFUSED


@pytest.mark.parametrize("field", ["subject", "sender_name", "to"])
def test_header_injection_is_refused(harness, field):
    """A value with a line break makes send() raise, with the refusal meant for it (another error, a crash
    on the way, fails the test), and nothing is delivered."""
    email = outgoing(**{field: getattr(outgoing(), field) + "\r\nBcc: victim@example.com"})
    refusal, message = injection_refusal(harness, field)
    with pytest.raises(refusal, match=message) as refused:
        harness.transport.send(email)
    assert type(refused.value) is refusal  # not a subclass such as UnsupportedAddress standing in for ValueError
    assert harness.delivered() == []


@pytest.mark.parametrize("to", ["anna@bücher.de", "åsa@example.com"])
def test_internationalized_recipient_is_deliverable(harness, to):
    """An address SignupRequest accepts must reach a mail server intact: the addr-spec is sent as UTF-8
    (SMTPUTF8) or with a punycode domain, never as RFC 2047 encoded-words (RFC 2047 section 5 forbids them
    in an addr-spec, so a relay would see a different, undeliverable address)."""
    if harness.ascii_local_parts_only and not to.split("@")[0].isascii():
        with pytest.raises(UnsupportedAddress):
            harness.transport.send(outgoing(to=to))
        assert harness.delivered() == []
        return
    harness.transport.send(outgoing(to=to))
    message = only_delivery(harness)
    raw_to = dict(message.raw_items())["To"]
    assert "=?" not in raw_to
    (recipient,) = message["To"].addresses
    assert recipient.addr_spec in (to, to.split("@")[0] + "@" + to.split("@")[1].encode("idna").decode("ascii"))
