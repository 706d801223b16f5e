"""Who a token signs in as: the user bound to its account (issuer, subject) at the first sign-in, by an email
the issuer vouches for; never by an email alone afterwards."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from shared.domain.errors import Forbidden, NotFound
from shared.domain.partners import SignInTaken, user_id_for
from shared.services.partner_users import user_json
from tests.services.partners import approved_partner, caller, new_user
from tests.threads import run_in_threads


@pytest.fixture
def partner(container):
    """Partner 1 with its admin (signed in once: bound) and a user added by the admin, synced, never signed in."""
    hierarchy, admin = approved_partner(container)
    container.partner_users.me(admin)
    container.partner_users.add(admin, hierarchy, new_user("buyer@example.se"))
    container.channel_sync.run()
    return hierarchy, admin


def test_the_first_sign_in_binds_the_account_that_the_issuer_vouches_for(container, partner):
    hierarchy, _ = partner
    buyer = caller("buyer@example.se", subject="sub-buyer")
    user, _ = container.partner_users.me(buyer)
    assert user.id == user_id_for("buyer@example.se")
    assert (user.sign_in.issuer, user.sign_in.subject) == (buyer.issuer, "sub-buyer")
    listed = {u["id"]: u for u in map(user_json, container.partner_users.list(partner[1], hierarchy))}
    assert listed[user.id]["signInBoundAt"] == user.sign_in.bound_at.isoformat()
    assert "sub-buyer" not in str(listed)


def test_an_unverified_email_of_someone_else_cannot_act_as_that_user(container, partner):
    hierarchy, admin = partner
    impostor = caller(admin.verified_email, subject="sub-impostor", verified=False)
    unbound = caller("buyer@example.se", subject="sub-impostor", verified=False)
    for who in (impostor, unbound):  # a bound user and one not bound yet alike
        with pytest.raises(NotFound):
            container.partner_users.me(who)
        with pytest.raises(NotFound):
            container.partner_users.list(who, hierarchy)
        with pytest.raises(NotFound):
            container.credit.check(who, {"hierarchyId": hierarchy, "userId": user_id_for("buyer@example.se"),
                                         "orderId": "SO-1", "amount": "1.00", "currency": "EUR"})
    assert container.partner_users.me(caller("buyer@example.se", subject="sub-buyer"))[0].sign_in.subject == "sub-buyer"


def test_the_same_account_with_a_changed_email_keeps_its_user(container, partner):
    hierarchy, admin = partner
    renamed = replace(admin, verified_email="new.name@elsewhere.example")
    assert container.partner_users.me(renamed)[0].id == user_id_for(admin.verified_email)
    assert container.partner_users.list(replace(admin, verified_email=None), hierarchy)  # no email at all: still the admin
    # An email that is another (unbound) user's now changes nothing either: the account is bound already.
    user, _ = container.partner_users.me(replace(admin, verified_email="buyer@example.se"))
    assert user.id == user_id_for(admin.verified_email)
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user_id_for("buyer@example.se")).sign_in is None


def test_a_bound_user_cannot_be_taken_by_another_account_with_the_same_verified_email(container, partner):
    hierarchy, admin = partner
    other_account = caller(admin.verified_email, subject="sub-second-account")
    with pytest.raises(SignInTaken, match="another account") as taken:
        container.partner_users.list(other_account, hierarchy)
    assert isinstance(taken.value, Forbidden)  # 403 with that text
    with pytest.raises(SignInTaken):
        container.partner_users.me(other_account)
    assert container.partner_users.me(admin)[0].sign_in.subject == admin.subject


def test_racing_first_sign_ins(container, partner):
    """Six first sign-ins of one account bind it once; of six accounts with the same email, one wins and the
    others are refused (403), whatever the timing."""
    hierarchy, admin = partner
    container.partner_users.add(admin, hierarchy, new_user("second@example.se"))
    container.channel_sync.run()

    def race(callers):
        start = threading.Barrier(len(callers))

        def sign_in(who):
            start.wait()
            try:
                return container.partner_users.me(who)[0].sign_in.subject
            except SignInTaken:
                return "taken"

        return sorted(run_in_threads([lambda who=who: sign_in(who) for who in callers]))

    assert race([caller("buyer@example.se", subject="sub-once")] * 6) == ["sub-once"] * 6
    outcomes = race([caller("second@example.se", subject=f"sub-{i}") for i in range(6)])
    winner = [o for o in outcomes if o != "taken"]
    assert len(winner) == 1 and outcomes.count("taken") == 5
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user_id_for("second@example.se")).sign_in.subject == winner[0]


def test_a_user_added_again_binds_anew(container, partner):
    """Removed and added again (the address may be someone else's now): the next first sign-in binds."""
    hierarchy, admin = partner
    buyer_id = user_id_for("buyer@example.se")
    container.partner_users.me(caller("buyer@example.se", subject="sub-old"))
    container.partner_users.remove(admin, hierarchy, buyer_id)
    container.channel_sync.run()
    with pytest.raises(NotFound):
        container.partner_users.me(caller("buyer@example.se", subject="sub-old"))
    container.partner_users.add(admin, hierarchy, new_user("buyer@example.se"))
    container.channel_sync.run()
    assert container.partner_users.me(caller("buyer@example.se", subject="sub-new"))[0].sign_in.subject == "sub-new"
    with pytest.raises(NotFound):
        container.partner_users.me(caller("buyer@example.se", subject="sub-old", verified=False))


def test_a_binding_by_a_subject_claim_no_longer_configured_gives_way(container, partner):
    """PARTNER_TOKEN_SUBJECT_CLAIM changed from sub to oid: each user binds its account's oid at its next sign-in
    by its verified email, instead of being refused as another account's."""
    hierarchy, admin = partner
    by_oid = replace(admin, subject="oid-of-the-admin", subject_claim="oid")
    assert container.partner_users.me(by_oid)[0].sign_in.subject_claim == "oid"
    with pytest.raises(SignInTaken):  # from then on, another oid with the same email is another account
        container.partner_users.me(replace(by_oid, subject="oid-of-someone-else"))


def test_an_account_of_an_issuer_no_longer_configured_gives_way(container, partner):
    """The app accepts one issuer's tokens: after PARTNER_TOKEN_ISSUER changes, bindings under the old one are
    dead, and the new issuer's account binds by its verified email as a first sign-in would."""
    hierarchy, admin = partner
    moved = replace(admin, issuer="https://new-tenant.example/v2.0", subject="sub-at-the-new-issuer")
    assert container.partner_users.me(moved)[0].sign_in.issuer == moved.issuer
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.find_partner_user_by_sign_in(admin.issuer, admin.subject) is None
    with pytest.raises(SignInTaken):  # at the new issuer, the user is its account's alone
        container.partner_users.me(replace(moved, subject="sub-another-account-at-the-new-issuer"))
