"""The storefront form's POST: a reload or a double click sends one request, not two."""
from __future__ import annotations

import threading
from urllib.parse import urlencode

import azure.functions as func

from functions._runtime import container, reset_container
from functions.storefront import storefront_form, storefront_submit
from tests.services.flow import count
from tests.threads import run_in_threads

FORM = {
    "company.name": "Reload Test AB", "company.phone": "+46 8 123 456", "company.address.street": "Gatan 1",
    "company.address.city": "Lund", "company.address.zip_code": "222 22", "company.address.country": "se",
    "contact.first_name": "Ada", "contact.last_name": "Berg", "contact.email": "ada@reload.example",
    "contact.phone": "+46 70 111 22 33", "channel_id": "b2b-web", "form_key": "one-filling-in",
}


def submit(fields: dict) -> func.HttpResponse:
    return storefront_submit(func.HttpRequest(
        "POST", "http://localhost:7071/api/signup", body=urlencode(fields).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"}))


def test_the_same_form_sent_twice_is_one_signup(app_container):
    first, again = submit(FORM), submit(FORM)
    assert first.status_code == again.status_code == 201
    assert first.get_body() == again.get_body()
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
    assert "must be a two-letter country code" in body
    assert body.count("is required") == 4  # every empty contact field at once, not one per submit


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
