"""Drift: prospects whose state disagrees with Sales, and reconciling them now.

What "disagrees" means is ``operator.drift_of`` (the prospect against what its lead in Sales implies). Listing
drift asks Sales for each prospect it checks (one lead read each: Sales cannot be asked "which of these leads
disagree with a store it does not know"), so a report checks at most ``limit`` prospects: the Pending ones
first, oldest first (where a decision may be waiting to be applied), then the decided ones. Its cost is one
Sales read per prospect checked, whatever the store holds; ``more`` says when prospects were left unchecked.

Reconciling a prospect applies now what its lead in Sales says: the outcomes that lead's state implies, with
the event ids the webhook and the reconciliation use (so an outcome applied before, or still on the queue, is
applied once in all), through the same propagation as every outcome. What Sales does not say (a prospect
decided here while its lead is still open) stays as it is: the report says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.domain.errors import DomainError, NotReady
from shared.domain.model import Prospect, ProspectStatus
from shared.domain.sales import LeadSnapshot
from shared.ports import SalesGateway, Store
from shared.services.operator import Drift, drift_of, find_prospect
from shared.services.propagation import OutcomePropagation
from shared.services.reconciliation import outcome_for, sales_decisions_of

log = logging.getLogger("b2b.drift")

DRIFT_LIMIT = 100  # prospects a console page or JSON request checks (one Sales read each)
MAX_DRIFT_LIMIT = 1000


@dataclass(frozen=True)
class DriftReport:
    drifts: list[Drift]
    checked: int  # prospects compared with Sales
    more: bool  # prospects past the limit were left unchecked

    def to_json(self) -> dict:
        return {"drift": [drift_json(d) for d in self.drifts], "checked": self.checked, "more": self.more}


def drift_json(drift: Drift) -> dict:
    return {"number": drift.number, "ours": drift.ours, "sales": drift.sales, "problem": drift.problem,
            "reconcilable": drift.reconcilable}


@dataclass(frozen=True)
class Reconciled:
    """What reconciling one prospect did: the outcomes applied (kind → applied, duplicate or conflict), the
    drift before and after (None: they agree now), or why nothing could be done."""

    number: str
    before: Drift | None
    after: Drift | None
    outcomes: list[tuple[str, str]]
    error: str | None = None

    @property
    def changed(self) -> bool:
        return any(result == "applied" for _, result in self.outcomes)

    def describe(self) -> str:
        if self.error:
            return f"{self.number}: not reconciled: {self.error}"
        if self.before is None:
            return f"{self.number} agrees with Sales; nothing to do"
        applied = [kind.replace("_", " ") for kind, result in self.outcomes if result == "applied"]
        if not self.outcomes:
            done = "Sales has no decision on its lead to apply"
        elif applied:
            done = f"applied {', '.join(applied)}"
        else:
            done = "its Sales decisions were applied before (" + ", ".join(
                f"{kind.replace('_', ' ')}: {result}" for kind, result in self.outcomes) + ")"
        state = "it agrees with Sales now" if self.after is None else f"still: {self.after.problem}"
        return f"{self.number}: {done}; {state}"

    def to_json(self) -> dict:
        return {"number": self.number, "changed": self.changed, "outcomes": [{"kind": k, "result": r}
                                                                             for k, r in self.outcomes],
                "before": drift_json(self.before) if self.before else None,
                "after": drift_json(self.after) if self.after else None, "error": self.error,
                "summary": self.describe()}


class DriftCheck:
    def __init__(self, store: Store, sales: SalesGateway | None, propagation: OutcomePropagation):
        self._store = store
        self._sales = sales
        self._propagation = propagation

    def report(self, limit: int = DRIFT_LIMIT) -> DriftReport:
        sales = self._need_sales()
        candidates, more = self._candidates(limit)
        drifts = [d for d in (drift_of(p, sales.get_lead(p.lead_id)) for p in candidates) if d is not None]
        return DriftReport(drifts, len(candidates), more)

    def reconcile(self, key: str | None = None, limit: int = DRIFT_LIMIT) -> list[Reconciled]:
        """Reconcile one prospect (``key``: its number or id), or every drifting one a report finds whose lead
        Sales has decided (the others, decided here while their lead is open, have nothing to apply)."""
        sales = self._need_sales()
        if key is not None:
            with self._store.unit_of_work(read_only=True) as uow:
                prospect = find_prospect(uow, key)
            return [self._reconcile(prospect, sales.get_lead(prospect.lead_id))]
        candidates, _ = self._candidates(limit)
        done = []
        for prospect in candidates:
            lead = sales.get_lead(prospect.lead_id)
            drift = drift_of(prospect, lead)
            if drift is not None and drift.reconcilable:
                done.append(self._reconcile(prospect, lead))
        return done

    def _reconcile(self, prospect: Prospect, lead: LeadSnapshot | None) -> Reconciled:
        before = drift_of(prospect, lead)
        if before is None or lead is None:
            return Reconciled(prospect.number, before, before, [])
        outcomes: list[tuple[str, str]] = []
        try:
            for decision in sales_decisions_of(lead):
                outcome = outcome_for(decision)
                outcomes.append((outcome.kind, self._propagation.handle(outcome.to_json())))
        except (NotReady, DomainError) as error:  # Sales half-way (a qualification not readable yet) …
            return Reconciled(prospect.number, before, before, outcomes, error=str(error))
        with self._store.unit_of_work(read_only=True) as uow:
            now = uow.get_prospect(prospect.id)
        after = drift_of(now, lead)
        log.info("prospect reconciled with Sales", extra={"prospect": prospect.number, "outcomes": len(outcomes),
                                                          "agrees": after is None})
        return Reconciled(prospect.number, before, after, outcomes)

    def _candidates(self, limit: int) -> tuple[list[Prospect], bool]:
        """At most ``limit`` prospects: the Pending ones first, then the decided ones, each oldest first."""
        found: list[Prospect] = []
        more = False
        with self._store.unit_of_work(read_only=True) as uow:
            for status in (ProspectStatus.PENDING, ProspectStatus.APPROVED, ProspectStatus.REJECTED):
                room = limit - len(found)
                batch = uow.list_prospects(status, room + 1)
                more = more or len(batch) > room
                found.extend(batch[:room])
        return found, more

    def _need_sales(self) -> SalesGateway:
        if self._sales is None:
            raise DomainError("there is no Sales to compare with (SALES_MODE=none)")
        return self._sales
