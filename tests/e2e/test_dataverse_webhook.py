"""End to end on Dataverse (the simulator): signup → sync → lead created in Dataverse → a salesperson
qualifies and wins, disqualifies, or loses there → the simulator's webhook deliveries (RemoteExecutionContext
JSON) reach the ``sales_events`` function → outcome queue → propagation → prospect approved with its
hierarchy and welcome email, or rejected with its email.

In process, for the finer cases (retried deliveries, rejections, other leads): the container gets
``DataverseSales(sim.url, token_provider=...)``, and the function is called with real ``func.HttpRequest``
objects (directly, and through a loopback HTTP server that checks ``?code=`` the way the host checks a
function key). The same flow through the local host in its own process, with the app's production
credential, is ``test_dataverse_through_host.py``.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest
import requests

from functions.sales_events import sales_events
from shared.bootstrap import Container
from shared.domain.ids import outcome_event_id
from shared.domain.model import ProspectStatus
from shared.services.sales_webhook import SalesWebhook
from tests.dataverse_sim import SalesClient
from tests.e2e.dataverse_app import FUNCTION_KEY, assert_approved_with_sales_records, call_function
from tests.dataverse_sim.webhook import WebhookRelay
from tests.loopback import LoopbackServer
from tests.services.flow import signup_body, work

pytestmark = pytest.mark.e2e


def leads_in_sales(c: Container, n: int) -> dict[str, str]:
    """Submit ``n`` signups and sync them; returns prospect number → lead id, each lead in the simulator."""
    for i in range(n):
        c.intake.submit(signup_body(i + 1))
    c.channel_sync.run()
    work(c)
    return {p.number: p.lead_id for p in c.operator.prospects()}


@contextmanager
def function_server() -> Iterator[str]:
    """The function behind loopback HTTP, refusing requests without the function key (as the host does)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            query = parse_qs(urlsplit(self.path).query)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if query.get("code") != [FUNCTION_KEY]:
                status, headers, payload = 401, {}, b""
            else:
                response = sales_events(func.HttpRequest("POST", f"http://127.0.0.1{self.path}", body=body,
                                                         headers=dict(self.headers.items()),
                                                         params={k: v[0] for k, v in query.items()}))
                status, headers, payload = response.status_code, dict(response.headers), response.get_body()
                headers["Content-Type"] = response.mimetype
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with LoopbackServer(Handler, "webhook-front") as server:
        yield server.url + "/api/sales/events"


def test_qualified_and_won_in_dataverse_approves_the_prospect(sim, app):
    c = app
    [(number, lead_id)] = leads_in_sales(c, 1).items()
    assert sim.lead(lead_id)["statecode"] == 0
    relay = WebhookRelay(sim)
    relay.pending()  # the lead's Create: no step is registered on it

    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(lead_id)
    salesperson.win(created["opportunity"])

    answers = relay.deliver(call_function)
    assert [a.status_code for a in answers] == [202, 202]
    results = [json.loads(a.get_body()) for a in answers]
    assert [(r["status"], r["kind"]) for r in results] == [("enqueued", "lead_qualified"), ("enqueued", "opportunity_won")]
    assert results[0]["event_id"] == outcome_event_id("lead_qualified", lead_id)
    assert results[1]["event_id"] == outcome_event_id("opportunity_won", created["opportunity"])

    body, headers = relay.delivered[1]  # Dataverse retries a delivery it did not see answered
    retried = call_function(body, headers)
    assert retried.status_code == 202 and json.loads(retried.get_body())["status"] == "duplicate"
    assert c.queue.count(c.settings.outcome_queue) == 2

    work(c)
    details = assert_approved_with_sales_records(c, number, created)
    emails = c.transport.list()
    assert len(emails) == 1 and emails[0]["subject"].startswith("Welcome to")
    actions = [(h.actor, h.action) for h in details.history if h.actor.startswith("dataverse-webhook")]
    assert actions == [("dataverse-webhook:lead_qualified", "qualified in Sales"),
                       ("dataverse-webhook:opportunity_won", "approved")]

    for delivery in relay.delivered:  # a redelivery on another instance: enqueued again, applied never
        c.queue.send(c.settings.outcome_queue, _outcome_body(delivery, c))
    work(c)
    assert c.operator.prospect(number).prospect.status is ProspectStatus.APPROVED and len(c.transport.list()) == 1


def _outcome_body(delivery: tuple[bytes, dict], c: Container) -> str:
    """The queue message another instance (no shared memory) would enqueue for the same delivery."""
    other = SalesWebhook(c.queue, "elsewhere", c.clock, sales=c.sales,
                         opportunity_lead=c.sales.get_opportunity_lead)
    other.handle(*delivery)
    [message] = c.queue.receive("elsewhere", max_messages=1, visibility_timeout=0)
    c.queue.delete(message)
    return message.body


def test_disqualified_and_lost_over_http_reject_with_reasons(sim, app):
    c = app
    leads = leads_in_sales(c, 2)
    (dq_number, dq_lead), (lost_number, lost_lead) = sorted(leads.items())
    relay = WebhookRelay(sim)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    salesperson.disqualify(dq_lead, statuscode=6)
    salesperson.lose(salesperson.qualify(lost_lead)["opportunity"], statuscode=5)

    with function_server() as url:
        assert requests.post(url, data=b"{}", timeout=10).status_code == 401  # no function key
        answers = relay.post(url, key=FUNCTION_KEY)
        assert [a.status_code for a in answers] == [202, 202, 202]
        assert [a.json()["kind"] for a in answers] == ["lead_disqualified", "lead_qualified", "opportunity_lost"]

        bad = requests.post(url, params={"code": FUNCTION_KEY}, data=b"{not json",
                            headers={"Content-Type": "application/json"}, timeout=10)
        assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
        create = json.loads(relay.delivered[0][0])
        create["MessageName"] = "Create"
        unknown = requests.post(url, params={"code": FUNCTION_KEY}, json=create, timeout=10)
        assert unknown.status_code == 400 and "Create" in unknown.json()["detail"]
        wrong_type = requests.post(url, params={"code": FUNCTION_KEY}, data=b"<xml/>",
                                   headers={"Content-Type": "application/xml"}, timeout=10)
        assert wrong_type.status_code == 415

    work(c)
    disqualified, lost = c.operator.prospect(dq_number).prospect, c.operator.prospect(lost_number).prospect
    assert disqualified.status is ProspectStatus.REJECTED and disqualified.rejection_reason == \
        "lead disqualified (No Longer Interested)"
    assert lost.status is ProspectStatus.REJECTED and lost.rejection_reason == "opportunity lost (Out-Sold)"
    assert len(c.transport.list()) == 2


def test_decisions_on_other_leads_are_acknowledged_and_ignored(sim, app):
    """A salesperson's own leads (no prospect) also fire the steps: 202, nothing enqueued."""
    c = app
    leads_in_sales(c, 1)
    other_lead = "3c2b1a09-8f7e-4d6c-9b5a-493827160504"
    SalesClient(sim.api_url, sim.issue_token("a salesperson"))._call(
        "POST", "leads", {"leadid": other_lead, "subject": "Walk-in", "lastname": "Other"})
    relay = WebhookRelay(sim)
    relay.pending()
    SalesClient(sim.api_url, sim.issue_token("a salesperson")).disqualify(other_lead, statuscode=4)
    [answer] = relay.deliver(call_function)
    assert answer.status_code == 202 and json.loads(answer.get_body())["status"] == "ignored"
    assert c.queue.count(c.settings.outcome_queue) == 0


# --- oversized deliveries (above 256 KB: no inputs, no images, x-ms-dynamics-msg-size-exceeded) ---------
def test_oversized_deliveries_are_completed_from_sales(sim, app):
    """Every decision delivered trimmed, as Dataverse sends a context above 256 KB: the Win and the Lose carry
    no OpportunityClose, the disqualification no Target; each is read from Sales instead of refused."""
    c = app
    leads = leads_in_sales(c, 3)
    (won_number, won_lead), (dq_number, dq_lead), (lost_number, lost_lead) = sorted(leads.items())
    relay = WebhookRelay(sim, parent_padding=300 * 1024)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(won_lead)
    salesperson.win(created["opportunity"])
    salesperson.disqualify(dq_lead, statuscode=6)
    salesperson.lose(salesperson.qualify(lost_lead)["opportunity"], statuscode=5)

    answers = relay.deliver(call_function)
    for body, headers in relay.delivered:
        context = json.loads(body)
        assert headers["x-ms-dynamics-msg-size-exceeded"] and len(body) < 256 * 1024
        assert "InputParameters" not in context and "ParentContext" not in context
    assert [a.status_code for a in answers] == [202] * 5
    assert [json.loads(a.get_body())["kind"] for a in answers] == \
        ["lead_qualified", "opportunity_won", "lead_disqualified", "lead_qualified", "opportunity_lost"]

    work(c)
    assert_approved_with_sales_records(c, won_number, created)
    disqualified, lost = c.operator.prospect(dq_number).prospect, c.operator.prospect(lost_number).prospect
    assert disqualified.rejection_reason == "lead disqualified (No Longer Interested)"
    assert lost.status is ProspectStatus.REJECTED and lost.rejection_reason == "opportunity lost (Out-Sold)"


# --- a Sales outage while Dataverse waits for the answer -------------------------------------------------
def win_pending(sim, c: Container) -> tuple[WebhookRelay, str]:
    """A lead qualified (delivered and applied) and won in Sales; the Win's delivery is pending."""
    [(number, lead_id)] = leads_in_sales(c, 1).items()
    relay = WebhookRelay(sim)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    opportunity = salesperson.qualify(lead_id)["opportunity"]
    assert [a.status_code for a in relay.deliver(call_function)] == [202]
    work(c)
    salesperson.win(opportunity)
    return relay, number


def answer_of(response: func.HttpResponse) -> tuple[int, str | None, dict]:
    return response.status_code, response.headers.get("Retry-After"), json.loads(response.get_body())


@pytest.mark.parametrize("fault, retry_after", [
    pytest.param({"status": 503}, "10", id="sales-answers-503"),
    pytest.param({"status": 429, "retry_after": 69}, "69", id="sales-throttles-retry-after-69"),
])
def test_a_sales_outage_answers_503_for_dataverse_to_retry_then_the_retry_is_applied(sim, app, fault, retry_after):
    """Dataverse retries only 502/503/504 (a 500 never): Sales failing or throttled with a Retry-After the
    webhook's budget cannot hold (69 s: Dataverse stops waiting at 60) is a 503 with Retry-After, answered
    without sleeping it out; Dataverse's retry, once Sales is back, is enqueued and applied."""
    c = app
    relay, number = win_pending(sim, c)
    sim.faults.always(**fault, method="GET")
    [answer] = relay.deliver(call_function)
    status, header, problem = answer_of(answer)
    assert (status, header) == (503, retry_after) and problem["status"] == 503
    assert answer.mimetype == "application/problem+json"
    assert c.queue.count(c.settings.outcome_queue) == 0

    sim.faults.clear()
    retried = call_function(*relay.delivered[-1])
    assert retried.status_code == 202 and json.loads(retried.get_body())["kind"] == "opportunity_won"
    work(c)
    assert c.operator.prospect(number).prospect.status is ProspectStatus.APPROVED


def test_a_slow_sales_is_not_waited_for_past_the_budget(sim, app, monkeypatch):
    """Sales answering after 30 s: the read times out at the budget's end (here 1 s) and the answer is a 503;
    without the budget the read would wait out its own 30 s timeout, and Dataverse would have given up."""
    c = app
    relay, _ = win_pending(sim, c)
    quick = SalesWebhook(c.queue, c.settings.outcome_queue, c.clock, sales=c.sales, store=c.store,
                         opportunity_lead=c.sales.get_opportunity_lead, budget=1.0)
    monkeypatch.setitem(vars(c), "sales_webhook", quick)
    sim.faults.always(delay=30.0, method="GET")
    try:
        [answer] = relay.deliver(call_function)
    finally:
        sim.faults.clear()
    assert answer_of(answer)[:2] == (503, "10")
