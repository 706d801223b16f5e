"""Builders of valid domain records for the contract suites (no adapter knowledge here)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from shared.domain.ids import hash_key, lead_id_for, prospect_id_for
from shared.domain.model import (
    Customer,
    CustomerHierarchy,
    CustomerType,
    EmailRecord,
    EmailStatus,
    HierarchyMember,
    HierarchyRole,
    HistoryEntry,
    MemberStatus,
    OutboxMessage,
    Prospect,
    ProspectStatus,
    SignupRecord,
    SignupStatus,
)
from shared.domain.partners import CreditLine, PartnerUser, Reservation, UserChange, UserStatus, user_id_for
from shared.domain.sales import LeadDraft
from shared.domain.signup import SignupRequest

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def signup_request(n: int = 1) -> SignupRequest:
    return SignupRequest.model_validate({
        "company": {"name": f"Company {n} & Söner <AB>", "phone": "+46 8 555 000 00",
                    "address": {"street": f"Storgatan {n}", "city": "Uppsala", "zip_code": "753 10", "country": "se"}},
        "contact": {"first_name": f"Åsa{n}", "last_name": f"Öberg{n}", "email": f"asa{n}@Example.com",
                    "phone": "+46 70 000 00 00", "preferred_language": "sv-se"},
        "comments": "Ring mig gärna",
        "channel_id": "b2b-web",
    })


def signup_record(n: int = 1, *, key: str | None = None, received: datetime | None = None,
                  status: SignupStatus = SignupStatus.RECEIVED) -> SignupRecord:
    request = signup_request(n)
    return SignupRecord(
        id=f"signup-{n:04d}", received_at=received or at(n), request=request,
        idempotency_key_hash=hash_key(key) if key is not None else None,
        request_fingerprint=hash_key(request.model_dump_json()), status=status,
    )


def prospect(n: int = 1, *, created: datetime | None = None, status: ProspectStatus = ProspectStatus.PENDING) -> Prospect:
    signup_id = f"signup-{n:04d}"
    prospect_id = prospect_id_for(signup_id)
    when = created or at(n)
    return Prospect(
        id=prospect_id, number=f"PRO-{n:06d}", status=status, signup_id=signup_id, request=signup_request(n),
        created_at=when, updated_at=when, lead_id=lead_id_for(prospect_id),
    )


def history_entry(prospect_id: str, i: int) -> HistoryEntry:
    return HistoryEntry(prospect_id=prospect_id, at=at(i), actor="test", action=f"action-{i}", detail=f"detail {i}",
                        event_id=f"event-{i}")


def customer(customer_id: str, kind: CustomerType = CustomerType.PERSON, name: str = "Åsa Öberg") -> Customer:
    return Customer(id=customer_id, type=kind, name=name, first_name="Åsa", last_name="Öberg",
                    email="asa@example.com", phone="+46 70 000 00 00", created_at=T0, prospect_id="p-1")


def hierarchy(hierarchy_id: str, prospect_id: str | None, name: str = "Company AB") -> CustomerHierarchy:
    return CustomerHierarchy(id=hierarchy_id, name=name, organization_customer_id=f"org-{hierarchy_id}",
                             prospect_id=prospect_id, created_at=T0)


def member(hierarchy_id: str, customer_id: str, role: HierarchyRole = HierarchyRole.USER,
           status: MemberStatus = MemberStatus.PENDING) -> HierarchyMember:
    return HierarchyMember(hierarchy_id=hierarchy_id, customer_id=customer_id, role=role, status=status, added_at=T0)


def partner_user(email: str, hierarchy_id: str, *, role: HierarchyRole = HierarchyRole.USER,
                 status: UserStatus = UserStatus.ACTIVE, sync: UserChange | None = None,
                 updated: datetime = T0, limit: str | None = "500.00") -> PartnerUser:
    user_id = user_id_for(email)
    return PartnerUser(id=user_id, hierarchy_id=hierarchy_id, customer_id=f"customer-{user_id}", email=email,
                       first_name="Åsa", last_name="Öberg", role=role,
                       spending_limit=None if limit is None else Decimal(limit), status=status, sync=sync,
                       created_at=T0, updated_at=updated)


def credit_line(hierarchy_id: str, limit: str = "1000.00", reserved: str = "0.00", currency: str = "EUR") -> CreditLine:
    return CreditLine(hierarchy_id=hierarchy_id, limit=Decimal(limit), currency=currency, reserved=Decimal(reserved),
                      updated_at=T0)


def reservation(order_id: str, hierarchy_id: str, amount: str = "10.00", user_id: str = "user-1") -> Reservation:
    return Reservation(order_id=order_id, hierarchy_id=hierarchy_id, user_id=user_id, amount=Decimal(amount),
                       currency="EUR", created_at=T0)


def outbox_message(message_id: str, created: datetime, queue: str = "create-lead",
                   body: str = '{"schema":"create-lead","version":1,"prospect_id":"p"}') -> OutboxMessage:
    return OutboxMessage(id=message_id, aggregate_id="p-1", queue=queue, body=body, created_at=created)


def email_record(email_id: str, created: datetime, status: EmailStatus = EmailStatus.PENDING) -> EmailRecord:
    return EmailRecord(id=email_id, template="prospect_rejected", to="asa@example.com", language="sv",
                       values={"firstname": "Åsa", "lastname": "Öberg", "company": "<Company> & Co"},
                       prospect_id="p-1", status=status, created_at=created)


def lead_draft(n: int = 1, *, lead_id: str | None = None, subject: str | None = None) -> LeadDraft:
    p = prospect(n)
    return LeadDraft(
        lead_id=lead_id or p.lead_id, subject=subject or f"B2B partner request {p.number}: Company {n}",
        first_name=f"Åsa{n}", last_name=f"Öberg{n}", company_name=f"Company {n} AB", email=f"asa{n}@example.com",
        phone="+46 70 000 00 00", street=f"Storgatan {n}", city="Uppsala", zip_code="753 10", country="SE",
        description="Ring mig gärna", prospect_number=p.number,
        timeline_note=f"This lead was created by the Commerce B2B onboarding integration from prospect {p.number}.",
    )


def build_harness(builders: dict, request, tmp_path):
    """The adapter named by the running parameter, as a context manager: a builder gets ``tmp_path``
    and the fixtures named in its ``fixtures`` attribute (the Azure ones run on the session's Azurite)."""
    builder = builders[request.param]
    fixtures = {name: request.getfixturevalue(name) for name in getattr(builder, "fixtures", ())}
    return builder(tmp_path, **fixtures)
