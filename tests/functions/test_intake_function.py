"""The intake function called with real azure.functions requests: bad input never gets a 5xx."""
from __future__ import annotations

import json
import string

import azure.functions as func
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.signups import signup_intake, signup_status
from tests.services.flow import signup_body

URL = "http://localhost:7071/api/signups"


def post(body: bytes, content_type: str = "application/json", **headers: str) -> func.HttpResponse:
    request = func.HttpRequest("POST", URL, headers={"content-type": content_type, **headers}, body=body)
    return signup_intake(request)


def problem_fields(response: func.HttpResponse) -> set[str]:
    assert response.mimetype == "application/problem+json"
    return {error["field"] for error in json.loads(response.get_body()).get("errors", [])}


def test_accepted_with_an_unguessable_id_and_a_status_url(app_container):
    response = post(json.dumps(signup_body()).encode())
    assert response.status_code == 202
    data = json.loads(response.get_body())
    assert data["status"] == "pending" and len(data["id"]) == 36
    assert data["status_url"] == f"{URL}/{data['id']}" and response.headers["Location"] == data["status_url"]
    status = signup_status(func.HttpRequest("GET", data["status_url"], route_params={"id": data["id"]}, body=b""))
    assert status.status_code == 200
    view = json.loads(status.get_body())
    assert view["status"] == "received" and "person1" not in status.get_body().decode()


def test_idempotency_key(app_container):
    body = json.dumps(signup_body()).encode()
    first = json.loads(post(body, **{"Idempotency-Key": "k1"}).get_body())["id"]
    assert json.loads(post(body, **{"Idempotency-Key": "k1"}).get_body())["id"] == first
    other = json.dumps(signup_body(2)).encode()
    assert post(other, **{"Idempotency-Key": "k1"}).status_code == 409


def test_refusals(app_container):
    assert post(b"{not json").status_code == 400
    assert post(b"[1, 2]").status_code == 422
    assert post(json.dumps(signup_body()).encode(), content_type="text/plain").status_code == 415
    assert post(b" " * (64 * 1024 + 1)).status_code == 413
    body = signup_body()
    body["contact"]["email"] = "not-an-email"
    body["company"]["address"]["country"] = "Sweden"
    body["surprise"] = 1
    del body["company"]["name"]
    response = post(json.dumps(body).encode())
    assert response.status_code == 422
    assert problem_fields(response) == {"contact.email", "company.address.country", "surprise", "company.name"}
    assert app_container.channel_sync.run().prospects_created == 0  # nothing refused was stored


def test_unknown_status_is_404(app_container):
    request = func.HttpRequest("GET", f"{URL}/nope", route_params={"id": "nope"}, body=b"")
    assert signup_status(request).status_code == 404


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
                     max_leaves=20)


def _mutations(base: dict):
    """Valid bodies with one field replaced by anything JSON can hold."""
    paths = []

    def walk(node, path):
        for key, value in node.items():
            paths.append(path + (key,))
            if isinstance(value, dict):
                walk(value, path + (key,))

    walk(base, ())
    return st.tuples(st.sampled_from(paths), _json)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(_json, st.binary(max_size=200).map(lambda b: ("bytes", b)), _mutations(signup_body())))
def test_fuzzed_bodies_never_get_a_5xx(app_container, data):
    if isinstance(data, tuple) and data and data[0] == "bytes":
        body = data[1]
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], tuple):
        document = signup_body()
        *parents, leaf = data[0]
        target = document
        for parent in parents:
            target = target[parent]
        target[leaf] = data[1]
        body = json.dumps(document).encode()
    else:
        body = json.dumps(data).encode()
    response = post(body)
    assert response.status_code in (202, 400, 413, 422), response.get_body()
    if response.status_code != 202:
        assert response.mimetype == "application/problem+json"


_name = st.text(alphabet=string.ascii_letters + "åäöéü -'", min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_name, last=_name, company=_name, local=st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,10})?", fullmatch=True),
       domain=st.from_regex(r"[a-z]{2,12}\.(com|se|example|co\.uk)", fullmatch=True),
       digits=st.from_regex(r"\+?[0-9]{6,14}", fullmatch=True), country=st.sampled_from(["SE", "no", "Gb", "DE"]),
       language=st.sampled_from(["en", "sv-SE", "de", "nb-no"]))
def test_every_valid_body_is_accepted(app_container, first, last, company, local, domain, digits, country, language):
    body = signup_body()
    body["contact"].update(first_name=first, last_name=last, email=f"{local}@{domain.upper()}", phone=digits,
                           preferred_language=language)
    body["company"].update(name=company, phone=digits)
    body["company"]["address"]["country"] = country
    response = post(json.dumps(body).encode())
    assert response.status_code == 202, response.get_body()
