"""The SES transport on moto: the raw message SES gets, failures that raise, and EmailDelivery retrying an
email that SES refused until the sender is verified, then delivering it once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import moto
import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.ses_email import SesSendError, SesTransport, UnsupportedAddress
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import EmailStatus
from tests.contract.factories import T0, email_record
from tests.contract.email_sinks import SES_REGION, free_port, outgoing, ses_delivered
from tests.services.flow import work



@pytest.fixture
def ses():
    with moto.mock_aws():
        yield boto3.client("sesv2", region_name=SES_REGION)


def raw_messages():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][SES_REGION].sent_messages


def test_the_raw_message_is_7bit_with_punycode_domains(ses):
    ses.create_email_identity(EmailIdentity="contoso.example")
    email = outgoing(to="anna@bücher.de", sender_name="Åsas Butik", subject="Välkommen – 商店 😀")
    SesTransport(region=SES_REGION).send(email)
    (sent,) = raw_messages()
    sent.raw_data.encode("ascii")  # SES has no SMTPUTF8: every header is ASCII (encoded-words)
    assert sent.source == email.sender_address
    assert "anna@xn--bcher-kva.de" in sent.destinations
    (message,) = ses_delivered()
    assert message["Subject"] == email.subject
    assert message["From"].addresses[0].display_name == email.sender_name


def test_an_unverified_sender_is_refused(ses):
    with pytest.raises(SesSendError) as raised:
        SesTransport(region=SES_REGION).send(outgoing())
    assert raised.value.code == "MessageRejected" and raised.value.permanent
    assert "noreply@contoso.example" not in str(raised.value) and "<address>" in str(raised.value)
    assert raised.value.__suppress_context__
    assert ses_delivered() == []


def test_a_non_ascii_local_part_is_refused_before_any_request():
    class NoCalls:
        def send_email(self, **request):
            raise AssertionError("SES must not be called")

    with pytest.raises(UnsupportedAddress, match="SMTPUTF8"):
        SesTransport(region=SES_REGION, client=NoCalls()).send(outgoing(to="åsa@example.com"))


def test_the_request_names_the_configuration_set():
    requests = []

    class Recording:
        def send_email(self, **request):
            requests.append(request)
            return {"MessageId": "m-1"}

    SesTransport(region=SES_REGION, client=Recording(), configuration_set="onboarding").send(outgoing())
    (request,) = requests
    assert request["ConfigurationSetName"] == "onboarding"
    assert request["FromEmailAddress"] == "noreply@contoso.example"
    assert request["Destination"] == {"ToAddresses": ["anna.svensson@example.com"]}
    assert isinstance(request["Content"]["Raw"]["Data"], bytes)


def test_ses_unreachable_raises():
    from botocore.config import Config

    client = boto3.client("sesv2", region_name=SES_REGION, endpoint_url=f"http://127.0.0.1:{free_port()}",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}))
    with pytest.raises(SesSendError, match="could not be reached") as raised:
        SesTransport(region=SES_REGION, client=client).send(outgoing())
    assert not raised.value.permanent


def test_boto3_is_imported_only_when_needed():
    code = ("import sys; import shared.adapters.ses_email as m; m.SesTransport(region='eu-west-1'); "
            "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_refused_email_waits_for_the_operator_and_is_delivered_once_after_the_fix(tmp_path, ses):
    clock = ManualClock()
    settings = Settings.from_env({"SEND_RECEIVED_EMAIL": "false"}, data_dir=tmp_path)  # the approval email only
    c = Container.build(settings, clock=clock, transport=SesTransport(region=SES_REGION))
    try:
        with c.store.unit_of_work() as uow:
            uow.add_email(email_record("email-1", T0))

        # An unverified sender is a refusal no retry changes: the email fails at once for the operator.
        assert c.email_delivery.deliver("email-1") is EmailStatus.FAILED
        email = c.operator.emails()[0]
        assert email.attempts == 1 and "MessageRejected" in email.last_error
        assert settings.email_sender_address not in email.last_error
        assert c.queue.count(settings.email_queue) == 0

        ses.create_email_identity(EmailIdentity=settings.email_sender_address.split("@")[1])
        c.email_outbox.retry_email("email-1", "ops")  # what `b2b retry-email` does once the sender is verified
        work(c)
        email = c.operator.emails()[0]
        assert email.status is EmailStatus.DELIVERED
        c.email_delivery.deliver("email-1")  # a stray repeat
        clock.advance(3600)
        work(c)
        (message,) = ses_delivered()
        assert message["To"].addresses[0].addr_spec == "asa@example.com"
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
