"""End to end on Dataverse through the local host in its own process, as deployed with SALES_MODE=dataverse:
signup POST to the host → the sync timer → the lead batch timer creates the lead in the simulator (one
``$batch``, with the app's production credential: azure-identity's managed identity, served by the
simulator's App Service managed identity endpoint) → a salesperson qualifies and wins there → the
simulator posts the webhook to the host's ``POST /api/sales/events?code=<function key>`` → the outcome
queue trigger → Approved with the customer hierarchy and the welcome email. And the same with every
webhook delivery dropped: the host's next sync reconciles with Sales, and late deliveries change nothing.

The host runs with its timers off and the two timers triggered through the admin API
(``POST /admin/functions/<name>``, as Azure runs a non-HTTP function on demand), so that the webhook test
is not raced by a reconciliation; the queue triggers poll as usual. ``create_lead`` is disabled with
``AzureWebJobs.create_lead.Disabled``, as infra/app/api.bicep does with Dataverse.
"""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from shared.bootstrap import Container
from shared.domain.ids import outcome_event_id
from tests.dataverse_sim import INTEGRATION_USER, SalesClient
from tests.dataverse_sim.webhook import WebhookRelay
from tests.e2e.conftest import LiveHost, start_host, stop_host, wait_for
from tests.e2e.dataverse_app import assert_approved_with_sales_records
from tests.services.flow import signup_body

pytestmark = pytest.mark.e2e

FUNCTION_KEY = "dataverse-webhook-key"


# The webhook's budget (SALES_WEBHOOK_BUDGET_SECONDS), short here so that a slow Sales is given up in a moment.
WEBHOOK_BUDGET = "2"


@pytest.fixture
def host(sim, tmp_path) -> Iterator[LiveHost]:
    client_id = str(uuid.uuid4())  # the app's user-assigned managed identity
    live = start_host(tmp_path / "data", {
        "SALES_MODE": "dataverse", "DATAVERSE_URL": sim.url, "DATAVERSE_CLIENT_ID": client_id,
        **sim.managed_identity(client_id),
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "AzureWebJobs.create_lead.Disabled": "true",
        "SALES_WEBHOOK_BUDGET_SECONDS": WEBHOOK_BUDGET,
        "SEND_RECEIVED_EMAIL": "false",  # decisions' emails only: the received email has tests of its own
    }, args=("--no-timers",))
    yield live
    stop_host(live)


@pytest.fixture
def app(host) -> Iterator[Container]:
    """The host's state (store, queues, outbox folder), read beside it (instead of the e2e conftest's
    in-process app)."""
    c = host.container()
    yield c
    c.store.close()
    c.queue.close()


def run_timer(http, host: LiveHost, name: str) -> None:
    response = http.post(f"{host.base_url}/admin/functions/{name}", json={"input": ""},
                         headers={"x-functions-key": FUNCTION_KEY}, timeout=30)
    assert response.status_code == 202, response.text


def status(http, url: str) -> str:
    return http.get(url, timeout=30).json()["status"]


def signup_to_lead(http, host: LiveHost, app: Container, sim) -> tuple[dict, str]:
    """Signup → sync → lead in Dataverse; returns the receipt and the lead id."""
    answer = http.post(host.url("signups"), json=signup_body(1), timeout=30)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    run_timer(http, host, "channel_sync")
    wait_for(lambda: status(http, receipt["status_url"]) == "prospect_created", what="the prospect")
    assert app.queue.count(app.settings.lead_queue) == 1
    run_timer(http, host, "create_lead_batches")
    wait_for(lambda: status(http, receipt["status_url"]) == "lead_created", what="the lead in Dataverse")
    [prospect] = app.operator.prospects()
    lead = sim.lead(prospect.lead_id)
    assert lead is not None and lead["cr_b2bprospectnumber"] == prospect.number == "PRO-000001"
    assert "Commerce B2B onboarding integration" in sim.notes(prospect.lead_id)[0]["notetext"]
    creates = [r for r in sim.requests if r["method"] == "POST" and ("leads" in r["path"] or "$batch" in r["path"])]
    assert [(r["path"].rsplit("/", 1)[-1], r["user"]) for r in creates] == [("$batch", INTEGRATION_USER)]
    assert sim.identity.requests and all(r["issued"] for r in sim.identity.requests)  # the app's own token
    return receipt, prospect.lead_id


def assert_approved(app: Container, created: dict[str, str], actor: str) -> None:
    details = assert_approved_with_sales_records(app, "PRO-000001", created)
    assert details.hierarchy.purpose == "B2B organization"
    # The host's queue trigger runs messages side by side: "won" may overtake "qualified" (it then applies the
    # qualification itself, and "qualified" finds it applied). Either way: from this source only, approved once.
    sourced = [(h.actor, h.action) for h in details.history if ":" in h.actor]
    assert {a for a, _ in sourced} <= {f"{actor}:lead_qualified", f"{actor}:opportunity_won"}
    assert [a for a in sourced if a[1] == "approved"] == [(f"{actor}:opportunity_won", "approved")]
    assert [a for _, a in sourced].count("qualified in Sales") == 1
    emails = app.transport.list()
    assert len(emails) == 1 and emails[0]["subject"].startswith("Welcome to")


def test_signup_to_approved_through_the_host_with_the_dataverse_webhook(sim, host, app, http):
    receipt, lead_id = signup_to_lead(http, host, app, sim)
    relay = WebhookRelay(sim)
    relay.pending()  # the lead's Create: no step is registered on it
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(lead_id)
    salesperson.win(created["opportunity"])

    url = host.url("sales/events")
    assert http.post(url, json={}, timeout=30).status_code == 401  # the host wants the function key
    answers = relay.post(url, key=FUNCTION_KEY)
    assert [a.status_code for a in answers] == [202, 202]
    assert [(a.json()["status"], a.json()["event_id"]) for a in answers] == [
        ("enqueued", outcome_event_id("lead_qualified", lead_id)),
        ("enqueued", outcome_event_id("opportunity_won", created["opportunity"]))]
    body, headers = relay.delivered[1]  # Dataverse retries a delivery it did not see answered
    again = http.post(url, params={"code": FUNCTION_KEY}, data=body, headers=headers, timeout=30)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"

    wait_for(lambda: status(http, receipt["status_url"]) == "approved", what="approved")
    wait_for(lambda: len(app.transport.list()) == 1, what="the welcome email")
    assert_approved(app, created, "dataverse-webhook")


def test_with_the_webhook_dropped_the_hosts_sync_reconciles(sim, host, app, http):
    receipt, lead_id = signup_to_lead(http, host, app, sim)
    relay = WebhookRelay(sim)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(lead_id)
    salesperson.win(created["opportunity"])
    # ... and every webhook delivery is dropped

    assert status(http, receipt["status_url"]) == "lead_created"
    run_timer(http, host, "channel_sync")  # the next sync reads Sales' decisions since its watermark
    wait_for(lambda: status(http, receipt["status_url"]) == "approved", what="approved by reconciliation")
    wait_for(lambda: len(app.transport.list()) == 1, what="the welcome email")
    assert_approved(app, created, "reconciliation")

    answers = relay.post(host.url("sales/events"), key=FUNCTION_KEY)  # the dropped deliveries, late
    assert [a.status_code for a in answers] == [202, 202]
    assert [a.json()["status"] for a in answers] == ["enqueued", "enqueued"]  # new requests: enqueued ...
    wait_for(lambda: app.queue.count(app.settings.outcome_queue) == 0, what="the late outcomes handled")
    assert_approved(app, created, "reconciliation")  # ... and applied never: no second email, no history


@pytest.mark.parametrize("fault, retry_after", [
    pytest.param({"status": 503}, "10", id="sales-answers-503"),
    pytest.param({"delay": 30.0}, "10", id="sales-answers-after-30s"),
    pytest.param({"status": 429, "retry_after": 69}, "69", id="sales-throttles-retry-after-69"),
])
def test_a_sales_outage_answers_503_over_http_within_the_budget_and_the_retry_is_applied(sim, host, app, http,
                                                                                         fault, retry_after):
    """Through the host, as Dataverse meets it: the Win's delivery while Sales fails is a 503 problem+json with
    Retry-After (what Dataverse retries), and no later than the budget allows; the retry once Sales is back
    approves the prospect."""
    receipt, lead_id = signup_to_lead(http, host, app, sim)
    relay = WebhookRelay(sim)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(lead_id)
    url = host.url("sales/events")
    assert [a.status_code for a in relay.post(url, key=FUNCTION_KEY)] == [202]
    salesperson.win(created["opportunity"])

    sim.faults.always(**fault, method="GET")
    try:
        [answer] = relay.post(url, key=FUNCTION_KEY, timeout=60)  # Dataverse's own patience
    finally:
        sim.faults.clear()
    assert (answer.status_code, answer.headers.get("Retry-After")) == (503, retry_after), answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")

    body, headers = relay.delivered[-1]  # Dataverse's one retry, with Sales back
    retried = http.post(url, params={"code": FUNCTION_KEY}, data=body, headers=headers, timeout=30)
    assert retried.status_code == 202 and retried.json()["kind"] == "opportunity_won"
    wait_for(lambda: status(http, receipt["status_url"]) == "approved", what="approved")
