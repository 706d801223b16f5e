"""The back office onboards an existing Organization customer and its Person customers as a partner.

Without a prospect: the hierarchy is built by hand (the organization, persons as Admin or User) under
the rules the flow keeps: one hierarchy per organization, at least one Admin, one sign-in user per
email (a person whose email signs in elsewhere refuses the whole onboarding, nothing is written).
The persons become Pending users; the user sync makes them members and sends the "user added" emails.

An organization that came from a prospect (Sales qualified its lead) becomes a partner only through that
prospect: deciding it builds the hierarchy under the prospect's own number claim, so a hand-made one
would be a second hierarchy for the same organization. Pending: decide the prospect instead. Approved:
it is a partner already. Rejected: a decided prospect stays decided; the company may sign up again, or
the back office records its customer from the ERP (``add_customer``) and onboards that.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic.alias_generators import to_camel

from shared.domain.duplicates import company_name_key, index_key, name_key
from shared.domain.errors import DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.ids import derived_id
from shared.domain.model import Customer, CustomerHierarchy, CustomerType, HierarchyRole, ProspectStatus
from shared.domain.partner_inputs import NewCustomer, OnboardExisting
from shared.domain.partners import EmailTaken, FromProspect, PartnerUser, UserChange, UserStatus, user_id_for
from shared.domain.validation import validated
from shared.ports import Clock, Store, UnitOfWork
from shared.services.partner_users import spending_limit
from shared.services.propagation import HIERARCHY_SEQUENCE, hierarchy_id
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.onboarding")


def customer_id_for_account(account_number: str) -> str:
    return derived_id("customer", "account", account_number)


@dataclass(frozen=True)
class Onboarded:
    hierarchy: CustomerHierarchy
    users: list[PartnerUser]
    created: bool  # False: this organization was a partner already (a repeated request)


class PartnerOnboarding:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock

    def add_customer(self, payload: object) -> tuple[Customer, bool]:
        """Record a customer that exists outside the flow; (customer, created). The account number is its
        identity: the same account again is the same customer (an identical repeat changes nothing)."""
        given = validated(NewCustomer, payload)
        kind = CustomerType(given.type)
        problems = []
        if kind is CustomerType.PERSON:
            problems += [(to_camel(f), "is required for a Person") for f in ("first_name", "last_name", "email")
                         if getattr(given, f) is None]
        elif given.name is None:
            problems.append(("name", "is required for an Organization"))
        if problems:
            raise InvalidInput(problems)
        now = self._clock.now()
        name = given.name or f"{given.first_name} {given.last_name}"
        fields = given.model_dump(exclude={"account_number", "type", "name"})
        customer = Customer(id=customer_id_for_account(given.account_number), type=kind, name=name,
                            sales_record_id=None, created_at=now, **fields)
        with self._store.unit_of_work() as uow:
            existing = uow.get_customer(customer.id)
            if existing is not None:
                if existing.model_copy(update={"created_at": now}) != customer:
                    raise IdempotencyConflict(f"account {given.account_number} exists with other details")
                return existing, False
            uow.save_customer(customer)
        return customer, True

    def onboard(self, payload: object) -> Onboarded:
        given = validated(OnboardExisting, payload)
        ids = [m.customer_id for m in given.members]
        if len(set(ids)) != len(ids):
            raise InvalidInput([("members", "names a customer twice")])
        if not any(m.role == "Admin" for m in given.members):
            raise InvalidInput([("members", "needs at least one Admin")])
        return on_conflict(lambda: self._onboard(given))

    def _onboard(self, given: OnboardExisting) -> Onboarded:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            organization = self._customer(uow, given.organization_customer_id, CustomerType.ORGANIZATION,
                                          "organizationCustomerId")
            if organization.prospect_id:
                _refuse_prospects_organization(uow, organization)
            # The organization owns its number: asking again finds the same hierarchy, never a second one.
            hierarchy = CustomerHierarchy(
                id=hierarchy_id(uow.number_for(HIERARCHY_SEQUENCE, f"organization:{organization.id}")),
                name=organization.name, organization_customer_id=organization.id, prospect_id=None, created_at=now)
            existing = uow.get_hierarchy(hierarchy.id)
            if existing is not None:
                return Onboarded(existing, [u for u in uow.partner_users(existing.id)], created=False)
            users = [self._user(uow, member, hierarchy, now) for member in given.members]
            _one_user_per_email(users)
            uow.save_hierarchy(hierarchy)
            # A request of the same organization later is flagged as a possible duplicate of this partner.
            if organization.country and company_name_key(organization.name):
                uow.index_partner(index_key(name_key(organization.country, organization.name)), hierarchy.id)
            for user in users:
                uow.save_partner_user(user)
        log.info("existing organization onboarded", extra={"hierarchy": hierarchy.id, "users": len(users),
                                                           "operator": given.operator})
        return Onboarded(hierarchy, users, created=True)

    @staticmethod
    def _customer(uow: UnitOfWork, customer_id: str, kind: CustomerType, field: str) -> Customer:
        customer = uow.get_customer(customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        if customer.type is not kind:
            raise InvalidInput([(field, f"customer {customer_id} is a {customer.type.value}, not a {kind.value}")])
        return customer

    def _user(self, uow: UnitOfWork, member, hierarchy: CustomerHierarchy, now) -> PartnerUser:
        person = self._customer(uow, member.customer_id, CustomerType.PERSON, "members.customerId")
        if not person.email:
            raise InvalidInput([("members.customerId", f"customer {person.id} has no email to sign in with")])
        user_id = user_id_for(person.email)
        if uow.get_partner_user(user_id) is not None:
            raise EmailTaken(f"{person.email} signs in to the store already; one email belongs to one user")
        return PartnerUser(
            id=user_id, hierarchy_id=hierarchy.id, customer_id=person.id, email=person.email,
            first_name=person.first_name or person.name, last_name=person.last_name or "",
            role=HierarchyRole(member.role), spending_limit=spending_limit(member.spending_limit, None),
            status=UserStatus.PENDING, sync=UserChange.ADD, created_at=now, updated_at=now,
        )


def _refuse_prospects_organization(uow: UnitOfWork, organization: Customer) -> None:
    assert organization.prospect_id is not None
    if uow.find_hierarchy_by_prospect(organization.prospect_id):
        raise DuplicateRecord(f"organization {organization.name} is a partner already (from its prospect)")
    prospect = uow.get_prospect(organization.prospect_id)
    number = prospect.number if prospect is not None else organization.prospect_id
    if prospect is not None and prospect.status is ProspectStatus.REJECTED:
        raise FromProspect(f"organization {organization.name} comes from prospect {number}, which was rejected; a "
                           "decided prospect stays decided: let the company sign up again, or record its customer "
                           "from the ERP by account number and onboard that")
    raise FromProspect(f"organization {organization.name} comes from prospect {number}, still to be decided: "
                       f"decide it in the back office instead (b2b approve {number}); approving it makes the partner")


def _one_user_per_email(users: list[PartnerUser]) -> None:
    """Two persons whose emails differ only in case are one sign-in user: saving both would keep the
    second and silently drop the first (an Admin could vanish), so the onboarding is refused instead."""
    seen: dict[str, PartnerUser] = {}
    for user in users:
        first = seen.setdefault(user.id, user)
        if first is not user:
            raise InvalidInput([("members", f"customers {first.customer_id} and {user.customer_id} sign in with "
                                            f"the same email {user.email}; one email belongs to one user")])
