"""The double opt-in through its functions (issue 11): the 202 says awaiting_confirmation, the received page says
to check the email, the link's GET is a page with a button and confirms nothing, its POST confirms; expired,
tampered and reused links get pages that say so."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from functions.signup_confirmation import signup_confirm, signup_confirm_page
from functions.signups import signup_intake, signup_status
from functions.storefront import storefront_received
from shared.domain.email_templates import SIGNUP_CONFIRM
from shared.domain.model import SignupStatus
from tests.functions.conftest import container_with
from tests.functions.test_storefront_function import FORM, get, submit
from tests.services.flow import signup_body


@pytest.fixture
def confirming(tmp_path, monkeypatch):
    yield from container_with(tmp_path, monkeypatch, REQUIRE_EMAIL_CONFIRMATION="true",
                              SIGNUP_LINK_SECRET="functions-test-secret-0123456789abcdef")


def intake(body: dict) -> func.HttpResponse:
    return signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups",
                                          body=json.dumps(body).encode(), headers={"content-type": "application/json"}))


def link(c, signup_id: str) -> tuple[str, dict]:
    [email] = [e for e in c.operator.emails() if e.template == SIGNUP_CONFIRM and signup_id in e.values["confirmurl"]]
    path = urlsplit(email.values["confirmurl"]).path
    _id, expires, signature = path.split("/")[-3:]
    return path, {"id": _id, "expires": expires, "signature": signature}


def post(url: str, route_params: dict) -> func.HttpResponse:
    return signup_confirm(func.HttpRequest("POST", url, body=b"", headers={}, route_params=route_params))


def test_the_json_api_answers_awaiting_confirmation_and_the_link_confirms_on_post_only(confirming):
    c = confirming
    answer = intake(signup_body(1))
    assert answer.status_code == 202
    accepted = json.loads(answer.get_body())
    assert accepted["status"] == "awaiting_confirmation"
    path, params = link(c, accepted["id"])
    url = f"http://localhost:7071{path}"

    page = get(signup_confirm_page, url, params)
    html = page.get_body().decode()
    assert page.status_code == 200 and 'method="post"' in html and 'id="confirm-button"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"  # the link never leaks to the store's site
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(accepted["id"]).status is SignupStatus.AWAITING_CONFIRMATION  # a GET confirms nothing

    done = post(url, params)
    assert done.status_code == 200 and 'id="confirmed"' in done.get_body().decode()
    assert f"/api/signups/{accepted['id']}" in done.get_body().decode()
    again = post(url, params)
    assert again.status_code == 200 and "already" in again.get_body().decode()
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(accepted["id"]).status is SignupStatus.RECEIVED

    tampered = post(url, {**params, "signature": params["signature"][::-1]})
    assert tampered.status_code == 404 and 'id="refused"' in tampered.get_body().decode()


def test_the_form_leads_to_check_your_email_and_the_status_page_says_so(confirming):
    sent = submit(FORM, **{"accept-language": "sv"})
    assert sent.status_code == 303
    signup_id = urlsplit(sent.headers["Location"]).path.rsplit("/", 1)[-1]
    received = get(storefront_received, f"http://localhost:7071/api/signup/received/{signup_id}?lang=en",
                   {"id": signup_id})
    assert 'id="check-email"' in received.get_body().decode()
    status = get(signup_status, f"http://localhost:7071/api/signups/{signup_id}?lang=en", {"id": signup_id},
                 accept="text/html")
    assert "Check your email" in status.get_body().decode()


def test_an_expired_link_gets_a_page_that_says_so(confirming):
    c = confirming
    accepted = json.loads(intake(signup_body(2)).get_body())
    path, params = link(c, accepted["id"])
    past = {**params, "expires": "1000"}  # re-signed below: an old link of the same request
    from shared.services.email_confirmation import ConfirmationLinks

    links: ConfirmationLinks = c.email_confirmation.links
    past["signature"] = links._signature(accepted["id"], 1000)
    page = get(signup_confirm_page, f"http://localhost:7071{path}", past)
    assert page.status_code == 410 and "expired" in page.get_body().decode()
    assert post(f"http://localhost:7071{path}", past).status_code == 410


def test_without_confirmation_the_answer_is_pending_and_a_link_is_refused(app_container):
    accepted = json.loads(intake(signup_body(3)).get_body())
    assert accepted["status"] == "pending"
    params = {"id": accepted["id"], "expires": "9999999999", "signature": "x"}
    assert get(signup_confirm_page, "http://localhost:7071/api/signup/confirm/x/y/z", params).status_code == 404
