"""The back office's list (UnitOfWork.prospect_directory, prospect_counts): every Store adapter answers it as
the filter's own predicate over all prospects would, in the same order, page by page, with exact counts.

The expected answers are computed here from ProspectFilter.matches over every row: the stores must agree with
that, whatever index or index rows they answer from."""
from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from shared.domain.model import ProspectStatus
from shared.domain.prospect_directory import Position, ProspectFilter, ProspectSummary, ordered, search_prefix
from tests.contract.factories import T0, at, prospect
from tests.contract.test_store_contract import harness, retrying, store  # noqa: F401 - fixtures

COMPANIES = ["Fabrikam AB", "Söderberg & Öhman", "Contoso Ltd", "Łódź Trading", "=HYPERLINK Corp", "fabrikam nord"]
CHANNELS = ["b2b-web", "b2b-nordic"]


def varied(n: int, *, status: ProspectStatus = ProspectStatus.PENDING, flagged: bool = False, same_time=None):
    """Prospect ``n`` with a company, channel, VAT number and time that vary with ``n``."""
    base = prospect(n, created=same_time or (T0 + timedelta(hours=n * 7 % 24, minutes=n)), status=status)
    request = base.request
    company = request.company.model_copy(update={
        "name": COMPANIES[n % len(COMPANIES)],
        "vat_number": f"SE 55{n:02d}-77 01" if n % 2 else None,
        "registration_number": f"556{n:03d}-0101" if n % 3 == 0 else None})
    request = request.model_copy(update={"company": company, "channel_id": CHANNELS[n % 2]})
    flagged_changes = {"needs_attention": True, "attention_reason": "conflicting outcome"} if flagged else {}
    return base.model_copy(update={"request": request, **flagged_changes})


def fill(store, prospects) -> None:
    with store.unit_of_work() as uow:
        for p in prospects:
            uow.add_prospect(p)


def listed(store, where: ProspectFilter, newest_first: bool = True, limit: int = 1000,
           after: Position | None = None) -> list[str]:
    with store.unit_of_work(read_only=True) as uow:
        return [row.number for row in uow.prospect_directory(where, newest_first=newest_first, after=after,
                                                              limit=limit)]


def expected(prospects, where: ProspectFilter, newest_first: bool = True) -> list[str]:
    rows = [ProspectSummary.of(p) for p in prospects]
    return [row.number for row in ordered([r for r in rows if where.matches(r)], newest_first)]


def counts(store) -> dict[str, int]:
    with store.unit_of_work(read_only=True) as uow:
        return uow.prospect_counts()


@pytest.fixture
def population(store):
    """Eighteen prospects of every status, some flagged, two received at the same moment."""
    statuses = itertools.cycle([ProspectStatus.PENDING, ProspectStatus.APPROVED, ProspectStatus.PENDING,
                                ProspectStatus.REJECTED])
    prospects = [varied(n, status=next(statuses), flagged=n % 5 == 0) for n in range(1, 17)]
    prospects += [varied(n, same_time=at(3600)) for n in (17, 18)]
    fill(store, prospects)
    return prospects


FILTERS = [
    ProspectFilter(),
    ProspectFilter(status=ProspectStatus.PENDING),
    ProspectFilter(status=ProspectStatus.REJECTED),
    ProspectFilter(attention=True),
    ProspectFilter(attention=True, status=ProspectStatus.PENDING),
    ProspectFilter(channel="b2b-nordic"),
    ProspectFilter(channel="b2b-web", status=ProspectStatus.APPROVED),
    ProspectFilter(received_from=T0 + timedelta(hours=6), received_to=T0 + timedelta(hours=15)),
    ProspectFilter(received_from=at(3600), received_to=at(3600) + timedelta(microseconds=1)),
    ProspectFilter(search=search_prefix("FABRIKAM")),
    ProspectFilter(search=search_prefix("söderberg & ö")),
    ProspectFilter(search=search_prefix("soderberg")),
    ProspectFilter(search=search_prefix("lodz")),
    ProspectFilter(search=search_prefix("se5503")),  # a VAT number typed without its spaces and dash
    ProspectFilter(search=search_prefix("SE 5503-77")),
    ProspectFilter(search=search_prefix("556006")),
    ProspectFilter(search=search_prefix("pro-00001")),
    ProspectFilter(search=search_prefix("asa1")),  # the requester's email
    ProspectFilter(search=search_prefix("fab"), status=ProspectStatus.PENDING, channel="b2b-web"),
    ProspectFilter(search=search_prefix("nobody")),
]


def test_the_list_is_the_filter_over_every_prospect_in_received_order(store, population):
    # One population for every filter (filling a store is what costs): a failure names its filter.
    for where, newest_first in itertools.product(FILTERS, (True, False)):
        assert listed(store, where, newest_first) == expected(population, where, newest_first), (where, newest_first)


def test_a_search_finds_what_it_should(store, population):
    """The expectations above come from the same predicate: here a few answers are spelled out."""
    by_company = {p.number: p.request.company.name for p in population}
    assert {by_company[n] for n in listed(store, ProspectFilter(search=search_prefix("FABRIK")))} == {
        "Fabrikam AB", "fabrikam nord"}
    assert {by_company[n] for n in listed(store, ProspectFilter(search=search_prefix("Sode")))} == {
        "Söderberg & Öhman"}
    assert listed(store, ProspectFilter(search=search_prefix("PRO-000017"))) == ["PRO-000017"]


def test_pages_after_a_position_walk_the_whole_list_once(store, population):
    """Keyset paging: each page starts after the last row of the one before; two rows received at the same
    moment are told apart by their numbers, so none is skipped or repeated."""
    for where, newest_first in itertools.product([FILTERS[0], FILTERS[1], FILTERS[3], FILTERS[9]], (True, False)):
        walked, after = [], None
        while True:
            with store.unit_of_work(read_only=True) as uow:
                page = uow.prospect_directory(where, newest_first=newest_first, after=after, limit=3)
            walked += [row.number for row in page]
            if len(page) < 3:
                break
            after = page[-1].position
        assert walked == expected(population, where, newest_first), (where, newest_first)


def test_a_row_carries_what_the_list_shows(store):
    p = varied(3, flagged=True)
    fill(store, [p])
    with store.unit_of_work(read_only=True) as uow:
        [row] = uow.prospect_directory(ProspectFilter(), newest_first=True, after=None, limit=10)
    assert row == ProspectSummary.of(p)
    assert (row.company, row.requester_email, row.country, row.channel) == (
        "Łódź Trading", "asa3@example.com", "SE", "b2b-nordic")


def test_counts_follow_every_change_of_status_and_flag_exactly(harness, store):
    prospects = [varied(n) for n in range(1, 6)]
    fill(store, prospects)
    assert counts(store) == {"Pending": 5, "Approved": 0, "Rejected": 0, "attention": 0}

    def change(p):
        def work():
            with store.unit_of_work() as uow:
                uow.save_prospect(p)
        retrying(harness, work)

    rejected = prospects[0].reject("not a retailer", at(100), "alice")
    flagged = prospects[1].flagged("conflicting outcome", at(101))
    change(rejected)
    change(rejected)  # the same state saved again counts nothing twice
    change(flagged)
    assert counts(store) == {"Pending": 4, "Approved": 0, "Rejected": 1, "attention": 1}
    # The old status's row is gone: the prospect is listed under its new status only.
    assert listed(store, ProspectFilter(status=ProspectStatus.PENDING)) == expected(
        [rejected, flagged, *prospects[2:]], ProspectFilter(status=ProspectStatus.PENDING))
    assert listed(store, ProspectFilter(status=ProspectStatus.REJECTED)) == [rejected.number]
    assert listed(store, ProspectFilter(attention=True)) == [flagged.number]
    change(flagged.model_copy(update={"needs_attention": False, "attention_reason": None}))
    assert listed(store, ProspectFilter(attention=True)) == []
    assert counts(store)["attention"] == 0
    # A row shows the prospect as it is now (its last change), not as it was listed first.
    with store.unit_of_work(read_only=True) as uow:
        [row] = uow.prospect_directory(ProspectFilter(status=ProspectStatus.REJECTED), newest_first=True,
                                       after=None, limit=5)
    assert row.updated_at == at(100)


def test_counts_stay_exact_when_many_writers_change_prospects_at_once(harness, store):
    from tests.contract.test_store_contract import racing

    prospects = [varied(n) for n in range(1, 9)]
    fill(store, prospects)
    decided = [p.reject("no", at(200), "alice") if n % 2 else p.flagged("check", at(200))
               for n, p in enumerate(prospects)]

    def saver(p):
        def work():
            with store.unit_of_work() as uow:
                uow.save_prospect(p)
        return work

    work = [saver(p) for p in decided] * 2  # every change twice, all at once
    random.Random(9).shuffle(work)
    racing(harness, work)
    assert counts(store) == {"Pending": 4, "Approved": 0, "Rejected": 4, "attention": 4}
