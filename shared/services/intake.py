"""Signup intake: validate a storefront's onboarding request and keep it as a pending channel request."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from shared.config import Branding
from shared.domain.email_templates import SIGNUP_CONFIRM, SIGNUP_RECEIVED, SIGNUP_REPEAT
from shared.domain.errors import DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.ids import derived_id, hash_key, new_public_id, prospect_id_for
from shared.domain.model import Prospect, ProspectStatus, SignupRecord, SignupStatus
from shared.domain.signup import SignupRequest
from shared.domain.validation import validated
from shared.ports import Clock, Store
from shared.services.duplicates import first_open_request, link_repeat
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay

log = logging.getLogger("b2b.intake")

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class Receipt:
    signup_id: str
    received_at: datetime
    created: bool  # False when an Idempotency-Key found the first request
    # The answer's status: "awaiting_confirmation" when REQUIRE_EMAIL_CONFIRMATION is on, else "pending". Set by
    # the configuration alone, never by what became of the request (a repeat answers as any other request).
    status: str = "pending"


@dataclass(frozen=True)
class ReceivedEmail:
    """The intake's emails, written with the signup (one transaction) and sent at once: "we received your
    request" (unless ``send_received`` is off), "confirm your email" (with ``confirmation_url``, when
    REQUIRE_EMAIL_CONFIRMATION is on: it replaces the received one) and "you have a request already" (a repeat)."""

    relay: OutboxRelay
    email_queue: str
    branding: Callable[[str], Branding]  # channel id → its branding (store name and URL)
    status_url: Callable[[str], str]  # signup id → its public status page
    send_received: bool = True
    confirmation_url: Callable[[SignupRecord], str] | None = None  # None: no confirmation asked

    def _values(self, record: SignupRecord) -> dict[str, str]:
        request = record.request
        branding = self.branding(request.channel_id)
        return {"firstname": request.contact.first_name, "lastname": request.contact.last_name,
                "company": request.company.name, "storename": branding.store_name, "storeurl": branding.store_url}

    def _queue(self, uow, record: SignupRecord, template: str, values: dict[str, str]):
        """In the signup's own unit of work (its aggregate: the prospect it will become), so that a signup is
        never stored without its email nor the email written twice."""
        request = record.request
        return queue_email(uow, template=template, to=request.contact.email,
                           language=request.contact.preferred_language, values={**self._values(record), **values},
                           email_id=derived_id("email", record.id, template),
                           aggregate_id=prospect_id_for(record.id), prospect_id=prospect_id_for(record.id),
                           email_queue=self.email_queue, now=record.received_at)

    def for_new(self, uow, record: SignupRecord):
        """The email a new request gets, or None."""
        if self.confirmation_url is not None:
            return self._queue(uow, record, SIGNUP_CONFIRM, {"confirmurl": self.confirmation_url(record)})
        if self.send_received:
            return self._queue(uow, record, SIGNUP_RECEIVED, {"statusurl": self.status_url(record.id)})
        return None

    def for_repeat(self, uow, repeat: SignupRecord, first: SignupRecord):
        """To the requester (only they read it): the first request's status link, so an anonymous caller learns
        nothing from the HTTP answer while the real requester finds their request."""
        return self._queue(uow, repeat, SIGNUP_REPEAT, {"statusurl": self.status_url(first.id)})


class IntakeService:
    def __init__(self, store: Store, clock: Clock, received_email: ReceivedEmail | None = None):
        self._store = store
        self._clock = clock
        self._emails = received_email  # None: no intake email at all (tests of other parts)

    @property
    def _confirming(self) -> bool:
        return self._emails is not None and self._emails.confirmation_url is not None

    def submit(self, payload: object, idempotency_key: str | None = None, *,
               privacy_policy_url: str | None = None) -> Receipt:
        """Keep the request (once per ``idempotency_key``); with ``privacy_policy_url`` (a storefront form that
        asks for consent) the request must agree to that policy, and its consent is recorded with the time.

        A request whose requester email has an open request already (``shared.services.duplicates``) is kept
        linked to it and never becomes a prospect; its requester is emailed the first one's status link."""
        request = validate_signup(payload, privacy_policy_url)
        key_hash = _idempotency_key_hash(idempotency_key)
        fingerprint = hash_key(request.model_dump_json())
        now = self._clock.now()
        status = "awaiting_confirmation" if self._confirming else "pending"
        record = SignupRecord(
            id=new_public_id(),
            received_at=now,
            request=request,
            idempotency_key_hash=key_hash,
            request_fingerprint=fingerprint,
            consent_given_at=now if request.consent else None,
            status=SignupStatus.AWAITING_CONFIRMATION if self._confirming else SignupStatus.RECEIVED,
        )
        for _attempt in range(2):
            messages = []
            with self._store.unit_of_work() as uow:
                earlier = uow.find_signup_by_idempotency_key(key_hash) if key_hash else None
                if earlier is None:
                    first = first_open_request(uow, record)
                    kept = record
                    try:
                        if first is None:
                            uow.add_signup(record)
                        else:  # with confirmation on it waits (and expires) as any request: the same status page
                            kept = link_repeat(uow, record, first, now, new=True, status=record.status
                                               if self._confirming else SignupStatus.REPEAT)
                    except DuplicateRecord:
                        continue  # the same key committed in between: read it on the next pass
                    if self._emails is not None:
                        email = self._emails.for_new(uow, kept) if first is None else \
                            self._emails.for_repeat(uow, kept, first)
                        messages += [email] if email is not None else []
            if earlier is None:
                if messages:
                    self._emails.relay.send_now(messages)
                log.info("signup received", extra={"signup_id": record.id, "channel": request.channel_id})
                return Receipt(record.id, record.received_at, created=True, status=status)
            if earlier.request_fingerprint != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return Receipt(earlier.id, earlier.received_at, created=False, status=status)
        raise IdempotencyConflict("this Idempotency-Key is being used by a concurrent request")


CONSENT_PROBLEM = ("consent", "agree to the privacy policy to send the request")


def validate_signup(payload: object, privacy_policy_url: str | None = None) -> SignupRequest:
    """The request, or InvalidInput naming every bad field, the missing consent among them when
    ``privacy_policy_url`` asks for it."""
    consent = payload.get("consent") if isinstance(payload, dict) else None
    consent_missing = bool(privacy_policy_url) and not (
        isinstance(consent, dict) and consent.get("privacy_policy_url") == privacy_policy_url)
    try:
        request = validated(SignupRequest, payload)
    except InvalidInput as error:
        if consent_missing:
            error.problems.append(CONSENT_PROBLEM)
            error.kinds.append(("consent", {}))
        raise
    if consent_missing:
        raise InvalidInput([CONSENT_PROBLEM], [("consent", {})])
    return request


def _idempotency_key_hash(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidInput([("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters")])
    return hash_key(key)


@dataclass(frozen=True)
class SignupStatusView:
    """Where a signup stands. Public (anyone with the id can read it), so it holds no personal data."""

    signup_id: str
    status: str
    updated_at: datetime
    steps: list[tuple[str, datetime]]
    channel_id: str  # which storefront's branding its page shows (a store, not a person)

    @property
    def decided(self) -> bool:
        return self.status in DECIDED

    def to_json(self) -> dict:
        return {
            "id": self.signup_id,
            "status": self.status,
            "updated_at": self.updated_at.isoformat(),
            "steps": [{"status": name, "at": at.isoformat()} for name, at in self.steps],
        }


class SignupStatusService:
    def __init__(self, store: Store):
        self._store = store

    def status(self, signup_id: str) -> SignupStatusView:
        with self._store.unit_of_work(read_only=True) as uow:
            signup = uow.get_signup(signup_id)
            if signup is None:
                raise NotFound("no such signup")
            prospect = uow.get_prospect(signup.prospect_id) if signup.prospect_id else None
        steps = [("received", signup.received_at), *_prospect_steps(prospect)]
        if signup.status is SignupStatus.AWAITING_CONFIRMATION:
            # A repeat that came while confirmation is on reads the same: nothing tells it from a new request.
            steps = [("awaiting_confirmation", signup.received_at)]
        name, at = steps[-1]
        return SignupStatusView(signup.id, name, at, steps, signup.request.channel_id)


# The steps a signup goes through, in order; the last two are the decisions (one of them, at most).
STEPS = ("awaiting_confirmation", "received", "prospect_created", "lead_created", "under_review", "approved", "rejected")
DECIDED = frozenset({"approved", "rejected"})


def _prospect_steps(prospect: Prospect | None) -> list[tuple[str, datetime]]:
    if prospect is None:
        return []
    candidates = [
        ("prospect_created", prospect.created_at),
        ("lead_created", prospect.lead_created_at),
        ("under_review", prospect.qualified_at),
    ]
    if prospect.status is not ProspectStatus.PENDING:
        candidates.append((prospect.status.value.lower(), prospect.decided_at))
    return [(name, at) for name, at in candidates if at is not None]
