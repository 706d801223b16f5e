"""One page of the back office's email listing on SQLite, against reading the whole outbox, in the same run.

N emails are written to a fresh SQLite store (one in 50 failed, recipients on ten domains). Then, each timed
--repeat times (the median printed):

  baseline        every email read (list_emails(N)): what a listing that filters after reading costs
  first page      50 newest (email_page, no filter)
  deep page       50 after a cursor half-way through
  failed          50 newest failed ones (status filter)
  domain          50 newest to one domain (a filter the index does not serve; it passes over the rows between)

The page's cost must not grow with N where an index serves it: run with two --count values and compare.
The Azure Tables store reads every email row for a page (shared/adapters/azure_table_store.py says why), so
only SQLite is measured here."""
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


def fill(store: SqliteStore, count: int) -> list[EmailRecord]:
    emails = [EmailRecord(id=f"email-{n:07d}", template="prospect_approved", to=f"p{n}@d{n % 10}.example",
                          language="en", values={}, prospect_id=f"p-{n}", created_at=T0 + timedelta(seconds=n),
                          status=EmailStatus.FAILED if n % 50 == 0 else EmailStatus.DELIVERED)
              for n in range(count)]
    for start in range(0, count, 5000):
        with store.unit_of_work() as uow:
            for email in emails[start:start + 5000]:
                uow.add_email(email)
    return emails


def timed(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "state.sqlite3")
        emails = fill(store, args.count)
        middle = emails[args.count // 2]

        def run(query: EmailQuery | None):
            with store.unit_of_work(read_only=True) as uow:
                return uow.list_emails(args.count) if query is None else uow.email_page(query, PAGE)

        baseline = timed(lambda: run(None), max(3, args.repeat // 5))
        cases = {"first page": EmailQuery(), "deep page": EmailQuery(before=(middle.created_at, middle.id)),
                 "failed": EmailQuery(status=EmailStatus.FAILED), "domain": EmailQuery(to_domain="d3.example")}
        print(f"{args.count:,} emails on SQLite; median of {args.repeat} runs")
        print(f"  {'baseline (all)':16} {baseline * 1000:9.2f} ms")
        for name, query in cases.items():
            assert len(run(query)) == PAGE
            took = timed(lambda query=query: run(query), args.repeat)
            print(f"  {name:16} {took * 1000:9.2f} ms   {baseline / took:8.1f}x faster than the baseline")
        store.close()


if __name__ == "__main__":
    main()
