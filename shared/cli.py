"""`b2b`: every operator action, and a salesperson's view of the embedded Sales."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from shared.adapters.outbox_email import parse_eml
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import DomainError, MalformedBody, NotConfigured
from shared.domain.validation import validated
from shared.domain.model import EmailRecord, EmailStatus, ProspectStatus
from shared.domain.sales import B2B_LEADS_VIEW, LEAD_DISQUALIFY_REASONS, OPPORTUNITY_LOSS_REASONS, LeadState
from shared.observability import configure_logging
from shared.queue_worker import POISON_SUFFIX, QueueRules, drain_queues, poison_queue_name

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


def _time(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _delivery_note(email: EmailRecord, now: datetime) -> str:
    """Why a pending email waits: an attempt holds it (its message is invisible until the queue lease ends, the
    whole lease if the instance that took it died), or a retry is due later."""
    if email.status is not EmailStatus.PENDING:
        return ""
    if email.delivery_started_at is not None:
        visible_again = email.delivery_started_at + timedelta(seconds=QueueRules.processing_lease)
        since = _time(email.delivery_started_at)
        if now < visible_again:
            return f"in flight since {since}, visible again at {_time(visible_again)}"
        return f"taken at {since} and not finished; visible again since {_time(visible_again)}"
    if email.next_attempt_at is not None:
        return f"retry at {_time(email.next_attempt_at)}"
    return "queued"


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


class Cli:
    def __init__(self, container: Container):
        self.c = container

    # --- prospects ---------------------------------------------------------------------------
    def prospects(self, args) -> None:
        status = ProspectStatus(args.status.capitalize()) if args.status else None
        rows = [
            {"number": p.number, "status": p.status.value, "company": p.request.company.name,
             "created": p.created_at.isoformat(timespec="seconds"), "hierarchy": p.hierarchy_id or "",
             "attention": p.attention_reason or ""}
            for p in self.c.operator.prospects(status, needs_attention=args.attention)
        ]
        _print_table(rows, ["number", "status", "company", "created", "hierarchy", "attention"])

    def prospect(self, args) -> None:
        details = self.c.operator.prospect(args.key)
        p = details.prospect
        print(f"{p.number}  {p.type}  {p.status.value}")
        print(f"  company: {p.request.company.name}   contact: {p.request.contact.first_name} {p.request.contact.last_name}")
        print(f"  lead: {p.lead_id}  opportunity: {p.opportunity_id or '-'}")
        print(f"  customers: person {p.person_customer_id or '-'}, organization {p.organization_customer_id or '-'}")
        if details.hierarchy:
            h = details.hierarchy
            print(f"  hierarchy: {h.id} '{h.name}' ({h.purpose})")
            for m in details.members:
                print(f"    member {m.customer_id} {m.role.value} {m.status.value}")
        if p.needs_attention:
            print(f"  NEEDS ATTENTION: {p.attention_reason}")
        print("  history:")
        for h in details.history:
            print(f"    {h.at.isoformat(timespec='seconds')}  {h.actor:<24} {h.action}" + (f" — {h.detail}" if h.detail else ""))

    def drift(self, args) -> None:
        found = self.c.operator.drift()
        rows = [{"number": d.number, "ours": d.ours, "sales": d.sales, "problem": d.problem} for d in found]
        _print_table(rows, ["number", "ours", "sales", "problem"])

    # --- back-office decisions (every SALES_MODE; the only way with SALES_MODE=none) ---------------
    def approve(self, args) -> None:
        self._decided(self.c.back_office.approve(args.key, args.operator))

    def reject(self, args) -> None:
        self._decided(self.c.back_office.reject(args.key, args.reason, args.operator))

    def acknowledge(self, args) -> None:
        done = self.c.back_office.acknowledge(args.key, args.note, args.operator)
        print(f"{done.number}: flag acknowledged ({done.reason})" if done.changed
              else f"{done.number} is not flagged; nothing changed")

    @staticmethod
    def _decided(decision) -> None:
        state = "" if decision.changed else " already; nothing changed"
        hierarchy = f", hierarchy {decision.hierarchy_id}" if decision.hierarchy_id else ""
        print(f"{decision.number} {decision.status.value}{state}{hierarchy}")

    # --- partners (the back office's view; partner admins use the HTTP API) --------------------------
    def partners(self, args) -> None:
        rows = [{"hierarchy": h.id, "name": h.name, "created": h.created_at.date().isoformat(),
                 "origin": "prospect" if h.prospect_id else "onboarded by hand"} for h in self.c.operator.partners()]
        _print_table(rows, ["hierarchy", "name", "created", "origin"])

    def partner(self, args) -> None:
        if args.credit:
            limit, currency = args.credit
            self.c.credit.set_line(args.hierarchy, {"limit": limit, "currency": currency})
        details = self.c.operator.partner(args.hierarchy)
        h, line = details.hierarchy, details.credit
        print(f"{h.id} '{h.name}' ({h.purpose}), organization {h.organization_customer_id}"
              + (f", from prospect {h.prospect_id}" if h.prospect_id else ", onboarded by hand"))
        print(f"  credit: {line.limit} {line.currency}, reserved {line.reserved}, available {line.available}"
              if line else "  credit: none")
        rows = [{"email": u.email, "name": f"{u.first_name} {u.last_name}", "role": u.role.value,
                 "status": u.status.value, "limit": "-" if u.spending_limit is None else u.spending_limit,
                 "pending": u.sync.value if u.sync else "", "id": u.id} for u in details.users]
        _print_table(rows, ["email", "name", "role", "status", "limit", "pending", "id"])

    def add_user(self, args) -> None:
        fields = {"email": args.email, "firstName": args.first_name, "lastName": args.last_name, "role": args.role,
                  "spendingLimit": args.limit, "language": args.language, "operator": args.operator}
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
        members = [{"customerId": c, "role": "Admin"} for c in args.admin] + [{"customerId": c} for c in args.user]
        done = self.c.partner_onboarding.onboard({"organizationCustomerId": args.organization, "members": members,
                                                  "operator": args.operator})
        state = "" if done.created else " (a partner already; nothing changed)"
        print(f"{done.hierarchy.id} '{done.hierarchy.name}'{state}: {len(done.users)} users, "
              "Pending until the next sync")

    # --- emails ------------------------------------------------------------------------------
    def emails(self, args) -> None:
        now = self.c.clock.now()
        rows = [{"id": e.id, "template": e.template, "status": e.status.value, "attempts": e.attempts,
                 "language": e.language, "delivery": _delivery_note(e, now), "error": e.last_error or ""}
                for e in self.c.operator.emails(pending_only=args.pending)]
        _print_table(rows, ["id", "template", "status", "attempts", "language", "delivery", "error"])

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
        self.c.email_delivery.retry(args.id)
        print(f"email {args.id} queued again")

    # --- poison ------------------------------------------------------------------------------
    def poison_list(self, args) -> None:
        op = self.c.operator
        if not args.queue:
            _print_table([{"queue": q, "messages": n} for q, n in op.poison_counts().items()], ["queue", "messages"])
            return
        rows = [{"id": m.id, "inserted": m.inserted_at.isoformat(timespec="seconds"), "body": m.body[:60]}
                for m in op.poison_messages(args.queue)]
        _print_table(rows, ["id", "inserted", "body"])

    def poison_show(self, args) -> None:
        message = self.c.operator.poison_message(args.queue, args.id)
        print(f"queue: {message.queue}\nid: {message.id}\ninserted: {message.inserted_at.isoformat()}\n")
        print(message.body)

    def poison_replay(self, args) -> None:
        op = self.c.operator
        if args.id != "all":
            print(f"replayed {args.id} as {op.replay(args.queue, args.id)}")
            return
        ids = [m.id for m in op.poison_messages(args.queue, limit=10_000)]
        if not ids:
            print(f"nothing to replay: {poison_queue_name(args.queue.removesuffix(POISON_SUFFIX))} is empty")
        for message_id in ids:
            print(f"replayed {message_id} as {op.replay(args.queue, message_id)}")

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

    p = add("prospects", "prospects", "list prospects")
    p.add_argument("--status", choices=["pending", "approved", "rejected"])
    p.add_argument("--attention", action="store_true", help="only those an operator must look at")
    add("prospect", "prospect", "show one prospect with its full history").add_argument("key", help="PRO-000001 or id")
    add("drift", "drift", "prospects whose state disagrees with Sales (an outcome still queued shows too)")
    p = add("approve", "approve", "approve a prospect in the back office")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--operator", default=_default_operator(), help="who decides (recorded in the history)")
    p = add("reject", "reject", "reject a prospect in the back office")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--reason", required=True)
    p.add_argument("--operator", default=_default_operator(), help="who decides (recorded in the history)")
    add("partners", "partners", "list every partner (customer hierarchy) in number order")
    p = add("partner", "partner", "show a partner (hierarchy, users, credit), or set its credit line")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--credit", nargs=2, metavar=("LIMIT", "CURRENCY"), help="set the credit line, e.g. 5000.00 EUR")
    p = add("acknowledge", "acknowledge", "clear a prospect's attention flag once it is dealt with")
    p.add_argument("key", help="PRO-000001 or id")
    p.add_argument("--note", required=True, help="what was done (kept in the history)")
    p.add_argument("--operator", default=_default_operator(), help="who acknowledges (recorded in the history)")
    p = add("add-user", "add_user", "add a user to a partner as the back office, e.g. an Admin it lacks")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("email")
    p.add_argument("first_name", metavar="first-name")
    p.add_argument("last_name", metavar="last-name")
    p.add_argument("--role", choices=["User", "Admin"], default="User")
    p.add_argument("--limit", help="spending limit per order, in the partner's currency")
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
    p.add_argument("--operator", default=_default_operator(), help="who onboards (logged)")
    add("emails", "emails", "list the email outbox records").add_argument("--pending", action="store_true")
    add("outbox", "outbox", "list the emails kept (.eml files, or blobs with EMAIL_TRANSPORT=storage), or read one").add_argument("id", nargs="?")
    add("retry-email", "retry_email", "queue a failed email again").add_argument("id")
    poison = sub.add_parser("poison", help="list, inspect or replay poison messages",
                            description="Messages that failed maxDequeueCount times wait on <queue>-poison.")
    actions = poison.add_subparsers(dest="action", required=True, metavar="{list,show,replay}")
    queue_help = "a queue, e.g. b2b-emails (or its poison queue, b2b-emails-poison)"
    p = actions.add_parser("list", help="poison messages per queue, or those of one queue")
    p.set_defaults(handler="poison_list")
    p.add_argument("queue", nargs="?", help=queue_help)
    p = actions.add_parser("show", help="one poison message with its whole body")
    p.set_defaults(handler="poison_show")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id, as `b2b poison list QUEUE` shows it")
    p = actions.add_parser("replay", help="send poison messages back to their queue, bodies unchanged")
    p.set_defaults(handler="poison_replay")
    p.add_argument("queue", help=queue_help)
    p.add_argument("id", help="the message id, or 'all'")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
