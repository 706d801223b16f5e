"""A Sales stand-in with Dataverse semantics, for running the whole flow with no CRM account.

Leads, notes, contacts, accounts and opportunities live in their own SQLite file (Sales is another
system). Every decision a salesperson makes here puts the outcome message on the outcome queue,
as the Dataverse webhook does — after the decision commits, so a crash in between loses the message
exactly as a dropped webhook would.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from shared.adapters.sqlite_base import SqliteDatabase
from shared.domain.errors import DomainError, NotFound
from shared.domain.ids import outcome_event_id
from shared.domain.messages import SalesOutcome
from shared.domain.sales import (
    INTEGRATION_OWNER,
    LEAD_DISQUALIFY_REASONS,
    LEAD_QUALIFIED_STATUS,
    OPPORTUNITY_LOSS_REASONS,
    OPPORTUNITY_WON_STATUS,
    LeadDraft,
    LeadSnapshot,
    LeadState,
    OpportunityState,
    Qualification,
    SalesAccount,
    SalesContact,
    SalesDecision,
)
from shared.ports import Clock, LeadResult, Queue

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    leadid TEXT PRIMARY KEY, statecode INTEGER NOT NULL, statuscode INTEGER NOT NULL,
    b2b_prospectnumber TEXT, ownerid TEXT NOT NULL, qualifyingopportunityid TEXT,
    createdon TEXT NOT NULL, modifiedon TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS leads_b2b ON leads (b2b_prospectnumber, statecode);
CREATE TABLE IF NOT EXISTS annotations (
    annotationid TEXT PRIMARY KEY, objectid TEXT NOT NULL, subject TEXT NOT NULL, notetext TEXT NOT NULL,
    createdon TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (accountid TEXT PRIMARY KEY, originatingleadid TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (contactid TEXT PRIMARY KEY, originatingleadid TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS opportunities (
    opportunityid TEXT PRIMARY KEY, originatingleadid TEXT NOT NULL, statecode INTEGER NOT NULL,
    statuscode INTEGER NOT NULL, parentaccountid TEXT NOT NULL, parentcontactid TEXT NOT NULL,
    name TEXT NOT NULL, modifiedon TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS opportunitycloses (
    activityid TEXT PRIMARY KEY, opportunityid TEXT NOT NULL, subject TEXT NOT NULL, createdon TEXT NOT NULL);
"""


# A lead with the state of its qualifying opportunity (what get_lead answers).
_LEAD_WITH_OPPORTUNITY = """
SELECT l.*, o.statecode AS opportunity_statecode, o.statuscode AS opportunity_statuscode
FROM leads l LEFT JOIN opportunities o ON o.opportunityid = l.qualifyingopportunityid"""

# Closed B2B leads and closed opportunities of B2B leads, modified after ?, oldest first.
_DECISIONS = """
SELECT * FROM (
    SELECT CASE statecode WHEN 1 THEN 'lead_qualified' ELSE 'lead_disqualified' END AS kind,
           leadid AS lead_id, qualifyingopportunityid AS opportunity_id, statuscode, modifiedon,
           b2b_prospectnumber AS prospect_number
    FROM leads WHERE b2b_prospectnumber IS NOT NULL AND statecode IN (1, 2) AND modifiedon > ?
    UNION ALL
    SELECT CASE o.statecode WHEN 1 THEN 'opportunity_won' ELSE 'opportunity_lost' END,
           o.originatingleadid, o.opportunityid, o.statuscode, o.modifiedon, l.b2b_prospectnumber
    FROM opportunities o JOIN leads l ON l.leadid = o.originatingleadid
    WHERE l.b2b_prospectnumber IS NOT NULL AND o.statecode IN (1, 2) AND o.modifiedon > ?
) ORDER BY modifiedon, kind, CASE WHEN kind LIKE 'lead%' THEN lead_id ELSE opportunity_id END LIMIT ?"""


class SalesError(DomainError):
    """What Dataverse answers with a 400: the record is not in a state that allows the request."""


PROSPECT_NUMBER_MAX_LENGTH = 100  # the column's MaxLength (infra/dataverse/column-cr_b2bprospectnumber.json)


class LeadRefused(SalesError):
    """A lead Dataverse would refuse (a value over its column's length): permanent, as its 400 is."""

    permanent = True

    def __init__(self, message: str, *, status: int = 400, code: str = "0x80044331"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = json.dumps({"error": {"code": code, "message": message}})


class EmbeddedSales:
    def __init__(self, path: Path | str, clock: Clock, queue: Queue, outcome_queue: str):
        self.database = SqliteDatabase(path, _SCHEMA)
        self._clock = clock
        self._queue = queue
        self._outcome_queue = outcome_queue

    # --- SalesGateway port -------------------------------------------------------------------
    def create_lead(self, draft: LeadDraft) -> LeadSnapshot:
        lead_id = draft.lead_id.lower()
        if len(draft.prospect_number) > PROSPECT_NUMBER_MAX_LENGTH:
            raise LeadRefused(f"The length of the prospect number column exceeds its maximum length of "
                              f"{PROSPECT_NUMBER_MAX_LENGTH}.")
        now = self._clock.now().isoformat()
        data = draft.model_dump(exclude={"lead_id", "timeline_note"})
        with self.database.transaction() as db:
            existing = db.execute("SELECT * FROM leads WHERE leadid = ?", (lead_id,)).fetchone()
            if existing is None:
                db.execute(
                    "INSERT INTO leads (leadid, statecode, statuscode, b2b_prospectnumber, ownerid, createdon,"
                    " modifiedon, data) VALUES (?, 0, 1, ?, ?, ?, ?, ?)",
                    (lead_id, draft.prospect_number, INTEGRATION_OWNER, now, now, json.dumps(data)),
                )
                db.execute(
                    "INSERT INTO annotations (annotationid, objectid, subject, notetext, createdon) VALUES (?, ?, ?, ?, ?)",
                    (str(uuid.uuid4()), lead_id, "Created by Commerce B2B onboarding", draft.timeline_note, now),
                )
            row = db.execute(_LEAD_WITH_OPPORTUNITY + " WHERE l.leadid = ?", (lead_id,)).fetchone()
        return _snapshot(row)

    def create_leads(self, drafts: Sequence[LeadDraft]) -> list[LeadResult]:
        """One ``create_lead`` per draft, each in its own transaction: one refused does not stop the others."""
        results = []
        for draft in drafts:
            try:
                results.append(LeadResult(draft.lead_id, snapshot=self.create_lead(draft)))
            except Exception as error:  # noqa: BLE001 - reported on this lead's result, as Dataverse's $batch does
                results.append(LeadResult(draft.lead_id, error=error))
        return results

    def get_lead(self, lead_id: str) -> LeadSnapshot | None:
        with self.database.transaction(read_only=True) as db:
            row = db.execute(_LEAD_WITH_OPPORTUNITY + " WHERE l.leadid = ?", (lead_id.lower(),)).fetchone()
        return None if row is None else _snapshot(row)

    def decisions_since(self, since: datetime | None, limit: int) -> list[SalesDecision]:
        # modifiedon is the ISO text of a UTC moment: ordered as text, as long as ``since`` is UTC too.
        after = since.astimezone(timezone.utc).isoformat() if since is not None else ""
        with self.database.transaction(read_only=True) as db:
            rows = db.execute(_DECISIONS, (after, after, limit)).fetchall()
        return [
            SalesDecision(kind=row["kind"], lead_id=row["lead_id"], opportunity_id=row["opportunity_id"],
                          statuscode=row["statuscode"], modified_on=datetime.fromisoformat(row["modifiedon"]),
                          prospect_number=row["prospect_number"])
            for row in rows
        ]

    def get_opportunity_lead(self, opportunity_id: str) -> str | None:
        row = self.opportunity(opportunity_id)
        return None if row is None else row["originatingleadid"]

    def get_qualification(self, lead_id: str) -> Qualification | None:
        with self.database.transaction(read_only=True) as db:
            return self._qualification(db, lead_id.lower())

    # --- what a salesperson does in Sales ------------------------------------------------------
    def b2b_leads(self, state: LeadState | None = LeadState.OPEN) -> list[dict]:
        """The "All Commerce B2B leads" view: leads that carry a prospect number."""
        sql = "SELECT * FROM leads WHERE b2b_prospectnumber IS NOT NULL"
        params: tuple = ()
        if state is not None:
            sql += " AND statecode = ?"
            params = (int(state),)
        with self.database.transaction(read_only=True) as db:
            rows = db.execute(sql + " ORDER BY createdon, b2b_prospectnumber", params).fetchall()
        return [_lead_row(row) for row in rows]

    def my_open_leads(self, owner: str) -> list[dict]:
        with self.database.transaction(read_only=True) as db:
            rows = db.execute("SELECT * FROM leads WHERE ownerid = ? AND statecode = 0", (owner,)).fetchall()
        return [_lead_row(row) for row in rows]

    def notes(self, lead_id: str) -> list[dict]:
        with self.database.transaction(read_only=True) as db:
            rows = db.execute(
                "SELECT subject, notetext, createdon FROM annotations WHERE objectid = ? ORDER BY createdon",
                (lead_id.lower(),),
            ).fetchall()
        return [dict(row) for row in rows]

    def opportunity(self, opportunity_id: str) -> dict | None:
        with self.database.transaction(read_only=True) as db:
            row = db.execute("SELECT * FROM opportunities WHERE opportunityid = ?", (opportunity_id.lower(),)).fetchone()
        return None if row is None else dict(row)

    def qualify(self, lead_id: str) -> Qualification:
        """QualifyLead with CreateAccount, CreateContact and CreateOpportunity all true."""
        lead_id = lead_id.lower()
        now = self._clock.now().isoformat()
        with self.database.transaction() as db:
            row = self._open_lead(db, lead_id)
            lead = json.loads(row["data"])
            account_id, contact_id, opportunity_id = (str(uuid.uuid4()) for _ in range(3))
            account = SalesAccount(
                account_id=account_id, name=lead["company_name"], phone=lead["phone"], street=lead["street"],
                city=lead["city"], zip_code=lead["zip_code"], country=lead["country"],
            )
            contact = SalesContact(
                contact_id=contact_id, first_name=lead["first_name"], last_name=lead["last_name"],
                email=lead["email"], phone=lead["phone"],
            )
            db.execute("INSERT INTO accounts VALUES (?, ?, ?)", (account_id, lead_id, account.model_dump_json()))
            db.execute("INSERT INTO contacts VALUES (?, ?, ?)", (contact_id, lead_id, contact.model_dump_json()))
            db.execute(
                "INSERT INTO opportunities VALUES (?, ?, 0, 1, ?, ?, ?, ?)",
                (opportunity_id, lead_id, account_id, contact_id, lead["subject"], now),
            )
            db.execute(
                "UPDATE leads SET statecode = 1, statuscode = ?, qualifyingopportunityid = ?, modifiedon = ? "
                "WHERE leadid = ?",
                (LEAD_QUALIFIED_STATUS, opportunity_id, now, lead_id),
            )
            qualification = Qualification(lead_id=lead_id, contact=contact, account=account, opportunity_id=opportunity_id)
        self._emit("lead_qualified", lead_id, lead_id, qualification=qualification, opportunity_id=opportunity_id)
        return qualification

    def disqualify(self, lead_id: str, statuscode: int = 4) -> None:
        if statuscode not in LEAD_DISQUALIFY_REASONS:
            raise SalesError(f"statuscode {statuscode} is not a disqualified status {sorted(LEAD_DISQUALIFY_REASONS)}")
        lead_id = lead_id.lower()
        with self.database.transaction() as db:
            self._open_lead(db, lead_id)
            db.execute(
                "UPDATE leads SET statecode = 2, statuscode = ?, modifiedon = ? WHERE leadid = ?",
                (statuscode, self._clock.now().isoformat(), lead_id),
            )
        self._emit("lead_disqualified", lead_id, lead_id, reason=LEAD_DISQUALIFY_REASONS[statuscode])

    def win(self, opportunity_id: str) -> None:
        self._close(opportunity_id, OpportunityState.WON, OPPORTUNITY_WON_STATUS, "opportunity_won", None)

    def lose(self, opportunity_id: str, statuscode: int = 4) -> None:
        if statuscode not in OPPORTUNITY_LOSS_REASONS:
            raise SalesError(f"statuscode {statuscode} is not a lost status {sorted(OPPORTUNITY_LOSS_REASONS)}")
        self._close(opportunity_id, OpportunityState.LOST, statuscode, "opportunity_lost",
                    OPPORTUNITY_LOSS_REASONS[statuscode])

    # --- internals ----------------------------------------------------------------------------
    def _close(self, opportunity_id: str, state: OpportunityState, statuscode: int, kind: str, reason: str | None) -> None:
        opportunity_id = opportunity_id.lower()
        now = self._clock.now().isoformat()
        with self.database.transaction() as db:
            row = db.execute("SELECT * FROM opportunities WHERE opportunityid = ?", (opportunity_id,)).fetchone()
            if row is None:
                raise NotFound(f"opportunity {opportunity_id} does not exist")
            if row["statecode"] != OpportunityState.OPEN:
                raise SalesError(f"opportunity {opportunity_id} is already closed")
            db.execute(
                "UPDATE opportunities SET statecode = ?, statuscode = ?, modifiedon = ? WHERE opportunityid = ?",
                (int(state), statuscode, now, opportunity_id),
            )
            db.execute(
                "INSERT INTO opportunitycloses VALUES (?, ?, ?, ?)",
                (str(uuid.uuid4()), opportunity_id, f"Closed as {state.name.lower()}", now),
            )
            lead_id = row["originatingleadid"]
        self._emit(kind, opportunity_id, lead_id, opportunity_id=opportunity_id, reason=reason)

    @staticmethod
    def _open_lead(db: sqlite3.Connection, lead_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM leads WHERE leadid = ?", (lead_id,)).fetchone()
        if row is None:
            raise NotFound(f"lead {lead_id} does not exist")
        if row["statecode"] != LeadState.OPEN:
            raise SalesError(f"lead {lead_id} is not open (statecode {row['statecode']})")
        return row

    @staticmethod
    def _qualification(db: sqlite3.Connection, lead_id: str) -> Qualification | None:
        opportunity = db.execute(
            "SELECT * FROM opportunities WHERE originatingleadid = ?", (lead_id,)
        ).fetchone()
        if opportunity is None:
            return None
        account = db.execute("SELECT data FROM accounts WHERE accountid = ?", (opportunity["parentaccountid"],)).fetchone()
        contact = db.execute("SELECT data FROM contacts WHERE contactid = ?", (opportunity["parentcontactid"],)).fetchone()
        return Qualification(
            lead_id=lead_id,
            account=SalesAccount.model_validate_json(account["data"]),
            contact=SalesContact.model_validate_json(contact["data"]),
            opportunity_id=opportunity["opportunityid"],
        )

    def _emit(self, kind: str, primary_id: str, lead_id: str, **fields) -> None:
        outcome = SalesOutcome(
            event_id=outcome_event_id(kind, primary_id), kind=kind, lead_id=lead_id,
            occurred_at=self._clock.now(), **fields,
        )
        self._queue.send(self._outcome_queue, outcome.to_json())

    def close(self) -> None:
        self.database.close()


def _snapshot(row: sqlite3.Row) -> LeadSnapshot:
    return LeadSnapshot(
        lead_id=row["leadid"],
        prospect_number=row["b2b_prospectnumber"],
        statecode=LeadState(row["statecode"]),
        statuscode=row["statuscode"],
        qualifying_opportunity_id=row["qualifyingopportunityid"],
        opportunity_state=None if row["opportunity_statecode"] is None else OpportunityState(row["opportunity_statecode"]),
        opportunity_statuscode=row["opportunity_statuscode"],
        created_on=datetime.fromisoformat(row["createdon"]),
        modified_on=datetime.fromisoformat(row["modifiedon"]),
    )


def _lead_row(row: sqlite3.Row) -> dict:
    data = json.loads(row["data"])
    return {
        "leadid": row["leadid"],
        "prospect_number": row["b2b_prospectnumber"],
        "subject": data["subject"],
        "company": data["company_name"],
        "contact": f"{data['first_name']} {data['last_name']}",
        "statecode": row["statecode"],
        "statuscode": row["statuscode"],
        "opportunityid": row["qualifyingopportunityid"],
        "owner": row["ownerid"],
        "createdon": row["createdon"],
    }
