"""Erasing an applicant's personal data: on request (the right to erasure: the console, ``b2b erase`` and
``POST /api/backoffice/prospects/{key}/erase``) and after RETENTION_DAYS (the retention timer).

What counts as personal data and what takes its place is ``shared.domain.erasure``. Erasing one applicant
removes it from every place it was kept: the prospect (and the search keys and index rows made from it), its
signup, the customers made from it, its history's details, its email records, the emails the transport kept
(.eml files or blobs), and queue messages that name it (poison queues included). What stays is pseudonymized:
the prospect's number, status and times, its history (what, when, who), and one operator audit record per
erasure (who: the operator or "retention"; the prospect's number; the reason; no name, email or phone).

Order, for a crash at any point: the copies outside the store (kept emails, queue messages) go first, the
store's records last, in one unit of work per applicant. A run that stops half-way finds the applicant not yet
erased and does it all again (each step is idempotent); once the store's records are erased, nothing is left.

The retention timer erases, RETENTION_DAYS after the last thing that happened to them: rejected prospects (from
their decision), requests that never became a prospect (unconfirmed, expired or stuck: from their receipt) and
emails left over from such requests (written for no prospect that is still there). Approved partners and
undecided prospects are never its to erase. It works in batches of ``batch_size`` (a page of the prospect list,
a page of signups or emails) and picks up where a stopped run left off, as every erased record no longer matches.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

from pydantic import BaseModel, PlainValidator

from shared.domain.audit import AuditAction
from shared.domain.duplicates import index_key, requester_key
from shared.domain.erasure import (
    ERASED_EMAIL,
    RETENTION_ACTOR,
    erasable,
    erased_customer,
    erased_prospect,
    erased_request,
    personal_values,
)
from shared.domain.errors import ConcurrencyConflict
from shared.domain.ids import prospect_id_for
from shared.domain.model import EmailRecord, HistoryEntry, Prospect, ProspectStatus, SignupRecord, SignupStatus
from shared.domain.prospect_directory import ProspectFilter
from shared.domain.validation import OperatorName, plain_text, validated
from shared.ports import Clock, EmailQuery, KeptEmails, Queue, Store
from shared.queue_worker import poison_queue_name
from shared.services.back_office import ACTOR_PREFIX
from shared.services.operator import find_prospect, record_audit

log = logging.getLogger("b2b.erasure")

MAX_REASON = 500
# The applicant's requests that never became a prospect (repeats, unconfirmed): at most this many per erasure.
SIDE_REQUESTS = 50
# Such a request is erased with the applicant's prospect; one RECEIVED is a new application the sync has yet to
# make a prospect (its own erasure comes once it is decided), and SYNCED ones are prospects of their own.
SIDE_STATUSES = frozenset({SignupStatus.REPEAT, SignupStatus.AWAITING_CONFIRMATION})
PEEK_LIMIT = 32  # a queue's first messages (Azure answers at most 32 per peek or receive)
SCAN_VISIBILITY = 60.0  # seconds a poison message passed over while scanning stays hidden (released at once after)


class EraseOnRequest(BaseModel):
    operator: OperatorName
    reason: Annotated[str, PlainValidator(partial(plain_text, limit=MAX_REASON, multiline=True))]


@dataclass(frozen=True)
class Erased:
    """One applicant's erasure: what it was (a prospect's number, or a request's id), and what went."""

    about: str
    changed: bool  # False: erased already, nothing left to do
    emails: int = 0  # email records deleted
    kept_emails: int = 0  # .eml files or blobs deleted
    messages: int = 0  # queue messages removed

    def to_json(self) -> dict:
        return {"about": self.about, "changed": self.changed, "emails": self.emails, "keptEmails": self.kept_emails,
                "queueMessages": self.messages}

    def describe(self) -> str:
        if not self.changed:
            return f"{self.about}: its personal data was erased already; nothing changed"
        return (f"{self.about}: personal data erased ({_count(self.emails, 'email')}, "
                f"{_count(self.kept_emails, 'kept email file')}, {_count(self.messages, 'queue message')} removed)")


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime | None  # None: RETENTION_DAYS=0, keep forever
    prospects: int = 0
    requests: int = 0
    emails: int = 0
    messages: int = 0

    def to_json(self) -> dict:
        return {"cutoff": self.cutoff.isoformat() if self.cutoff else None, "prospects": self.prospects,
                "requests": self.requests, "emails": self.emails, "queueMessages": self.messages}


@dataclass
class _Plan:
    """One applicant to erase: what to look for outside the store, then the store's unit of work."""

    about: str
    needles: set[str]
    email_ids: list[str]
    kept_emails: int = 0
    messages: int = 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


class Erasure:
    def __init__(self, store: Store, queue: Queue, clock: Clock, queue_names: tuple[str, ...],
                 kept: KeptEmails | None, retention_days: int, batch_size: int = 100):
        """``kept``: the emails the transport keeps (None for SMTP and SES, which keep none)."""
        self._store = store
        self._queue = queue
        self._clock = clock
        self._queue_names = queue_names
        self._kept = kept
        self._retention_days = retention_days
        self._batch_size = batch_size

    # --- the right to erasure -------------------------------------------------------------------------------
    def check(self, key: str) -> Prospect:
        """The prospect, if its data may be erased on request; ErasureRefused says why not (the confirm page)."""
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = find_prospect(uow, key)
        erasable(prospect)
        return prospect

    def erase(self, key: str, reason: object, operator: object) -> Erased:
        """Erase one rejected prospect's personal data now (an applicant asked), recorded in the audit with the
        operator and the reason. Refused (ErasureRefused, a 409) for an approved partner or an undecided
        prospect; erased already: nothing changes."""
        act = validated(EraseOnRequest, {"operator": operator, "reason": reason})
        prospect = self.check(key)
        return self._erase_prospects([prospect], act.operator, act.reason)[0]

    # --- retention ------------------------------------------------------------------------------------------
    def run(self, max_batches: int = 1000) -> RetentionReport:
        """Erase what RETENTION_DAYS says is kept long enough (nothing with 0). Safe to run twice or on two
        instances at once: an erased record matches no more, and erasing is idempotent."""
        if self._retention_days <= 0:
            return RetentionReport(cutoff=None)
        cutoff = self._clock.now() - timedelta(days=self._retention_days)
        prospects, messages = self._expired_prospects(cutoff, max_batches)
        requests, request_messages = self._stale_requests(cutoff, max_batches)
        emails, email_messages = self._orphan_emails(cutoff, max_batches)
        report = RetentionReport(cutoff, prospects, requests, emails, messages + request_messages + email_messages)
        if prospects or requests or emails:
            log.info("retention erased personal data", extra=report.to_json())
        return report

    def _expired_prospects(self, cutoff: datetime, max_batches: int) -> tuple[int, int]:
        """Rejected prospects decided before ``cutoff``: a page of the list (received before it) at a time."""
        where = ProspectFilter(status=ProspectStatus.REJECTED, received_to=cutoff)
        after, erased, messages = None, 0, 0
        for _ in range(max_batches):
            with self._store.unit_of_work(read_only=True) as uow:
                rows = uow.prospect_directory(where, newest_first=False, after=after, limit=self._batch_size)
                due = [p for p in (uow.get_prospect(row.id) for row in rows if row.requester_email != ERASED_EMAIL)
                       if p is not None and not p.is_erased and p.decided_at is not None and p.decided_at < cutoff]
            if due:
                done = self._erase_prospects(due, RETENTION_ACTOR, f"kept {self._retention_days} days after the "
                                                                   "decision (RETENTION_DAYS)")
                erased += sum(d.changed for d in done)
                messages += sum(d.messages for d in done)
            if len(rows) < self._batch_size:
                break
            after = rows[-1].position
        return erased, messages

    def _stale_requests(self, cutoff: datetime, max_batches: int) -> tuple[int, int]:
        """Requests that never became a prospect, received before ``cutoff``: erased whole (the signup goes)."""
        erased, messages = 0, 0
        for _ in range(max_batches):
            with self._store.unit_of_work(read_only=True) as uow:
                stale = uow.stale_signups(cutoff, self._batch_size)
                emails = {s.id: uow.prospect_emails(prospect_id_for(s.id)) for s in stale}
            if not stale:
                break
            plans = [self._request_plan(signup, emails[signup.id]) for signup in stale]
            messages += self._remove_copies(plans)
            for signup, plan in zip(stale, plans):
                self._delete_request(signup, plan, RETENTION_ACTOR,
                                     f"never a prospect; kept {self._retention_days} days (RETENTION_DAYS)")
            erased += len(stale)
            if len(stale) < self._batch_size:
                break
        return erased, messages

    def _orphan_emails(self, cutoff: datetime, max_batches: int) -> tuple[int, int]:
        """Emails written before ``cutoff`` for a prospect that is not there (a request deleted unconfirmed or
        expired) or whose data was erased: a page of the email list at a time, oldest last."""
        before, deleted, messages = (cutoff, ""), 0, 0
        for _ in range(max_batches):
            with self._store.unit_of_work(read_only=True) as uow:
                page = uow.email_page(EmailQuery(before=before), self._batch_size)
                orphans = [email for email in page if self._orphaned(uow, email)]
            if orphans:
                plan = _Plan("emails of requests no longer kept",
                             {e.id for e in orphans} | {e.to for e in orphans}, [e.id for e in orphans])
                messages += self._remove_copies([plan])
                with self._store.unit_of_work() as uow:
                    for email in orphans:
                        uow.delete_email(email.id)
                deleted += len(orphans)
            if len(page) < self._batch_size:
                break
            before = (page[-1].created_at, page[-1].id)
        if deleted:
            record_audit(self._store, self._clock, RETENTION_ACTOR, AuditAction.ERASE,
                         about=f"{_count(deleted, 'email')} of requests no longer kept",
                         reason=f"kept {self._retention_days} days (RETENTION_DAYS)")
        return deleted, messages

    @staticmethod
    def _orphaned(uow, email: EmailRecord) -> bool:
        """An email written for an applicant (``prospect_id``: the prospect the request is or was to become, as
        intake writes it before there is one) whose prospect is not there or was erased. Emails of no applicant
        (a partner's users', the merchant's digest) are not retention's to delete."""
        if email.prospect_id is None:
            return False
        prospect = uow.get_prospect(email.prospect_id)
        return prospect is None or prospect.is_erased

    # --- erasing --------------------------------------------------------------------------------------------
    def _delete_request(self, signup: SignupRecord, plan: _Plan, operator: str, reason: str) -> None:
        """A request that never became a prospect, gone from the store whole (its copies went first)."""
        with self._store.unit_of_work() as uow:
            uow.delete_signup(signup.id)  # with its emails, outbox rows and duplicate-key rows
        record_audit(self._store, self._clock, operator, AuditAction.ERASE, about=plan.about, reason=reason,
                     detail=_detail(plan))
        log.info("request erased", extra={"signup_id": signup.id, "by": operator})

    @staticmethod
    def _side_requests(uow, prospect: Prospect) -> list[SignupRecord]:
        """The applicant's other requests that never became a prospect (a repeat linked to its own, one never
        confirmed), found by its email's duplicate key (an index lookup) before erasing drops that key."""
        if prospect.is_erased:
            return []
        found = uow.signups_with_key(index_key(requester_key(prospect.request)), SIDE_REQUESTS,
                                     excluding=prospect.signup_id)
        return [s for s in found if s.prospect_id is None and s.status in SIDE_STATUSES]

    def _erase_prospects(self, prospects: list[Prospect], operator: str, reason: str) -> list[Erased]:
        with self._store.unit_of_work(read_only=True) as uow:
            plans = [self._prospect_plan(p, uow.prospect_emails(p.id)) for p in prospects]
            sides = [[(s, self._request_plan(s, uow.prospect_emails(prospect_id_for(s.id))))
                      for s in self._side_requests(uow, p)] for p in prospects]
        self._remove_copies([plan for plan, p in zip(plans, prospects) if not p.is_erased]
                            + [plan for side in sides for _, plan in side])
        actor = operator if operator == RETENTION_ACTOR else f"{ACTOR_PREFIX}:{operator}"
        done = []
        for prospect, plan, side in zip(prospects, plans, sides):
            for signup, side_plan in side:  # before the prospect: a run stopped between finds them no more
                self._delete_request(signup, side_plan, operator, f"with {plan.about}: {reason}")
            changed = self._commit_prospect(prospect.id, plan, actor)
            if changed:
                record_audit(self._store, self._clock, operator, AuditAction.ERASE, about=plan.about, reason=reason,
                             detail=_detail(plan))
                log.info("personal data erased", extra={"prospect_id": prospect.id, "by": actor})
            done.append(Erased(plan.about, changed, len(plan.email_ids) if changed else 0, plan.kept_emails,
                               plan.messages))
        return done

    def _commit_prospect(self, prospect_id: str, plan: _Plan, actor: str, attempts: int = 3) -> bool:
        """The store's records of one applicant, in one unit of work; False when it was erased already."""
        for attempt in range(attempts):
            try:
                with self._store.unit_of_work() as uow:
                    prospect = uow.get_prospect(prospect_id)
                    if prospect is None or prospect.is_erased:
                        return False
                    erasable(prospect)  # decided since it was read? still never an approved partner's
                    now = self._clock.now()
                    signup = uow.get_signup(prospect.signup_id)
                    customers = [uow.get_customer(c) for c in (prospect.person_customer_id,
                                                               prospect.organization_customer_id) if c]
                    uow.erase_history(prospect.id)
                    uow.erase_prospect(erased_prospect(prospect, now, actor))
                    if signup is not None:
                        uow.save_signup(signup.model_copy(update={"request": erased_request(signup.request)}))
                    for customer in customers:
                        if customer is not None:
                            uow.save_customer(erased_customer(customer))
                    for email_id in plan.email_ids:
                        uow.delete_email(email_id)
                    uow.append_history(HistoryEntry(prospect_id=prospect.id, at=now, actor=actor,
                                                    action="personal data erased"))
                return True
            except ConcurrencyConflict:
                if attempt == attempts - 1:
                    raise
        return False

    def _prospect_plan(self, prospect: Prospect, emails: list[EmailRecord]) -> _Plan:
        ids = {prospect.id, prospect.signup_id, prospect.lead_id, prospect.opportunity_id,
               prospect.person_customer_id, prospect.organization_customer_id}
        return _Plan(f"prospect {prospect.number}", _needles(prospect.request, ids, emails), [e.id for e in emails])

    def _request_plan(self, signup: SignupRecord, emails: list[EmailRecord]) -> _Plan:
        received = signup.received_at.date().isoformat()
        return _Plan(f"request {signup.id} received {received}",
                     _needles(signup.request, {signup.id, prospect_id_for(signup.id)}, emails), [e.id for e in emails])

    def _remove_copies(self, plans: list[_Plan]) -> int:
        """The kept emails and the queue messages of ``plans``, before their store records go. Returns how many
        queue messages were removed."""
        if not plans:
            return 0
        for plan in plans:
            if self._kept is not None:
                plan.kept_emails = sum(self._kept.delete(email_id) for email_id in plan.email_ids)
        removed = 0
        for base in self._queue_names:
            removed += self._sweep_queue(base, plans, peek_only=True)
            removed += self._sweep_queue(poison_queue_name(base), plans, peek_only=False)
        return removed

    def _sweep_queue(self, name: str, plans: list[_Plan], peek_only: bool) -> int:
        """Remove the messages of ``name`` that name a plan's applicant. A queue with a consumer is peeked (its
        first messages: receiving would count a try against each message); a poison queue has no consumer, so
        all of it is read, a batch at a time, and what is passed over is made visible again at once."""
        def owner(body: str) -> _Plan | None:
            text = body.casefold()
            return next((plan for plan in plans if any(needle in text for needle in plan.needles)), None)

        removed = 0
        if peek_only:
            for message in self._queue.peek(name, max_messages=PEEK_LIMIT):
                plan = owner(message.body)
                if plan is not None and self._queue.remove(name, message.id):
                    plan.messages += 1
                    removed += 1
            return removed
        passed = []
        try:
            for _ in range(self._queue.count(name) // PEEK_LIMIT + 2):
                batch = self._queue.receive(name, max_messages=PEEK_LIMIT, visibility_timeout=SCAN_VISIBILITY)
                if not batch:
                    break
                for message in batch:
                    plan = owner(message.body)
                    if plan is None:
                        passed.append(message)
                        continue
                    self._queue.delete(message)
                    plan.messages += 1
                    removed += 1
        finally:
            for message in passed:
                try:
                    self._queue.release(message, visibility_timeout=0)
                except Exception:  # noqa: BLE001 - it comes back by itself when its visibility ends
                    log.warning("a poison message passed over stays hidden for a while",
                                extra={"queue": name, "message_id": message.id})
        return removed


def _needles(request, ids: set[str | None], emails: list[EmailRecord]) -> set[str]:
    """What marks a queue message as the applicant's: one of its ids, its emails' ids, or a personal value."""
    values = {*(i for i in ids if i), *(e.id for e in emails), *personal_values(request)}
    # Short values (a first name of two letters) would match unrelated messages: ids and longer values only.
    return {value.casefold() for value in values if len(value) >= 5}


def _detail(plan: _Plan) -> str:
    return (f"{_count(len(plan.email_ids), 'email')}, {_count(plan.kept_emails, 'kept email file')}, "
            f"{_count(plan.messages, 'queue message')} removed")
