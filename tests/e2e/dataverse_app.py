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

FUNCTION_KEY = "webhook-key-for-tests"
URL = "https://b2b.example.net/api/sales/events"


@contextmanager
def app_on_simulator(sim, data_dir: Path, monkeypatch) -> Iterator[Container]:
    """The functions' container on a fresh state folder, with Sales on the simulator."""
    token = sim.issue_token()
    c = Container.build(Settings.from_env({"OUTCOME_QUEUE": "b2b-sales-outcomes"}, data_dir=data_dir),
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
