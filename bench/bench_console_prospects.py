"""All prospects at scale: one page of the console's list with 100,000 prospects, on SQLite and on Azurite,
against today's listing (OperatorService.prospects: list_prospects, then filtered in Python) in the same run.

Cases: the first page, a filtered page (status Pending), the flagged ones, a search, a page deep in the list
(a cursor at the 50,000th row) and the counts per status. The new path is what the console calls
(ProspectDirectory.page: the page and the counts); the median of several runs. Today's listing has no search,
no counts and no cursor: the baseline does what a caller of it must (read everything, filter, count, slice).
On Azure Tables list_prospects always reads every prospect row (a filtered table scan), so the baseline's
cases there are that scan, timed once each (each takes many seconds on Azurite).

Loading: SQLite through the store (transactions of 5,000); Azurite in entity-group batches (BATCH) for the
directory's partition (fresh_directory: what applying each prospect once writes) and the prospect rows in
parallel, as the store lays them out (a partition each).

    python bench/bench_console_prospects.py [--prospects 100000] [--azurite-prospects N] [--backends sqlite,azurite]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.domain.ids import lead_id_for, prospect_id_for  # noqa: E402
from shared.domain.model import Prospect, ProspectStatus  # noqa: E402
from shared.domain.prospect_directory import ProspectSummary, fold  # noqa: E402
from shared.domain.signup import SignupRequest  # noqa: E402
from shared.services.operator import OperatorService  # noqa: E402
from shared.services.prospect_directory import Cursor, ListQuery, ProspectDirectory  # noqa: E402

PAGE = 50
# Entity-group batches of the directory's partition: Azurite takes rows fastest in batches of about 10 (a
# batch of 100 took 7 ms a row, one of 10 about 1 ms: its batch handling grows faster than linearly), and
# it resets connections when many large batches arrive at once.
BATCH = 10
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


def report(backend: str, count: int, new: dict[str, float], old: dict[str, float]) -> None:
    print(f"\n{backend}, {count:,} prospects: one page of {PAGE} (median of {RUNS}), against today's listing (once)")
    print(f"  {'case':<24}{'new ms':>10}{'today ms':>12}{'today/new':>11}")
    for case, ms in new.items():
        print(f"  {case:<24}{ms:>10.1f}{old[case]:>12.1f}{old[case] / ms:>10.1f}x")


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
                for p in made[start:start + 5000]:
                    uow.add_prospect(p)
        print(f"\nSQLite: {len(made):,} prospects loaded in {time.perf_counter() - started:.0f} s")
        directory = ProspectDirectory(store)
        verify(directory, made)
        operator = OperatorService(store, queue=None, queue_names=())  # its listing reads the store only
        cursor = deep_cursor(made)
        new = {case: median_ms(work) for case, work in new_cases(directory, store, cursor).items()}
        # Today's listing reads every prospect for most cases (a minute each here): once each, like on Azurite.
        old = {case: median_ms(work, runs=1, warm=False) for case, work in baseline_cases(operator).items()}
        report("SQLite", len(made), new, old)
        store.close()


def load_azure(store, made: list[Prospect]) -> None:
    from shared.adapters.azure_prospect_directory import fresh_directory
    from shared.adapters.azure_table_store import TableUnitOfWork

    table = store.table

    def put_prospect(p: Prospect) -> None:
        table.create_entity({"PartitionKey": p.id, "RowKey": "prospect", "data": p.model_dump_json(),
                             **TableUnitOfWork._prospect_columns(p)})

    def put_batch(batch: list[dict]) -> None:
        table.submit_transaction([("upsert", entity) for entity in batch])

    entities = list(fresh_directory(ProspectSummary.of(p) for p in made))
    batches = [entities[i:i + BATCH] for i in range(0, len(entities), BATCH)]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put_prospect, made, chunksize=200))
        list(pool.map(put_batch, batches))
    print(f"\nAzurite: {len(made):,} prospects and {len(entities):,} directory rows loaded in "
          f"{time.perf_counter() - started:.0f} s")


def bench_azurite(made: list[Prospect]) -> None:
    from azure.data.tables import TableServiceClient

    from devhost.azurite import AzuriteProcess
    from shared.adapters.azure_table_store import AzureTableStore

    with tempfile.TemporaryDirectory() as folder, AzuriteProcess(Path(folder), in_memory=True) as azurite:
        service = TableServiceClient.from_connection_string(azurite.connection_string)
        store = AzureTableStore(service, "bench" + uuid.uuid4().hex[:10])
        load_azure(store, made)
        directory = ProspectDirectory(store)
        verify(directory, made)
        operator = OperatorService(store, queue=None, queue_names=())
        new = {case: median_ms(work) for case, work in new_cases(directory, store, deep_cursor(made)).items()}
        # Every case of today's listing on Azure Tables reads every prospect row (one scan; the status filter
        # is applied by the service, the rest in Python): each is timed once, without a warm-up run.
        scan = baseline_cases(operator)
        whole = median_ms(scan["counts"], runs=1, warm=False)
        by_status = median_ms(scan["status Pending"], runs=1, warm=False)
        old = {case: by_status if case == "status Pending" else whole for case in new}
        report("Azurite", len(made), new, old)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=100_000)
    parser.add_argument("--azurite-prospects", type=int, help="fewer on Azurite (default: --prospects): it "
                        "takes rows at some hundreds a second, so 100,000 prospects take long to load")
    parser.add_argument("--backends", default="sqlite,azurite")
    args = parser.parse_args()
    started = time.perf_counter()
    made = prospects(args.prospects)
    print(f"{len(made):,} prospects made in {time.perf_counter() - started:.0f} s")
    backends = args.backends.split(",")
    if "sqlite" in backends:
        bench_sqlite(made)
    if "azurite" in backends:
        bench_azurite(made if args.azurite_prospects is None else prospects(args.azurite_prospects))


if __name__ == "__main__":
    main()
