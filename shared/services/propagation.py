"""Outcome propagation: a decision made in Sales takes effect in Commerce exactly once.

Messages come at least once and in any order. Each outcome has a deterministic event id (recorded
when applied), every effect has a deterministic identity, and the prospect's state machine decides
what a late or conflicting outcome may still change: nothing, once the prospect is terminal.
"""
from __future__ import annotations

import logging
import threading
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from shared.config import Branding
from shared.domain.email_templates import PROSPECT_APPROVED, PROSPECT_REJECTED
from shared.domain.errors import MalformedMessage, NotReady
from shared.domain.ids import customer_id_for, email_id_for
from shared.domain.messages import SalesOutcome, parse_message
from shared.domain.model import (
    Customer,
    CustomerHierarchy,
    CustomerType,
    HierarchyMember,
    HierarchyRole,
    HistoryEntry,
    MemberStatus,
    OutboxMessage,
    Prospect,
    ProspectStatus,
)
from shared.domain.partners import PartnerUser, UserStatus, user_id_for
from shared.domain.sales import Qualification
from shared.ports import Clock, SalesGateway, Store, UnitOfWork
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.propagation")

HIERARCHY_SEQUENCE = "customer-hierarchy"
_POSITIVE = {"lead_qualified", "opportunity_won"}
_TARGET = {
    "opportunity_won": ProspectStatus.APPROVED,
    "lead_disqualified": ProspectStatus.REJECTED,
    "opportunity_lost": ProspectStatus.REJECTED,
}


def _late_qualification(prospect: Prospect, outcome: SalesOutcome) -> bool:
    return (outcome.kind == "lead_qualified" and prospect.status is ProspectStatus.REJECTED
            and prospect.decided_by == "opportunity_lost")


def hierarchy_id(value: int) -> str:
    return f"CH-{value:06d}"


Note = Callable[..., None]  # note(action, detail="") appends one history line for the caller's actor


def build_customers(prospect: Prospect, now: datetime,
                    qualification: Qualification | None = None) -> tuple[Customer, Customer]:
    """The Person and Organization customers of a prospect, with their deterministic ids.

    From Sales' contact and account when the lead was qualified there, each field falling back to the
    signup; from the signup alone when a back-office user decides without Sales."""
    request = prospect.request
    contact, company, address = request.contact, request.company, request.company.address
    sales_contact = qualification.contact if qualification else None
    account = qualification.account if qualification else None
    first_name = sales_contact.first_name if sales_contact else contact.first_name
    last_name = sales_contact.last_name if sales_contact else contact.last_name
    person = Customer(
        id=customer_id_for(prospect.id, CustomerType.PERSON.value), type=CustomerType.PERSON,
        name=f"{first_name} {last_name}", first_name=first_name, last_name=last_name,
        email=(sales_contact and sales_contact.email) or contact.email,
        phone=(sales_contact and sales_contact.phone) or contact.phone,
        sales_record_id=sales_contact.contact_id if sales_contact else None,
        prospect_id=prospect.id, created_at=now,
    )
    organization = Customer(
        id=customer_id_for(prospect.id, CustomerType.ORGANIZATION.value), type=CustomerType.ORGANIZATION,
        name=account.name if account else company.name, phone=(account and account.phone) or company.phone,
        street=(account and account.street) or address.street, city=(account and account.city) or address.city,
        zip_code=(account and account.zip_code) or address.zip_code,
        country=(account and account.country) or address.country,
        sales_record_id=account.account_id if account else None, prospect_id=prospect.id, created_at=now,
    )
    return person, organization


@dataclass(frozen=True)
class DecisionEffects:
    """What deciding a prospect writes, whoever decides (a Sales outcome or a back-office user).

    Every method writes into the caller's unit of work and returns the outbox messages to send once it
    commits; every effect has a deterministic identity, so applying a decision twice writes it once."""

    email_queue: str
    branding: Callable[[str], Branding]  # channel id → its store name, store URL and sign-in URL

    def create_customers(self, uow: UnitOfWork, prospect: Prospect, now: datetime,
                         qualification: Qualification | None = None) -> tuple[Prospect, Customer]:
        person, organization = build_customers(prospect, now, qualification)
        uow.save_customer(person)
        uow.save_customer(organization)
        opportunity_id = qualification.opportunity_id if qualification else None
        return prospect.with_customers(person.id, organization.id, opportunity_id, now), organization

    def approve(self, uow: UnitOfWork, prospect: Prospect, organization: Customer, now: datetime, *, by: str,
                note: Note) -> list[OutboxMessage]:
        """The customer hierarchy (requester as Admin), the prospect Approved, the "approved" email."""
        hierarchy = uow.find_hierarchy_by_prospect(prospect.id)
        if hierarchy is None:
            hierarchy = CustomerHierarchy(
                id=hierarchy_id(uow.number_for(HIERARCHY_SEQUENCE, prospect.id)), name=organization.name,
                organization_customer_id=organization.id, prospect_id=prospect.id, created_at=now,
            )
            uow.save_hierarchy(hierarchy)
        uow.save_member(HierarchyMember(
            hierarchy_id=hierarchy.id, customer_id=prospect.person_customer_id, role=HierarchyRole.ADMIN,
            status=MemberStatus.ACTIVE, added_at=now,
        ))
        approved = prospect.approve(hierarchy.id, now, by=by)
        note("approved", f"customer hierarchy {hierarchy.id} '{hierarchy.name}' with the requester as Admin")
        clash = self._requester_signs_in(uow, prospect, hierarchy, now)
        if clash:
            note("requester not made a sign-in user", clash)
            approved = approved.flagged(clash, now)
        uow.save_prospect(approved)
        request = prospect.request
        store = self.branding(request.channel_id)
        values = {
            "firstname": request.contact.first_name, "lastname": request.contact.last_name,
            "company": organization.name, "email": request.contact.email, "zipcode": request.company.address.zip_code,
            "comments": request.comments or "", "storename": store.store_name, "storeurl": store.store_url,
            "signinurl": store.sign_in_url,
        }
        return [self._email(uow, prospect, PROSPECT_APPROVED, values, now)]

    @staticmethod
    def _requester_signs_in(uow: UnitOfWork, prospect: Prospect, hierarchy: CustomerHierarchy,
                            now: datetime) -> str | None:
        """The requester becomes the partner's first sign-in user (Admin, no per-order limit). Returns why
        not when the email is another partner's user already: one email is one user, never two."""
        contact = prospect.request.contact
        user_id = user_id_for(contact.email)
        existing = uow.get_partner_user(user_id)
        if existing is not None:
            if existing.hierarchy_id == hierarchy.id:
                return None  # made by an earlier application of this approval
            return (f"the requester's email signs in for partner {existing.hierarchy_id} already; add an Admin "
                    f"to {hierarchy.id} from the back office (b2b add-user {hierarchy.id} … --role Admin, or POST "
                    f"/api/backoffice/partners/{hierarchy.id}/users), then acknowledge this flag")
        uow.save_partner_user(PartnerUser(
            id=user_id, hierarchy_id=hierarchy.id, customer_id=prospect.person_customer_id, email=contact.email,
            first_name=contact.first_name, last_name=contact.last_name, role=HierarchyRole.ADMIN,
            language=contact.preferred_language, status=UserStatus.ACTIVE, activated_at=now, created_at=now,
            updated_at=now,
        ))
        return None

    def reject(self, uow: UnitOfWork, prospect: Prospect, reason: str, now: datetime, *, by: str,
               note: Note) -> list[OutboxMessage]:
        """The prospect Rejected and the decline email."""
        uow.save_prospect(prospect.reject(reason, now, by=by))
        note("rejected", reason)
        request = prospect.request
        values = {"firstname": request.contact.first_name, "lastname": request.contact.last_name,
                  "company": request.company.name}
        return [self._email(uow, prospect, PROSPECT_REJECTED, values, now)]

    def _email(self, uow: UnitOfWork, prospect: Prospect, template: str, values: dict[str, str],
               now: datetime) -> OutboxMessage:
        return queue_email(uow, template=template, to=prospect.request.contact.email,
                           language=prospect.request.contact.preferred_language, values=values,
                           email_id=email_id_for(prospect.id, template), aggregate_id=prospect.id,
                           prospect_id=prospect.id, email_queue=self.email_queue, now=now)


class ProspectLocks:
    """One lock per prospect, in-process: the outcomes of one prospect (its "qualified" and its "won" come
    seconds apart and usually land in one queue batch) take turns instead of racing for the prospect's
    row, where the loser's optimistic commit fails. Striped: a fixed set of locks, so memory stays bounded
    and unrelated prospects rarely share one (and then only wait a commit's time)."""

    def __init__(self, stripes: int = 64):
        self._locks = [threading.Lock() for _ in range(stripes)]

    def of(self, prospect_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(prospect_id.encode()) % len(self._locks)]


# A conflict still possible (another instance applied an outcome of the same prospect, or a back-office
# user decided it) is run again at once, after a short random pause, rather than costing the message the
# queue's visibility timeout (10 s); after these many the message goes back to the queue as before.
CONFLICT_ATTEMPTS = 8


class OutcomePropagation:
    def __init__(self, store: Store, sales: SalesGateway, clock: Clock, relay: OutboxRelay, effects: DecisionEffects,
                 *, locks: ProspectLocks | None = None, conflict_attempts: int = CONFLICT_ATTEMPTS):
        """``locks=None`` and ``conflict_attempts=1`` is the behaviour before either existed (the
        bench's baseline): every lost race sends the message back to the queue."""
        self._store = store
        self._sales = sales
        self._clock = clock
        self._relay = relay
        self._effects = effects
        self._locks = locks
        self._conflict_attempts = conflict_attempts

    def handle(self, body: str | bytes) -> str:
        """Apply one outcome message; returns what happened: applied, duplicate or conflict."""
        outcome = parse_message(body, SalesOutcome)
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = uow.find_prospect_by_lead(outcome.lead_id)
            if prospect is not None and uow.event_seen(prospect.id, outcome.event_id):
                return "duplicate"
        if prospect is None:
            raise MalformedMessage(f"outcome {outcome.kind} names lead {outcome.lead_id}, which no prospect has")
        qualification = self._qualification_if_needed(prospect, outcome)
        with self._locks.of(prospect.id) if self._locks else nullcontext():
            result, messages = on_conflict(lambda: self._commit(prospect.id, outcome, qualification),
                                           attempts=self._conflict_attempts)
        self._relay.send_now(messages)
        log.info("sales outcome handled", extra={"prospect": prospect.number, "kind": outcome.kind, "result": result})
        return result

    def _commit(self, prospect_id: str, outcome: SalesOutcome,
                qualification: Qualification | None) -> tuple[str, list[OutboxMessage]]:
        """The outcome's unit of work, on the prospect as it is now (run again after a lost race)."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if uow.event_seen(prospect_id, outcome.event_id):
                return "duplicate", []
            current = uow.get_prospect(prospect_id)
            assert current is not None  # prospects are never deleted
            result, messages = self._apply(uow, current, outcome, qualification, now)
            uow.record_event(prospect_id, outcome.event_id, outcome.kind, result)
        return result, messages

    def _qualification_if_needed(self, prospect: Prospect, outcome: SalesOutcome) -> Qualification | None:
        """The contact, account and opportunity, read before the transaction (Sales is slow).

        A "won" may overtake its "qualified"; then the facts come from Sales, so the hierarchy is
        never half built."""
        if outcome.kind not in _POSITIVE or prospect.is_qualified:
            return None
        if outcome.qualification is not None:
            return outcome.qualification
        if prospect.is_terminal and not _late_qualification(prospect, outcome):
            return None  # a conflict: nothing to build, so nothing to ask Sales
        qualification = self._sales.get_qualification(outcome.lead_id)
        if qualification is None:
            raise NotReady(f"lead {outcome.lead_id} has no qualification in Sales yet")
        return qualification

    def _apply(self, uow: UnitOfWork, prospect: Prospect, outcome: SalesOutcome, qualification: Qualification | None,
               now: datetime) -> tuple[str, list[OutboxMessage]]:
        actor = f"{outcome.source}:{outcome.kind}"
        target = _TARGET.get(outcome.kind)

        def note(action: str, detail: str = "") -> None:
            uow.append_history(HistoryEntry(prospect_id=prospect.id, at=now, actor=actor, action=action,
                                            detail=detail, event_id=outcome.event_id))

        if _late_qualification(prospect, outcome):
            # Qualified, then lost: the "lost" overtook the "qualified". Sales made the contact and the
            # account either way, so the customers exist in the end whatever the order.
            if not prospect.is_qualified:
                if qualification is None:
                    raise NotReady("the qualification is not readable yet; retry")
                prospect, _ = self._effects.create_customers(uow, prospect, now, qualification)
                uow.save_prospect(prospect)
                note("qualified in Sales", "arrived after the opportunity was lost; customers created")
                return "applied", []
            note("outcome already applied")
            return "duplicate", []

        if prospect.is_terminal:
            if target is prospect.status or (outcome.kind == "lead_qualified" and prospect.status is ProspectStatus.APPROVED):
                note("outcome already applied")
                return "duplicate", []
            reason = f"{outcome.kind} arrived after the prospect was {prospect.status.value}; not applied"
            note("conflicting outcome ignored", reason)
            uow.save_prospect(prospect.flagged(reason, now))
            log.warning("conflicting sales outcome", extra={"prospect": prospect.number, "kind": outcome.kind})
            return "conflict", []

        organization: Customer | None = None
        if outcome.kind in _POSITIVE and not prospect.is_qualified:
            if qualification is None:
                raise NotReady("the prospect was qualified concurrently; retry")
            prospect, organization = self._effects.create_customers(uow, prospect, now, qualification)
            note("qualified in Sales", f"Person and Organization customers created; opportunity {qualification.opportunity_id}")

        if target is ProspectStatus.APPROVED:
            # Read only what earlier units of work committed; what this one wrote is passed along.
            organization = organization or uow.get_customer(prospect.organization_customer_id)
            return "applied", self._effects.approve(uow, prospect, organization, now, by=outcome.kind, note=note)
        if target is ProspectStatus.REJECTED:
            reason = outcome.kind.replace("_", " ") + (f" ({outcome.reason})" if outcome.reason else "")
            return "applied", self._effects.reject(uow, prospect, reason, now, by=outcome.kind, note=note)
        uow.save_prospect(prospect)
        return "applied", []
