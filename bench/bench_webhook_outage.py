"""The Dataverse webhook under an injected Sales outage: the answer code and the time to answer, as Dataverse
meets them. Dataverse waits 60 s for an answer and retries (once) only a 502, 503 or 504.

The local host runs in its own process with SALES_MODE=dataverse on the Dataverse simulator
(``tests/dataverse_sim``) and the webhook's budget at its default (SALES_WEBHOOK_BUDGET_SECONDS, 20 s) unless
``--budget`` says otherwise. One prospect's lead is qualified and won in the simulator; the Win's delivery
(whose handling must read the opportunity's lead from Sales) is then posted to ``POST /api/sales/events``
once per scenario, each time as a new request (a new RequestId), with a fault switched on for every read:

- ``healthy``: no fault (the baseline, measured in the same run);
- ``503``: Sales answers every read 503;
- ``429 Retry-After 69``: service protection asks for 69 s (more than Dataverse waits);
- ``slow 30 s``: Sales answers after 30 s;
- ``unreachable``: the simulator is stopped (connections refused).

Prints per scenario: the answer code, its Retry-After, the time to answer and its ratio to the baseline.
Makes no assertion on timings (tests/e2e/test_dataverse_*.py assert the codes).

    python bench/bench_webhook_outage.py [--budget 20]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dataverse_sim import SalesClient, running_simulator  # noqa: E402
from tests.dataverse_sim.webhook import WebhookRelay  # noqa: E402
from tests.e2e.conftest import start_host, stop_host, wait_for  # noqa: E402
from tests.services.flow import signup_body  # noqa: E402

KEY = "bench-webhook-key"
DATAVERSE_PATIENCE = 60.0


def run_timer(http: requests.Session, base_url: str, name: str) -> None:
    answer = http.post(f"{base_url}/admin/functions/{name}", json={"input": ""}, headers={"x-functions-key": KEY},
                       timeout=30)
    answer.raise_for_status()


def won_delivery(sim, host, http) -> tuple[bytes, dict[str, str]]:
    """Signup → prospect → lead in the simulator → qualified (delivered) → won; the Win's delivery."""
    receipt = http.post(host.url("signups"), json=signup_body(1), timeout=30).json()
    run_timer(http, host.base_url, "channel_sync")
    wait_for(lambda: http.get(receipt["status_url"], timeout=30).json()["status"] == "prospect_created")
    run_timer(http, host.base_url, "create_lead_batches")
    wait_for(lambda: http.get(receipt["status_url"], timeout=30).json()["status"] == "lead_created")
    lead_id = host.container().operator.prospects()[0].lead_id
    relay = WebhookRelay(sim)
    relay.pending()
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    opportunity = salesperson.qualify(lead_id)["opportunity"]
    assert [a.status_code for a in relay.post(host.url("sales/events"), key=KEY)] == [202]
    salesperson.win(opportunity)
    [win] = relay.pending()
    return win


def post_as_new_request(http, url: str, delivery: tuple[bytes, dict[str, str]]) -> tuple[int, str, float]:
    body, headers = delivery
    context = json.loads(body)
    context["RequestId"] = str(uuid.uuid4())  # a new request each time, not a repeat of the last one
    headers = {**headers, "x-ms-correlation-request-id": str(uuid.uuid4())}
    started = time.perf_counter()
    answer = http.post(url, params={"code": KEY}, data=json.dumps(context).encode(), headers=headers,
                       timeout=DATAVERSE_PATIENCE)
    return answer.status_code, answer.headers.get("Retry-After", "-"), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="", help="SALES_WEBHOOK_BUDGET_SECONDS (default: the app's own)")
    args = parser.parse_args(argv)
    settings_budget = {"SALES_WEBHOOK_BUDGET_SECONDS": args.budget} if args.budget else {}

    rows = []
    with tempfile.TemporaryDirectory() as folder, requests.Session() as http, running_simulator() as sim:
        client_id = str(uuid.uuid4())
        host = start_host(Path(folder) / "data", {
            "SALES_MODE": "dataverse", "DATAVERSE_URL": sim.url, "DATAVERSE_CLIENT_ID": client_id,
            **sim.managed_identity(client_id), "DEVHOST_FUNCTION_KEY": KEY,
            "AzureWebJobs.create_lead.Disabled": "true", "LOG_LEVEL": "WARNING", **settings_budget,
        }, args=("--no-timers",))
        try:
            url = host.url("sales/events")
            win = won_delivery(sim, host, http)
            scenarios = [("healthy", {}), ("503", {"status": 503}),
                         ("429 Retry-After 69", {"status": 429, "retry_after": 69}), ("slow 30 s", {"delay": 30.0})]
            for name, fault in scenarios:
                if fault:
                    sim.faults.always(**fault, method="GET")
                try:
                    rows.append((name, *post_as_new_request(http, url, win)))
                finally:
                    sim.faults.clear()
            sim.stop()  # Sales unreachable: its port refuses connections
            rows.append(("unreachable", *post_as_new_request(http, url, win)))
        finally:
            stop_host(host)

    baseline = rows[0][3]
    print(f"webhook budget: {args.budget or 'default (20 s)'}; Dataverse waits {DATAVERSE_PATIENCE:.0f} s, "
          "retries 502/503/504 once")
    print(f"{'scenario':<22}{'answer':>7}{'Retry-After':>13}{'time to answer':>16}{'x baseline':>12}")
    for name, status, retry_after, seconds in rows:
        print(f"{name:<22}{status:>7}{retry_after:>13}{seconds:>14.2f} s{seconds / baseline:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
