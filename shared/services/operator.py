"""What an operator looks at and repairs: prospects and their history, emails, poison messages, and what
makes a prospect's state disagree with Sales (drift: listed and repaired in ``shared.services.drift``)."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from shared.domain.errors import NotFound
from shared.domain.model import (
    CustomerHierarchy,
    EmailRecord,
    HierarchyMember,
    HistoryEntry,
    Prospect,
    ProspectStatus,
)
from shared.domain.partners import CreditLine, PartnerUser
from shared.domain.sales import (
    LEAD_DISQUALIFY_REASONS,
    OPPORTUNITY_LOSS_REASONS,
    LeadSnapshot,
    LeadState,
    OpportunityState,
)
from shared.ports import Queue, ReceivedMessage, Store, UnitOfWork
from shared.queue_worker import POISON_SUFFIX, poison_queue_name

log = logging.getLogger("b2b.operator")


def find_prospect(uow: UnitOfWork, key: str) -> Prospect:
    """A prospect by the key a person types: its number (pro-000001 works too) or its id."""
    key = key.strip()
    prospect = uow.find_prospect_by_number(key.upper()) or uow.get_prospect(key)
    if prospect is None:
        raise NotFound(f"no prospect {key}")
    return prospect


@dataclass(frozen=True)
class ProspectDetails:
    prospect: Prospect
    history: list[HistoryEntry]
    hierarchy: CustomerHierarchy | None
    members: list[HierarchyMember]


@dataclass(frozen=True)
class Drift:
    """A prospect whose state disagrees with its lead in Sales: ``ours`` and ``sales`` say what each
    holds, ``problem`` what disagrees. An outcome still on its way shows here until it is applied."""

    number: str
    ours: str
    sales: str
    problem: str
    reconcilable: bool = False  # Sales holds a decision on the lead that reconciling can apply here


def _sales_state(lead: LeadSnapshot | None) -> str:
    if lead is None:
        return "no lead"
    if lead.statecode is LeadState.DISQUALIFIED:
        return f"lead Disqualified ({LEAD_DISQUALIFY_REASONS.get(lead.statuscode, lead.statuscode)})"
    if lead.statecode is LeadState.OPEN:
        return "lead Open"
    opportunity = lead.opportunity_state
    if opportunity is None:
        return "lead Qualified, no opportunity"
    text = f"lead Qualified, opportunity {opportunity.name.capitalize()}"
    if opportunity is OpportunityState.LOST:
        text += f" ({OPPORTUNITY_LOSS_REASONS.get(lead.opportunity_statuscode, lead.opportunity_statuscode)})"
    return text


def drift_of(prospect: Prospect, lead: LeadSnapshot | None) -> Drift | None:
    """What Sales' lead implies for the prospect — Approved once its opportunity is won, Rejected once
    the lead is disqualified or the opportunity lost, customers once the lead is qualified — against
    what the prospect is. None when they agree (a lead not created yet agrees with a Pending prospect)."""
    ours = f"{prospect.status.value}, {'customers' if prospect.is_qualified else 'no customers'}"
    problems: list[str] = []
    if lead is None:
        if prospect.lead_created_at is not None:
            problems.append("the lead is missing in Sales")
        elif prospect.status is not ProspectStatus.PENDING:
            problems.append(f"{prospect.status.value} here, but Sales has no lead")
    else:
        implied = ProspectStatus.PENDING
        if lead.statecode is LeadState.DISQUALIFIED or lead.opportunity_state is OpportunityState.LOST:
            implied = ProspectStatus.REJECTED
        elif lead.opportunity_state is OpportunityState.WON:
            implied = ProspectStatus.APPROVED
        if implied is not prospect.status:
            problems.append(f"Sales says {implied.value}, we say {prospect.status.value}")
        if lead.statecode is LeadState.QUALIFIED and not prospect.is_qualified:
            problems.append("qualified in Sales, but no customers here")
    if not problems:
        return None
    decided_in_sales = lead is not None and lead.statecode is not LeadState.OPEN
    return Drift(prospect.number, ours, _sales_state(lead), "; ".join(problems), reconcilable=decided_in_sales)


@dataclass(frozen=True)
class PartnerDetails:
    hierarchy: CustomerHierarchy
    members: list[HierarchyMember]
    users: list[PartnerUser]
    credit: CreditLine | None


def hierarchy_json(hierarchy: CustomerHierarchy) -> dict:
    return {"hierarchyId": hierarchy.id, "name": hierarchy.name, "purpose": hierarchy.purpose,
            "organizationCustomerId": hierarchy.organization_customer_id, "prospectId": hierarchy.prospect_id,
            "createdAt": hierarchy.created_at.isoformat()}


class OperatorService:
    def __init__(self, store: Store, queue: Queue, queue_names: tuple[str, ...]):
        self._store = store
        self._queue = queue
        self._queue_names = queue_names

    def prospects(self, status: ProspectStatus | None = None, limit: int = 1000,
                  needs_attention: bool = False) -> list[Prospect]:
        """Oldest first, at most ``limit``. With ``needs_attention`` the flagged ones among all of them:
        the filter comes before the limit, or a flag past the first ``limit`` prospects would never show."""
        with self._store.unit_of_work(read_only=True) as uow:
            found = uow.list_prospects(status, sys.maxsize if needs_attention else limit)
        return [p for p in found if p.needs_attention][:limit] if needs_attention else found

    def prospect(self, key: str) -> ProspectDetails:
        """A prospect by number (PRO-000001) or id, with its full history."""
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = find_prospect(uow, key)
            hierarchy = uow.find_hierarchy_by_prospect(prospect.id)
            return ProspectDetails(
                prospect=prospect,
                history=uow.history(prospect.id),
                hierarchy=hierarchy,
                members=uow.members(hierarchy.id) if hierarchy else [],
            )

    def partners(self, limit: int = 1000) -> list[CustomerHierarchy]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.list_hierarchies(limit)

    def partner(self, hierarchy_id: str) -> PartnerDetails:
        """A partner as the back office sees it: hierarchy, members, sign-in users, credit line."""
        with self._store.unit_of_work(read_only=True) as uow:
            hierarchy = uow.get_hierarchy(hierarchy_id)
            if hierarchy is None:
                raise NotFound(f"no partner {hierarchy_id}")
            return PartnerDetails(hierarchy, uow.members(hierarchy_id), uow.partner_users(hierarchy_id),
                                  uow.get_credit_line(hierarchy_id))

    def partner_users(self, hierarchy_id: str) -> list[PartnerUser]:
        """A partner's sign-in users, removed ones too (without the members and credit line of ``partner``)."""
        with self._store.unit_of_work(read_only=True) as uow:
            if uow.get_hierarchy(hierarchy_id) is None:
                raise NotFound(f"no partner {hierarchy_id}")
            return uow.partner_users(hierarchy_id)

    def emails(self, limit: int = 1000, pending_only: bool = False) -> list[EmailRecord]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.list_emails(limit, pending_only)

    # poison messages
    def poison_counts(self) -> dict[str, int]:
        return {poison_queue_name(name): self._queue.count(poison_queue_name(name)) for name in self._queue_names}

    def poison_messages(self, queue: str, limit: int = 100) -> list[ReceivedMessage]:
        return self._queue.peek(self._poison(queue), max_messages=limit)

    def poison_message(self, queue: str, message_id: str) -> ReceivedMessage:
        message = self._queue.get(self._poison(queue), message_id)
        if message is None:
            raise NotFound(f"no message {message_id} on {self._poison(queue)}")
        return message

    def replay(self, queue: str, message_id: str, operator: str | None = None) -> str:
        """Send a poison message back to its queue, body unchanged; returns the new message id. The log names
        the ``operator`` who asked (the console's signed-in principal, the CLI's login).

        Sent before it is removed: a crash in between leaves a copy on both queues, never on none."""
        message = self.poison_message(queue, message_id)
        original = message.queue.removesuffix(POISON_SUFFIX)
        new_id = self._queue.send(original, message.body)
        self._queue.remove(message.queue, message.id)
        log.info("poison message replayed", extra={"queue": original, "message_id": message_id,
                                                    "new_message_id": new_id, "operator": operator})
        return new_id

    def _poison(self, queue: str) -> str:
        base = queue.removesuffix(POISON_SUFFIX)
        if base not in self._queue_names:
            raise NotFound(f"no queue {queue}; the queues are {', '.join(self._queue_names)}")
        return poison_queue_name(base)
