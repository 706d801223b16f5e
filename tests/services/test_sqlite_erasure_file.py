"""On SQLite, erased rows are gone from the database file and its write-ahead log, not only from its tables: the
log keeps the older versions of every page a unit of work wrote until a checkpoint empties it, so the store
checkpoints once an erasure commits. Enough applicants that pages fill, split and free (with one or two, a page
is rewritten whole and nothing shows).

What a row alone held is checked (phones, street): search keys (email, company name, registration and VAT
numbers) can live on as divider keys in the search index's interior pages until the file is vacuumed, which the
README says; SQLite is the local development store (Azure refuses it), so that is where this matters."""
from __future__ import annotations

from shared.bootstrap import Container
from shared.config import Settings
from tests.erasure_scan import looked_for
from tests.services.flow import work
from tests.services.test_erasure import DAY, applicant


def row_only_values(n: int) -> set[str]:
    body = applicant(n)
    return {body["company"]["phone"], body["contact"]["phone"], body["company"]["address"]["street"]}


def test_erased_rows_are_not_in_the_files_bytes(tmp_path, clock):
    c = Container.build(Settings.from_env({"SALES_MODE": "none", "OPERATOR_EMAIL": "orders@contoso.example"},
                                          data_dir=tmp_path), clock=clock)
    try:
        for n in range(10, 50):
            c.intake.submit(applicant(n))
            clock.advance(1)  # numbered in the order received: applicant n is PRO-(n - 9)
        c.channel_sync.run()
        work(c)
        for n in range(10, 50, 2):
            c.back_office.reject(f"PRO-{n - 9:06d}", "not a retailer", "setup")
        work(c)
        clock.advance(91 * DAY)
        assert c.erasure.run().prospects == 20
        files = {path.name: path.read_bytes().lower() for path in sorted(tmp_path.glob("state.sqlite3*"))}
        for n in range(10, 50):
            found = sorted(f"{name}: {value}" for value in looked_for(row_only_values(n))
                           for name, raw in files.items() if value.encode() in raw)
            assert (found == []) is (n % 2 == 0), (n, found)  # the erased ones are gone, the others are there
    finally:
        c.store.close()
        c.queue.close()
