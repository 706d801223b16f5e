"""The console's partners list: a page costs O(page), not O(partners), on SQLite and on Azurite.

For a small and a ten times larger store of partners (hierarchies, each with a user and a credit line), it times
the first page, a page deep in the list (after a cursor), a name search and an email search, against the
baseline measured in the same run: the listing of every partner (``list_hierarchies``, a filtered scan of the
table on Azure Tables). A page that is O(page) takes about as long in the large store as in the small one,
while the scan grows with the store."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devhost.azurite import AzuriteProcess  # noqa: E402
from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.domain.model import CustomerHierarchy, HierarchyRole  # noqa: E402
from shared.domain.partners import CreditLine, PartnerUser, UserStatus, person_customer_id_for, user_id_for  # noqa: E402

REPEATS = 9


def fill(c: Container, start: int, stop: int) -> None:
    now = datetime.now(timezone.utc)
    for n in range(start, stop):
        hierarchy = CustomerHierarchy(id=f"CH-{n:06d}", name=f"Partner {n} AB", organization_customer_id=f"org-{n}",
                                      created_at=now)
        email = f"admin{n}@partner.example"
        user = PartnerUser(id=user_id_for(email), hierarchy_id=hierarchy.id,
                           customer_id=person_customer_id_for(user_id_for(email)), email=email, first_name="Ada",
                           last_name=f"Admin {n}", role=HierarchyRole.ADMIN, status=UserStatus.ACTIVE,
                           created_at=now, updated_at=now)
        with c.store.unit_of_work() as uow:
            uow.save_hierarchy(hierarchy)
            uow.save_partner_user(user)
            uow.save_credit_line(CreditLine(hierarchy_id=hierarchy.id, limit=Decimal("1000.00"), currency="EUR",
                                            reserved=Decimal("0.00"), updated_at=now))


def timed(action) -> float:
    """The median of REPEATS runs after one to warm up, in milliseconds (the machine is shared: the median
    keeps a run slowed by another process from deciding the figure)."""
    action()
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def measure(c: Container, size: int) -> dict[str, float]:
    admin = c.partner_admin
    deep = f"CH-{size - 30:06d}"
    return {
        "all partners (scan, baseline)": timed(lambda: c.operator.partners(limit=sys.maxsize)),
        "first page": timed(lambda: admin.page()),
        "a page deep in the list": timed(lambda: admin.page(cursor=deep)),
        "name search, first page": timed(lambda: admin.page("partner 1")),
        "email search": timed(lambda: admin.page(f"admin{size // 2}@partner.example")),
    }


def run(environ: dict[str, str], small: int, large: int) -> tuple[dict[str, float], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="b2b-bench-partners-") as folder:
        c = Container.build(Settings.from_env({**environ, "DATA_DIR": folder, "LOG_LEVEL": "WARNING"}))
        fill(c, 1, small + 1)
        at_small = measure(c, small)
        fill(c, small + 1, large + 1)
        at_large = measure(c, large)
        c.store.close()
        c.queue.close()
    return at_small, at_large


def report(name: str, small: int, large: int, at_small: dict[str, float], at_large: dict[str, float]) -> None:
    print(f"\n{name}: {small} partners, then {large}; median of {REPEATS} runs")
    scan = at_large["all partners (scan, baseline)"]
    for what in at_small:
        print(f"  {what:<30} {at_small[what]:8.1f} ms  {at_large[what]:8.1f} ms  "
              f"(x{at_large[what] / at_small[what]:5.2f} for x{large / small:.0f} partners; "
              f"{at_large[what] / scan:5.2f} of the scan)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--no-azurite", action="store_true", help="SQLite only")
    args = parser.parse_args()
    report("SQLite", args.small, args.large, *run({}, args.small, args.large))
    if args.no_azurite:
        return
    with tempfile.TemporaryDirectory(prefix="b2b-bench-azurite-") as folder, AzuriteProcess(Path(folder)) as azurite:
        environ = {"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                   "STATE_TABLE": f"bench{uuid.uuid4().hex[:8]}"}
        report("Azure Tables (Azurite)", args.small, args.large, *run(environ, args.small, args.large))


if __name__ == "__main__":
    main()
