"""Signup intake: validate a storefront's onboarding request and keep it as a pending channel request."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from shared.config import Branding
from shared.domain.email_templates import SIGNUP_RECEIVED
from shared.domain.errors import DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.ids import derived_id, hash_key, new_public_id, prospect_id_for
from shared.domain.model import Prospect, ProspectStatus, SignupRecord
from shared.domain.signup import SignupRequest
from shared.domain.validation import validated
from shared.ports import Clock, Store
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay

log = logging.getLogger("b2b.intake")

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class Receipt:
    signup_id: str
    received_at: datetime
    created: bool  # False when an Idempotency-Key found the first request


@dataclass(frozen=True)
class ReceivedEmail:
    """The "we received your request" email: written with the signup (one transaction), sent at once."""

    relay: OutboxRelay
    email_queue: str
    branding: Callable[[str], Branding]  # channel id → its branding (store name and URL)
    status_url: Callable[[str], str]  # signup id → its public status page


class IntakeService:
    def __init__(self, store: Store, clock: Clock, received_email: ReceivedEmail | None = None):
        self._store = store
        self._clock = clock
        self._received_email = received_email  # None: SEND_RECEIVED_EMAIL=false

    def submit(self, payload: object, idempotency_key: str | None = None, *,
               privacy_policy_url: str | None = None) -> Receipt:
        """Keep the request (once per ``idempotency_key``); with ``privacy_policy_url`` (a storefront form that
        asks for consent) the request must agree to that policy, and its consent is recorded with the time."""
        request = validate_signup(payload, privacy_policy_url)
        key_hash = _idempotency_key_hash(idempotency_key)
        fingerprint = hash_key(request.model_dump_json())
        now = self._clock.now()
        record = SignupRecord(
            id=new_public_id(),
            received_at=now,
            request=request,
            idempotency_key_hash=key_hash,
            request_fingerprint=fingerprint,
            consent_given_at=now if request.consent else None,
        )
        for _attempt in range(2):
            messages = []
            with self._store.unit_of_work() as uow:
                earlier = uow.find_signup_by_idempotency_key(key_hash) if key_hash else None
                if earlier is None:
                    try:
                        uow.add_signup(record)
                    except DuplicateRecord:
                        continue  # the same key committed in between: read it on the next pass
                    if self._received_email is not None:
                        messages.append(self._queue_received_email(uow, record))
            if earlier is None:
                if messages:
                    self._received_email.relay.send_now(messages)
                log.info("signup received", extra={"signup_id": record.id, "channel": request.channel_id})
                return Receipt(record.id, record.received_at, created=True)
            if earlier.request_fingerprint != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return Receipt(earlier.id, earlier.received_at, created=False)
        raise IdempotencyConflict("this Idempotency-Key is being used by a concurrent request")


    def _queue_received_email(self, uow, record: SignupRecord):
        """The email in the signup's own unit of work (its aggregate: the prospect it will become), so that a
        signup is never stored without it nor it written twice."""
        email, request = self._received_email, record.request
        branding = email.branding(request.channel_id)
        values = {"firstname": request.contact.first_name, "lastname": request.contact.last_name,
                  "company": request.company.name, "storename": branding.store_name, "storeurl": branding.store_url,
                  "statusurl": email.status_url(record.id)}
        return queue_email(uow, template=SIGNUP_RECEIVED, to=request.contact.email,
                           language=request.contact.preferred_language, values=values,
                           email_id=derived_id("email", record.id, SIGNUP_RECEIVED),
                           aggregate_id=prospect_id_for(record.id), prospect_id=prospect_id_for(record.id),
                           email_queue=email.email_queue, now=record.received_at)


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
        name, at = steps[-1]
        return SignupStatusView(signup.id, name, at, steps, signup.request.channel_id)


# The steps a signup goes through, in order; the last two are the decisions (one of them, at most).
STEPS = ("received", "prospect_created", "lead_created", "under_review", "approved", "rejected")
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
