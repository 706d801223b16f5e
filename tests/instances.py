"""Several containers on one storage, as the instances of a scaled-out app are: one SQLite folder, or one table
and its queues on Azurite (fresh names per test)."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from shared.bootstrap import Container
from shared.config import Settings


@contextmanager
def instances_on_one_storage(request, tmp_path, backend: str, count: int, table_prefix: str) -> Iterator[list[Container]]:
    environ = {"SALES_MODE": "none", "SEND_RECEIVED_EMAIL": "false"}  # the decisions' emails only
    if backend == "azure":
        suffix = uuid.uuid4().hex[:10]
        environ.update({
            "STATE_BACKEND": "azure", "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
            "STATE_TABLE": f"{table_prefix}{suffix}", "LEAD_QUEUE": f"leads-{suffix}",
            "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}",
        })
    built = [Container.build(Settings.from_env(environ, data_dir=tmp_path)) for _ in range(count)]
    try:
        yield built
    finally:
        for c in built:
            c.store.close()
            c.queue.close()
