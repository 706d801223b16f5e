"""The "we received your request" email, the consent a form records, and the channel's branding in the emails
(store name, store URL, the approval's sign-in link)."""
from __future__ import annotations

import json

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.email_templates import PROSPECT_APPROVED, SIGNUP_RECEIVED
from shared.domain.errors import InvalidInput
from tests.services.flow import signup_body, work

NORDIC = {"store_name": "Contoso Norden", "store_url": "https://norden.contoso.example/shop",
          "sign_in_url": "https://norden.contoso.example/sign-in"}


def build(tmp_path, **environ: str) -> Container:
    environ = {"SALES_MODE": "none", "PUBLIC_BASE_URL": "https://b2b.contoso.example",
               "CHANNELS": json.dumps({"nordic-web": NORDIC}), **environ}
    return Container.build(Settings.from_env(environ, data_dir=tmp_path), clock=ManualClock())


@pytest.fixture
def c(tmp_path):
    container = build(tmp_path)
    yield container
    container.store.close()
    container.queue.close()


def emails(c: Container, template: str) -> list:
    return [e for e in c.operator.emails() if e.template == template]


def test_a_signup_gets_one_received_email_with_its_status_link_in_its_language(c):
    body = signup_body(1, language="sv-SE")
    receipt = c.intake.submit(body, idempotency_key="form-1")
    again = c.intake.submit(body, idempotency_key="form-1")  # a reload of the form post
    assert again.signup_id == receipt.signup_id
    [email] = emails(c, SIGNUP_RECEIVED)
    assert email.to == "person1@example.com" and email.language == "sv-SE"
    assert email.values["statusurl"] == f"https://b2b.contoso.example/api/signups/{receipt.signup_id}"
    assert email.values["storename"] == "Contoso B2B"

    assert work(c) == 1  # sent at once: its message was on the email queue
    [sent] = c.transport.list()
    text = c.transport.read(sent["id"]).get_body(("plain",)).get_content()
    assert "har tagit emot ansökan" in text and email.values["statusurl"] in text


def test_the_received_email_names_the_channels_store(c):
    c.intake.submit({**signup_body(2), "channel_id": "nordic-web"})
    [email] = emails(c, SIGNUP_RECEIVED)
    assert (email.values["storename"], email.values["storeurl"]) == (NORDIC["store_name"], NORDIC["store_url"])


def test_send_received_email_false_sends_none(tmp_path):
    c = build(tmp_path, SEND_RECEIVED_EMAIL="false")
    c.intake.submit(signup_body(3))
    assert c.operator.emails() == [] and work(c) == 0
    c.store.close()
    c.queue.close()


def test_the_approval_links_the_channels_sign_in_page_and_names_its_store(c):
    c.intake.submit({**signup_body(4), "channel_id": "nordic-web"})
    c.intake.submit(signup_body(5))
    c.channel_sync.run()
    for prospect in c.operator.prospects(None):
        c.back_office.approve(prospect.number, "alice")
    by_company = {e.values["company"]: e.values for e in emails(c, PROSPECT_APPROVED)}
    nordic, default = by_company["Company 4 & Sons"], by_company["Company 5 & Sons"]
    assert (nordic["signinurl"], nordic["storename"], nordic["storeurl"]) == (
        NORDIC["sign_in_url"], NORDIC["store_name"], NORDIC["store_url"])
    # Without SIGN_IN_URL: this app's partner portal, never the signup form.
    assert default["signinurl"] == "https://b2b.contoso.example/api/portal"
    assert "/api/signup" not in default["signinurl"]


def test_consent_is_recorded_with_the_time_and_the_policy(c):
    policy = "https://contoso.example/privacy"
    receipt = c.intake.submit({**signup_body(6), "consent": {"privacy_policy_url": policy}},
                              privacy_policy_url=policy)
    with c.store.unit_of_work(read_only=True) as uow:
        record = uow.get_signup(receipt.signup_id)
    assert record.request.consent.privacy_policy_url == policy
    assert record.consent_given_at == record.received_at == c.clock.now()


def test_a_form_that_asks_for_consent_refuses_a_request_without_it_among_the_other_errors(c):
    policy = "https://contoso.example/privacy"
    with pytest.raises(InvalidInput) as refused:
        c.intake.submit(signup_body(7), privacy_policy_url=policy)
    assert refused.value.problems == [("consent", "agree to the privacy policy to send the request")]
    body = signup_body(8)
    body["contact"]["email"] = "not an email"
    body["consent"] = {"privacy_policy_url": "https://elsewhere.example/privacy"}  # not the channel's policy
    with pytest.raises(InvalidInput) as refused:
        c.intake.submit(body, privacy_policy_url=policy)
    assert [kind for kind, _ in refused.value.kinds] == ["email", "consent"]
    assert c.operator.emails() == []
