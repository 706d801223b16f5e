"""Signup intake: validate a storefront's onboarding request and keep it as a pending channel request."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime


from shared.domain.errors import DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.ids import hash_key, new_public_id
from shared.domain.model import Prospect, ProspectStatus, SignupRecord
from shared.domain.signup import SignupRequest
from shared.domain.validation import validated
from shared.ports import Clock, Store

log = logging.getLogger("b2b.intake")

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class Receipt:
    signup_id: str
    received_at: datetime
    created: bool  # False when an Idempotency-Key found the first request


class IntakeService:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock

    def submit(self, payload: object, idempotency_key: str | None = None) -> Receipt:
        request = validate_signup(payload)
        key_hash = _idempotency_key_hash(idempotency_key)
        fingerprint = hash_key(request.model_dump_json())
        record = SignupRecord(
            id=new_public_id(),
            received_at=self._clock.now(),
            request=request,
            idempotency_key_hash=key_hash,
            request_fingerprint=fingerprint,
        )
        for _attempt in range(2):
            with self._store.unit_of_work() as uow:
                earlier = uow.find_signup_by_idempotency_key(key_hash) if key_hash else None
                if earlier is None:
                    try:
                        uow.add_signup(record)
                    except DuplicateRecord:
                        continue  # the same key committed in between: read it on the next pass
            if earlier is None:
                log.info("signup received", extra={"signup_id": record.id, "channel": request.channel_id})
                return Receipt(record.id, record.received_at, created=True)
            if earlier.request_fingerprint != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return Receipt(earlier.id, earlier.received_at, created=False)
        raise IdempotencyConflict("this Idempotency-Key is being used by a concurrent request")


def validate_signup(payload: object) -> SignupRequest:
    return validated(SignupRequest, payload)


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
        return SignupStatusView(signup.id, name, at, steps)


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
