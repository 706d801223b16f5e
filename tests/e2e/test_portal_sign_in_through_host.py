"""The portal's OpenID Connect sign-in through the local host, against the Entra External ID stand-in
(tests/entra_stand_in.py): a browser's redirects followed by hand, cookies kept by a requests session.

The host is configured as a deployment would be: PORTAL_OIDC_AUTHORITY at the stand-in's tenant, a confidential
client with its secret, PORTAL_API_SCOPE for the partner API, PARTNER_TOKEN_* naming the same issuer and the API's
audience. The demo partner (shared/demo.py) is on its state: Astrid its Admin, Erik a User."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit, urlencode

import pytest
import requests

from shared.demo import DEMO_PARTNER_USER, create_demo_partner, demo_partner_admin_email
from tests.e2e.conftest import start_host, stop_host
from tests.entra_stand_in import EntraStandIn

pytestmark = pytest.mark.e2e
ADMIN, USER = demo_partner_admin_email(), DEMO_PARTNER_USER["email"]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def entra():
    with EntraStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def host(tmp_path_factory, entra):
    host = start_host(tmp_path_factory.mktemp("portal") / "data", {**entra.portal_env(api_scope=True),
                                                                   "SALES_MODE": "none"})
    state = host.container()
    try:
        create_demo_partner(state)
    finally:
        state.store.close()
        state.queue.close()
    yield host
    stop_host(host)


@pytest.fixture
def stand_in(entra):
    entra.reset_flow()
    entra.sign_in_as = ADMIN
    return entra


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def to_callback(host, browser) -> str:
    """Start a sign-in and follow the issuer's redirect: the callback URL the browser is sent to."""
    started = browser.get(host.url("portal/sign-in"), allow_redirects=False, timeout=30)
    assert started.status_code == 302, started.text
    assert "HttpOnly" in started.headers["Set-Cookie"] and "SameSite=Lax" in started.headers["Set-Cookie"]
    issued = requests.get(started.headers["Location"], allow_redirects=False, timeout=30)
    assert issued.status_code == 302
    return issued.headers["Location"]


def signed_in(host, browser) -> requests.Response:
    answer = browser.get(to_callback(host, browser), allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    return browser.get(host.url("portal"), timeout=30)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **changes})))


def test_an_admin_signs_in_and_sees_the_partners_users_and_credit(host, stand_in, browser):
    page = signed_in(host, browser)
    assert page.status_code == 200 and "Organization users" in page.text
    assert USER in page.text and "Active" in page.text
    assert "50000.00 SEK" in page.text and "Reserved by open orders" in page.text
    # The token stays on the server side: the session cookie is sealed (no JWT in it) and HttpOnly.
    session_cookie = browser.cookies.get("b2b_portal_session", path="/api/portal")
    assert session_cookie and "eyJ" not in session_cookie


def test_the_code_verifier_never_reaches_the_browser(host, stand_in, browser):
    started = browser.get(host.url("portal/sign-in"), allow_redirects=False, timeout=30)
    query = dict(parse_qsl(urlsplit(started.headers["Location"]).query))
    assert query["code_challenge_method"] == "S256" and "code_verifier" not in query
    assert query["nonce"] and query["state"] and query["state"] not in started.headers["Set-Cookie"]


def test_a_wrong_state_is_refused_and_the_code_stays_unredeemed(host, stand_in, browser):
    callback = to_callback(host, browser)
    forged = browser.get(with_query(callback, state="someone-elses-state"), allow_redirects=False, timeout=30)
    assert forged.status_code == 403 and "not for the sign-in this browser started" in forged.text
    assert not stand_in.redeemed
    assert browser.get(callback, allow_redirects=False, timeout=30).status_code == 303


def test_a_callback_in_another_browser_is_refused(host, stand_in, browser):
    callback = to_callback(host, browser)
    with requests.Session() as other:  # no state cookie: a callback link sent to someone else
        assert other.get(callback, allow_redirects=False, timeout=30).status_code == 403


def test_a_replayed_code_is_refused(host, stand_in, browser):
    callback = to_callback(host, browser)
    assert browser.get(callback, allow_redirects=False, timeout=30).status_code == 303
    again = browser.get(callback, allow_redirects=False, timeout=30)
    assert again.status_code == 400 and "used before, expired" in again.text


def test_an_expired_code_is_refused(host, stand_in, browser):
    callback = to_callback(host, browser)
    stand_in.code_seconds = -1
    answer = browser.get(callback, allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "code was refused" in answer.text
    assert "b2b_portal_session" not in answer.headers.get("Set-Cookie", "")


def test_an_id_token_with_a_wrong_nonce_is_refused(host, stand_in, browser):
    callback = to_callback(host, browser)
    stand_in.id_token_claims = {"nonce": "another-sign-ins-nonce"}
    answer = browser.get(callback, allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "nonce" in answer.text


def test_a_token_for_another_audience_is_refused(host, stand_in, browser):
    callback = to_callback(host, browser)
    stand_in.access_token_audience = "api://some-other-api"
    answer = browser.get(callback, allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "do not accept this sign-in" in answer.text


def test_an_issuer_error_is_shown_in_words(host, stand_in, browser):
    callback = to_callback(host, browser)
    state = dict(parse_qsl(urlsplit(callback).query))["state"]
    answer = browser.get(host.url("portal/callback"), params={"error": "access_denied", "state": state},
                         allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "cancelled or refused" in answer.text


def test_a_post_without_the_sessions_csrf_token_is_refused(host, stand_in, browser):
    page = signed_in(host, browser)
    token = CSRF.search(page.text).group(1)
    form = {"firstName": "Nils", "lastName": "Ek", "email": "nils@fabrikam.example", "role": "User",
            "language": "en", "spendingLimit": ""}
    for forged in ({**form}, {**form, "csrf": token[:-2] + "xx"}):
        answer = browser.post(host.url("portal/users"), data=forged, allow_redirects=False, timeout=30)
        assert answer.status_code == 403 and "not sent from this session" in answer.text


def test_a_user_sees_their_profile_and_a_forged_admin_post_is_refused(host, stand_in, browser):
    stand_in.sign_in_as = USER
    page = signed_in(host, browser)
    assert "Your profile" in page.text and "2000.00 SEK" in page.text and "Available" in page.text
    assert "Add user" not in page.text and "/remove" not in page.text
    token = CSRF.search(page.text).group(1)  # the sign-out form's: a valid token of this session
    answer = browser.post(host.url("portal/users"), allow_redirects=False, timeout=30,
                          data={"csrf": token, "firstName": "Eve", "lastName": "Forged", "email": "eve@x.example"})
    assert answer.status_code == 403 and "Admin" in answer.text
    assert browser.get(host.url("portal/users/anything/remove"), timeout=30).status_code == 403


def test_an_account_that_is_no_partner_user_is_told_so(host, stand_in, browser):
    stand_in.sign_in_as = "stranger@elsewhere.example"
    answer = browser.get(to_callback(host, browser), allow_redirects=False, timeout=30)
    assert answer.status_code == 403 and "not a user of a partner organization" in answer.text


def test_without_a_session_the_portal_shows_the_sign_in_page(host, browser):
    page = browser.get(host.url("portal"), timeout=30)
    assert page.status_code == 200 and 'href="/api/portal/sign-in"' in page.text


def test_a_sign_in_begun_under_another_host_name_begins_again_under_the_public_one(host, browser):
    """localhost and 127.0.0.1 are two sites to a browser: the state cookie must be set where the callback comes
    back (the redirect URI on the public base URL), or every sign-in from http://localhost:7071 would fail."""
    other = host.url("portal/sign-in").replace("127.0.0.1", "localhost")
    answer = browser.get(other, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and answer.headers["Location"] == host.url("portal/sign-in")
    assert "Set-Cookie" not in answer.headers
