"""The SMTP transport against a real SMTP server (aiosmtpd on loopback): what goes on the wire, STARTTLS with
AUTH LOGIN, failures that raise, and EmailDelivery retrying a failing server until it delivers once."""
from __future__ import annotations

import datetime as dt
import ipaddress
import smtplib
import ssl

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.smtp_email import SmtpSendError, SmtpTransport, UnsupportedAddress
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import EmailStatus
from tests.contract.factories import email_record, T0
from tests.contract.email_sinks import SmtpSink, free_port, outgoing
from tests.services.flow import work


USER, PASSWORD = "relay-user", "s3cret+/="


def plain(port: int, **options) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, starttls=False, timeout=5, local_hostname="localhost", **options)


# --- the wire ---------------------------------------------------------------------------------------------

def test_unicode_text_goes_as_7bit_without_smtputf8():
    """Non-ASCII subject and sender name with ASCII addresses: encoded-words, so any relay takes it."""
    email = outgoing(sender_name="Åsas Butik", subject="Välkommen – 商店 😀", text_body="Hej Åsa", html_body="<p>Å</p>")
    with SmtpSink() as sink:
        plain(sink.port).send(email)
    (envelope,) = sink.envelopes
    assert envelope.mail_from == email.sender_address
    assert envelope.rcpt_tos == [email.to]
    assert not envelope.smtp_utf8 and "SMTPUTF8" not in [o.upper() for o in envelope.mail_options]
    envelope.original_content.decode("ascii")  # 7-bit through and through
    (message,) = sink.delivered()
    assert message["Subject"] == email.subject
    assert message["From"].addresses[0].display_name == email.sender_name


def test_internationalized_domain_goes_as_punycode_without_smtputf8():
    with SmtpSink(smtputf8=False) as sink:
        plain(sink.port).send(outgoing(to="anna@bücher.de"))
    (envelope,) = sink.envelopes
    assert envelope.rcpt_tos == ["anna@xn--bcher-kva.de"]
    assert sink.delivered()[0]["To"].addresses[0].addr_spec == "anna@xn--bcher-kva.de"


def test_non_ascii_local_part_uses_smtputf8_when_offered():
    with SmtpSink(smtputf8=True) as sink:
        plain(sink.port).send(outgoing(to="åsa@example.com", subject="Hej Åsa"))
    (envelope,) = sink.envelopes
    assert envelope.smtp_utf8
    assert envelope.rcpt_tos == ["åsa@example.com"]
    (message,) = sink.delivered()
    assert message["To"].addresses[0].addr_spec == "åsa@example.com"
    assert message["Subject"] == "Hej Åsa"


def test_non_ascii_local_part_without_smtputf8_is_refused_clearly():
    with SmtpSink(smtputf8=False) as sink:
        with pytest.raises(UnsupportedAddress, match="SMTPUTF8") as raised:
            plain(sink.port).send(outgoing(to="åsa@example.com"))
    assert "åsa" not in str(raised.value)
    assert sink.envelopes == []


@pytest.mark.parametrize("to", ["Anna <anna@example.com>", "a@example.com, b@example.com", "anna@", "anna"])
def test_anything_but_one_plain_address_is_refused_before_connecting(to):
    with pytest.raises(UnsupportedAddress):
        plain(free_port()).send(outgoing(to=to))  # nothing listens there: refused before connecting


# --- STARTTLS and AUTH ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 / localhost: (cert file, key file, PEM text)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem", pem.decode("ascii")


def authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def secure_sink(certificate, **options) -> SmtpSink:
    """STARTTLS required, AUTH required over TLS, and only LOGIN offered (smtplib would prefer PLAIN)."""
    cert_file, key_file, _ = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    return SmtpSink(tls_context=server_context, require_starttls=True, auth_required=True, auth_require_tls=True,
                    authenticator=authenticator, auth_exclude_mechanism=["PLAIN"], **options)


def trusting(certificate) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2])


def test_starttls_and_auth_login(certificate):
    with secure_sink(certificate) as sink:
        transport = SmtpTransport("127.0.0.1", sink.port, username=USER, password=PASSWORD, timeout=5,
                                  local_hostname="localhost", ssl_context=trusting(certificate))
        transport.send(outgoing(subject="über TLS"))
    assert sink.sessions == [{"tls": True, "authenticated": True, "login": USER}]
    assert sink.delivered()[0]["Subject"] == "über TLS"


def test_wrong_password_raises_a_permanent_error(certificate):
    with secure_sink(certificate) as sink:
        transport = SmtpTransport("127.0.0.1", sink.port, username=USER, password="wrong", timeout=5,
                                  ssl_context=trusting(certificate))
        with pytest.raises(SmtpSendError) as raised:
            transport.send(outgoing())
    assert raised.value.code == 535 and raised.value.permanent
    assert sink.envelopes == []


def test_an_untrusted_certificate_is_not_accepted(certificate):
    """The default context verifies the server: a self-signed certificate fails, nothing is sent."""
    with secure_sink(certificate) as sink:
        transport = SmtpTransport("127.0.0.1", sink.port, username=USER, password=PASSWORD, timeout=5)
        with pytest.raises(SmtpSendError, match="SSLCertVerificationError"):
            transport.send(outgoing())
    assert sink.envelopes == []


def test_no_plaintext_fallback_when_the_server_offers_no_starttls():
    with SmtpSink() as sink:
        transport = SmtpTransport("127.0.0.1", sink.port, starttls=True, timeout=5)
        with pytest.raises(SmtpSendError, match="STARTTLS"):
            transport.send(outgoing())
    assert sink.envelopes == []


def test_a_password_is_never_sent_without_tls():
    with pytest.raises(ValueError, match="clear"):
        SmtpTransport("smtp.example.com", 587, username=USER, password=PASSWORD, starttls=False)
    with pytest.raises(ValueError, match="ASCII"):
        SmtpTransport("smtp.example.com", 587, username=USER, password="lösenord")
    assert PASSWORD not in repr(SmtpTransport("smtp.example.com", username=USER, password=PASSWORD))


# --- failures ---------------------------------------------------------------------------------------------

def test_server_down_raises():
    with pytest.raises(SmtpSendError, match="connect") as raised:
        plain(free_port()).send(outgoing())
    assert not raised.value.permanent


def test_refused_recipient_raises_without_naming_the_address():
    email = outgoing(to="anna.svensson@example.com")
    with SmtpSink(rcpt_reply="550 5.1.1 <{address}>: Recipient address rejected") as sink:
        with pytest.raises(SmtpSendError) as raised:
            plain(sink.port).send(email)
    assert raised.value.code == 550 and raised.value.permanent
    assert "anna" not in str(raised.value).lower() and "<address>" in str(raised.value)
    assert raised.value.__suppress_context__  # the original error (which names the address) is not chained
    assert sink.envelopes == []


def test_a_failing_goodbye_after_acceptance_does_not_raise(monkeypatch):
    """Once the server took the data, the email is delivered: a QUIT that fails must not make it a retry."""
    def broken_quit(self):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(smtplib.SMTP, "quit", broken_quit)
    with SmtpSink() as sink:
        plain(sink.port).send(outgoing())
    assert len(sink.delivered()) == 1


# --- through EmailDelivery ----------------------------------------------------------------------------------

def test_a_failing_server_is_retried_with_backoff_and_delivers_once(tmp_path):
    clock = ManualClock()
    port = free_port()
    c = Container.build(Settings.from_env({"SEND_RECEIVED_EMAIL": "false"}, data_dir=tmp_path), clock=clock,
                        transport=plain(port))  # the approval email only
    try:
        with c.store.unit_of_work() as uow:
            uow.add_email(email_record("email-1", T0))

        assert c.email_delivery.deliver("email-1") is EmailStatus.PENDING  # nothing listens on the port yet
        email = c.operator.emails()[0]
        assert email.status is EmailStatus.PENDING and email.attempts == 1
        assert "SmtpSendError" in email.last_error and "asa@example.com" not in email.last_error
        assert email.next_attempt_at is not None and email.next_attempt_at > clock.now()
        assert c.queue.count(c.settings.email_queue) == 1  # the retry, delayed
        assert work(c) == 0  # not due yet

        clock.advance(3600)
        assert work(c) == 1  # still down: a second attempt, another retry scheduled
        email = c.operator.emails()[0]
        assert email.status is EmailStatus.PENDING and email.attempts == 2

        with SmtpSink(port) as sink:
            clock.advance(3600)
            work(c)
            email = c.operator.emails()[0]
            assert email.status is EmailStatus.DELIVERED and email.attempts == 3 and email.last_error is None
            c.email_delivery.deliver("email-1")  # a stray repeat
            clock.advance(3600)
            work(c)
        (envelope,) = sink.envelopes
        assert envelope.rcpt_tos == ["asa@example.com"]
        assert "email-1" in sink.delivered()[0]["Message-ID"]
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
