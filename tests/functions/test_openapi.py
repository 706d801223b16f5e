"""The OpenAPI document: valid OpenAPI 3.1, listing exactly the Function App's HTTP routes, and served with its
docs page (files from the installed Swagger UI package, no inline script)."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import azure.functions as func
import pytest
from openapi_spec_validator import validate

from devhost.functions import HTTP_TRIGGER, FunctionSpec, load_functions
from functions.openapi import openapi_docs, openapi_docs_asset, openapi_document
from shared.web.openapi import ROUTE_PREFIX, Auth, document, operations

ROOT = Path(__file__).resolve().parents[2]

# The host checks keys; a bearer route is anonymous to the host and checks its token itself.
_HOST_AUTH = {Auth.ANONYMOUS: "anonymous", Auth.BEARER: "anonymous", Auth.CONSOLE: "anonymous", Auth.FUNCTION_KEY: "function",
              Auth.ADMIN_KEY: "admin"}


def http_routes(specs: list[FunctionSpec]) -> set[tuple[str, str, str, str]]:
    """(function, METHOD, route, auth level) of every HTTP function, as the host reads them from the decorators."""
    routes = set()
    for spec in specs:
        if spec.trigger_type != HTTP_TRIGGER:
            continue
        for method in spec.trigger.get("methods") or ["(any method)"]:
            routes.add((spec.name, str(method).upper(), spec.trigger.get("route") or spec.name, spec.auth_level))
    return routes


def documented_routes() -> set[tuple[str, str, str, str]]:
    return {(op.function, op.method, op.route, _HOST_AUTH[op.auth]) for op in operations()}


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    validate(doc)  # openapi-spec-validator picks the 3.1 rules from the document's "openapi" field
    assert doc["openapi"].startswith("3.1")


def test_the_document_lists_exactly_the_function_apps_http_routes():
    specs = load_functions(ROOT, load_settings=False)
    assert http_routes(specs) == documented_routes()
    paths = {(method.upper(), path) for path, item in document()["paths"].items() for method in item}
    assert paths == {(m, "/" + route) for _, m, route, _ in documented_routes()}


def test_a_route_added_without_documenting_it_is_caught():
    specs = load_functions(ROOT, load_settings=False)
    model = next(s for s in specs if s.name == "signup_intake")
    extra = dataclasses.replace(model, name="undocumented", trigger={**model.trigger, "route": "secret"})
    assert ("undocumented", "POST", "secret", "anonymous") in http_routes([*specs, extra]) - documented_routes()


def test_the_documented_route_prefix_is_the_hosts():
    host_json = json.loads((ROOT / "host.json").read_text())
    assert host_json["extensions"]["http"]["routePrefix"] == ROUTE_PREFIX
    assert document()["servers"] == [{"url": f"/{ROUTE_PREFIX}", "description": "This host, under its route prefix"}]


def resolved(doc: dict, entry: dict) -> dict:
    """``entry``, or what its local ``$ref`` points to."""
    if "$ref" not in entry:
        return entry
    target = doc
    for part in entry["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return target


def test_every_operation_documents_its_auth_and_problem_answers():
    doc = document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            failed = resolved(doc, responses["500"])
            assert failed["content"] == {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}, where
            assert "x-correlation-id" in failed["headers"], where
            if operation["security"]:  # refused before it runs: a console page sends a person to sign in
                assert ("302" if {"consoleSignIn": []} in operation["security"] else "401") in responses, where
            if "requestBody" in operation and "application/json" in operation["requestBody"]["content"]:
                assert {"400", "413", "415"} <= set(responses), where
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    for kind in ("schemas", "responses"):  # every reference resolves (pydantic's point where it was told)
        refs = set(re.findall(rf'"#/components/{kind}/([^"]+)"', json.dumps(doc)))
        assert refs and refs <= set(doc["components"][kind]), kind


def test_request_bodies_come_from_the_domain_models():
    from shared.domain.signup import SignupRequest

    schemas = document()["components"]["schemas"]
    intake = document()["paths"]["/signups"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert intake == {"$ref": "#/components/schemas/SignupRequest"}
    assert set(schemas["SignupRequest"]["properties"]) == set(SignupRequest.model_fields)
    form = document()["paths"]["/signup"]["post"]["requestBody"]["content"]
    assert list(form) == ["application/x-www-form-urlencoded"]
    assert "company.name" in form["application/x-www-form-urlencoded"]["schema"]["required"]


def test_the_document_is_not_built_when_the_app_is_imported():
    code = "import sys, function_app; print('shared.web.openapi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def get(function, url: str, **route_params: str) -> func.HttpResponse:
    return function(func.HttpRequest("GET", url, body=b"", route_params=route_params))


def test_the_document_is_served_as_json():
    response = get(openapi_document, "http://localhost:7071/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.get_body()) == document()


def test_the_docs_page_loads_swagger_ui_from_this_host_only():
    response = get(openapi_docs, "http://localhost:7071/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_body().decode()
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith(f"/{ROUTE_PREFIX}/docs/assets/") for s in sources)
    assert "<script>" not in page  # every script is a file: the policy runs no inline one
    assert f'data-url="/{ROUTE_PREFIX}/openapi.json"' in page
    for source in sources:
        name = source.rsplit("/", 1)[1]
        asset = get(openapi_docs_asset, f"http://localhost:7071{source}", name=name)
        assert asset.status_code == 200 and len(asset.get_body()) > 100, source
        assert asset.mimetype == ("text/css" if name.endswith(".css") else "text/javascript")


@pytest.mark.parametrize("name", ["index.html", "../openapi.py", "swagger-initializer.js", "docs"])
def test_only_the_pages_own_files_are_served(name):
    response = get(openapi_docs_asset, f"http://localhost:7071/api/docs/assets/{name}", name=name)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def assert_documented(response: func.HttpResponse, method: str, path: str) -> None:
    """The answer's status, media type and (JSON) body are what the document says ``method path`` answers."""
    from jsonschema import Draft202012Validator

    doc = document()
    answer = resolved(doc, doc["paths"][path][method.lower()]["responses"][str(response.status_code)])
    media = answer["content"][response.mimetype]  # KeyError: a media type the document does not name
    if response.mimetype.endswith("json"):
        schema = {**media["schema"], "components": doc["components"]}  # refs resolve against the document
        Draft202012Validator(schema).validate(json.loads(response.get_body()))


def test_answers_the_fuzzer_cannot_reach_agree_with_the_document(app_container):
    """A signup's status needs a real signup id, which a generated request never has."""
    from functions.sales_events import sales_events
    from functions.signups import signup_intake, signup_status

    ops = document()["paths"]
    example = ops["/signups"]["post"]["requestBody"]["content"]["application/json"]["example"]
    taken = signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups",
                                           body=json.dumps(example).encode(),
                                           headers={"content-type": "application/json"}))
    assert_documented(taken, "POST", "/signups")
    signup_id = json.loads(taken.get_body())["id"]
    app_container.channel_sync.run()
    for accept in ("application/json", "text/html"):
        status = signup_status(func.HttpRequest("GET", f"http://localhost:7071/api/signups/{signup_id}", body=b"",
                                                headers={"accept": accept}, route_params={"id": signup_id}))
        assert status.status_code == 200
        assert_documented(status, "GET", "/signups/{id}")
    context = ops["/sales/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
    webhook = sales_events(func.HttpRequest("POST", "http://localhost:7071/api/sales/events",
                                            body=json.dumps(context).encode(),
                                            headers={"content-type": "application/json"}))
    assert webhook.status_code == 202
    assert_documented(webhook, "POST", "/sales/events")
