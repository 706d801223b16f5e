"""Schemathesis against the local host: requests generated from /api/openapi.json (valid and invalid ones) on every
route, with the function/admin key and a partner Admin's bearer token; every answer must be no server error and
agree with the document (status code, content type, headers, schema).

Bounded and deterministic for CI: a fixed number of examples per operation, derandomized generation, no example
database, no shrinking."""
from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from shared.web.openapi import document
from tests.e2e.conftest import start_host, stop_host, wait_for
from tests.entra_stand_in import EntraStandIn

pytestmark = pytest.mark.e2e
KEY = "fuzz-function-key-0123456789"
EXAMPLES_PER_OPERATION = 25
ANSWERS: Counter = Counter()  # (generation mode, status) → requests, printed at the end (pytest -s shows it)


@pytest.fixture(scope="module")
def fuzzed_host(tmp_path_factory):
    """One host for the whole run, on the embedded default, where the document's own example signup has been
    approved (PRO-000001 → partner CH-000001): the examples then reach real records, and the bearer token is
    its requester's, the partner's Admin. Its issuer is the Entra External ID stand-in, so that the portal's
    sign-in is configured as in a deployment (its pages answer, rather than 503)."""
    issuer = EntraStandIn().start()
    host = start_host(tmp_path_factory.mktemp("fuzz") / "data",
                      {**issuer.portal_env(api_scope=True), "SALES_MODE": "none", "DEVHOST_FUNCTION_KEY": KEY})
    signup = document()["paths"]["/signups"]["post"]["requestBody"]["content"]["application/json"]["example"]
    with requests.Session() as http:
        assert http.post(host.url("signups"), json=signup, timeout=30).status_code == 202
        state = host.container()
        try:
            wait_for(lambda: state.operator.prospects(), what="the example signup's prospect")
        finally:
            state.store.close()
            state.queue.close()
        approved = http.post(host.url("backoffice/prospects/PRO-000001/approve"), json={"operator": "fuzz"},
                             headers={"x-functions-key": KEY}, timeout=30)
        assert approved.status_code == 200 and approved.json()["hierarchy_id"] == "CH-000001", approved.text
    token = issuer.header_for(signup["contact"]["email"], lifetime_seconds=3600)
    yield host, {"x-functions-key": KEY, "Authorization": token}
    stop_host(host)
    issuer.stop()
    print(f"\nschemathesis: {sum(ANSWERS.values())} requests;", dict(sorted(ANSWERS.items())))


@pytest.fixture(scope="module")
def api(fuzzed_host):
    host, _ = fuzzed_host
    config = SchemathesisConfig()  # the defaults, whatever schemathesis.toml a developer keeps
    schema = schemathesis.openapi.from_url(host.url("openapi.json"), config=config)
    # allow_extra_parameters=False: the routes ignore query parameters they do not name, as HTTP APIs do (a
    # tracking parameter on a link must not break it), so a request with extra ones is not invalid data.
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True, no_shrink=True,
                                    database="none", allow_extra_parameters=False)
    # Data valid by the document's schemas may still break a rule the schema does not state (an email's syntax,
    # a phone's digit count, an ISO 4217 code, an amount's decimals in its currency, no control characters):
    # the documented 422 then names the field. Any other refusal of schema-valid data is still a failure.
    checks = schema.config.checks
    checks.positive_data_acceptance = type(checks.positive_data_acceptance)(
        expected_statuses=[*checks.positive_data_acceptance.expected_statuses, "422"])
    return schema


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_answer_agrees_with_the_document(case, fuzzed_host):
    host, credentials = fuzzed_host
    excluded = []
    if case.operation.path == "/sales/events":
        # Dataverse's context is open-ended: a well-formed one of a message this webhook does not handle is
        # answered 400 on purpose (no retry can help), which no schema of the context can state.
        excluded.append(positive_data_acceptance)
    if case.operation.path in ("/backoffice/prospects", "/backoffice/prospects.csv") and (case.query or {}).get(
            "cursor") is not None:
        # A cursor is opaque: only one the list gave is valid (else 400), which no schema of a string can state.
        excluded.append(positive_data_acceptance)
    if (case.operation.path == "/console" or case.operation.path.startswith("/console/")) \
            and case.operation.path != "/console/sign-in":
        # The fuzzer is not signed in to the console: a console page sends such a visitor to the sign-in (302)
        # before it reads anything, as a bearer route answers 401; that the 302 is documented is still checked.
        # The sign-in, role and CSRF refusals are tested in tests/functions/test_console_shell.py.
        excluded.append(negative_data_rejection)
    if case.operation.path == "/signup" and case.method.upper() == "POST":
        # A form post without the form page's signed stamp is taken for a bot's and answered as an accepted one
        # (303 to a decoy's confirmation) whatever else it holds, on purpose: nothing may tell a bot what failed.
        # The form's 422 for invalid fields is tested with a stamp in tests/functions/test_storefront_function.py.
        excluded.append(negative_data_rejection)
    response = case.call_and_validate(base_url=host.url(""), headers=credentials, timeout=30,
                                      excluded_checks=excluded)
    ANSWERS[(case.meta.generation.mode.value if case.meta else "explicit", response.status_code)] += 1
