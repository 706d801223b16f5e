"""The scripted walkthrough behind `b2b demo`: three signups, one won, one disqualified, one lost."""
from __future__ import annotations

import shlex
import tempfile
from pathlib import Path
from typing import Callable

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.sales import B2B_LEADS_VIEW
from shared.queue_worker import drain_queues

# What the demo runs on, whatever the environment says: fake signups must never reach a real table,
# queue, CRM or inbox, and the script drives the embedded Sales, which no other mode has.
EMBEDDED_DEFAULT = {"state_backend": "sqlite", "sales_mode": "embedded", "email_transport": "outbox"}

DEMO_COMPANIES = [
    ("Fabrikam Nordic AB", "Astrid", "Lindqvist", "sv-SE", "SE", "111 22"),
    ("Northwind Traders Ltd", "James", "Carter", "en-GB", "GB", "EC1A 1BB"),
    ("Tailspin Toys GmbH", "Jonas", "Weber", "de-DE", "DE", "10115"),
]


def demo_signup(company: str, first: str, last: str, language: str, country: str, zip_code: str) -> dict:
    domain = company.split()[0].lower() + ".example"
    return {
        "company": {"name": company, "phone": "+46 8 123 456 00",
                    "address": {"street": "1 Harbour Street", "city": "Springfield", "zip_code": zip_code,
                                "country": country}},
        "contact": {"first_name": first, "last_name": last, "email": f"{first.lower()}@{domain}",
                    "phone": "+46 70 123 45 67", "preferred_language": language},
        "comments": "We would like to order on account.",
        "channel_id": "b2b-web",
    }


def demo_settings(data_dir: Path | None = None) -> Settings:
    """The embedded default in ``data_dir`` (a fresh temporary folder when None); the environment is not read,
    so no setting of a real deployment (STATE_BACKEND, SALES_MODE, EMAIL_TRANSPORT, DATA_DIR...) applies."""
    return Settings.from_env({}, data_dir=data_dir or Path(tempfile.mkdtemp(prefix="b2b-demo-")), **EMBEDDED_DEFAULT)


def run_demo(c: Container, out: Callable[[str], None] = print) -> None:
    running_on = {name: getattr(c.settings, name) for name in EMBEDDED_DEFAULT}
    if running_on != EMBEDDED_DEFAULT:
        raise ValueError(f"the demo runs on the embedded default only ({EMBEDDED_DEFAULT}), not {running_on}")

    def work() -> None:
        drain_queues(c.queue, c.queue_handlers())

    out(f"state folder: {c.settings.data_dir}")
    signup_ids = [c.intake.submit(demo_signup(*company)).signup_id for company in DEMO_COMPANIES]
    out(f"1. storefront: {len(signup_ids)} signups received")
    out(f"2. channel sync: {c.channel_sync.run().prospects_created} prospects created")
    work()
    leads = c.sales.b2b_leads()
    in_my_open_leads = len(c.sales.my_open_leads("a-salesperson"))
    out(f"3. Sales: {len(leads)} leads in '{B2B_LEADS_VIEW}', {in_my_open_leads} in a salesperson's 'My open leads'")
    won, disqualified, lost = leads
    c.sales.win(c.sales.qualify(won["leadid"]).opportunity_id)
    out(f"   {won['prospect_number']}: qualified and closed as won")
    c.sales.disqualify(disqualified["leadid"], 6)
    out(f"   {disqualified['prospect_number']}: disqualified (no longer interested)")
    c.sales.lose(c.sales.qualify(lost["leadid"]).opportunity_id, 5)
    out(f"   {lost['prospect_number']}: qualified, then closed as lost (out-sold)")
    work()
    out("4. end state:")
    for prospect in c.operator.prospects():
        line = f"   {prospect.number}  {prospect.status.value:<8}  {prospect.request.company.name}"
        if prospect.hierarchy_id:
            line += f"  → hierarchy {prospect.hierarchy_id} (purpose B2B organization, requester as Admin)"
        out(line)
    for signup_id in signup_ids:
        out(f"   signup {signup_id}: {c.signup_status.status(signup_id).status}")
    out("5. emails delivered:")
    for email in c.operator.emails():
        out(f"   {email.template:<18} {email.status.value:<9} language {email.language}")
    # Said last, where a newcomer looks when the script ends: the folder is theirs to explore, then delete.
    folder = shlex.quote(str(c.settings.data_dir))
    out(f"The demo's state stays in {c.settings.data_dir}")
    out(f"  look around: b2b --data-dir {folder} prospects   (or partners, emails, outbox, leads --all)")
    out(f"  start over:  rm -r {folder}")


# The demo partner a newcomer signs in to the portal as (make run, the local issuer's page): the first demo
# company, approved in the back office, with a credit line and a second user besides its Admin.
DEMO_PARTNER = DEMO_COMPANIES[0]
DEMO_PARTNER_OPERATOR = "local-demo"
DEMO_PARTNER_CREDIT = {"limit": "50000.00", "currency": "SEK"}
DEMO_PARTNER_USER = {"firstName": "Erik", "lastName": "Berg", "email": "erik@fabrikam.example", "role": "User",
                     "spendingLimit": "2000.00", "language": "sv-SE"}


def demo_partner_admin_email() -> str:
    return demo_signup(*DEMO_PARTNER)["contact"]["email"]


def create_demo_partner(c: Container) -> str:
    """The demo partner on ``c``'s state (the hierarchy id), made once: its signup, prospect and approval (in
    the back office, so it needs no Sales), credit line and users, each Active after the sync's user step.
    Again on the same state, it finds the partner its Admin belongs to and changes nothing."""
    admin = demo_partner_admin_email()
    existing = next((p for p in c.operator.partners() for u in c.operator.partner_users(p.id)
                     if u.email == admin), None)
    if existing is not None:
        return existing.id
    c.intake.submit(demo_signup(*DEMO_PARTNER), idempotency_key="local-demo-partner")
    c.channel_sync.run()
    prospect = next(p for p in c.operator.prospects() if p.request.contact.email == admin)
    hierarchy_id = c.back_office.approve(prospect.number, DEMO_PARTNER_OPERATOR).hierarchy_id
    c.credit.set_line(hierarchy_id, DEMO_PARTNER_CREDIT)
    c.partner_users.add_by_operator(hierarchy_id, {**DEMO_PARTNER_USER, "operator": DEMO_PARTNER_OPERATOR})
    c.channel_sync.run()  # its user step makes both users Active
    return hierarchy_id


def sign_in_choices(c: Container, limit: int = 50) -> list[tuple[str, list]]:
    """Each partner's name and its Active users, for the local issuer's page (a development tool: it lists
    emails, which no production page does)."""
    choices = []
    for hierarchy in c.operator.partners(limit):
        users = [u for u in c.operator.partner_users(hierarchy.id) if u.is_active]
        if users:
            choices.append((hierarchy.name, sorted(users, key=lambda u: (u.role.value != "Admin", u.email))))
    return choices
