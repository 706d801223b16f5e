"""All prospects at scale: one page of the console's list with 100,000 prospects, on SQLite and on Azurite,
against today's listing (OperatorService.prospects: list_prospects, then filtered in Python) in the same run.

Cases: the first page, a filtered page (status Pending), the flagged ones, a search, a page deep in the list
(a cursor at the 50,000th row) and the counts per status. The new path is what the console calls
(ProspectDirectory.page: the page and the counts); the median of several runs. Today's listing has no search,
no counts and no cursor: the baseline does what a caller of it must (read everything, filter, count, slice).
On Azure Tables list_prospects always reads every prospect row (a filtered table scan), so the baseline's
cases there are that scan, timed once each (each takes many seconds on Azurite).

The same cases are then asked of the console itself (``GET /api/console?…``, the HTML page a clerk sees)
through the local host, with one kept-alive connection (a signed-in session, as a browser): the figure a clerk
waits for, request and rendering included.

Loading: each prospect's signup, prospect, history entry and sent create-lead message (what the channel sync
leaves). SQLite through the store's units of work (5,000 prospects each); Azurite with bench/azure_bulk_load.py
(the adapter's own rows, in entity-group transactions of one partition from several threads: the service's
own writes took 707 s for 2,000 prospects).

    python bench/bench_console_prospects.py [--prospects 100000] [--azurite-prospects N] [--backends sqlite,azurite]
                                            [--batch 100] [--threads 4]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.adapters.clock import SystemClock  # noqa: E402
from shared.domain.ids import derived_id, lead_id_for, prospect_id_for  # noqa: E402
from shared.domain.messages import CreateLead  # noqa: E402
from shared.domain.model import (  # noqa: E402
    HistoryEntry,
    OutboxMessage,
    Prospect,
    ProspectStatus,
    SignupRecord,
    SignupStatus,
)
from shared.domain.prospect_directory import ProspectSummary, fold  # noqa: E402
from shared.domain.signup import SignupRequest  # noqa: E402
from shared.services.operator import OperatorService  # noqa: E402
from shared.services.prospect_directory import Cursor, ListQuery, ProspectDirectory  # noqa: E402

PAGE = 50
RUNS = 7
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
WORDS = ["Söderberg", "Fabrikam", "Contoso", "Łódź", "Northwind", "Tailspin", "Wingtip", "Litware", "Adatum",
         "Proseware"]
STATUSES = [ProspectStatus.PENDING, ProspectStatus.APPROVED, ProspectStatus.REJECTED]
SEARCH = "söderberg 12"  # about 1 in 900 prospects: "Söderberg 12…" (12, 120…129, 1200…1299, …)


def prospects(count: int) -> list[Prospect]:
    """``count`` prospects over a year: a third of each status, one in a hundred flagged, two channels."""
    template = SignupRequest.model_validate({
        "company": {"name": "x", "phone": "+46 8 555 000 00", "vat_number": "SE 556677-8899 01",
                    "address": {"street": "Storgatan 1", "city": "Uppsala", "zip_code": "753 10", "country": "SE"}},
        "contact": {"first_name": "Åsa", "last_name": "Öberg", "email": "asa@example.com", "phone": "+46 70 000 00 00"},
        "channel_id": "b2b-web"})
    made = []
    for i in range(1, count + 1):
        company = template.company.model_copy(update={"name": f"{WORDS[i % len(WORDS)]} {i} AB"})
        contact = template.contact.model_copy(update={"email": f"buyer{i}@company{i}.example"})
        request = template.model_copy(update={"company": company, "contact": contact,
                                              "channel_id": "b2b-web" if i % 4 else "b2b-nordic"})
        signup_id = f"bench-{i:07d}"
        prospect_id = prospect_id_for(signup_id)
        when = START + timedelta(seconds=i * 311)
        made.append(Prospect(
            id=prospect_id, number=f"PRO-{i:06d}", status=STATUSES[i % 3], signup_id=signup_id, request=request,
            created_at=when, updated_at=when, lead_id=lead_id_for(prospect_id),
            needs_attention=i % 100 == 0, attention_reason="conflicting outcome" if i % 100 == 0 else None))
    return made


def records(p: Prospect):
    """What the store holds of a prospect the channel sync took in: its signup, synced; the prospect; the
    history entry and the create-lead message (sent) the sync writes."""
    from bench.azure_bulk_load import ProspectRecords

    signup = SignupRecord(id=p.signup_id, received_at=p.created_at, request=p.request, request_fingerprint="bench",
                          status=SignupStatus.SYNCED, prospect_id=p.id)
    history = HistoryEntry(prospect_id=p.id, at=p.created_at, actor="channel-sync", action="prospect created",
                           detail=f"{p.number} from channel {p.request.channel_id}")
    message = OutboxMessage(id=derived_id("outbox", "create-lead", p.id), aggregate_id=p.id, queue="b2b-leads",
                            body=CreateLead(prospect_id=p.id).to_json(), created_at=p.created_at, sent_at=p.created_at)
    return ProspectRecords(signup, p, [history], [message])


def median_ms(work, runs: int = RUNS, warm: bool = True) -> float:
    if warm:
        work()  # connections, caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def deep_cursor(made: list[Prospect]) -> str:
    """The cursor a person reaches after 1,000 pages of the newest-first list (row 50,000)."""
    query = ListQuery.parse({})
    newest_first = sorted(made, key=lambda p: (p.created_at, p.number), reverse=True)
    row = ProspectSummary.of(newest_first[min(len(made) - 1, 1000 * PAGE - 1)])
    return Cursor(row.position, forward=True).encode(query.fingerprint)


def new_cases(directory: ProspectDirectory, store, cursor: str) -> dict[str, callable]:
    def page(**params):
        return lambda: directory.page(ListQuery.parse(params))

    def counts():
        with store.unit_of_work(read_only=True) as uow:
            return uow.prospect_counts()

    return {"first page": page(), "status Pending": page(status="pending"), "flagged": page(attention="true"),
            "search": page(q=SEARCH), "deep page (row 50,000)": page(cursor=cursor), "counts": counts}


def console_cases(session, base_url: str, cursor: str) -> dict[str, callable]:
    """The console's All prospects page (HTML, as a clerk's browser asks for it) for the same cases."""
    def page(**params):
        def get():
            answer = session.get(f"{base_url}/api/console", params=params, timeout=60)
            assert answer.status_code == 200, answer.status_code
        return get

    return {"first page": page(), "status Pending": page(status="pending"), "flagged": page(attention="true"),
            "search": page(q=SEARCH), "deep page (row 50,000)": page(cursor=cursor)}


def through_host(settings: dict[str, str], cursor: str) -> dict[str, float]:
    from bench.local_host import console_session, local_host

    with local_host(settings) as base_url:
        session = console_session(base_url)
        return {case: median_ms(work) for case, work in console_cases(session, base_url, cursor).items()}


def baseline_cases(operator: OperatorService) -> dict[str, callable]:
    everything = sys.maxsize
    needle = fold(SEARCH)

    def search():
        return [p for p in operator.prospects(limit=everything) if fold(p.request.company.name).startswith(needle)][:PAGE]

    return {
        "first page": lambda: operator.prospects(limit=PAGE),
        "status Pending": lambda: operator.prospects(ProspectStatus.PENDING, limit=PAGE),
        "flagged": lambda: operator.prospects(needs_attention=True, limit=PAGE),
        "search": search,
        "deep page (row 50,000)": lambda: operator.prospects(limit=1000 * PAGE + PAGE)[-PAGE:],
        "counts": lambda: Counter(p.status for p in operator.prospects(limit=everything)),
    }


def report(backend: str, count: int, new: dict[str, float], old: dict[str, float], page: dict[str, float]) -> None:
    print(f"\n{backend}, {count:,} prospects: one page of {PAGE} (median of {RUNS}) in the directory and as the "
          f"console's page through the local host (keep-alive), against today's listing (once)")
    print(f"  {'case':<24}{'new ms':>10}{'page ms':>10}{'today ms':>12}{'today/new':>11}")
    for case, ms in new.items():
        shown = f"{page[case]:>10.1f}" if case in page else f"{'-':>10}"
        print(f"  {case:<24}{ms:>10.1f}{shown}{old[case]:>12.1f}{old[case] / ms:>10.1f}x")


def verify(directory: ProspectDirectory, made: list[Prospect]) -> None:
    """The figures are of correct answers: the first page and the counts are what they must be."""
    page = directory.page(ListQuery.parse({"status": "pending"}))
    pending = sorted((p for p in made if p.status is ProspectStatus.PENDING), key=lambda p: (p.created_at, p.number),
                     reverse=True)
    assert [r.number for r in page.rows] == [p.number for p in pending[:PAGE]], "wrong first page"
    assert page.counts[ProspectStatus.PENDING.value] == len(pending), "wrong count"
    found = directory.page(ListQuery.parse({"q": SEARCH})).rows
    assert found and all(fold(r.company).startswith(fold(SEARCH)) for r in found), "wrong search"


def bench_sqlite(made: list[Prospect]) -> None:
    from shared.adapters.sqlite_store import SqliteStore

    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "state.sqlite3")
        started = time.perf_counter()
        for start in range(0, len(made), 5000):
            with store.unit_of_work() as uow:
                for one in map(records, made[start:start + 5000]):
                    uow.add_signup(one.signup)
                    uow.add_prospect(one.prospect)
                    for entry in one.history:
                        uow.append_history(entry)
                    for message in one.outbox:
                        uow.add_outbox_message(message)
        print(f"\nSQLite: {len(made):,} prospects loaded in {time.perf_counter() - started:.0f} s")
        directory = ProspectDirectory(store)
        verify(directory, made)
        operator = OperatorService(store, queue=None, queue_names=(), clock=SystemClock())  # its listing reads the store only
        cursor = deep_cursor(made)
        new = {case: median_ms(work) for case, work in new_cases(directory, store, cursor).items()}
        # Today's listing reads every prospect for most cases (a minute each here): once each, like on Azurite.
        old = {case: median_ms(work, runs=1, warm=False) for case, work in baseline_cases(operator).items()}
        page = through_host({"DATA_DIR": folder}, cursor)
        report("SQLite", len(made), new, old, page)
        store.close()


def load_azure(store, made: list[Prospect], batch: int, threads: int) -> None:
    from bench.azure_bulk_load import bulk_load

    started = time.perf_counter()
    written = bulk_load(store.table, [records(p) for p in made], batch=batch, threads=threads)
    print(f"\nAzurite: {len(made):,} prospects loaded ({written:,} rows, transactions of up to {batch}, "
          f"{threads} threads) in {time.perf_counter() - started:.0f} s")


def bench_azurite(made: list[Prospect], batch: int, threads: int) -> None:
    from azure.data.tables import TableServiceClient

    from devhost.azurite import AzuriteProcess
    from shared.adapters.azure_table_store import AzureTableStore

    with tempfile.TemporaryDirectory() as folder, AzuriteProcess(Path(folder), in_memory=True) as azurite:
        service = TableServiceClient.from_connection_string(azurite.connection_string)
        table = "bench" + uuid.uuid4().hex[:10]
        store = AzureTableStore(service, table)
        load_azure(store, made, batch, threads)
        directory = ProspectDirectory(store)
        verify(directory, made)
        operator = OperatorService(store, queue=None, queue_names=(), clock=SystemClock())
        cursor = deep_cursor(made)
        new = {case: median_ms(work) for case, work in new_cases(directory, store, cursor).items()}
        page = through_host({"DATA_DIR": folder, "STATE_BACKEND": "azure", "STATE_TABLE": table,
                             "AzureWebJobsStorage": azurite.connection_string}, cursor)
        # Every case of today's listing on Azure Tables reads every prospect row (one scan; the status filter
        # is applied by the service, the rest in Python): each is timed once, without a warm-up run.
        scan = baseline_cases(operator)
        whole = median_ms(scan["counts"], runs=1, warm=False)
        by_status = median_ms(scan["status Pending"], runs=1, warm=False)
        old = {case: by_status if case == "status Pending" else whole for case in new}
        report("Azurite", len(made), new, old, page)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=100_000)
    parser.add_argument("--azurite-prospects", type=int, help="a number of its own on Azurite (default: --prospects)")
    parser.add_argument("--batch", type=int, default=100, help="rows in each of the loader's transactions (max 100)")
    parser.add_argument("--threads", type=int, default=4, help="the loader's writers")
    parser.add_argument("--backends", default="sqlite,azurite")
    args = parser.parse_args()
    started = time.perf_counter()
    made = prospects(args.prospects)
    print(f"{len(made):,} prospects made in {time.perf_counter() - started:.0f} s")
    backends = args.backends.split(",")
    if "sqlite" in backends:
        bench_sqlite(made)
    if "azurite" in backends:
        bench_azurite(made if args.azurite_prospects is None else prospects(args.azurite_prospects),
                      args.batch, args.threads)


if __name__ == "__main__":
    main()
