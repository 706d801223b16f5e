"""`b2b`: every operator action, and a salesperson's view of the embedded Sales."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

from shared.adapters.outbox_email import parse_eml
from shared.bootstrap import Container
from shared.cli_ledger import LedgerCommands, add_ledger_parsers
from shared.config import Settings
from shared.domain.errors import DomainError, InvalidInput, MalformedBody, NotConfigured
from shared.domain.validation import validated
from shared.domain.partners import user_id_for
from shared.domain.sales import B2B_LEADS_VIEW, LEAD_DISQUALIFY_REASONS, OPPORTUNITY_LOSS_REASONS, LeadState
from shared.observability import configure_logging
from shared.queue_worker import POISON_SUFFIX, drain_queues, poison_queue_name
from shared.services.outbox import delivery_note, utc_text

_DISQUALIFY = {name.lower().replace(" ", "-"): code for code, name in LEAD_DISQUALIFY_REASONS.items()}
_LOSE = {name.lower().replace(" ", "-"): code for code, name in OPPORTUNITY_LOSS_REASONS.items()}


NOTHING = "—"  # a value that is not there (yet): never the word None


def _cell(value: object) -> str:
    return NOTHING if value is None else str(value)


def _print_table(rows: list[dict], columns: list[str]) -> None:
    """Rows under upper-case headers, one per column key (``opportunity`` → OPPORTUNITY)."""
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(_cell(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(_cell(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


@contextmanager
def _progress(description: str, unit: str) -> Iterator[Callable[[int], object]]:
    """A counter on stderr for long runs, advanced by the callback it yields (services take the callback and
    never import tqdm). Only on a terminal: piped output, tests and CI stay clean. Log lines go above the
    bar (tqdm's logging redirect) instead of breaking it."""
    if not sys.stderr.isatty():
        yield lambda count: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with tqdm(desc=description, unit=f" {unit}", file=sys.stderr, leave=False, dynamic_ncols=True) as bar, \
            logging_redirect_tqdm():
        yield bar.update


@contextmanager
def _stdout_bytes() -> Iterator:
    """stdout as a binary stream that stays open afterwards (for --csv -)."""
    sys.stdout.flush()
    yield sys.stdout.buffer
    sys.stdout.buffer.flush()


class Cli(LedgerCommands):
    def __init__(self, container: Container):
        self.c = container

    # --- prospects ---------------------------------------------------------------------------
    def prospects(self, args) -> None:
        """Every prospect of the filter (the console's All prospects, without paging), or them as CSV."""
        from shared.services.prospect_directory import ListQuery

        values = {"status": args.status, "attention": "true" if args.attention else None, "q": args.q,
                  "channel": args.channel, "from": args.received_from, "to": args.received_to, "sort": args.sort}
        query = ListQuery.parse({name: value for name, value in values.items() if value})
        directory = self.c.prospect_directory
        if args.csv:
            with (open(args.csv, "wb") if args.csv != "-" else _stdout_bytes()) as out:
                count = directory.write_csv(query, out)
            if args.csv != "-":
                print(f"{count} prospects written to {args.csv}")
            return
        rows = [{"number": r.number, "status": r.status.value, "company": r.company, "country": r.country,
                 "channel": r.channel, "received": utc_text(r.received_at), "attention": r.attention_reason or ""}
                for r in directory.rows(query)]
        _print_table(rows, ["number", "status", "company", "country", "channel", "received", "attention"])

    def prospect(self, args) -> None:
        view = self.c.prospect_timeline.show(args.key)
        p = view.prospect
        print(f"{p.number}  {p.type}  {p.status.value}" + (f" by {p.decided_by}" if p.decided_by else ""))
        print(f"  company: {p.request.company.name}   contact: {p.request.contact.first_name} {p.request.contact.last_name}")
        for record in view.sales_records:
            print(f"  {record.entity}: {record.record_id}" + (f"  {record.url}" if record.url else ""))
        print(f"  customers: person {p.person_customer_id or '-'}, organization {p.organization_customer_id or '-'}")
        if view.hierarchy:
            h = view.hierarchy
            print(f"  hierarchy: {h.id} '{h.name}' ({h.purpose})")
            for m in view.members:
                print(f"    member {m.customer_id} {m.role.value} {m.status.value}")
        if p.needs_attention:
            print(f"  NEEDS ATTENTION: {p.attention_reason}")
        print("  timeline:")
        for entry in view.timeline:
            print(f"    {utc_text(entry.at)}  {entry.source:<7}  {entry.who:<28} {entry.what}"
                  + (f" — {entry.detail}" if entry.detail else "")
                  + (f" [email {entry.email_id}]" if entry.email_id else "")
                  + (f" [message {entry.message_id}]" if entry.message_id else ""))

    def replay(self, args) -> None:
        done = self.c.prospect_timeline.replay(args.key, args.operator)
        if not done:
            print(f"{args.key}: no poisoned message; nothing replayed")
        for replayed in done:
            print(f"replayed {replayed.message_id} from {replayed.queue} as {replayed.new_message_id}")

    def drift(self, args) -> None:
        report = self.c.drift.report(limit=args.limit)
        rows = [{"number": d.number, "ours": d.ours, "sales": d.sales, "problem": d.problem} for d in report.drifts]
        _print_table(rows, ["number", "ours", "sales", "problem"])
        if report.more:
            print(f"(checked {report.checked} prospects, Pending first; more were not checked: --limit)")

    def reconcile(self, args) -> None:
        done = self.c.drift.reconcile(None if args.key == "all" else args.key, limit=args.limit)
        if not done:
            print("no prospect disagrees with Sales; nothing to do")
        for reconciled in done:
            print(reconciled.describe())

    # --- back-office decisions (every SALES_MODE; the only way with SALES_MODE=none) ---------------
    def approve(self, args) -> None:
        self._decided(self.c.back_office.approve(args.key, args.operator))

    def reject(self, args) -> None:
        self._decided(self.c.back_office.reject(args.key, args.reason, args.operator))

    def acknowledge(self, args) -> None:
        done = self.c.back_office.acknowledge(args.key, args.note, args.operator)
        print(f"{done.number}: flag acknowledged ({done.reason})" if done.changed
              else f"{done.number} is not flagged; nothing changed")

    def erase(self, args) -> None:
        print(self.c.erasure.erase(args.key, args.reason, args.operator).describe())

    def retention(self, args) -> None:
        report = self.c.erasure.run()
        if report.cutoff is None:
            print("RETENTION_DAYS=0: personal data is kept; nothing erased")
            return
        print(f"erased what was kept since before {utc_text(report.cutoff)}: {report.prospects} prospects, "
              f"{report.requests} requests that never became one, {report.emails} emails left over, "
              f"{report.messages} queue messages")

    def digest(self, args) -> None:
        try:
            day = date.fromisoformat(args.day) if args.day else None
        except ValueError:
            raise InvalidInput([("--day", f"{args.day!r} is not a day such as 2026-12-03")]) from None
        report = self.c.merchant_notice.send_digest(day)
        print(f"{report.day}: {report.prospects} new prospects, {report.emails_written} digest emails written "
              f"(OPERATOR_NOTICE={self.c.merchant_notice.mode})")

    @staticmethod
    def _decided(decision) -> None:
        state = "" if decision.changed else " already; nothing changed"
        hierarchy = f", hierarchy {decision.hierarchy_id}" if decision.hierarchy_id else ""
        print(f"{decision.number} {decision.status.value}{state}{hierarchy}")

    # --- partners (the back office's view; partner admins use the HTTP API) --------------------------
    def partners(self, args) -> None:
        page = self.c.partner_admin.page(args.search, args.cursor, args.limit)
        rows = [{"hierarchy": r.hierarchy.id, "name": r.hierarchy.name, "status": r.hierarchy.status.value,
                 "users": r.users, "credit": f"{r.credit.limit} {r.credit.currency}" if r.credit else None,
                 "created": r.hierarchy.created_at.date().isoformat(),
                 "origin": "prospect" if r.hierarchy.prospect_id else "onboarded by hand"} for r in page.rows]
        _print_table(rows, ["hierarchy", "name", "status", "users", "credit", "created", "origin"])
        if page.next_cursor:
            print(f"more: b2b partners --cursor {page.next_cursor}" + (f" --search '{args.search}'" if args.search
                                                                       else ""))

    def partner(self, args) -> None:
        if args.credit:
            limit, currency = args.credit
            self.c.credit.set_line(args.hierarchy, {"limit": limit, "currency": currency})
        if args.time_zone:
            self.c.partner_admin.set_time_zone(args.hierarchy, {"timeZone": args.time_zone, "operator": args.operator})
        file = self.c.partner_admin.file(args.hierarchy)
        h, line = file.hierarchy, file.credit
        print(f"{h.id} '{h.name}' ({h.purpose}), organization {h.organization_customer_id}"
              + (f", from prospect {h.prospect_id}" if h.prospect_id else ", onboarded by hand"))
        if h.is_blocked:
            print(f"  BLOCKED since {utc_text(h.status_changed_at)} by {h.status_changed_by}: {h.block_reason}")
        print(f"  credit: {line.limit} {line.currency}, reserved {line.reserved}, available {line.available}"
              if line else "  credit: none")
        print(f"  time zone: {h.time_zone or self.c.settings.partner_time_zone + ' (the default)'}")
        rows = [{"email": u.email, "name": f"{u.first_name} {u.last_name}", "role": u.role.value,
                 "status": u.status.value, "limit": "-" if u.spending_limit is None else u.spending_limit,
                 "monthly": "-" if u.monthly_limit is None else u.monthly_limit,
                 "pending": u.sync.value if u.sync else "", "id": u.id} for u in file.users]
        _print_table(rows, ["email", "name", "role", "status", "limit", "monthly", "pending", "id"])
        if file.open_reservations:
            print("  open reservations:")
            for r in file.open_reservations:
                print(f"    {r.order_id}  {r.amount} {r.currency}  since {utc_text(r.created_at)}")
        if args.history:
            print("  history:")
            for e in file.history:
                print(f"    {e.at.isoformat(timespec='seconds')}  {e.actor:<24} {e.action}"
                      + (f" — {e.detail}" if e.detail else ""))

    def partner_rename(self, args) -> None:
        self._partner_changed(self.c.partner_admin.rename(args.hierarchy, {"name": args.name,
                                                                           "operator": args.operator}), "renamed")

    def partner_block(self, args) -> None:
        self._partner_changed(self.c.partner_admin.block(args.hierarchy, {"reason": args.reason,
                                                                          "operator": args.operator}), "blocked")

    def partner_reactivate(self, args) -> None:
        payload = {"operator": args.operator, **({"note": args.note} if args.note else {})}
        self._partner_changed(self.c.partner_admin.reactivate(args.hierarchy, payload), "reactivated")

    @staticmethod
    def _partner_changed(done, verb: str) -> None:
        h = done.hierarchy
        state = f"'{h.name}', {h.status.value}"
        print(f"{h.id} {verb}: {state}" if done.changed else f"{h.id} is {state} already; nothing changed")

    def partner_user(self, args) -> None:
        """Change or remove a partner's user, by its id or its email."""
        user_id = user_id_for(args.user) if "@" in args.user else args.user
        users = self.c.partner_users
        if args.remove:
            user = users.remove_by_operator(args.hierarchy, user_id, {"operator": args.operator})
        else:
            changes = {"role": args.role, "spendingLimit": args.limit, "monthlyLimit": args.monthly_limit}
            user = users.edit_by_operator(args.hierarchy, user_id,
                                          {"operator": args.operator, **{k: v for k, v in changes.items() if v}})
        pending = f" ({user.sync.value} pending until the next sync)" if user.sync else ""
        print(f"{user.email} of {user.hierarchy_id}: {user.role.value}, {user.status.value}{pending}")

    def add_user(self, args) -> None:
        fields = {"email": args.email, "firstName": args.first_name, "lastName": args.last_name, "role": args.role,
                  "spendingLimit": args.limit, "monthlyLimit": args.monthly_limit, "language": args.language,
                  "operator": args.operator}
        added = self.c.partner_users.add_by_operator(args.hierarchy, {k: v for k, v in fields.items() if v})
        user = added.user
        state = "Pending until the next sync" if added.created else "added before; nothing changed"
        print(f"{user.email} {user.role.value} of {user.hierarchy_id}: {state} (user {user.id})")

    def customer(self, args) -> None:
        fields = {"accountNumber": args.account, "type": args.type, "name": args.name, "firstName": args.first_name,
                  "lastName": args.last_name, "email": args.email}
        customer, created = self.c.partner_onboarding.add_customer({k: v for k, v in fields.items() if v})
        print(f"{customer.type.value} {customer.id} '{customer.name}'" + ("" if created else " (exists already)"))

    def onboard(self, args) -> None:
        members = [{"customerId": c, "role": "Admin"} for c in args.admin] + [{"customerId": c} for c in args.user] \
            + [{"customerId": c, "role": "Approver"} for c in args.approver]
        done = self.c.partner_onboarding.onboard({"organizationCustomerId": args.organization, "members": members,
                                                  "operator": args.operator})
        state = "" if done.created else " (a partner already; nothing changed)"
        print(f"{done.hierarchy.id} '{done.hierarchy.name}'{state}: {len(done.users)} users, "
              "Pending until the next sync")

    # --- emails ------------------------------------------------------------------------------
    def emails(self, args) -> None:
        from shared.services.outbox import email_state

        now = self.c.clock.now()
        filters = {"status": "pending" if args.pending else args.status, "template": args.template,
                   "to_domain": args.to_domain, "cursor": args.cursor, "limit": args.limit}
        page = self.c.email_outbox.page({k: v for k, v in filters.items() if v is not None})
        rows = [{"id": e.id, "template": e.template, "status": email_state(e).value, "attempts": e.attempts,
                 "language": e.language, "delivery": delivery_note(e, now), "error": e.last_error or ""}
                for e in page.emails]
        _print_table(rows, ["id", "template", "status", "attempts", "language", "delivery", "error"])
        if page.next_cursor:
            print(f"(more: --cursor {page.next_cursor})")

    def email(self, args) -> None:
        view = self.c.email_outbox.email(args.id)
        e = view.record
        print(f"id: {e.id}\ntemplate: {e.template} ({e.language})\nto: {e.to}\nstatus: {view.state.value}\n"
              f"attempts: {e.attempts}\nlast error: {e.last_error or NOTHING}\n"
              f"delivery: {delivery_note(e, self.c.clock.now()) or NOTHING}\n")
        if view.rendered is None:
            print(f"cannot be rendered: {view.render_error}")
            return
        print(f"Subject: {view.rendered.subject}\n\n{view.rendered.text_body}")

    def outbox(self, args) -> None:
        try:
            kept = self.c.kept_emails
        except NotConfigured as error:
            raise SystemExit(f"b2b: {error}") from None
        if args.id:
            message = parse_eml(kept.read_bytes(args.id))
            print(f"From: {message['From']}\nTo: {message['To']}\nSubject: {message['Subject']}\n")
            print(message.get_body(("plain",)).get_content())
            return
        _print_table(kept.list(), ["id", "to", "subject", "date"])

    def retry_email(self, args) -> None:
        self.c.email_outbox.retry_email(args.id, args.operator)
        print(f"email {args.id} queued again")

    # --- poison ------------------------------------------------------------------------------
    def poison_list(self, args) -> None:
        op = self.c.operator
        if not args.queue:
            rows = [{"queue": d.queue, "depth": d.depth, "poison queue": d.poison_queue, "messages": d.poison_depth}
                    for d in op.queue_depths()]
            _print_table(rows, ["queue", "depth", "poison queue", "messages"])
            return
        rows = [{"id": m.id, "inserted": m.inserted_at.isoformat(timespec="seconds"), "about": m.about}
                for m in op.poison_summaries(args.queue)]
        _print_table(rows, ["id", "inserted", "about"])

    def _print_poison(self, message) -> None:
        shown = "masked (b2b poison reveal … shows it, audited)" if message.masked else "unmasked (audited)"
        print(f"queue: {message.queue}\nid: {message.id}\ninserted: {message.inserted_at.isoformat()}\n"
              f"tries: {message.dequeue_count}\nabout: {message.about}\nfingerprint: {message.fingerprint}\n"
              f"personal data: {shown}\n")
        print(message.body)

    def poison_show(self, args) -> None:
        self._print_poison(self.c.operator.masked_poison_message(args.queue, args.id))

    def poison_reveal(self, args) -> None:
        self._print_poison(self.c.operator.reveal_poison(args.queue, args.id, args.operator))

    def poison_replay(self, args) -> None:
        op = self.c.operator
        if args.id != "all":
            print(f"replayed {args.id} as {op.replay_poison(args.queue, args.id, args.operator).new_id}")
            return
        replayed = op.replay_all_poison(args.queue, args.operator)
        if not replayed:
            print(f"nothing to replay: {poison_queue_name(args.queue.removesuffix(POISON_SUFFIX))} is empty")
        for done in replayed:
            print(f"replayed {done.message_id} as {done.new_id}")

    def poison_discard(self, args) -> None:
        entry = self.c.operator.discard_poison(args.queue, args.id, args.reason, args.operator)
        print(f"discarded {entry.message_id} from {entry.queue} ({entry.about}; {entry.fingerprint})")

    def audit(self, args) -> None:
        rows = [{"at": utc_text(e.at), "operator": e.operator, "action": e.action.value, "target": e.target,
                 "about": e.about, "reason": e.reason or ""} for e in self.c.operator.audit(args.limit)]
        _print_table(rows, ["at", "operator", "action", "target", "about", "reason"])

    # --- the embedded Sales, as a salesperson ---------------------------------------------------
    def _sales(self):
        if not hasattr(self.c.sales, "qualify"):
            raise SystemExit("these commands drive the embedded Sales (SALES_MODE=embedded)")
        return self.c.sales

    def _lead_id(self, key: str) -> str:
        if key.upper().startswith("PRO-"):
            return self.c.operator.prospect(key).prospect.lead_id
        return key

    def _opportunity_id(self, key: str) -> str:
        if not key.upper().startswith("PRO-"):
            return key
        lead = self._sales().get_lead(self._lead_id(key))
        if lead is None or not lead.qualifying_opportunity_id:
            raise DomainError(f"{key} has no opportunity yet: qualify its lead first")
        return lead.qualifying_opportunity_id

    def leads(self, args) -> None:
        state = None if args.all else LeadState.OPEN
        rows = [{"prospect": lead["prospect_number"], "lead": lead["leadid"], "company": lead["company"],
                 "contact": lead["contact"], "state": LeadState(lead["statecode"]).name.capitalize(),
                 "opportunity": lead["opportunityid"]} for lead in self._sales().b2b_leads(state)]
        _print_table(rows, ["prospect", "lead", "company", "contact", "state", "opportunity"])

    def qualify(self, args) -> None:
        q = self._sales().qualify(self._lead_id(args.lead))
        print(f"qualified: opportunity {q.opportunity_id}, contact {q.contact.contact_id}, account {q.account.account_id}")

    def disqualify(self, args) -> None:
        self._sales().disqualify(self._lead_id(args.lead), _DISQUALIFY[args.reason])
        print("disqualified")

    def win(self, args) -> None:
        self._sales().win(self._opportunity_id(args.opportunity))
        print("closed as won")

    def lose(self, args) -> None:
        self._sales().lose(self._opportunity_id(args.opportunity), _LOSE[args.reason])
        print("closed as lost")

    # --- running the jobs by hand --------------------------------------------------------------
    def sync(self, args) -> None:
        with _progress("channel sync", "prospects") as created:
            report = self.c.channel_sync.run(on_batch=created)
        print(f"prospects created: {report.prospects_created}, outbox messages resent: {report.outbox_resent}, "
              f"partner user changes applied: {report.users_synced}")
        if report.reconciliation is not None:
            r = report.reconciliation
            print(f"sales decisions read: {r.read}, outcomes enqueued again: {r.enqueued}")
        if report.reconciliation_error:
            print(f"reconciliation with Sales failed: {report.reconciliation_error}")

    def work(self, args) -> None:
        handlers = self.c.queue_handlers()
        batches = self.c.lead_batches
        if batches is not None:
            # Dataverse: leads go in $batch requests, as the create_lead_batches timer sends them.
            del handlers[self.c.settings.lead_queue]
            with _progress("leads in batches", "messages") as taken:
                report = batches.drain(on_batch=taken)
            print(f"leads: {report.created} created in batches, {report.done_already} there already, "
                  f"{report.retried} to retry, {report.poisoned} to poison")
        with _progress("queued messages", "messages") as handled:
            processed = drain_queues(self.c.queue, handlers, on_handled=handled)
        print(f"messages processed: {processed}")

    def submit(self, args) -> None:
        source = "(stdin)" if args.file == "-" else args.file
        try:
            payload = json.loads(Path(args.file).read_text("utf-8") if args.file != "-" else sys.stdin.read())
        except json.JSONDecodeError as error:
            raise MalformedBody([(source, f"is not JSON ({error.msg}, line {error.lineno} column {error.colno})")]) \
                from None
        except UnicodeDecodeError:
            raise MalformedBody([(source, "is not UTF-8 text")]) from None
        receipt = self.c.intake.submit(payload)
        print(receipt.signup_id)

    def token(self, args) -> None:
        """A token of the local development issuer (make run's LOCAL_ISSUER) for trying the partner API with
        curl: the host accepts it, as it is signed with the key in the same state folder."""
        from shared.adapters.local_issuer import LocalIssuer, SignInChoice
        from shared.config import LOCAL_ISSUER_ID
        from shared.deployment import running_in_azure

        s = self.c.settings
        if running_in_azure(os.environ):
            raise DomainError("b2b token is for local development only (this is an Azure instance)")
        if s.partner_token_issuer and s.partner_token_issuer != LOCAL_ISSUER_ID:
            raise DomainError("b2b token signs tokens of the local development issuer, but PARTNER_TOKEN_ISSUER "
                              "names another issuer: its partner routes would refuse them")
        email = validated(SignInChoice, {"email": args.email}).email
        print(LocalIssuer(s.data_dir, s.public_base_url, s.portal_redirect_uri).token_for(email))

    def demo(self, args) -> None:
        from shared.demo import run_demo

        run_demo(self.c, out=print)


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): the history still says it was the CLI
        return "cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="b2b", description="Operate the B2B partner onboarding flow.")
    parser.add_argument("--data-dir", help="state folder of the embedded default (setting DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        return command

    p = add("prospects", "prospects", "list prospects (all those of the filter), or write them as CSV")
    p.add_argument("--status", choices=["pending", "approved", "rejected"])
    p.add_argument("--attention", action="store_true", help="only those an operator must look at")
    p.add_argument("--q", help="search: the start of a company name, requester email, number, registration or "
                               "VAT number (any case, accents optional)")
    p.add_argument("--channel", help="only those of this channel, e.g. b2b-web")
    p.add_argument("--from", dest="received_from", metavar="DAY", help="received on or after, e.g. 2026-01-01")
    p.add_argument("--to", dest="received_to", metavar="DAY", help="received on or before, e.g. 2026-01-31")
    p.add_argument("--sort", choices=["newest", "oldest"], default="newest", help="by received date")
    p.add_argument("--csv", metavar="FILE", help="write them to FILE as CSV (- for stdout)")
    add("prospect", "prospect", "show one prospect with its whole timeline (history, Sales, queues, emails)"
        ).add_argument("key", help="PRO-000001 or id")
    p = add("drift", "drift", "prospects whose state disagrees with Sales (an outcome still queued shows too)")
    p.add_argument("--limit", type=int, default=10_000, help="prospects to check, Pending first (one Sales read each)")
    p = add("reconcile", "reconcile", "apply now what Sales says for one prospect, or every drifting one")
    p.add_argument("key", nargs="?", default="all", help="PRO-000001 or id; all (the default): every drifting one")
    p.add_argument("--limit", type=int, default=10_000, help="prospects to check for 'all' (one Sales read each)")
    p = add("replay", "replay", "send a prospect's poisoned messages back to their queues")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--operator", default=_default_operator(), help="who replays (recorded in the history)")
    p = add("approve", "approve", "approve a prospect in the back office")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--operator", default=_default_operator(), help="who decides (recorded in the history)")
    p = add("reject", "reject", "reject a prospect in the back office")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--reason", required=True)
    p.add_argument("--operator", default=_default_operator(), help="who decides (recorded in the history)")
    p = add("erase", "erase", "erase a rejected prospect's personal data (the right to erasure; kept in the audit)")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--reason", required=True, help="why (kept in the audit; name no personal data)")
    p.add_argument("--operator", default=_default_operator(), help="who erases (recorded in the audit)")
    add("retention", "retention", "erase now what RETENTION_DAYS says was kept long enough (as the timer does)")
    add("digest", "digest", "write the merchant's digest of a day's new prospects (OPERATOR_NOTICE=daily)"
        ).add_argument("--day", help="the day, e.g. 2026-12-03 (default: yesterday)")
    add_ledger_parsers(add, _default_operator())
    p = add("partners", "partners", "list partners (customer hierarchies) in number order, a page at a time")
    p.add_argument("--search", help="a name (any part, any case), a number CH-000001 or a user's email")
    p.add_argument("--cursor", help="where the previous page ended (it prints the command for the next)")
    p.add_argument("--limit", type=int, default=50, help="partners per page (default 50)")
    partner = sub.add_parser("partner", help="show a partner, rename, block or reactivate it, change its users",
                             description="`b2b partner CH-000001` is `b2b partner show CH-000001`.")
    acts = partner.add_subparsers(dest="action", required=True, metavar="{" + ",".join(PARTNER_ACTIONS) + "}")
    p = acts.add_parser("show", help="the partner: standing, users, credit line, open reservations")
    p.set_defaults(handler="partner")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--credit", nargs=2, metavar=("LIMIT", "CURRENCY"), help="set the credit line, e.g. 5000.00 EUR")
    p.add_argument("--history", action="store_true", help="with its history (who did what, and why)")
    p.add_argument("--time-zone", help="set the partner's time zone (IANA, e.g. Europe/Stockholm): monthly limits "
                                       "run by its calendar months")
    p.add_argument("--operator", default=_default_operator(), help="who sets the time zone (in the history)")
    p = acts.add_parser("rename", help="rename the partner (told in its history)")
    p.set_defaults(handler="partner_rename")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("name")
    p.add_argument("--operator", default=_default_operator(), help="who renames (recorded in the history)")
    p = acts.add_parser("block", help="block the partner: its users are refused, its orders denied; nothing is deleted")
    p.set_defaults(handler="partner_block")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--reason", required=True, help="why (recorded in the history)")
    p.add_argument("--operator", default=_default_operator(), help="who blocks (recorded in the history)")
    p = acts.add_parser("reactivate", help="let a blocked partner's users in again")
    p.set_defaults(handler="partner_reactivate")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--note", help="why (recorded in the history)")
    p.add_argument("--operator", default=_default_operator(), help="who reactivates (recorded in the history)")
    p = acts.add_parser("user", help="change a partner user's role or spending limit, or remove the user")
    p.set_defaults(handler="partner_user")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("user", help="the user's id or email")
    p.add_argument("--role", choices=["User", "Approver", "Admin"])
    p.add_argument("--limit", help="spending limit per order, in the partner's currency")
    p.add_argument("--monthly-limit", help="spending limit per calendar month, in the partner's currency")
    p.add_argument("--remove", action="store_true", help="remove the user (never the partner's last Admin)")
    p.add_argument("--operator", default=_default_operator(), help="who changes it (recorded in the history)")
    p = add("acknowledge", "acknowledge", "clear a prospect's attention flag once it is dealt with")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--note", required=True, help="what was done (kept in the history)")
    p.add_argument("--operator", default=_default_operator(), help="who acknowledges (recorded in the history)")
    p = add("add-user", "add_user", "add a user to a partner as the back office, e.g. an Admin it lacks")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("email")
    p.add_argument("first_name", metavar="first-name")
    p.add_argument("last_name", metavar="last-name")
    p.add_argument("--role", choices=["User", "Approver", "Admin"], default="User")
    p.add_argument("--limit", help="spending limit per order, in the partner's currency")
    p.add_argument("--monthly-limit", help="spending limit per calendar month, in the partner's currency")
    p.add_argument("--language", help="for the emails, e.g. sv-SE (default en)")
    p.add_argument("--operator", default=_default_operator(), help="who adds (logged)")
    p = add("customer", "customer", "record an existing customer (from the ERP) by account number")
    p.add_argument("account")
    p.add_argument("--type", choices=["Person", "Organization"], required=True)
    p.add_argument("--name", help="an Organization's name")
    p.add_argument("--first-name")
    p.add_argument("--last-name")
    p.add_argument("--email")
    p = add("onboard", "onboard", "make an existing organization a partner with existing persons as users")
    p.add_argument("organization", help="the Organization customer's id")
    p.add_argument("--admin", action="append", default=[], help="a Person customer's id, as Admin (repeatable)")
    p.add_argument("--user", action="append", default=[], help="a Person customer's id, as User (repeatable)")
    p.add_argument("--approver", action="append", default=[],
                   help="a Person customer's id, as Approver (repeatable): approves orders over a buyer's limits")
    p.add_argument("--operator", default=_default_operator(), help="who onboards (logged)")
    p = add("emails", "emails", "list the email outbox records, newest first")
    p.add_argument("--pending", action="store_true", help="only those not sent yet nor failed (queued or sending)")
    p.add_argument("--status", choices=["queued", "sending", "sent", "failed"])
    p.add_argument("--template", help="e.g. prospect_approved")
    p.add_argument("--to-domain", help="only emails to this domain (the part after @)")
    p.add_argument("--cursor", help="the next page, as the previous one printed it")
    p.add_argument("--limit", type=int, default=50)
    add("email", "email", "read one email as rendered, with its attempts and last error").add_argument("id")
    add("outbox", "outbox", "list the emails kept (.eml files, or blobs with EMAIL_TRANSPORT=storage), or read one").add_argument("id", nargs="?")
    p = add("retry-email", "retry_email", "queue a failed email again")
    p.add_argument("id")
    p.add_argument("--operator", default=_default_operator(), help="who retries (recorded in the audit)")
    add("audit", "audit", "the operator audit: poison reveals, replays, discards, email retries") \
        .add_argument("--limit", type=int, default=50)
    poison = sub.add_parser("poison", help="list, inspect or replay poison messages",
                            description="Messages that failed maxDequeueCount times wait on <queue>-poison.")
    actions = poison.add_subparsers(dest="action", required=True, metavar="{list,show,reveal,replay,discard}")
    queue_help = "a queue, e.g. b2b-emails (or its poison queue, b2b-emails-poison)"
    p = actions.add_parser("list", help="poison messages per queue, or those of one queue")
    p.set_defaults(handler="poison_list")
    p.add_argument("queue", nargs="?", help=queue_help)
    operator_help = "who acts (recorded in the audit)"
    p = actions.add_parser("show", help="one poison message, pretty-printed, personal data masked")
    p.set_defaults(handler="poison_show")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id, as `b2b poison list QUEUE` shows it")
    p = actions.add_parser("reveal", help="one poison message with its personal data (recorded in the audit)")
    p.set_defaults(handler="poison_reveal")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id")
    p.add_argument("--operator", default=_default_operator(), help=operator_help)
    p = actions.add_parser("replay", help="send poison messages back to their queue, bodies unchanged")
    p.set_defaults(handler="poison_replay")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id, or 'all'")
    p.add_argument("--operator", default=_default_operator(), help=operator_help)
    p = actions.add_parser("discard", help="delete a poison message for good (the audit keeps who, when, why)")
    p.set_defaults(handler="poison_discard")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id")
    p.add_argument("--reason", required=True, help="why it is discarded")
    p.add_argument("--operator", default=_default_operator(), help=operator_help)
    add("leads", "leads", f"the '{B2B_LEADS_VIEW}' view of the embedded Sales").add_argument("--all", action="store_true")
    add("qualify", "qualify", "qualify a lead (id or PRO-number)").add_argument("lead")
    p = add("disqualify", "disqualify", "disqualify a lead")
    p.add_argument("lead")
    p.add_argument("--reason", choices=sorted(_DISQUALIFY), default="lost")
    add("win", "win", "close an opportunity as won (id or PRO-number)").add_argument("opportunity")
    p = add("lose", "lose", "close an opportunity as lost")
    p.add_argument("opportunity")
    p.add_argument("--reason", choices=sorted(_LOSE), default="canceled")
    add("sync", "sync", "run the channel sync once")
    add("work", "work", "process queued messages as the host would")
    add("submit", "submit", "submit a signup from a JSON file (- for stdin)").add_argument("file")
    add("token", "token", "print a local development issuer's token for EMAIL, to try the partner API with curl "
                          "(make run's host accepts it)").add_argument("email")
    add("demo", "demo", "a scripted walkthrough on the embedded default in a fresh folder (or --data-dir); "
                         "STATE_BACKEND, SALES_MODE and the other settings do not apply")
    return parser


PARTNER_ACTIONS = ("show", "rename", "block", "reactivate", "user")


def _with_partner_action(argv: list[str]) -> list[str]:
    """`b2b partner CH-000001 …` as it was before the partner had actions: `b2b partner show CH-000001 …`."""
    if "partner" not in argv:
        return argv
    at = argv.index("partner") + 1
    if at < len(argv) and argv[at] not in PARTNER_ACTIONS and not argv[at].startswith("-"):
        return [*argv[:at], "show", *argv[at:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_with_partner_action(sys.argv[1:] if argv is None else list(argv)))
    data_dir = Path(args.data_dir) if args.data_dir else None
    if args.command == "demo":
        from shared.demo import demo_settings

        settings = demo_settings(data_dir)
    else:
        settings = Settings.from_env(os.environ, **({"data_dir": data_dir} if data_dir else {}))
    configure_logging("WARNING" if args.command != "work" else settings.log_level)
    container = Container.build(settings)
    cli = Cli(container)
    handler: Callable = getattr(cli, args.handler)
    try:
        handler(args)
    except (DomainError, FileNotFoundError) as error:
        print(f"b2b: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
