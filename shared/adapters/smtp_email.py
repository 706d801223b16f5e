"""The EmailTransport port over SMTP (stdlib ``smtplib``): a relay such as Azure Communication Services,
SendGrid, Exchange Online or a local Postfix.

One connection per email: EHLO, STARTTLS (verified against the system's trust store unless an
``ssl_context`` is given), AUTH when a username is set, one MAIL/RCPT/DATA, QUIT. Any failure before the
server accepted the data raises (``EmailDelivery`` retries with backoff); nothing after that raises, so
an email the server took is never sent again because a goodbye went wrong.

The MIME message is ``mime_message``'s. How it goes on the wire depends on the addresses:

* ASCII local parts (the usual case): internationalized domains become punycode (IDNA 2008) and the
  message is written 7-bit, with non-ASCII header text as RFC 2047 encoded-words. Every relay takes it;
  SMTPUTF8 is not asked for, so no downstream hop can bounce it for lacking SMTPUTF8.
* a non-ASCII local part (``åsa@example.com``) cannot be written in ASCII at all: it is sent as UTF-8
  with ``SMTPUTF8`` (RFC 6531) when the server offers it, and refused with ``UnsupportedAddress``
  otherwise.

Nothing here logs or puts in an exception message an address or a body.
"""
from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, replace
from email.policy import default as default_policy

from shared.adapters.outbox_email import mime_message
from shared.ports import OutgoingEmail

# The two ways a message goes on the wire (SMTP wants CRLF; bodies are quoted-printable either way).
SEVEN_BIT = default_policy.clone(linesep="\r\n")
EIGHT_BIT = default_policy.clone(utf8=True, max_line_length=998, linesep="\r\n")

_FORBIDDEN_IN_ADDRESS = set(' \t\r\n<>(),;:"[]\\')


class UnsupportedAddress(ValueError):
    """An address this transport cannot send to or from (it is not an addr-spec, or it needs SMTPUTF8
    where there is none). Retrying does not help."""

    permanent = True


class SmtpSendError(RuntimeError):
    """The SMTP conversation failed. ``code`` is the server's reply code when it gave one (5xx: the
    server refuses for good; 4xx or none: worth retrying). The message never names an address."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code is not None and 500 <= self.code < 600


@dataclass(frozen=True)
class WireMessage:
    """An email as it is handed to a relay: envelope and bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    smtputf8: bool


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain) of a bare addr-spec; ``UnsupportedAddress`` for anything else (display
    names, several addresses, quoted local parts, whitespace or line breaks)."""
    local, at, domain = address.rpartition("@")
    if (not at or not local or not domain or "@" in local
            or any(c in _FORBIDDEN_IN_ADDRESS or ord(c) < 32 or ord(c) == 127 for c in address)):
        raise UnsupportedAddress("not a plain email address (local-part@domain)")
    return local, domain


def ascii_domain(domain: str) -> str:
    """The domain as a relay reads it: unchanged when ASCII, punycode (IDNA 2008, UTS 46) otherwise."""
    if domain.isascii():
        return domain
    import idna  # a dependency of email-validator, which the app validates addresses with

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise UnsupportedAddress("the domain of an address is not a valid internationalized domain name") from None


def needs_smtputf8(email: OutgoingEmail) -> bool:
    """Whether an address has a non-ASCII local part, which only SMTPUTF8 can carry."""
    return any(not split_address(address)[0].isascii() for address in (email.sender_address, email.to))


def wire_message(email: OutgoingEmail, *, smtputf8_available: bool) -> WireMessage:
    """The envelope and bytes of ``email`` (see the module docstring for the two forms)."""
    if needs_smtputf8(email):
        if not smtputf8_available:
            raise UnsupportedAddress(
                "an address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531); "
                "the mail server does not offer it"
            )
        data = mime_message(email).as_bytes(policy=EIGHT_BIT)
        return WireMessage(email.sender_address, (email.to,), data, smtputf8=True)
    sender, to = (_ascii_address(address) for address in (email.sender_address, email.to))
    data = mime_message(replace(email, sender_address=sender, to=to)).as_bytes(policy=SEVEN_BIT)
    return WireMessage(sender, (to,), data, smtputf8=False)


def _ascii_address(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{ascii_domain(domain)}"


class SmtpTransport:
    def __init__(self, host: str, port: int = 587, *, username: str | None = None, password: str | None = None,
                 starttls: bool = True, timeout: float = 30.0, local_hostname: str | None = None,
                 ssl_context: ssl.SSLContext | None = None):
        if not host:
            raise ValueError("SMTP host is empty")
        if username and not starttls:
            # Refuse to send a password in the clear; a relay without TLS is for local sinks only.
            raise ValueError("SMTP AUTH without STARTTLS would send the password in the clear")
        if not ((username or "").isascii() and (password or "").isascii()):
            raise ValueError("SMTP username and password must be ASCII (smtplib sends AUTH as ASCII)")
        self.host = host
        self.port = port
        self.username = username or None
        self._password = password or ""
        self.starttls = starttls
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._ssl_context = ssl_context

    def __repr__(self) -> str:  # no password in logs or tracebacks
        return (f"SmtpTransport(host={self.host!r}, port={self.port}, starttls={self.starttls}, "
                f"auth={'yes' if self.username else 'no'})")

    def send(self, email: OutgoingEmail) -> None:
        # Whatever can be refused without the server is refused before connecting (bad addresses,
        # header injection: mime_message raises ValueError on a line break in a header value).
        wire = None if needs_smtputf8(email) else wire_message(email, smtputf8_available=False)
        hide = [email.to, email.sender_address, *((wire.sender, *wire.recipients) if wire else ())]
        try:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise _describe(error, "connect", hide) from None
        accepted = False
        try:
            try:
                smtp.ehlo()
                if self.starttls:
                    # No STARTTLS offered raises SMTPNotSupportedError: never fall back to plaintext.
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password)
                if wire is None:
                    wire = wire_message(email, smtputf8_available=smtp.has_extn("smtputf8"))
                options = ["SMTPUTF8", "BODY=8BITMIME"] if wire.smtputf8 else []
                # One recipient: if it is refused, sendmail raises SMTPRecipientsRefused.
                smtp.sendmail(wire.sender, list(wire.recipients), wire.data, mail_options=options)
                accepted = True
            except (OSError, smtplib.SMTPException) as error:
                raise _describe(error, "send", hide) from None
        finally:
            _goodbye(smtp, polite=accepted)


def _goodbye(smtp: smtplib.SMTP, polite: bool) -> None:
    """Close the connection; a failing QUIT must not turn a delivered email into a retried one."""
    try:
        if polite:
            smtp.quit()
    except Exception:  # noqa: BLE001 - the email was accepted: nothing left to report
        pass
    finally:
        smtp.close()


def _describe(error: BaseException, stage: str, hide: list[str]) -> SmtpSendError:
    """An error without addresses: smtplib puts them in SMTPRecipientsRefused and SMTPSenderRefused,
    and a server's reply text often repeats them."""
    code: int | None = None
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        code, text = replies[0] if replies else (None, b"")
        detail = f"recipient refused: {code} {_text(text)}"
    elif isinstance(error, smtplib.SMTPSenderRefused):
        code, detail = error.smtp_code, f"sender refused: {error.smtp_code} {_text(error.smtp_error)}"
    elif isinstance(error, smtplib.SMTPResponseException):
        code, detail = error.smtp_code, f"{error.smtp_code} {_text(error.smtp_error)}"
    else:
        detail = str(error)
    return SmtpSendError(f"SMTP {stage} failed ({type(error).__name__}): {hide_addresses(detail, hide)}"[:400], code)


def hide_addresses(text: str, addresses: list[str]) -> str:
    """``text`` with each of ``addresses`` replaced, longest first: a shorter address can sit inside a
    longer one, which must not be left half hidden."""
    for address in sorted({a for a in addresses if a}, key=len, reverse=True):
        text = re.sub(re.escape(address), "<address>", text, flags=re.IGNORECASE)
    return text


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
