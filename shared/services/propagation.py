"""Outcome propagation: a decision made in Sales takes effect in Commerce exactly once.

Messages come at least once and in any order. Each outcome has a deterministic event id (recorded
when applied), every effect has a deterministic identity, and the prospect's state machine decides
what a late or conflicting outcome may still change: nothing, once the prospect is terminal.
"""
from __future__ import annotations

import logging
from datetime import datetime

from shared.domain.email_templates import PROSPECT_APPROVED, PROSPECT_REJECTED
from shared.domain.errors import MalformedMessage, NotReady
from shared.domain.ids import customer_id_for
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
from shared.domain.sales import Qualification
from shared.ports import Clock, SalesGateway, Store, UnitOfWork
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay

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


class OutcomePropagation:
    def __init__(self, store: Store, sales: SalesGateway, clock: Clock, relay: OutboxRelay, email_queue: str,
                 store_name: str, store_url: str):
        self._store = store
        self._sales = sales
        self._clock = clock
        self._relay = relay
        self._email_queue = email_queue
        self._store_name = store_name
        self._store_url = store_url

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
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if uow.event_seen(prospect.id, outcome.event_id):
                return "duplicate"
            current = uow.get_prospect(prospect.id)
            assert current is not None  # prospects are never deleted
            result, messages = self._apply(uow, current, outcome, qualification, now)
            uow.record_event(prospect.id, outcome.event_id, outcome.kind, result)
        self._relay.send_now(messages)
        log.info("sales outcome handled", extra={"prospect": prospect.number, "kind": outcome.kind, "result": result})
        return result

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
                prospect, _ = self._create_customers(uow, prospect, qualification, now)
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
            prospect, organization = self._create_customers(uow, prospect, qualification, now)
            note("qualified in Sales", f"Person and Organization customers created; opportunity {qualification.opportunity_id}")

        if target is ProspectStatus.APPROVED:
            # Read only what earlier units of work committed; what this one wrote is passed along.
            organization = organization or uow.get_customer(prospect.organization_customer_id)
            return "applied", self._approve(uow, prospect, organization, now, note)
        if target is ProspectStatus.REJECTED:
            return "applied", self._reject(uow, prospect, outcome, now, note)
        uow.save_prospect(prospect)
        return "applied", []

    def _create_customers(self, uow: UnitOfWork, prospect: Prospect, qualification: Qualification,
                          now: datetime) -> tuple[Prospect, Customer]:
        contact, account = qualification.contact, qualification.account
        request = prospect.request
        person = Customer(
            id=customer_id_for(prospect.id, CustomerType.PERSON.value), type=CustomerType.PERSON,
            name=f"{contact.first_name} {contact.last_name}", first_name=contact.first_name,
            last_name=contact.last_name, email=contact.email or request.contact.email,
            phone=contact.phone or request.contact.phone, sales_record_id=contact.contact_id,
            prospect_id=prospect.id, created_at=now,
        )
        address = request.company.address
        organization = Customer(
            id=customer_id_for(prospect.id, CustomerType.ORGANIZATION.value), type=CustomerType.ORGANIZATION,
            name=account.name, phone=account.phone or request.company.phone,
            street=account.street or address.street, city=account.city or address.city,
            zip_code=account.zip_code or address.zip_code, country=account.country or address.country,
            sales_record_id=account.account_id, prospect_id=prospect.id, created_at=now,
        )
        uow.save_customer(person)
        uow.save_customer(organization)
        return prospect.with_customers(person.id, organization.id, qualification.opportunity_id, now), organization

    def _approve(self, uow: UnitOfWork, prospect: Prospect, organization: Customer, now: datetime,
                 note) -> list[OutboxMessage]:
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
        uow.save_prospect(prospect.approve(hierarchy.id, now, by="opportunity_won"))
        note("approved", f"customer hierarchy {hierarchy.id} '{hierarchy.name}' with the requester as Admin")
        request = prospect.request
        values = {
            "firstname": request.contact.first_name, "lastname": request.contact.last_name,
            "company": organization.name, "email": request.contact.email, "zipcode": request.company.address.zip_code,
            "comments": request.comments or "", "storename": self._store_name, "storeurl": self._store_url,
        }
        return [self._email(uow, prospect, PROSPECT_APPROVED, values, now)]

    def _reject(self, uow: UnitOfWork, prospect: Prospect, outcome: SalesOutcome, now: datetime,
                note) -> list[OutboxMessage]:
        reason = f"{outcome.kind.replace('_', ' ')}" + (f" ({outcome.reason})" if outcome.reason else "")
        uow.save_prospect(prospect.reject(reason, now, by=outcome.kind))
        note("rejected", reason)
        request = prospect.request
        values = {"firstname": request.contact.first_name, "lastname": request.contact.last_name,
                  "company": request.company.name}
        return [self._email(uow, prospect, PROSPECT_REJECTED, values, now)]

    def _email(self, uow: UnitOfWork, prospect: Prospect, template: str, values: dict[str, str],
               now: datetime) -> OutboxMessage:
        return queue_email(uow, template=template, to=prospect.request.contact.email,
                           language=prospect.request.contact.preferred_language, values=values,
                           prospect_id=prospect.id, email_queue=self._email_queue, now=now)
