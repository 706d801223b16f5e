"""`b2b ledger`, `b2b payment`, `b2b allow-exceeding`: the credit ledger from the command line, through the same
service functions as the console and the back-office routes (shared/services/ledger.py)."""
from __future__ import annotations

import argparse
from typing import Callable

from shared.domain.money import format_amount


def add_ledger_parsers(add: Callable[[str, str, str], argparse.ArgumentParser], operator: str) -> None:
    p = add("ledger", "ledger", "a partner's credit ledger, newest first, a page at a time (or all of it as CSV)")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--cursor", help="where the previous page ended (it prints the command for the next)")
    p.add_argument("--limit", type=int, default=50, help="entries per page (default 50)")
    p.add_argument("--csv", metavar="FILE", help="write the whole ledger to FILE as CSV (- for stdout)")
    p = add("payment", "payment", "record a payment received from a partner: its unpaid balance goes down")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("--amount", required=True, help="e.g. 1250.00, in the credit line's currency")
    p.add_argument("--id", required=True, dest="payment_id", help="the bank's or the ERP's id of the payment: "
                                                                  "recording it again changes nothing")
    p.add_argument("--currency", help="the credit line's (the default); another is refused")
    p.add_argument("--reference", help="the remittance text or invoice numbers")
    p.add_argument("--operator", default=operator, help="who records it (the ledger's 'by')")
    p = add("allow-exceeding", "allow_exceeding", "let a partner's orders go over its credit limit (on), or not (off)")
    p.add_argument("hierarchy", help="CH-000001")
    p.add_argument("setting", choices=["on", "off"])
    p.add_argument("--operator", default=operator, help="who sets it (the ledger's 'by')")


class LedgerCommands:
    c: object  # the Container (shared.cli.Cli sets it)

    def ledger(self, args) -> None:
        from shared.cli import _print_table, _stdout_bytes
        from shared.services.ledger import write_csv

        ledger = self.c.ledger
        if args.csv:
            with (open(args.csv, "wb") if args.csv != "-" else _stdout_bytes()) as out:
                count = write_csv(ledger.entries(args.hierarchy), out)
            if args.csv != "-":
                print(f"{count} ledger entries written to {args.csv}")
            return
        page = ledger.page(args.hierarchy, args.cursor, args.limit)
        line = page.line
        print(f"{args.hierarchy} credit: limit {format_amount(line.limit)} {line.currency}, reserved "
              f"{format_amount(line.reserved)}, unpaid {format_amount(line.balance)}, available "
              f"{format_amount(line.available)}" + (", may exceed its limit" if line.allow_exceeding else ""))
        rows = [{"seq": e.seq, "at": e.at.isoformat(timespec="seconds"), "kind": e.kind.value, "by": e.by,
                 "about": e.order_id or e.payment_id or "", "amount": format_amount(e.amount),
                 "reserved": format_amount(e.reserved_after), "unpaid": format_amount(e.balance_after),
                 "available": format_amount(e.available_after)} for e in page.entries]
        _print_table(rows, ["seq", "at", "kind", "by", "about", "amount", "reserved", "unpaid", "available"])
        if page.next_cursor:
            print(f"more: b2b ledger {args.hierarchy} --cursor {page.next_cursor}")

    def payment(self, args) -> None:
        currency = args.currency or self.c.credit.line(args.hierarchy).currency
        body = {"paymentId": args.payment_id, "amount": args.amount, "currency": currency, "operator": args.operator,
                **({"reference": args.reference} if args.reference else {})}
        payment = self.c.ledger.record_payment(args.hierarchy, body)
        e = payment.entry
        state = " (recorded before; nothing changed)" if payment.repeated else ""
        print(f"{args.hierarchy}: payment {e.payment_id} of {format_amount(e.amount)} {e.currency}{state}; unpaid "
              f"{format_amount(e.balance_after)}, available {format_amount(e.available_after)} (ledger #{e.seq})")

    def allow_exceeding(self, args) -> None:
        allowed = args.setting == "on"
        line, changed = self.c.ledger.set_allow_exceeding(args.hierarchy, {"allowExceeding": allowed,
                                                                           "operator": args.operator})
        what = "may exceed its credit limit" if allowed else "may not exceed its credit limit"
        print(f"{args.hierarchy} {what}" + ("" if changed else " already; nothing changed")
              + f" (available {format_amount(line.available)} {line.currency})")
