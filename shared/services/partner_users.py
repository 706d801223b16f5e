"""A partner's admin manages the partner's sign-in users; the user sync applies the changes.

Who may do what: the caller (the user its token's account is bound to, see sign_ins) must be an Active
user of the hierarchy, or the hierarchy "does not exist" for them (404: a user of partner A learns nothing
about partner B); managing users takes the Admin role (403 for a User of the same partner). Each change is
one unit of work that reads the partner's users first, so "keep at least one Admin" holds under concurrency.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable

from shared.domain.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from shared.domain.model import CustomerHierarchy, HierarchyRole, HistoryEntry
from shared.domain.money import MoneyError, amount_in, decimal_amount, format_amount
from shared.domain.partner_inputs import (
    NewPartnerUser,
    OperatorAction,
    OperatorNewPartnerUser,
    OperatorPartnerUserChanges,
    PartnerUserChanges,
)
from shared.domain.partners import (
    CreditLine,
    EmailTaken,
    LastAdmin,
    PartnerUser,
    UserChange,
    UserStatus,
    person_customer_id_for,
    usable,
    user_id_for,
)
from shared.domain.validation import validated
from shared.ports import Caller, Clock, Store, UnitOfWork
from shared.services.retry import on_conflict
from shared.services.sign_ins import FirstSignIn, SignIns, signed_in_user

log = logging.getLogger("b2b.partners")

# A limit without a credit line to give it a currency: as many decimals as any currency has.
_MAX_PLACES = 4


def member_of(uow: UnitOfWork, caller: Caller, hierarchy_id: str) -> tuple[CustomerHierarchy, PartnerUser]:
    """The hierarchy and the caller's user in it; NotFound unless the caller is an Active user there."""
    try:
        user = signed_in_user(uow, caller)
    except FirstSignIn:  # the same answer as for a partner of which the caller is no user
        raise FirstSignIn(f"no partner {hierarchy_id}") from None
    hierarchy = uow.get_hierarchy(hierarchy_id)
    if hierarchy is None or user.hierarchy_id != hierarchy_id or not user.is_active:
        raise NotFound(f"no partner {hierarchy_id}")
    return usable(hierarchy), user  # a member learns that its partner is blocked, no one else


def existing_partner(uow: UnitOfWork, hierarchy_id: str) -> CustomerHierarchy:
    hierarchy = uow.get_hierarchy(hierarchy_id)
    if hierarchy is None:
        raise NotFound(f"no partner {hierarchy_id}")
    return hierarchy


def admin_of(uow: UnitOfWork, caller: Caller, hierarchy_id: str) -> CustomerHierarchy:
    hierarchy, user = member_of(uow, caller, hierarchy_id)
    if user.role is not HierarchyRole.ADMIN:
        raise Forbidden(f"only an Admin of partner {hierarchy_id} may manage its users")
    return hierarchy


def spending_limit(value: object, line: CreditLine | None, field: str = "spendingLimit") -> Decimal | None:
    """A user's per-order (or, ``field`` monthlyLimit, monthly) limit, in the partner's currency once it has a
    credit line."""
    if value is None:
        return None
    try:
        if line is not None:
            return amount_in(value, line.currency, allow_zero=True)
        return decimal_amount(value, _MAX_PLACES, allow_zero=True)
    except MoneyError as error:
        raise InvalidInput([(field, str(error))]) from None


def _present(user: PartnerUser | None, hierarchy_id: str, user_id: str) -> PartnerUser:
    """The user, if it is a user of the partner that is not removed; NotFound otherwise."""
    if user is None or user.hierarchy_id != hierarchy_id or user.status is UserStatus.REMOVED:
        raise NotFound(f"no user {user_id} in partner {hierarchy_id}")
    return user


def _user_in(users: list[PartnerUser], hierarchy_id: str, user_id: str) -> PartnerUser:
    return _present(next((u for u in users if u.id == user_id), None), hierarchy_id, user_id)


def _keep_an_admin(users: list[PartnerUser], leaving: PartnerUser) -> None:
    if leaving.counts_as_admin and not any(u.counts_as_admin for u in users if u.id != leaving.id):
        raise LastAdmin("a partner keeps at least one Admin: make another user Admin first")


Authorize = Callable[[UnitOfWork], CustomerHierarchy]

OPERATOR_ACTOR = "back-office"  # the history's actor prefix for what an operator does (as for prospects)


def partner_history(uow: UnitOfWork, hierarchy: CustomerHierarchy, at: datetime, actor: str, action: str,
                    detail: str) -> None:
    """One line of the partner's history. It is kept with the partner's records (its aggregate: its prospect's,
    when it came from one, so the prospect's timeline tells it too) and commits with the change it tells of."""
    uow.append_history(HistoryEntry(prospect_id=hierarchy.aggregate_id, at=at, actor=actor, action=action,
                                    detail=detail))


def _operator_on(hierarchy_id: str) -> Authorize:
    return lambda uow: existing_partner(uow, hierarchy_id)


def _edit_detail(user: PartnerUser, update: dict[str, object]) -> str:
    shown = {field: getattr(value, "value", value) for field, value in update.items()}
    return f"{user.email}: " + ", ".join(f"{field.replace('_', ' ')} {value if value is not None else 'none'}"
                                         for field, value in sorted(shown.items()))


@dataclass(frozen=True)
class AddResult:
    user: PartnerUser
    created: bool  # False: the same add was made before (a retried request), nothing changed


class PartnerUsers:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self._sign_ins = SignIns(store, clock)

    def me(self, caller: Caller) -> tuple[PartnerUser, CustomerHierarchy]:
        """The caller's own user and partner (how a storefront finds the one customer of a sign-in)."""
        return self._sign_ins.as_caller(caller, lambda: self._me(caller))

    def _me(self, caller: Caller) -> tuple[PartnerUser, CustomerHierarchy]:
        with self._store.unit_of_work(read_only=True) as uow:
            user = signed_in_user(uow, caller)
            hierarchy = uow.get_hierarchy(user.hierarchy_id)
        if hierarchy is None or user.status is UserStatus.REMOVED:
            raise NotFound("this sign-in is no user of a partner")
        return user, usable(hierarchy)

    def list(self, caller: Caller, hierarchy_id: str, include_removed: bool = False) -> list[PartnerUser]:
        return self._sign_ins.as_caller(caller, lambda: self._list(caller, hierarchy_id, include_removed))

    def _list(self, caller: Caller, hierarchy_id: str, include_removed: bool) -> list[PartnerUser]:
        with self._store.unit_of_work(read_only=True) as uow:
            admin_of(uow, caller, hierarchy_id)
            users = uow.partner_users(hierarchy_id)
        return [u for u in users if include_removed or u.status is not UserStatus.REMOVED]

    def get(self, caller: Caller, hierarchy_id: str, user_id: str) -> PartnerUser:
        return self._sign_ins.as_caller(caller, lambda: self._get(caller, hierarchy_id, user_id))

    def _get(self, caller: Caller, hierarchy_id: str, user_id: str) -> PartnerUser:
        with self._store.unit_of_work(read_only=True) as uow:
            admin_of(uow, caller, hierarchy_id)
            return _present(uow.get_partner_user(user_id), hierarchy_id, user_id)

    def add(self, caller: Caller, hierarchy_id: str, payload: object) -> AddResult:
        new = validated(NewPartnerUser, payload)
        return self._sign_ins.as_caller(caller, lambda: on_conflict(lambda: self._add(
            lambda uow: admin_of(uow, caller, hierarchy_id), hierarchy_id, new, by="partner admin")))

    def add_by_operator(self, hierarchy_id: str, payload: object) -> AddResult:
        """The back office adds a user to any partner, with the same rules and sync as an admin's add: how a
        partner gets an Admin when it has none (its requester's email signed in for another partner already)."""
        new = validated(OperatorNewPartnerUser, payload)
        return on_conflict(lambda: self._add(_operator_on(hierarchy_id), hierarchy_id, new,
                                             by=f"{OPERATOR_ACTOR}:{new.operator}", recorded=True))

    def _add(self, authorize: Authorize, hierarchy_id: str, new: NewPartnerUser, by: str,
             recorded: bool = False) -> AddResult:
        """``recorded``: an operator's change, told in the partner's history (an admin's own are not)."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            hierarchy = authorize(uow)
            uow.partner_users(hierarchy_id)  # read with the change: a concurrent change of the partner conflicts
            line = uow.get_credit_line(hierarchy_id)
            limit = spending_limit(new.spending_limit, line)
            monthly = spending_limit(new.monthly_limit, line, "monthlyLimit")
            role = HierarchyRole(new.role)
            user_id = user_id_for(new.email)
            existing = uow.get_partner_user(user_id)
            if existing is not None and existing.status is not UserStatus.REMOVED:
                if existing.hierarchy_id == hierarchy_id and (existing.first_name, existing.last_name, existing.role,
                                                              existing.spending_limit, existing.monthly_limit) == (
                        new.first_name, new.last_name, role, limit, monthly):
                    return AddResult(existing, created=False)
                # Which partner holds it stays unsaid: that would tell one partner about another's users.
                raise EmailTaken(f"{new.email} signs in to the store already; one email belongs to one user")
            if existing is not None:
                user = existing.rejoin(hierarchy_id, new.first_name, new.last_name, role, limit, new.language, now)
                user = user.model_copy(update={"monthly_limit": monthly})
            else:
                user = PartnerUser(
                    id=user_id, hierarchy_id=hierarchy_id, customer_id=person_customer_id_for(user_id),
                    email=new.email, first_name=new.first_name, last_name=new.last_name, role=role,
                    spending_limit=limit, monthly_limit=monthly, language=new.language, status=UserStatus.PENDING,
                    sync=UserChange.ADD,
                    created_at=now, updated_at=now,
                )
            uow.save_partner_user(user)
            if recorded:
                partner_history(uow, hierarchy, now, by, "partner user added", f"{user.email} as {role.value}")
        log.info("partner user added", extra={"hierarchy": hierarchy_id, "user": user.id, "role": role.value,
                                              "by": by})
        return AddResult(user, created=True)

    def edit(self, caller: Caller, hierarchy_id: str, user_id: str, payload: object) -> PartnerUser:
        changes = _some_changes(validated(PartnerUserChanges, payload))
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._edit(lambda uow: admin_of(uow, caller, hierarchy_id), hierarchy_id, user_id, changes)))

    def edit_by_operator(self, hierarchy_id: str, user_id: str, payload: object) -> PartnerUser:
        """The back office changes any partner's user (makes another Admin, say), under the admin's rules."""
        changes = _some_changes(validated(OperatorPartnerUserChanges, payload))
        return on_conflict(lambda: self._edit(_operator_on(hierarchy_id), hierarchy_id, user_id, changes,
                                              by=f"{OPERATOR_ACTOR}:{changes.operator}"))

    def _edit(self, authorize: Authorize, hierarchy_id: str, user_id: str, changes: PartnerUserChanges,
              by: str | None = None) -> PartnerUser:
        """``by``: an operator's change, told in the partner's history."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            hierarchy = authorize(uow)
            users = uow.partner_users(hierarchy_id)
            user = _user_in(users, hierarchy_id, user_id)
            update: dict[str, object] = {}
            for field in changes.sent():
                value = getattr(changes, field)
                if field == "spending_limit":
                    value = spending_limit(value, uow.get_credit_line(hierarchy_id))
                elif field == "monthly_limit":
                    value = spending_limit(value, uow.get_credit_line(hierarchy_id), "monthlyLimit")
                elif field == "role":
                    value = HierarchyRole(value)
                elif value is None:
                    raise InvalidInput([(field, "may not be null")])
                update[field] = value
            if update.get("role", HierarchyRole.ADMIN) is not HierarchyRole.ADMIN:  # User or Approver
                _keep_an_admin(users, user)
            if all(getattr(user, field) == value for field, value in update.items()):
                return user  # nothing changes: no version, no sync
            try:
                edited = user.edited(update, now)
            except IllegalTransition as error:
                raise NotFound(str(error)) from None
            uow.save_partner_user(edited)
            if by is not None:
                partner_history(uow, hierarchy, now, by, "partner user changed", _edit_detail(user, update))
        log.info("partner user edited", extra={"hierarchy": hierarchy_id, "user": user_id, "fields": sorted(update)})
        return edited

    def remove(self, caller: Caller, hierarchy_id: str, user_id: str) -> PartnerUser:
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._remove(lambda uow: admin_of(uow, caller, hierarchy_id), hierarchy_id, user_id)))

    def remove_by_operator(self, hierarchy_id: str, user_id: str, payload: object) -> PartnerUser:
        """The back office removes any partner's user (never its last Admin), as its admin would."""
        given = validated(OperatorAction, payload)
        return on_conflict(lambda: self._remove(_operator_on(hierarchy_id), hierarchy_id, user_id,
                                                by=f"{OPERATOR_ACTOR}:{given.operator}"))

    def _remove(self, authorize: Authorize, hierarchy_id: str, user_id: str, by: str | None = None) -> PartnerUser:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            hierarchy = authorize(uow)
            users = uow.partner_users(hierarchy_id)
            user = _user_in(users, hierarchy_id, user_id)
            _keep_an_admin(users, user)
            removed = user.removed(now)
            uow.save_partner_user(removed)
            if by is not None:
                partner_history(uow, hierarchy, now, by, "partner user removed", user.email)
        log.info("partner user removed", extra={"hierarchy": hierarchy_id, "user": user_id})
        return removed


def _some_changes(changes: PartnerUserChanges) -> PartnerUserChanges:
    if not changes.sent():
        raise InvalidInput([("(body)", "names no field to change (firstName, lastName, role, spendingLimit, "
                                       "monthlyLimit, language)")])
    return changes


def user_json(user: PartnerUser) -> dict:
    return {
        "id": user.id, "hierarchyId": user.hierarchy_id, "customerId": user.customer_id, "email": user.email,
        "firstName": user.first_name, "lastName": user.last_name, "role": user.role.value,
        "spendingLimit": None if user.spending_limit is None else format_amount(user.spending_limit),
        "monthlyLimit": None if user.monthly_limit is None else format_amount(user.monthly_limit),
        "language": user.language, "status": user.status.value,
        "pendingChange": None if user.sync is None else user.sync.value,
        # When an account first signed in as the user (bound it); null: no one has yet. The account stays unsaid.
        "signInBoundAt": None if user.sign_in is None else user.sign_in.bound_at.isoformat(),
        "createdAt": user.created_at.isoformat(), "updatedAt": user.updated_at.isoformat(),
    }
