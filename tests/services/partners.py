"""Helpers for the partner tests: an approved partner, callers, and what the outbox holds."""
from __future__ import annotations

from shared.bootstrap import Container
from shared.domain.model import ProspectStatus
from shared.ports import Caller
from tests.services.flow import signup_body


def caller(email: str, subject: str | None = None, verified: bool = True) -> Caller:
    """The account ``subject`` (by default one of its own for each email) signing in; its email counts as
    verified by the issuer unless ``verified`` is False."""
    return Caller(issuer="https://issuer.example/", subject=subject or f"sub-{email.strip().lower()}",
                  verified_email=email.strip().lower() if verified else None)


def approved_partner(c: Container, n: int = 1) -> tuple[str, Caller]:
    """Signup ``n`` approved by the back office: (hierarchy id, the requester as caller)."""
    c.intake.submit(signup_body(n))
    c.channel_sync.run()
    number = next(p.number for p in c.operator.prospects(ProspectStatus.PENDING)
                  if p.request.contact.email.lower() == f"person{n}@example.com")
    decision = c.back_office.approve(number, "alice")
    return decision.hierarchy_id, caller(f"person{n}@example.com")


def partner_without_admin(c: Container) -> tuple[str, str]:
    """Partner 1's admin adds person2@example.com; then person2's own signup is approved: (hierarchy, number)."""
    first, admin = approved_partner(c, 1)
    c.partner_users.add(admin, first, new_user("person2@example.com"))
    c.channel_sync.run()
    hierarchy, _ = approved_partner(c, 2)
    number = c.operator.partner(hierarchy).hierarchy.prospect_id
    return hierarchy, c.operator.prospect(number).prospect.number


def customers(c: Container):
    """An Organization (Fabrikam AB) and two Persons recorded by account number, as the ERP knows them."""
    org, _ = c.partner_onboarding.add_customer({"accountNumber": "ACC-100", "type": "Organization",
                                                "name": "Fabrikam AB", "city": "Lund", "country": "SE"})
    anna, _ = c.partner_onboarding.add_customer({"accountNumber": "ACC-101", "type": "Person", "firstName": "Anna",
                                                 "lastName": "Berg", "email": "anna@fabrikam.example"})
    bo, _ = c.partner_onboarding.add_customer({"accountNumber": "ACC-102", "type": "Person", "firstName": "Bo",
                                               "lastName": "Ek", "email": "bo@fabrikam.example"})
    return org, anna, bo


def new_user(email: str, **extra) -> dict:
    return {"firstName": "Nils", "lastName": "Holgersson", "email": email, **extra}


def emails_to(c: Container, address: str) -> list[str]:
    """The templates of the emails written to ``address``, oldest first."""
    return [e.template for e in c.operator.emails() if e.to.lower() == address.lower()]
