"""Scale-out: two local hosts on one storage (Azurite, or one SQLite folder) take racing back-office
decisions on the same prospects over HTTP. Each request answers 200 when it asked for the decision that
won (changed or not) and 409 problem+json naming the winner otherwise; never a 503 or a storage error."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from shared.domain.model import ProspectStatus
from tests.e2e.conftest import azure_backend, start_host, stop_host, wait_for
from tests.services.flow import signup_body

pytestmark = pytest.mark.e2e
KEY = "e2e-admin-key-0123456789"
PROSPECTS = 3
PLAN = ["approve", "reject", "approve", "reject"]  # alternately on each host


@pytest.fixture(params=["sqlite", "azure"])
def hosts(request, tmp_path):
    extra = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    settings = {**extra, "SALES_MODE": "none", "DEVHOST_FUNCTION_KEY": KEY}
    started = []
    try:
        for _ in range(2):
            started.append(start_host(tmp_path / "data", settings))
        yield started
    finally:
        for host in started:
            stop_host(host)


def test_racing_decisions_through_two_hosts(hosts):
    for n in range(1, PROSPECTS + 1):
        assert requests.post(hosts[0].url("signups"), json=signup_body(n), timeout=30).status_code == 202
    c = hosts[0].container()
    prospects = wait_for(lambda: len(found := c.operator.prospects(ProspectStatus.PENDING)) == PROSPECTS and found,
                         what="the prospects")
    for prospect in prospects:
        start = threading.Barrier(len(PLAN))

        def decide(index: int, action: str) -> requests.Response:
            host = hosts[index % len(hosts)]
            body = {"operator": f"op{index}", **({"reason": "not for us"} if action == "reject" else {})}
            start.wait()
            return requests.post(host.url(f"backoffice/prospects/{prospect.number}/{action}"), json=body,
                                 headers={"x-functions-key": KEY}, timeout=60)

        with ThreadPoolExecutor(len(PLAN)) as pool:
            answers = list(pool.map(decide, range(len(PLAN)), PLAN))
        decided = c.operator.prospect(prospect.number).prospect
        winner = "approve" if decided.status is ProspectStatus.APPROVED else "reject"
        assert decided.status is not ProspectStatus.PENDING
        for action, answer in zip(PLAN, answers):
            if action == winner:
                assert answer.status_code == 200, answer.text
                assert answer.json()["decided_by"] == decided.decided_by
            else:
                assert answer.status_code == 409, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.json()["decision"] == {
                    "number": prospect.number, "status": decided.status.value, "decided_by": decided.decided_by,
                    "decided_at": decided.decided_at.isoformat()}
        assert sum(answer.status_code == 200 and answer.json()["changed"] for answer in answers) == 1
