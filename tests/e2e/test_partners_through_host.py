"""End to end through the local host: an approved partner's admin manages users and orders use credit.

approved partner → admin adds two users → sync → both Active with emails; edit; remove; cross-partner and
bad-token attempts denied; order checks at, under and over each limit; 100 concurrent reserves never
overdraw. Tokens are signed by a local issuer whose JWKS the host fetches over loopback.
"""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from shared.domain.partners import user_id_for
from tests.e2e.conftest import azure_backend, start_host, stop_host, wait_for
from tests.services.flow import signup_body

pytestmark = pytest.mark.e2e
KEY = "e2e-admin-key-0123456789"


@pytest.fixture(params=["sqlite", "azure"])
def host(request, tmp_path, jwks):
    extra = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    started = start_host(tmp_path / "data", {**extra, **jwks.settings_env(), "SALES_MODE": "none",
                                             "DEVHOST_FUNCTION_KEY": KEY})
    yield started
    stop_host(started)


def approved_partner(http, host, n: int) -> str:
    assert http.post(host.url("signups"), json=signup_body(n), timeout=30).status_code == 202
    c = host.container()
    number = wait_for(lambda: next((p.number for p in c.operator.prospects()
                                    if p.request.contact.email.lower() == f"person{n}@example.com"), None),
                      what="the prospect")
    answer = http.post(host.url(f"backoffice/prospects/{number}/approve"), json={"operator": "alice"},
                       headers={"x-functions-key": KEY}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["hierarchy_id"]


def bearer(jwks, email: str, /, **claims) -> dict:
    return {"Authorization": jwks.header_for(email, **claims)}


def user_status(http, host, jwks, hierarchy: str, user_id: str) -> dict:
    answer = http.get(host.url(f"partners/{hierarchy}/users/{user_id}"), headers=bearer(jwks, "person1@example.com"),
                      timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_partner_admin_manages_users_and_orders_use_credit(host, jwks):
    http = requests.Session()
    hierarchy = approved_partner(http, host, 1)
    other = approved_partner(http, host, 2)
    admin = bearer(jwks, "Person1@Example.com")
    me = http.get(host.url("partners/me"), headers=admin, timeout=30).json()
    assert me["partner"]["hierarchyId"] == hierarchy and me["user"]["role"] == "Admin"

    # the admin adds two users: Pending, then Active after the sync, each with a "user added" email
    added = []
    for email, limit in (("anna@partner.example", "100.00"), ("bo@partner.example", None)):
        body = {"firstName": email.split("@")[0].title(), "lastName": "Partner", "email": email,
                **({"spendingLimit": limit} if limit else {})}
        answer = http.post(host.url(f"partners/{hierarchy}/users"), json=body, headers=admin, timeout=30)
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "Pending" and answer.headers["Location"].endswith(answer.json()["id"])
        added.append(answer.json()["id"])
    for user_id in added:
        wait_for(lambda u=user_id: user_status(http, host, jwks, hierarchy, u)["status"] == "Active",
                 timeout=30, what="the user sync")
    c = host.container()
    wait_for(lambda: sorted(e.to for e in c.operator.emails() if e.template == "user_added"
                            and e.status.value == "delivered") == ["anna@partner.example", "bo@partner.example"],
             timeout=30, what="two delivered 'user added' emails")

    # edit and remove go through the same sync
    edit = http.patch(host.url(f"partners/{hierarchy}/users/{added[0]}"), json={"spendingLimit": 150},
                      headers=admin, timeout=30)
    assert edit.status_code == 202 and edit.json()["spendingLimit"] == "150"  # no credit line yet: as given
    removal = http.delete(host.url(f"partners/{hierarchy}/users/{added[1]}"), headers=admin, timeout=30)
    assert removal.status_code == 202 and removal.json()["status"] == "Removed"
    wait_for(lambda: user_status(http, host, jwks, hierarchy, added[0])["pendingChange"] is None, timeout=30,
             what="the edit synced")
    wait_for(lambda: any(e.template == "user_removed" and e.to == "bo@partner.example" for e in c.operator.emails()),
             timeout=30, what="the 'user removed' email")
    listed = http.get(host.url(f"partners/{hierarchy}/users"), headers=admin, timeout=30).json()["users"]
    assert sorted(u["email"] for u in listed) == ["anna@partner.example", "person1@example.com"]

    # who may do what
    anna = bearer(jwks, "anna@partner.example")
    assert http.get(host.url(f"partners/{hierarchy}/users"), headers=anna, timeout=30).status_code == 403
    other_admin = bearer(jwks, "person2@example.com")
    for method, path in (("GET", f"partners/{hierarchy}/users"), ("GET", f"partners/{hierarchy}/users/{added[0]}"),
                         ("PATCH", f"partners/{hierarchy}/users/{added[0]}"),
                         ("DELETE", f"partners/{hierarchy}/users/{added[0]}")):
        answer = http.request(method, host.url(path), json={"firstName": "X"}, headers=other_admin, timeout=30)
        assert answer.status_code == 404, (method, path, answer.text)
    clash = http.post(host.url(f"partners/{other}/users"), headers=other_admin, timeout=30,
                      json={"firstName": "A", "lastName": "B", "email": "ANNA@partner.example"})
    assert clash.status_code == 409 and hierarchy not in clash.text
    expired = bearer(jwks, "person1@example.com", exp=int(time.time()) - 3600)
    forged = {"Authorization": "Bearer " + jwks.sign(jwks.claims_for("person1@example.com"), key=jwks.attacker_key)}
    unsigned = {"Authorization": "Bearer " + jwks.sign(jwks.claims_for("person1@example.com"), alg="none")}
    for headers in (expired, forged, unsigned, {}):
        answer = http.get(host.url(f"partners/{hierarchy}/users"), headers=headers, timeout=30)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")

    # credit: set by the back office, checked and reserved by the partner's users
    line = http.put(host.url(f"backoffice/partners/{hierarchy}/credit"), json={"limit": "1000.00", "currency": "EUR"},
                    headers={"x-functions-key": KEY}, timeout=30)
    assert line.status_code == 200 and line.json()["available"] == "1000.00"

    def check(who, user_id, amount, currency="EUR"):
        body = {"hierarchyId": hierarchy, "userId": user_id, "orderId": "SO-check", "amount": amount,
                "currency": currency}
        answer = http.post(host.url("orders/check"), json=body, headers=who, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["decision"], [r["code"] for r in answer.json()["reasons"]]

    anna_id, admin_id = added[0], user_id_for("person1@example.com")
    assert check(anna, anna_id, "149.99") == ("allow", [])
    assert check(anna, anna_id, "150.00") == ("allow", [])
    assert check(anna, anna_id, "150.01") == ("deny", ["over_user_limit"])
    assert check(admin, admin_id, "1000.00") == ("allow", [])
    assert check(admin, admin_id, "1000.01") == ("deny", ["over_credit"])
    assert check(admin, admin_id, "10", "SEK") == ("deny", ["currency_mismatch"])
    assert http.post(host.url("orders/check"), headers=anna, timeout=30, json={
        "hierarchyId": hierarchy, "userId": admin_id, "orderId": "x", "amount": "1", "currency": "EUR"}).status_code == 403
    assert http.post(host.url("orders/check"), headers=anna, timeout=30, data=b'{"amount": 1.5}',
                     ).status_code == 415  # no content type: refused before parsing

    def reserve(i: int) -> int:
        with requests.Session() as session:
            return session.post(host.url(f"orders/SO-{i}/reserve"), headers=admin, timeout=60, json={
                "hierarchyId": hierarchy, "userId": admin_id, "amount": "15.00", "currency": "EUR"}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(reserve, range(100)))
    assert statuses.count(201) == 66 and statuses.count(409) == 34  # 66 × 15 = 990 of 1,000
    again = http.post(host.url("orders/SO-0/reserve"), headers=admin, timeout=30, json={
        "hierarchyId": hierarchy, "userId": admin_id, "amount": "15.00", "currency": "EUR"})
    assert again.status_code == (200 if statuses[0] == 201 else 409)  # the first answer stands
    held = [i for i, s in enumerate(statuses) if s == 201]
    released = http.post(host.url(f"orders/SO-{held[0]}/release"), headers=admin, timeout=30)
    assert released.status_code == 200 and released.json()["status"] == "released"
    credit = http.get(host.url(f"backoffice/partners/{hierarchy}/credit"), headers={"x-functions-key": KEY},
                      timeout=30).json()
    assert (credit["reserved"], credit["available"]) == ("975.00", "25.00")


def test_the_back_office_gives_a_partner_without_a_user_its_admin(host, jwks):
    http = requests.Session()
    office = {"x-functions-key": KEY}
    first = approved_partner(http, host, 1)
    body = {"firstName": "P", "lastName": "Two", "email": "person2@example.com"}
    added = http.post(host.url(f"partners/{first}/users"), json=body, headers=bearer(jwks, "person1@example.com"),
                      timeout=30)
    assert added.status_code == 201, added.text
    second = approved_partner(http, host, 2)  # person2 signs in for the first partner: no user for the second
    c = host.container()
    [flagged] = c.operator.prospects(needs_attention=True)
    assert flagged.hierarchy_id == second and c.operator.partner(second).users == []

    admin = {"firstName": "Bo", "lastName": "Boss", "email": "boss@company2.example", "role": "Admin",
             "operator": "alice"}
    url = host.url(f"backoffice/partners/{second}/users")
    assert http.post(url, json=admin, timeout=30).status_code == 401  # the admin key is required
    answer = http.post(url, json=admin, headers=office, timeout=30)
    assert answer.status_code == 201 and answer.json()["status"] == "Pending", answer.text
    boss = bearer(jwks, "boss@company2.example")

    def active_me():
        me = http.get(host.url("partners/me"), headers=boss, timeout=30).json()
        return me if me["user"]["status"] == "Active" else None

    me = wait_for(active_me, timeout=30, what="the user sync")
    assert (me["partner"]["hierarchyId"], me["user"]["role"], me["user"]["status"]) == (second, "Admin", "Active")
    users = http.get(url, headers=office, timeout=30).json()["users"]
    assert [(u["email"], u["role"], u["status"]) for u in users] == [("boss@company2.example", "Admin", "Active")]

    done = http.post(host.url(f"backoffice/prospects/{flagged.number}/acknowledge"), headers=office, timeout=30,
                     json={"operator": "alice", "note": "Admin boss@company2.example added"})
    assert done.status_code == 200 and done.json()["changed"] is True, done.text
    assert c.operator.prospects(needs_attention=True) == []
    partners = http.get(host.url("backoffice/partners"), headers=office, timeout=30).json()["partners"]
    assert [p["hierarchyId"] for p in partners] == [first, second]


def test_a_user_is_the_account_bound_at_its_first_sign_in(host, jwks):
    http = requests.Session()
    first = approved_partner(http, host, 1)

    def me(headers) -> requests.Response:
        return http.get(host.url("partners/me"), headers=headers, timeout=30)

    # Before its account signs in, person1's user is no one's: not for a token that carries its email without
    # the issuer vouching for it, nor for one whose preferred_username is that email.
    unverified = bearer(jwks, "person1@example.com", sub="attacker", email_verified=None)
    by_username = bearer(jwks, "attacker@example.org", sub="attacker", email=None, email_verified=None,
                         preferred_username="person1@example.com")
    for headers in (unverified, by_username):
        assert me(headers).status_code == 404
        assert http.get(host.url(f"partners/{first}/users"), headers=headers, timeout=30).status_code == 404
    admin = bearer(jwks, "person1@example.com")  # its own account, the email verified: the first sign-in binds
    bound = me(admin)
    assert bound.status_code == 200 and bound.json()["partner"]["hierarchyId"] == first
    renamed = bearer(jwks, "person1@example.com", email="person.one@renamed.example")  # the same account (sub)
    assert me(renamed).json()["user"]["id"] == bound.json()["user"]["id"]
    second_account = bearer(jwks, "person1@example.com", sub="another-account-same-verified-email")
    taken = me(second_account)
    assert taken.status_code == 403 and taken.headers["Content-Type"].startswith("application/problem+json")
    assert "another account" in taken.json()["detail"]



def test_order_ids_are_each_partners_own(host, jwks):
    """Both partners reserve SO-1, each its own order: B learns nothing of A's; neither releases the other's."""
    http = requests.Session()
    office = {"x-functions-key": KEY}
    first, second = approved_partner(http, host, 1), approved_partner(http, host, 2)
    for hierarchy in (first, second):
        assert http.put(host.url(f"backoffice/partners/{hierarchy}/credit"), headers=office, timeout=30,
                        json={"limit": "100.00", "currency": "EUR"}).status_code == 200
    admin = bearer(jwks, "person1@example.com")

    def me(headers) -> requests.Response:
        return http.get(host.url("partners/me"), headers=headers, timeout=30)

    def reserve(headers, hierarchy, amount):
        user_id = me(headers).json()["user"]["id"]
        return http.post(host.url("orders/SO-1/reserve"), headers=headers, timeout=30, json={
            "hierarchyId": hierarchy, "userId": user_id, "amount": amount, "currency": "EUR"})

    admin2 = bearer(jwks, "person2@example.com")
    assert reserve(admin, first, "10.00").status_code == 201
    theirs = reserve(admin2, second, "25.00")
    assert theirs.status_code == 201 and theirs.json()["reservation"]["hierarchyId"] == second, theirs.text
    assert reserve(admin, first, "10.00").status_code == 200  # the first partner's own, again
    release = host.url("orders/SO-1/release")
    assert http.post(release, headers=admin2, json={"hierarchyId": first}, timeout=30).status_code == 404
    answer = http.post(release, headers=admin2, timeout=30)
    assert answer.status_code == 200 and answer.json()["hierarchyId"] == second and answer.json()["changed"]

    def reserved(hierarchy):
        return http.get(host.url(f"backoffice/partners/{hierarchy}/credit"), headers=office, timeout=30).json()["reserved"]

    assert (reserved(first), reserved(second)) == ("10.00", "0.00")
