"""The storefront's pages through their functions: a reload or a double click sends one request, not two; the
POST answers 303 to a confirmation page; pages speak the reader's language; consent is asked for when the
channel has a privacy policy; the status page and the theme stylesheet."""
from __future__ import annotations

import threading
from urllib.parse import urlencode

import azure.functions as func
import pytest

from functions._runtime import container, reset_container
from functions.signups import signup_status
from functions.storefront import storefront_form, storefront_received, storefront_submit, storefront_theme
from tests.functions.conftest import container_with
from tests.services.flow import count
from tests.threads import run_in_threads

FORM = {
    "company.name": "Reload Test AB", "company.phone": "+46 8 123 456", "company.address.street": "Gatan 1",
    "company.address.city": "Lund", "company.address.zip_code": "222 22", "company.address.country": "se",
    "contact.first_name": "Ada", "contact.last_name": "Berg", "contact.email": "ada@reload.example",
    "contact.phone": "+46 70 111 22 33", "channel_id": "b2b-web", "form_key": "one-filling-in",
}


def submit(fields: dict, **headers: str) -> func.HttpResponse:
    """The form as a browser posts it: with the stamp the form page carries."""
    fields = {"form_stamp": container().intake_guard.new_stamp(), **fields}
    return storefront_submit(func.HttpRequest(
        "POST", "http://localhost:7071/api/signup", body=urlencode(fields).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", **headers}))


def get(function, url: str, route_params: dict | None = None, **headers: str) -> func.HttpResponse:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    return function(func.HttpRequest("GET", url, body=b"", headers=headers, route_params=route_params or {},
                                      params=dict(parse_qsl(parts.query))))


def test_the_same_form_sent_twice_is_one_signup_and_both_lead_to_its_confirmation(app_container):
    first, again = submit(FORM), submit(FORM)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert first.get_body() == b""
    assert count(app_container, "signups") == 1
    changed = submit({**FORM, "company.name": "Another AB"})
    assert changed.status_code == 409 and b"sent already" in changed.get_body()
    assert count(app_container, "signups") == 1


def test_each_form_gets_its_own_key_and_errors_show_in_plain_words(app_container):
    page = storefront_form(func.HttpRequest("GET", "http://localhost:7071/api/signup", body=b"")).get_body().decode()
    other = storefront_form(func.HttpRequest("GET", "http://localhost:7071/api/signup", body=b"")).get_body().decode()
    key = page.split('name="form_key" value="')[1].split('"')[0]
    assert key and key not in other
    response = submit({**FORM, "company.address.country": "Sweden", "contact.first_name": "", "contact.last_name": "",
                       "contact.email": "", "contact.phone": ""})
    body = response.get_body().decode()
    assert response.status_code == 422
    assert 'id="company-address-country-error">Choose a country from the list.' in body
    # every empty contact field at once, not one per submit: beside each field and in the summary
    assert body.count('class="error" id="contact-') == 4 and body.count(">Fill in this field.<") == 4
    assert body.count("Fill in this field.") == 8


def test_first_requests_arriving_together_share_one_container(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    reset_container()
    barrier = threading.Barrier(16)

    def first_request():
        barrier.wait(timeout=30)
        return container()

    built = run_in_threads([first_request] * 16)
    assert len({id(c) for c in built}) == 1
    for adapter in (built[0].store, built[0].queue, built[0].sales):
        adapter.close()
    reset_container()


def test_the_confirmation_names_the_request_and_its_status_page_and_nothing_personal(app_container):
    location = submit({**FORM, "form_key": "confirm-1"}, **{"accept-language": "sv"}).headers["Location"]
    signup_id = location.split("/")[-1].split("?")[0]
    assert location == f"/api/signup/received/{signup_id}?lang=sv"
    page = get(storefront_received, "http://localhost:7071" + location, {"id": signup_id})
    body = page.get_body().decode()
    assert page.status_code == 200 and '<html lang="sv">' in body
    assert f'href="{app_container.signup_status_url(signup_id)}?lang=sv"' in body
    for personal in ("Reload Test", "Ada", "Berg", "ada@reload", "111 22 33", "222 22", "Gatan"):
        assert personal not in body
    missing = get(storefront_received, "http://localhost:7071/api/signup/received/nope", {"id": "nope"})
    assert missing.status_code == 404 and "text/html" in missing.mimetype


def test_the_status_page_is_html_for_a_browser_and_json_otherwise(app_container):
    location = submit({**FORM, "form_key": "status-1"}).headers["Location"]
    signup_id = location.split("/")[-1].split("?")[0]
    url = f"http://localhost:7071/api/signups/{signup_id}"
    page = get(signup_status, url, {"id": signup_id}, accept="text/html", **{"accept-language": "sv-SE,en;q=0.5"})
    body = page.get_body().decode()
    assert page.status_code == 200 and "Vi har tagit emot din ansökan" in body
    assert 'status-refresh.js' in body and "Reload Test" not in body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]  # its refresh script, from a file
    answer = get(signup_status, url, {"id": signup_id}, accept="application/json")
    assert answer.mimetype == "application/json"
    missing = get(signup_status, "http://localhost:7071/api/signups/nope", {"id": "nope"}, accept="text/html")
    assert missing.status_code == 404 and "text/html" in missing.mimetype


@pytest.fixture
def with_policy(tmp_path, monkeypatch):
    yield from container_with(tmp_path, monkeypatch, PRIVACY_POLICY_URL="https://contoso.example/privacy",
                              CHANNELS='{"nordic-web": {"accent_color": "#ffcc00"}}')


def test_a_channel_with_a_privacy_policy_asks_for_consent_and_records_it(with_policy):
    form = get(storefront_form, "http://localhost:7071/api/signup").get_body().decode()
    assert 'name="consent"' in form and 'href="https://contoso.example/privacy"' in form
    refused = submit({**FORM, "form_key": "consent-1"})
    assert refused.status_code == 422 and 'id="consent-error"' in refused.get_body().decode()
    assert count(with_policy, "signups") == 0
    sent = submit({**FORM, "form_key": "consent-1", "consent": "yes"})
    assert sent.status_code == 303
    with with_policy.store.unit_of_work(read_only=True) as uow:
        [record] = uow.pending_signups(10)
    assert record.request.consent.privacy_policy_url == "https://contoso.example/privacy"
    assert record.consent_given_at == record.received_at


def test_the_theme_is_a_stylesheet_of_the_channels_checked_colour(with_policy):
    answer = get(storefront_theme, "http://localhost:7071/api/signup/theme/nordic-web", {"channel": "nordic-web"})
    assert answer.mimetype == "text/css"
    # yellow: black text reads better on it than white
    assert answer.get_body().decode() == ":root { --brand: #ffcc00; --on-brand: #000000; }\n"
    other = get(storefront_theme, "http://localhost:7071/api/signup/theme/x", {"channel": "x"}).get_body().decode()
    assert "--brand: #0b5cad; --on-brand: #ffffff;" in other
    form = get(storefront_form, "http://localhost:7071/api/signup?channel=nordic-web").get_body().decode()
    assert "/api/signup/theme/nordic-web?" in form and "style=" not in form
