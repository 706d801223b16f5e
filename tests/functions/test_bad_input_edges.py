"""Bad input gets a clear 4xx, never a 500, on every HTTP route of the Function App: deeply nested JSON,
a form with too many fields, hidden characters in the storefront form; and public links never come from
the request's Host header."""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlencode

import azure.functions as func
import pytest

import function_app
from functions._http import MAX_JSON_DEPTH, parse_json_body
from functions.signups import signup_intake
from functions.storefront import storefront_received, storefront_submit
from shared.domain.errors import MalformedBody
from shared.web.storefront import MAX_FORM_FIELDS
from tests.functions.conftest import container_with
from tests.services.flow import count, signup_body

BODY_METHODS = ("POST", "PUT", "PATCH")
# Routes taking a body that is not JSON, and what they answer a JSON one; every other route with a body
# method must parse JSON through functions/_http.py and refuse deep nesting with 400 (a new route too).
NOT_JSON = {
    "storefront_submit": 415,  # the form: application/x-www-form-urlencoded
    "order_release": None,  # takes no body: answers as it would without one
    "signup_confirm": None,  # the confirm button's post: no body read; the link decides (a page)
}


def http_routes() -> list[tuple[str, str, str, object]]:
    """(function name, method, route, handler) for each body method of each HTTP function the app registers."""
    routes = []
    for function in function_app.app.get_functions():
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is None:
            continue
        for method in (m.upper() for m in trigger.get("methods") or BODY_METHODS):
            if method in BODY_METHODS:
                routes.append((function.get_function_name(), method, trigger["route"], function.get_user_function()))
    return routes


ROUTES = http_routes()


def test_the_routes_are_found():
    names = {name for name, *_ in ROUTES}
    assert {"signup_intake", "storefront_submit", "sales_events", "backoffice_approve", "backoffice_credit",
            "partner_users", "partner_user", "order_check", "order_reserve"} <= names
    assert set(NOT_JSON) <= names, "an exception for a route that no longer exists"


@pytest.fixture
def every_route_app(tmp_path, monkeypatch, jwks):
    """The functions' container with partner tokens configured, so bearer routes get as far as their body."""
    yield from container_with(tmp_path, monkeypatch, **jwks.settings_env())


def call(handler, method: str, route: str, body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    params = {name: f"{name}-1" for name in re.findall(r"{(\w+)}", route)}
    path = re.sub(r"{(\w+)}", lambda m: params[m.group(1)], route)
    return handler(func.HttpRequest(method, f"http://localhost:7071/api/{path}", headers=headers,
                                    route_params=params, body=body))


DEEP_BODIES = {
    "2,000 [": b"[" * 2000,
    "2,000 objects": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "a deep value in a valid object": b'{"company": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",
    "unclosed, after a string with brackets": b'["[[[\\"", ' + b"{" * 100_000,
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES)
@pytest.mark.parametrize("name, method, route, handler", ROUTES, ids=[f"{n}-{m}" for n, m, *_ in ROUTES])
def test_deeply_nested_json_is_a_400_on_every_json_route(every_route_app, jwks, caplog, name, method, route,
                                                         handler, body):
    headers = {"content-type": "application/json", "authorization": jwks.header_for("someone@example.com")}
    with caplog.at_level(logging.WARNING):
        response = call(handler, method, route, body[:60_000], headers)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "bad input logged as an error"
    if route.startswith("console/"):  # the console's forms: a visitor who is not signed in is sent to sign in
        assert response.status_code in (302, 400, 403, 404, 415), response.get_body()[:300]
        return
    if route.startswith(("portal/", "local-issuer/")):  # forms, not JSON: no session (403), the issuer off (404)
        assert response.status_code in (400, 403, 404, 415), response.get_body()[:300]
        return
    if name in NOT_JSON:
        assert 400 <= response.status_code < 500 and response.status_code == (NOT_JSON[name] or response.status_code)
        return
    assert response.status_code == 400, response.get_body()
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["detail"] == f"(body): is nested more than {MAX_JSON_DEPTH} levels deep"


def test_nesting_up_to_the_limit_is_parsed_and_judged_by_its_fields(app_container):
    nested = json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))
    response = signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups", body=json.dumps(
        {**signup_body(), "comments": nested}).encode(), headers={"content-type": "application/json"}))
    assert response.status_code == 422  # read and validated: comments must be text
    assert [e["field"] for e in json.loads(response.get_body())["errors"]] == ["comments"]


def test_brackets_inside_strings_do_not_count():
    from functions._http import read_body

    text = {**signup_body(), "comments": "[" * 1500 + "{" * 400 + '"\\' + "]"}
    body = json.dumps(text).encode()
    request = func.HttpRequest("POST", "http://localhost:7071/api/signups", body=body,
                               headers={"content-type": "application/json"})
    assert parse_json_body(read_body(request, ("application/json",))) == text


def test_a_parser_recursion_is_a_malformed_body_even_past_the_scan():
    with pytest.raises(MalformedBody):
        parse_json_body(b"[" * 100_000)


# --- the storefront form -------------------------------------------------------------------------------------

FORM = {
    "company.name": "Form Test AB", "company.phone": "+46 8 123 456", "company.address.street": "Gatan 1",
    "company.address.city": "Lund", "company.address.zip_code": "222 22", "company.address.country": "se",
    "contact.first_name": "Ada", "contact.last_name": "Berg", "contact.email": "ada@form.example",
    "contact.phone": "+46 70 111 22 33", "channel_id": "b2b-web", "form_key": "one-filling-in",
}


def stamped(body: bytes) -> bytes:
    """A form post as the browser sends it: with the form page's stamp (shared/domain/intake_defenses.py)."""
    from functions._runtime import container

    return body + b"&" + urlencode({"form_stamp": container().intake_guard.new_stamp()}).encode()


def submit(body: bytes, content_type: str = "application/x-www-form-urlencoded", **headers: str) -> func.HttpResponse:
    if content_type == "application/x-www-form-urlencoded":
        body = stamped(body)
    return storefront_submit(func.HttpRequest("POST", "http://localhost:7071/api/signup", body=body,
                                              headers={"content-type": content_type, **headers}))


def test_a_form_with_too_many_fields_gets_a_page_saying_so_not_a_500(app_container, caplog):
    fields = [*FORM.items(), *((f"extra{n}", "x") for n in range(MAX_FORM_FIELDS))]
    with caplog.at_level(logging.WARNING):
        response = submit(urlencode(fields).encode())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert response.status_code == 400 and response.mimetype == "text/html"
    page = response.get_body().decode()
    assert "Your request could not be read. Please fill in the form again and send it." in page
    assert 'name="company.name"' in page  # the form again, to fill in
    assert count(app_container, "signups") == 0
    assert submit(urlencode(list(FORM.items())[:MAX_FORM_FIELDS]).encode()).status_code == 303


def test_a_form_too_large_or_of_another_type_gets_a_page_too(app_container):
    too_large = submit(urlencode({**FORM, "comments": "x" * 70_000}).encode())
    assert too_large.status_code == 413 and too_large.mimetype == "text/html"
    assert "too large to send" in too_large.get_body().decode()
    other_type = submit(b"{}", content_type="application/json")
    assert other_type.status_code == 415 and other_type.mimetype == "text/html"


@pytest.mark.parametrize("field, value, why", [
    ("company.name", "Form\u200bTest AB", "This has a hidden character (U+200B), often pasted along with copied text: please type it again."),
    ("contact.last_name", "\u202egreB", "This has a hidden character (U+202E), often pasted along with copied text: please type it again."),
    ("company.address.street", "Gatan\u20281", "Write this on one line, without line breaks."),
    ("company.address.city", "Lu\tnd", "Remove the tab characters from this field."),
    ("comments", "Call me\ufeff", "This has a hidden character (U+FEFF), often pasted along with copied text: please type it again."),
])
def test_the_form_shows_a_hidden_character_next_to_its_field_in_plain_words(app_container, field, value, why):
    response = submit(urlencode({**FORM, field: value}).encode())
    assert response.status_code == 422
    page = response.get_body().decode()
    field_id = field.replace(".", "-")
    assert f'<p class="error" id="{field_id}-error">{why}</p>' in page
    assert count(app_container, "signups") == 0


def test_the_form_keeps_a_comment_s_lines_as_lf(app_container):
    assert submit(urlencode({**FORM, "comments": "one\r\ntwo\tthree"}).encode()).status_code == 303
    with app_container.store.unit_of_work() as uow:
        [signup] = uow.pending_signups(10)
    assert signup.request.comments == "one\ntwo\tthree"


# --- public links --------------------------------------------------------------------------------------------

@pytest.fixture
def public_app(tmp_path, monkeypatch):
    yield from container_with(tmp_path, monkeypatch, PUBLIC_BASE_URL="https://b2b.contoso.example/")


FORGED = {"host": "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "http"}


def test_a_forged_host_gets_links_on_the_configured_base(public_app):
    response = signup_intake(func.HttpRequest("POST", "http://evil.example/api/signups",
                                              headers={"content-type": "application/json", **FORGED},
                                              body=json.dumps(signup_body()).encode()))
    assert response.status_code == 202
    data = json.loads(response.get_body())
    assert data["status_url"] == f"https://b2b.contoso.example/api/signups/{data['id']}"
    assert response.headers["Location"] == data["status_url"]


def test_the_confirmation_page_links_on_the_configured_base(public_app):
    response = storefront_submit(func.HttpRequest("POST", "http://evil.example/api/signup",
                                                  headers={"content-type": "application/x-www-form-urlencoded",
                                                           **FORGED}, body=stamped(urlencode(FORM).encode())))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/api/signup/received/")  # on this host, whichever name reached it
    signup_id = location.split("/")[-1].split("?")[0]
    page = storefront_received(func.HttpRequest("GET", "http://evil.example" + location, headers=FORGED, body=b"",
                                                route_params={"id": signup_id})).get_body().decode()
    assert f'href="https://b2b.contoso.example/api/signups/{signup_id}?lang=en"' in page
    assert "evil.example" not in page
