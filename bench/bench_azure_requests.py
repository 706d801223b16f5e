"""Storage requests per signup on the Azure backend (Azurite): what each step of the flow costs in Table
and Queue requests, which is what Azure bills and what sets latency (each is a few milliseconds).

Runs N signups through intake, sync, lead creation, qualification and winning (every one won, so each
prospect takes the whole approval path with its email), counting the HTTP requests the Azure SDK sends,
per step and per kind (point read, query, upsert/merge, entity-group transaction, queue operations)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devhost.azurite import AzuriteProcess  # noqa: E402
from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.domain.model import ProspectStatus  # noqa: E402
from signups import numbered_signup  # noqa: E402
from shared.queue_worker import QueueRules, drain_queues  # noqa: E402

RULES = QueueRules(batch_size=32, visibility_timeout=0)


def kind_of(request) -> str:
    path = urlsplit(request.http_request.url).path
    method = request.http_request.method
    if "/$batch" in path:
        return "table transaction"
    if "/messages" in path:
        return {"GET": "queue receive", "POST": "queue send", "DELETE": "queue delete", "PUT": "queue update"}.get(
            method, f"queue {method}")
    if "(" in path.rsplit("/", 1)[-1]:
        return {"GET": "table point read"}.get(method, f"table {method.lower()} entity")
    return {"GET": "table query", "POST": "table insert"}.get(method, f"{method.lower()} {path.rsplit('/', 1)[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50, help="signups (default 50)")
    args = parser.parse_args()
    counts: Counter = Counter()
    step = {"name": "setup"}

    def count(request) -> None:
        counts[(step["name"], kind_of(request))] += 1

    with tempfile.TemporaryDirectory(prefix="b2b-bench-requests-") as folder, \
            AzuriteProcess(Path(folder)) as azurite:
        from azure.data.tables import TableServiceClient
        from azure.storage.queue import QueueServiceClient

        from shared.adapters.azure_queue import AzureStorageQueue
        from shared.adapters.azure_table_store import AzureTableStore

        suffix = uuid.uuid4().hex[:8]
        settings = Settings.from_env({
            "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
            "STATE_TABLE": f"req{suffix}", "LEAD_QUEUE": f"leads-{suffix}", "OUTCOME_QUEUE": f"outcomes-{suffix}",
            "EMAIL_QUEUE": f"emails-{suffix}"}, data_dir=Path(folder) / "app", sync_batch_size=500)
        tables = TableServiceClient.from_connection_string(azurite.connection_string, raw_request_hook=count)
        queues = QueueServiceClient.from_connection_string(azurite.connection_string, raw_request_hook=count)
        c = Container.build(settings, store=AzureTableStore(tables, settings.state_table),
                            queue=AzureStorageQueue(queues))

        def run(name: str, action) -> None:
            step["name"] = name
            action()

        run("intake", lambda: [c.intake.submit(numbered_signup(i)) for i in range(args.n)])
        run("sync", c.channel_sync.run)
        run("lead creation", lambda: drain_queues(c.queue, c.queue_handlers(), RULES))
        leads = c.sales.b2b_leads()
        opportunities = [c.sales.qualify(lead["leadid"]).opportunity_id for lead in leads]
        run("qualified", lambda: drain_queues(c.queue, c.queue_handlers(), RULES))
        for opportunity in opportunities:
            c.sales.win(opportunity)
        run("won + email", lambda: drain_queues(c.queue, c.queue_handlers(), RULES))
        step["name"] = "check"  # not a step of the flow: its reads stay out of the figures
        approved = len(c.operator.prospects(ProspectStatus.APPROVED, limit=args.n))
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
    assert approved == args.n and len(leads) == args.n, (approved, len(leads))

    steps = ["intake", "sync", "lead creation", "qualified", "won + email"]
    print(f"Storage requests per signup on Azurite ({args.n} signups, every one won):")
    total = 0.0
    for name in steps:
        kinds = {kind: n for (s, kind), n in counts.items() if s == name}
        per = sum(kinds.values()) / args.n
        total += per
        detail = ", ".join(f"{kind} {n / args.n:.1f}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        print(f"  {name:<14} {per:5.1f}   ({detail})")
    print(f"  {'total':<14} {total:5.1f}")


if __name__ == "__main__":
    main()
