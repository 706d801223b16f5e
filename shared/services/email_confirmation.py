"""Double opt-in (REQUIRE_EMAIL_CONFIRMATION): a request waits until its requester opens the signed, expiring
link of the "confirm your email" message and presses the button on its page; only then does the sync make it a
prospect. Requests whose link expired unconfirmed are deleted by the channel sync (``expire``), each with a
pseudonymized audit line (the request's random id and channel, never who sent it).

The link is ``/api/signup/confirm/<signup id>/<expires>/<signature>``: ``expires`` in Unix seconds, the
signature an HMAC-SHA256 over both, with a key derived from the signing secret for this purpose alone (so a
secret shared with another use signs nothing of that use). Nothing is stored for it: a tampered link fails the
signature, an old one its time, a reused one finds the request confirmed already.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Callable

from shared.domain.audit import AuditAction
from shared.domain.errors import ConcurrencyConflict
from shared.domain.ids import prospect_id_for
from shared.domain.model import SignupRecord, SignupStatus
from shared.ports import Clock, KeptEmails, Store
from shared.services.duplicates import first_open_request, link_repeat

log = logging.getLogger("b2b.confirmation")

CONFIRM_PATH = "/api/signup/confirm"
EXPIRED_PER_RUN = 200


class LinkState(str, Enum):
    READY = "ready"  # valid and the request awaits confirmation: the page offers the button
    CONFIRMED = "confirmed"  # confirmed now (the POST)
    ALREADY = "already_confirmed"  # a reused link
    EXPIRED = "expired"
    INVALID = "invalid"  # tampered, or names no request


@dataclass(frozen=True)
class ConfirmationLinks:
    secret: str
    lifetime: timedelta
    public_base_url: str

    def _signature(self, signup_id: str, expires: int) -> str:
        key = hmac.new(self.secret.encode(), b"b2b signup confirmation link", hashlib.sha256).digest()
        mac = hmac.new(key, f"{signup_id}\x1f{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def expiry(self, record: SignupRecord) -> datetime:
        return record.received_at + self.lifetime

    def path(self, record: SignupRecord) -> str:
        expires = int(self.expiry(record).timestamp())
        return f"{CONFIRM_PATH}/{record.id}/{expires}/{self._signature(record.id, expires)}"

    def url(self, record: SignupRecord) -> str:
        return self.public_base_url + self.path(record)

    def check(self, signup_id: str, expires: str, signature: str, now: datetime) -> LinkState | None:
        """INVALID or EXPIRED for a link that is no good, None for one this app signed that still holds."""
        if not expires.isdigit() or len(expires) > 12:
            return LinkState.INVALID
        if not hmac.compare_digest(self._signature(signup_id, int(expires)).encode(), signature.encode()):
            return LinkState.INVALID
        if now >= datetime.fromtimestamp(int(expires), timezone.utc):
            return LinkState.EXPIRED
        return None


@dataclass(frozen=True)
class Confirmation:
    state: LinkState
    signup_id: str | None = None
    channel_id: str | None = None  # the request's storefront (its branding on the page)


class EmailConfirmation:
    def __init__(self, store: Store, clock: Clock, links: ConfirmationLinks,
                 repeat_email: Callable[[object, SignupRecord, SignupRecord], object] | None = None,
                 send_now: Callable[[list], object] = lambda messages: None, kept: KeptEmails | None = None):
        """``repeat_email(uow, repeat, first)`` writes the "you have a request already" email (intake's), and
        returns its outbox message, which ``send_now`` sends after the commit. ``kept``: the emails the transport
        keeps (.eml files, blobs; None when it keeps none), whose copies of an expired request's emails go too."""
        self._store = store
        self._clock = clock
        self._links = links
        self._repeat_email = repeat_email
        self._send_now = send_now
        self._kept = kept

    @property
    def links(self) -> ConfirmationLinks:
        return self._links

    def look(self, signup_id: str, expires: str, signature: str) -> Confirmation:
        """What the link's page shows (GET: reads only, so a mail scanner that opens it confirms nothing)."""
        refused = self._links.check(signup_id, expires, signature, self._clock.now())
        with self._store.unit_of_work(read_only=True) as uow:
            signup = uow.get_signup(signup_id)
        return self._state(signup, refused, LinkState.READY)

    def confirm(self, signup_id: str, expires: str, signature: str) -> Confirmation:
        """The button (POST): the request goes to the sync, or, if the requester has an open request already
        (confirmed since), is linked to it as a repeat and they get its status link. Pressed twice: ALREADY."""
        now = self._clock.now()
        refused = self._links.check(signup_id, expires, signature, now)
        messages = []
        with self._store.unit_of_work() as uow:
            signup = uow.get_signup(signup_id)
            seen = self._state(signup, refused, LinkState.CONFIRMED)
            if seen.state is not LinkState.CONFIRMED:
                return seen
            confirmed = signup.model_copy(update={"confirmed_at": now, "status": SignupStatus.RECEIVED})
            first = first_open_request(uow, confirmed)
            if first is None:
                uow.save_signup(confirmed)
            else:
                confirmed = link_repeat(uow, confirmed, first, now, status=SignupStatus.REPEAT)
                if self._repeat_email is not None:
                    messages.append(self._repeat_email(uow, confirmed, first))
        self._send_now(messages)
        log.info("signup email confirmed", extra={"signup_id": signup_id, "repeat": first is not None})
        return seen

    @staticmethod
    def _state(signup: SignupRecord | None, refused: LinkState | None, ready: LinkState) -> Confirmation:
        if refused is LinkState.INVALID or (signup is None and refused is None):
            return Confirmation(LinkState.INVALID)
        if signup is None:  # expired and deleted by now
            return Confirmation(LinkState.EXPIRED)
        channel = signup.request.channel_id
        if signup.status is not SignupStatus.AWAITING_CONFIRMATION or signup.confirmed_at is not None:
            return Confirmation(LinkState.ALREADY, signup.id, channel)
        if refused is LinkState.EXPIRED or signup.repeat_of is not None:
            # A repeat that arrived while confirmation is on waits like any request but is never confirmed:
            # its requester was sent the first request's link instead of one to confirm this one.
            return Confirmation(LinkState.EXPIRED, signup.id, channel)
        return Confirmation(ready, signup.id, channel)

    def expire(self, limit: int = EXPIRED_PER_RUN) -> int:
        """Delete the requests whose link has expired unconfirmed; each is audited first (what, when, by the
        sync), by its random id and channel only. Returns how many went."""
        from shared.services.operator import record_audit

        now = self._clock.now()
        with self._store.unit_of_work(read_only=True) as uow:
            expired = uow.signups_awaiting_confirmation(now - self._links.lifetime, limit)
            emails = {s.id: [e.id for e in uow.prospect_emails(prospect_id_for(s.id))] for s in expired}
        deleted = 0
        for signup in expired:
            record_audit(self._store, self._clock, "channel-sync", AuditAction.EXPIRE_UNCONFIRMED,
                         signup_id=signup.id, about=f"request from channel {signup.request.channel_id}, received "
                         f"{signup.received_at.isoformat()}", detail="deleted: its email was never confirmed")
            try:
                with self._store.unit_of_work() as uow:
                    current = uow.get_signup(signup.id)
                    if current is None or current.status is not SignupStatus.AWAITING_CONFIRMATION:
                        continue  # confirmed at the last moment, or deleted by another run
                    # The kept copies first (the store's records find them): the confirmation email's copy
                    # holds the address; a crash after this leaves the request to expire again next run.
                    for email_id in emails[signup.id] if self._kept is not None else ():
                        self._kept.delete(email_id)
                    uow.delete_signup(signup.id)
            except ConcurrencyConflict:  # confirmed while we deleted (Azure Tables): it stays, confirmed
                continue
            deleted += 1
        if deleted:
            log.info("unconfirmed signups deleted", extra={"signups": deleted})
        return deleted
