"""The app with Sales on the Dataverse simulator, in process, and the webhook function called as
Dataverse calls it (WebhookKey authentication sends the function key as ?code=)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import azure.functions as func

from functions import _runtime
from functions.sales_events import sales_events
from shared.adapters.dataverse_sales import DataverseSales
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import ProspectStatus
from shared.services.operator import ProspectDetails

FUNCTION_KEY = "webhook-key-for-tests"
URL = "https://b2b.example.net/api/sales/events"


@contextmanager
def app_on_simulator(sim, data_dir: Path, monkeypatch) -> Iterator[Container]:
    """The functions' container on a fresh state folder, with Sales on the simulator."""
    token = sim.issue_token()
    # The decisions' emails only: the "we received your request" email has tests of its own.
    c = Container.build(Settings.from_env({"OUTCOME_QUEUE": "b2b-sales-outcomes", "SEND_RECEIVED_EMAIL": "false"},
                                          data_dir=data_dir),
                        sales=DataverseSales(sim.url, lambda: token))
    monkeypatch.setattr(_runtime, "_container", c)
    try:
        yield c
    finally:
        c.store.close()
        c.queue.close()


def call_function(body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    return sales_events(func.HttpRequest("POST", f"{URL}?code={FUNCTION_KEY}", headers=headers, body=body,
                                         params={"code": FUNCTION_KEY}))


def assert_approved_with_sales_records(c: Container, number: str, created: dict[str, str],
                                       company: str = "Company 1 & Sons") -> ProspectDetails:
    """Prospect ``number`` approved as Sales decided: a hierarchy named after the company (signup_body(1)'s by
    default), the contact its one active Admin, and the customers carrying the Dataverse record ids of the
    account and contact that qualifying the lead created (``created``: QualifyLead's answer)."""
    details = c.operator.prospect(number)
    assert details.prospect.status is ProspectStatus.APPROVED
    assert details.hierarchy is not None and details.hierarchy.name == company
    assert [(m.role.value, m.status.value) for m in details.members] == [("Admin", "Active")]
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer(details.prospect.organization_customer_id).sales_record_id == created["account"]
        assert uow.get_customer(details.prospect.person_customer_id).sales_record_id == created["contact"]
    return details
