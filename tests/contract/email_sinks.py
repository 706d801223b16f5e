"""Where the email transports' tests see what was sent: an SMTP server on loopback (aiosmtpd) and SES on moto,
and the email they send. Shared by the EmailTransport contract (tests/contract/test_email_transport_contract.py)
and the SMTP and SES integration tests (tests/integration/)."""
from __future__ import annotations

import socket
from email.message import EmailMessage

from shared.adapters.outbox_email import parse_eml
from shared.ports import OutgoingEmail


def outgoing(message_id: str = "6b0c5a1e-0000-4000-8000-000000000001", **changes) -> OutgoingEmail:
    values = dict(
        message_id=message_id, sender_name="Contoso Store", sender_address="noreply@contoso.example",
        to="anna.svensson@example.com", subject="Your business partner request for Company AB",
        html_body="<!DOCTYPE html><html><body><p>Dear Anna,</p><p><strong>Company AB</strong> is approved.</p></body></html>",
        text_body="Dear Anna,\nCompany AB is approved.", language="en",
    )
    values.update(changes)
    return OutgoingEmail(**values)


def from_wire(data: bytes) -> EmailMessage:
    """A message as a mailbox stores it: the wire's CRLF line ends become the local newline."""
    return parse_eml(data.replace(b"\r\n", b"\n"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    """An aiosmtpd server on a loopback port that keeps what it receives: ``envelopes`` (sender, recipients,
    options, raw bytes) and, for each, ``sessions`` (whether it came over TLS, who logged in).

    ``rcpt_reply`` answers every RCPT with that reply instead of accepting (``{address}`` is replaced).
    ``controller_options`` go to aiosmtpd's ``Controller`` (tls_context, require_starttls, authenticator …)."""

    def __init__(self, port: int | None = None, *, smtputf8: bool = True, rcpt_reply: str | None = None,
                 **controller_options):
        from aiosmtpd.controller import Controller

        self.port = port or free_port()
        self.envelopes: list = []
        self.sessions: list[dict] = []
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if rcpt_reply:
                    return rcpt_reply.format(address=address)
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                sink.envelopes.append(envelope)
                login = getattr(session.auth_data, "login", None)
                sink.sessions.append({"tls": session.ssl is not None, "authenticated": bool(session.authenticated),
                                      "login": login.decode() if login else None})
                return "250 OK queued"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=smtputf8,
                                     **controller_options)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def delivered(self) -> list[EmailMessage]:
        return [from_wire(envelope.original_content) for envelope in self.envelopes]


SES_REGION = "eu-west-1"


def ses_delivered(region: str = SES_REGION) -> list[EmailMessage]:
    """What SES (moto) accepted, as parsed messages."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
    return [from_wire(m.raw_data.encode("utf-8")) for m in sent if isinstance(m, RawMessage)]
