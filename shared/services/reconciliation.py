"""Reconciliation: the decisions Sales recorded whose outcome never reached us are enqueued again.

A webhook can be dropped, and the embedded Sales can crash between its commit and its emit. Either
way the decision is still in Sales. On every channel-sync tick this reads the decisions recorded since
a watermark (Sales' own ``modifiedon``, so our clock never enters into it) and puts each on the outcome
queue as the ``SalesOutcome`` the webhook would have sent: same kind, same ``outcome_event_id``. The
propagation records event ids with their effects, so whichever of the two copies comes second is a
no-op: both paths together apply each decision exactly once.

- The read starts ``overlap`` before the watermark: a decision stamped earlier may commit after one
  stamped later, and clocks differ between Sales' servers. A decision read twice is harmless.
- Decisions whose event a prospect has applied already are not enqueued again; nor are those about
  leads that no prospect has (Sales' other leads).
- The outcomes are sent before the watermark moves: a crash in between reads them again next time.
- The watermark only moves forward, to the newest ``modified_on`` read.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.ids import outcome_event_id
from shared.domain.messages import SalesOutcome
from shared.domain.sales import LeadSnapshot, LeadState, OpportunityState, SalesDecision
from shared.ports import Queue, SalesGateway, Store

log = logging.getLogger("b2b.reconciliation")

WATERMARK = "sales-decisions"
SOURCE = "reconciliation"
OVERLAP = timedelta(minutes=5)
# Dataverse answers modifiedon in whole seconds: a page that ended at T may have left others at T.
_PAGE_STEP_BACK = timedelta(seconds=1)
_MAX_PAGE = 5000  # the most rows Dataverse answers in one page


@dataclass(frozen=True)
class ReconciliationReport:
    read: int  # decisions Sales reported in the window (overlap included)
    enqueued: int  # outcomes put on the queue (the webhook's copy may still be on its way: harmless)
    applied_already: int
    not_ours: int  # leads that no prospect has
    watermark: datetime | None  # after the run


def outcome_for(decision: SalesDecision) -> SalesOutcome:
    """The outcome the webhook would have sent for ``decision``. A "qualified" goes without its
    qualification: propagation reads the contact, account and opportunity from Sales."""
    return SalesOutcome(
        event_id=outcome_event_id(decision.kind, decision.primary_id),
        kind=decision.kind,
        lead_id=decision.lead_id.lower(),
        opportunity_id=decision.opportunity_id.lower() if decision.opportunity_id else None,
        occurred_at=decision.modified_on,
        reason=decision.reason,
        source=SOURCE,
    )


def sales_decisions_of(lead: LeadSnapshot) -> list[SalesDecision]:
    """The closing decisions a lead's current state records, as ``decisions_since`` reports them: its
    qualification or disqualification, then its qualifying opportunity won or lost (reconciling one
    prospect now, without waiting for the watermark to reach it)."""
    found: list[SalesDecision] = []
    common = {"lead_id": lead.lead_id, "modified_on": lead.modified_on, "prospect_number": lead.prospect_number}
    if lead.statecode is LeadState.QUALIFIED:
        found.append(SalesDecision(kind="lead_qualified", opportunity_id=lead.qualifying_opportunity_id,
                                   statuscode=lead.statuscode, **common))
    elif lead.statecode is LeadState.DISQUALIFIED:
        found.append(SalesDecision(kind="lead_disqualified", statuscode=lead.statuscode, **common))
    closed = {OpportunityState.WON: "opportunity_won", OpportunityState.LOST: "opportunity_lost"}
    if lead.qualifying_opportunity_id and lead.opportunity_state in closed:
        found.append(SalesDecision(kind=closed[lead.opportunity_state], opportunity_id=lead.qualifying_opportunity_id,
                                   statuscode=lead.opportunity_statuscode or 0, **common))
    return found


class Reconciliation:
    def __init__(self, store: Store, sales: SalesGateway, queue: Queue, outcome_queue: str, *,
                 overlap: timedelta = OVERLAP, page_size: int = 500, max_pages: int = 20):
        self._store = store
        self._sales = sales
        self._queue = queue
        self._outcome_queue = outcome_queue
        self._overlap = overlap
        self._page_size = page_size
        self._max_pages = max_pages

    def run(self) -> ReconciliationReport:
        with self._store.unit_of_work(read_only=True) as uow:
            watermark = uow.get_watermark(WATERMARK)
        since = watermark - self._overlap if watermark is not None else None
        newest = watermark
        seen: set[str] = set()
        read = enqueued = applied = not_ours = 0
        page_size = self._page_size
        for _ in range(self._max_pages):
            decisions = self._sales.decisions_since(since, page_size)
            fresh = [d for d in decisions if outcome_event_id(d.kind, d.primary_id) not in seen]
            for decision in fresh:
                seen.add(outcome_event_id(decision.kind, decision.primary_id))
            counts = self._enqueue_missing(fresh)
            read += len(fresh)
            enqueued, applied, not_ours = enqueued + counts[0], applied + counts[1], not_ours + counts[2]
            if decisions:
                last = decisions[-1].modified_on
                newest = last if newest is None or last > newest else newest
            if len(decisions) < page_size:
                break
            # A full page: there may be more, some at its last moment. Ask again from a second before
            # it (decisions read twice are dropped above); a page that brought nothing new was all ties,
            # so the next one is larger.
            if not fresh:
                if page_size >= _MAX_PAGE:
                    log.warning("more decisions at one moment than a page holds; some wait for a later run",
                                extra={"modified_on": last.isoformat(), "page_size": page_size})
                    break
                page_size = min(page_size * 2, _MAX_PAGE)
            since = last - _PAGE_STEP_BACK
        if newest is not None and newest != watermark:
            self._advance(newest)
        report = ReconciliationReport(read, enqueued, applied, not_ours, newest)
        if enqueued:
            log.info("reconciliation enqueued outcomes not applied (yet)", extra={"enqueued": enqueued, "read": read})
        return report

    def _enqueue_missing(self, decisions: list[SalesDecision]) -> tuple[int, int, int]:
        outcomes: list[SalesOutcome] = []
        applied = not_ours = 0
        with self._store.unit_of_work(read_only=True) as uow:
            for decision in decisions:
                outcome = outcome_for(decision)
                prospect = uow.find_prospect_by_lead(outcome.lead_id)
                if prospect is None:
                    not_ours += 1
                elif uow.event_seen(prospect.id, outcome.event_id):
                    applied += 1
                else:
                    outcomes.append(outcome)
        for outcome in outcomes:
            self._queue.send(self._outcome_queue, outcome.to_json())
            log.info("outcome reconciled", extra={"kind": outcome.kind, "event_id": outcome.event_id,
                                                   "lead_id": outcome.lead_id})
        return len(outcomes), applied, not_ours

    def _advance(self, newest: datetime) -> None:
        with self._store.unit_of_work() as uow:
            current = uow.get_watermark(WATERMARK)
            if current is None or newest > current:
                uow.set_watermark(WATERMARK, newest)
