"""Which partner user a verified token signs in as: the one bound to its account (issuer, subject).

An account is bound once, at its first sign-in, to the user the partner's admin (or the back office) added
with an email the issuer vouches for in that token (``Caller.verified_email``). From then on the user is
found by the account alone: a changed email in the token changes nothing, and another account with the
same email cannot take the user (403). Binding is one unit of work that reads the user, so two first
sign-ins of one account bind it once, and of two accounts with the same email one wins.
"""
from __future__ import annotations

import logging
from typing import Callable, TypeVar

from shared.domain.errors import NotFound
from shared.domain.partners import PartnerUser, SignInTaken, UserStatus, user_id_for
from shared.ports import Caller, Clock, Store, UnitOfWork
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.partners")

R = TypeVar("R")


class FirstSignIn(NotFound):
    """The caller's account is bound to no partner user (yet)."""


def signed_in_user(uow: UnitOfWork, caller: Caller) -> PartnerUser:
    """The user bound to the caller's account; FirstSignIn when there is none."""
    user = uow.find_partner_user_by_sign_in(caller.issuer, caller.subject)
    if user is None:
        raise FirstSignIn("this sign-in is no user of a partner")
    return user


class SignIns:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock

    def as_caller(self, caller: Caller, work: Callable[[], R]) -> R:
        """``work()``; when it finds the caller's account bound to no user, bind it (a first sign-in) and run
        ``work`` once more. Accounts bound already cost nothing more."""
        try:
            return work()
        except FirstSignIn:
            if self.bind(caller) is None:
                raise
        return work()

    def bind(self, caller: Caller) -> PartnerUser | None:
        """The user the caller's account is bound to, binding it now if the issuer vouched for the email of
        an unbound user; None when there is no such user. SignInTaken when that user is another account's."""
        if caller.verified_email is None:
            return None
        return on_conflict(lambda: self._bind(caller, caller.verified_email))

    def _bind(self, caller: Caller, email: str) -> PartnerUser | None:
        with self._store.unit_of_work() as uow:
            bound = uow.find_partner_user_by_sign_in(caller.issuer, caller.subject)
            if bound is not None:
                return bound  # a first sign-in of the same account just bound it
            user = uow.get_partner_user(user_id_for(email))
            if user is None or user.status is UserStatus.REMOVED:
                return None
            try:
                bound = user.bound_to(caller.issuer, caller.subject, caller.subject_claim, self._clock.now())
            except SignInTaken:
                log.warning("sign-in refused: the user is bound to another account",
                            extra={"user": user.id, "hierarchy": user.hierarchy_id})
                raise
            uow.save_partner_user(bound)
        log.info("partner user bound to its sign-in", extra={"user": user.id, "hierarchy": user.hierarchy_id})
        return bound
