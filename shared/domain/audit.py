"""The operator audit: who looked at or changed a queue message or an email, when, and why.

A poison message holds no prospect of its own (it may not even parse), so its reveals, replays and
discards cannot go into a prospect's history: they are kept here, one record per action, newest first.
A record never holds personal data: it names the message by queue and id, the body by its fingerprint
and what it was about (``shared.domain.masking.body_about``), and the operator's own words (a reason).
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel


class AuditAction(str, Enum):
    REVEAL = "reveal"  # read a poison message unmasked
    REPLAY = "replay"  # sent a poison message back to its queue
    DISCARD = "discard"  # deleted a poison message for good
    RETRY_EMAIL = "retry-email"  # put a failed email back in line
    ERASE = "erase"  # an applicant's personal data erased (on request, or by retention); ``about`` names what
    EXPIRE_UNCONFIRMED = "expire-unconfirmed"  # a request whose email was never confirmed, deleted (issue 11)


class AuditEntry(BaseModel):
    id: str
    at: datetime
    operator: str
    action: AuditAction
    queue: str | None = None  # the poison queue, for message actions
    message_id: str | None = None
    email_id: str | None = None
    signup_id: str | None = None  # a request's random id (no personal data), for actions on a request
    reason: str | None = None  # a discard's reason, as the operator gave it
    fingerprint: str | None = None  # of the message body (shared.domain.masking.fingerprint)
    about: str = ""  # what the message or email was about, without personal data
    detail: str = ""  # what came of it (the replayed message's new id …)

    @property
    def target(self) -> str:
        if self.email_id is not None:
            return f"email {self.email_id}"
        if self.signup_id is not None:
            return f"request {self.signup_id}"
        if self.queue is None:  # an erasure: what it erased (a prospect's number, a request)
            return self.about
        return f"{self.queue}/{self.message_id}"

    def to_json(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "operator": self.operator, "action": self.action.value,
                "queue": self.queue, "messageId": self.message_id, "emailId": self.email_id,
                "signupId": self.signup_id, "reason": self.reason,
                "fingerprint": self.fingerprint, "about": self.about, "detail": self.detail}
