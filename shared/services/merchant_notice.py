"""The merchant hears of new partner requests: a "new partner request" email to OPERATOR_EMAIL for each prospect
the channel sync creates (OPERATOR_NOTICE=each), or one email a day listing the day's new prospects (daily), or
none (off). Above all for SALES_MODE=none, where no salesperson's CRM view shows a new lead.

Each notice is written in the sync's own unit of work, with the prospect (its aggregate), under an id derived from
the prospect and the address: a sync that runs twice writes it once, and erasing the applicant's data erases it
too (it names the company). The digest's id is derived from its day and address, so two runs of the timer, or two
instances, write it once; it names prospects by number, country and channel only (see email_templates)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.domain.email_templates import MERCHANT_DIGEST, MERCHANT_NOTICE
from shared.domain.errors import DuplicateRecord
from shared.domain.ids import derived_id
from shared.domain.model import OutboxMessage, Prospect
from shared.domain.prospect_directory import ProspectFilter, ProspectSummary
from shared.ports import Clock, Store, UnitOfWork
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay

log = logging.getLogger("b2b.merchant_notice")

EACH, DAILY, OFF = "each", "daily", "off"
DIGEST_PAGE = 200  # prospects read per page of the day's list


@dataclass(frozen=True)
class DigestReport:
    day: date
    prospects: int
    emails_written: int  # 0: none that day, off, or written already (another run or instance)


class MerchantNotice:
    def __init__(self, store: Store, clock: Clock, relay: OutboxRelay, email_queue: str, recipients: tuple[str, ...],
                 mode: str, language: str, console_url: str, store_name: str, time_zone: str = "UTC"):
        self._store = store
        self._clock = clock
        self._relay = relay
        self._email_queue = email_queue
        self._recipients = recipients
        self._mode = mode if recipients else OFF
        self._language = language
        self._console_url = console_url.rstrip("/")
        self._store_name = store_name
        self._zone = ZoneInfo(time_zone)

    @property
    def mode(self) -> str:
        return self._mode

    def prospect_url(self, number: str) -> str:
        return f"{self._console_url}/prospects/{number}"

    # --- each ---------------------------------------------------------------------------------------------------
    def prospect_created(self, uow: UnitOfWork, prospect: Prospect, now: datetime) -> list[OutboxMessage]:
        """The notice of a new prospect, in the unit of work that creates it (OPERATOR_NOTICE=each); the messages
        to send once it commits. Nothing in the other modes."""
        if self._mode != EACH:
            return []
        request = prospect.request
        values = {"number": prospect.number, "company": request.company.name,
                  "country": request.company.address.country, "channel": request.channel_id,
                  "receivedat": self._local(prospect.created_at), "prospecturl": self.prospect_url(prospect.number),
                  "storename": self._store_name}
        return [queue_email(uow, template=MERCHANT_NOTICE, to=address, language=self._language, values=values,
                            email_id=derived_id("email", prospect.id, MERCHANT_NOTICE, address.lower()),
                            aggregate_id=prospect.id, prospect_id=prospect.id, email_queue=self._email_queue, now=now)
                for address in self._recipients]

    # --- daily --------------------------------------------------------------------------------------------------
    def send_digest(self, day: date | None = None) -> DigestReport:
        """The digest of ``day`` (the store's time zone; yesterday by default), once per day and address."""
        day = day or (self._clock.now().astimezone(self._zone).date() - timedelta(days=1))
        if self._mode != DAILY:
            return DigestReport(day, 0, 0)
        rows = self._received_on(day)
        if not rows:
            return DigestReport(day, 0, 0)
        values = {"day": day.isoformat(), "count": str(len(rows)), "consoleurl": self._console_url,
                  "storename": self._store_name,
                  "prospects": "\n".join(f"{row.number} · {row.country} · {row.channel} · "
                                         f"{self.prospect_url(row.number)}" for row in rows)}
        written = 0
        for address in self._recipients:
            email_id = derived_id("email", MERCHANT_DIGEST, day.isoformat(), address.lower())
            try:
                with self._store.unit_of_work() as uow:
                    if uow.get_email(email_id) is not None:
                        continue  # sent by an earlier run (or another instance): once a day
                    message = queue_email(uow, template=MERCHANT_DIGEST, to=address, language=self._language,
                                          values=values, email_id=email_id, aggregate_id=f"merchant-digest-{email_id}",
                                          email_queue=self._email_queue, now=self._clock.now())
            except DuplicateRecord:
                continue  # another instance wrote it in between
            self._relay.send_now([message])
            written += 1
        if written:
            log.info("merchant digest written", extra={"day": day.isoformat(), "prospects": len(rows),
                                                       "emails": written})
        return DigestReport(day, len(rows), written)

    def _received_on(self, day: date) -> list[ProspectSummary]:
        start = datetime.combine(day, time(0), self._zone)
        where = ProspectFilter(received_from=start, received_to=start + timedelta(days=1))
        rows: list[ProspectSummary] = []
        while True:
            with self._store.unit_of_work(read_only=True) as uow:
                page = uow.prospect_directory(where, newest_first=False, after=rows[-1].position if rows else None,
                                              limit=DIGEST_PAGE)
            rows += page
            if len(page) < DIGEST_PAGE:
                return rows

    def _local(self, at: datetime) -> str:
        return at.astimezone(self._zone).strftime("%Y-%m-%d %H:%M %Z")
