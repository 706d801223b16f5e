"""One page of the back office's email listing on SQLite, against reading the whole outbox, in the same run.

N emails are written to a fresh SQLite store (one in 50 failed, recipients on ten domains). Then, each timed
--repeat times (the median printed):

  baseline        every email read (list_emails(N)): what a listing that filters after reading costs
  first page      50 newest (email_page, no filter)
  deep page       50 after a cursor half-way through
  failed          50 newest failed ones (status filter)
  domain          50 newest to one domain (a filter the index does not serve; it passes over the rows between)

The page's cost must not grow with N where an index serves it: run with two --count values and compare.
On Azure Tables (Azurite) the page is a range of the email order rows (shared/adapters/azure_email_order.py)
and the page's emails; the baseline there is the filtered scan of every email row that the page was before.

    python bench/bench_email_page.py [--count 100000] [--azurite-count 10000] [--backends sqlite,azurite]"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.adapters.sqlite_store import SqliteStore  # noqa: E402
from shared.domain.model import EmailRecord, EmailStatus  # noqa: E402
from shared.ports import EmailQuery  # noqa: E402
from tests.contract.factories import T0  # noqa: E402

PAGE = 50


def fill(store, count: int, per_unit: int = 5000) -> list[EmailRecord]:
    emails = [EmailRecord(id=f"email-{n:07d}", template="prospect_approved", to=f"p{n}@d{n % 10}.example",
                          language="en", values={}, prospect_id=f"p-{n}", created_at=T0 + timedelta(seconds=n),
                          status=EmailStatus.FAILED if n % 50 == 0 else EmailStatus.DELIVERED)
              for n in range(count)]
    for start in range(0, count, per_unit):
        with store.unit_of_work() as uow:
            for email in emails[start:start + per_unit]:
                uow.add_email(email)
    return emails


def timed(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(name: str, store, count: int, repeat: int, per_unit: int) -> None:
    started = time.perf_counter()
    emails = fill(store, count, per_unit)
    print(f"\n{count:,} emails on {name} (written in {time.perf_counter() - started:.0f} s); median of {repeat} runs")
    middle = emails[count // 2]

    def run(query: EmailQuery | None):
        with store.unit_of_work(read_only=True) as uow:
            return uow.list_emails(count) if query is None else uow.email_page(query, PAGE)

    baseline = timed(lambda: run(None), max(3, repeat // 5))
    cases = {"first page": EmailQuery(), "deep page": EmailQuery(before=(middle.created_at, middle.id)),
             "failed": EmailQuery(status=EmailStatus.FAILED), "domain": EmailQuery(to_domain="d3.example")}
    print(f"  {'baseline (all)':16} {baseline * 1000:9.2f} ms")
    for case, query in cases.items():
        assert run(query), case  # a page of something (a small --count has fewer than a page of failed ones)
        took = timed(lambda query=query: run(query), repeat)
        print(f"  {case:16} {took * 1000:9.2f} ms   {baseline / took:8.1f}x faster than the baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--azurite-count", type=int, default=10_000, help="Azurite takes a few hundred rows a second")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,azurite")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as folder:
            store = SqliteStore(Path(folder) / "state.sqlite3")
            measure("SQLite", store, args.count, args.repeat, 5000)
            store.close()
    if "azurite" in backends:
        import uuid

        from azure.data.tables import TableServiceClient

        from devhost.azurite import AzuriteProcess
        from shared.adapters.azure_table_store import AzureTableStore

        with tempfile.TemporaryDirectory() as folder, AzuriteProcess(Path(folder), in_memory=True) as azurite:
            service = TableServiceClient.from_connection_string(azurite.connection_string)
            store = AzureTableStore(service, "emails" + uuid.uuid4().hex[:10])
            measure("Azure Tables (Azurite)", store, args.azurite_count, max(3, args.repeat // 4), 500)
            store.close()


if __name__ == "__main__":
    main()
