"""The partner portal in Chromium on the local host as `make run` starts it (LOCAL_ISSUER=true): the demo
partner's Admin signs in through the local development issuer's OpenID Connect flow (code + PKCE), adds a user,
the user sync makes them Active, the Admin changes their limit and removes them; a User sees their profile and
cannot reach the admin actions. axe-core finds no serious or critical violation on any page; each page is saved
as a screenshot (screenshots/portal-*.png)."""
from __future__ import annotations

import re

import pytest

from shared.demo import DEMO_PARTNER_USER, demo_partner_admin_email
from tests.browser import axe_counts, axe_serious, browser, describe, page, screenshot  # noqa: F401
from tests.e2e.conftest import start_host, stop_host, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
AXE_TOTALS: dict[str, dict[str, int]] = {}  # page → violations by impact, printed at the end (pytest -s)


@pytest.fixture(scope="module")
def live_host(tmp_path_factory):
    host = start_host(tmp_path_factory.mktemp("portal-browser") / "data", {"LOCAL_ISSUER": "true"})
    yield host
    stop_host(host)
    print("\naxe totals per portal page:", AXE_TOTALS)


def accessible(page, name: str) -> None:
    serious = axe_serious(page)
    assert serious == [], describe(serious)
    AXE_TOTALS[name] = axe_counts(page)


def sign_in_as(page, host, who: str) -> None:
    """From the portal's sign-in page through the local issuer's page, choosing ``who`` (a button's name)."""
    page.goto(host.url("portal"))
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in").click()
    assert "not a real sign-in" in page.get_by_role("note").inner_text()
    with page.expect_navigation(url=re.compile(r"/api/portal$")):
        page.get_by_role("button", name=re.compile(who)).click()


def row(page, name: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


def test_an_admin_manages_users_and_a_user_sees_only_their_profile(live_host, page):
    page.goto(live_host.url("portal"))
    assert page.get_by_role("heading", level=1).inner_text() == "Organization users"
    assert "development issuer" in page.get_by_role("note").inner_text()
    accessible(page, "sign-in")
    screenshot(page, "portal-sign-in")

    # The local issuer's page: no partner yet on a fresh state, so it offers the demo partner.
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in").click()
    accessible(page, "local-issuer")
    with page.expect_navigation():
        page.get_by_role("button", name="Create the demo partner").click()
    assert demo_partner_admin_email() in page.content()
    with page.expect_navigation(url=re.compile(r"/api/portal$")):
        page.get_by_role("button", name=re.compile(r"^Astrid Lindqvist \(Admin\)")).click()

    # The users page: the partner's users, the credit line and what is reserved.
    assert "Fabrikam Nordic AB" in page.get_by_role("heading", level=1).inner_text()
    assert row(page, "Erik Berg").get_by_text("Active").is_visible()
    assert "50000.00 SEK" in page.get_by_role("region", name="Credit").inner_text()
    accessible(page, "users")
    screenshot(page, "portal-users")

    # A form with mistakes: the error summary names each one, linked to its field.
    page.get_by_label("First name").fill("Nils")
    page.get_by_label("Email address").fill("not-an-email")
    with page.expect_navigation():
        page.get_by_role("button", name="Add user").click()
    summary = page.get_by_role("alert")
    assert "Last name" in summary.inner_text() and "Email address" in summary.inner_text()
    accessible(page, "users-with-errors")

    # Add a user: Pending, then Active once the sync (the channel sync timer's user step) has run.
    page.get_by_label("Last name").fill("Ek")
    page.get_by_label("Email address").fill("nils@fabrikam.example")
    page.get_by_label("Spending limit per order").fill("1000.00")
    with page.expect_navigation():
        page.get_by_role("button", name="Add user").click()
    assert "Nils Ek added" in page.get_by_role("status").inner_text()
    assert row(page, "Nils Ek").get_by_text("Pending").is_visible()

    def active() -> bool:
        page.reload()
        return row(page, "Nils Ek").get_by_text("Active").count() == 1

    wait_for(active, timeout=30, interval=0.5, what="the sync to make Nils Active")

    # Change the limit.
    with page.expect_navigation():
        row(page, "Nils Ek").get_by_role("link", name="Edit Nils Ek").click()
    accessible(page, "edit-user")
    page.get_by_label("Spending limit per order").fill("1500.00")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "Saved Nils Ek" in page.get_by_role("status").inner_text()
    assert "1500.00 SEK" in row(page, "Nils Ek").inner_text()

    # The last Admin cannot make herself a User: said in words.
    with page.expect_navigation():
        row(page, "Astrid Lindqvist (you)").get_by_role("link", name=re.compile("^Edit")).click()
    page.get_by_label("Role").select_option("User")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "at least one Admin" in page.get_by_role("alert").inner_text()
    page.goto(live_host.url("portal"))

    # Remove him, after a confirmation page of its own.
    with page.expect_navigation():
        row(page, "Nils Ek").get_by_role("link", name="Remove Nils Ek").click()
    accessible(page, "remove-user")
    with page.expect_navigation():
        page.get_by_role("button", name="Remove Nils Ek").click()
    assert "Nils Ek is removed" in page.get_by_role("status").inner_text()
    assert row(page, "Nils Ek").get_by_text("Removed").is_visible()

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "You have signed out" in page.get_by_role("status").inner_text()

    # A User: their profile, limit and the credit available; no admin action anywhere.
    sign_in_as(page, live_host, r"^Erik Berg \(User\)")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Your profile")
    profile = page.get_by_role("main").inner_text()
    assert DEMO_PARTNER_USER["email"] in profile and "2000.00 SEK" in profile and "Available" in profile
    assert page.get_by_role("button", name="Add user").count() == 0
    assert page.get_by_role("link", name=re.compile("^(Edit|Remove)")).count() == 0
    accessible(page, "profile")
    screenshot(page, "portal-user-profile")
    # A forged POST with the User's own valid CSRF token (the sign-out form's) is still refused: 403.
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(live_host.url("portal/users"), form={
        "csrf": token, "firstName": "Eve", "lastName": "Forged", "email": "eve@fabrikam.example"})
    assert forged.status == 403 and "Admin" in forged.text()
    assert page.request.get(live_host.url("portal/users/anyone/remove")).status == 403
