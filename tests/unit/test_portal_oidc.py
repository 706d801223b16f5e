"""The portal's OpenID Connect client against a stand-in that behaves as Entra External ID documents
(tests/entra_stand_in.py), the sealed cookies, and the local development issuer's code and PKCE rules."""
from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.adapters.local_issuer import AuthorizeRequest, LocalIssuer, OAuthError, TokenRequest
from shared.adapters.oidc_client import OidcClient, SignInFailed
from shared.config import LOCAL_CLIENT_ID, LOCAL_ISSUER_ID, Settings
from shared.web.portal_session import PortalSeal, SessionSecretMissing
from tests.entra_stand_in import API_APP_ID, API_SCOPE, CLIENT_ID, CLIENT_SECRET, EntraStandIn

REDIRECT = "http://127.0.0.1:7071/api/portal/callback"


@pytest.fixture(scope="module")
def entra():
    with EntraStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def stand_in(entra):
    entra.reset_flow()
    return entra


@pytest.fixture
def seal():
    return PortalSeal(secrets.token_urlsafe(32))


def client(stand_in, *, api_scope: str = API_SCOPE, secret: str = CLIENT_SECRET) -> OidcClient:
    return OidcClient(stand_in.authority, CLIENT_ID, REDIRECT, client_secret=secret, api_scope=api_scope,
                      expected_issuer=stand_in.issuer)


def sign_in(stand_in, oidc: OidcClient, seal: PortalSeal) -> tuple[str, str]:
    """A browser's trip through authorize: the state and the code the stand-in redirected back with."""
    state, _ = seal.new_flow()
    url = oidc.authorization_url(state, seal.nonce(state), seal.code_challenge(seal.code_verifier(state)))
    query = dict(parse_qsl(urlsplit(url).query))
    back = dict(parse_qsl(urlsplit(stand_in.authorize(query)).query))
    assert back["state"] == state
    return state, back["code"]


def test_the_authorization_request_asks_for_a_code_with_pkce_s256_state_and_nonce(stand_in, seal):
    oidc = client(stand_in)
    state, _ = seal.new_flow()
    verifier = seal.code_verifier(state)
    url = oidc.authorization_url(state, seal.nonce(state), seal.code_challenge(verifier))
    assert url.startswith(stand_in.discovery()["authorization_endpoint"] + "?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["state"] == state and query["nonce"] == seal.nonce(state) != state
    assert query["redirect_uri"] == REDIRECT and query["client_id"] == CLIENT_ID
    assert API_SCOPE in query["scope"].split() and "openid" in query["scope"].split()
    # The verifier is not in the request; only its S256 challenge, 43 characters of base64url.
    assert verifier not in url and len(query["code_challenge"]) == 43


def test_a_code_redeemed_with_its_verifier_gives_the_api_token_the_partner_verifier_accepts(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    signed_in = oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))
    caller = stand_in.verifier().verify(f"Bearer {signed_in.token}")  # the partner API's audience
    assert caller.verified_email == "admin@partner.example" and caller.issuer == stand_in.issuer
    assert signed_in.expires_at > time.time() + 3000


def test_without_an_api_scope_the_id_token_is_the_token(stand_in, seal):
    oidc = client(stand_in, api_scope="")
    state, code = sign_in(stand_in, oidc, seal)
    token = oidc.redeem(code, seal.code_verifier(state), seal.nonce(state)).token
    from shared.adapters.jwks_tokens import JwksTokenVerifier

    assert JwksTokenVerifier(stand_in.issuer, CLIENT_ID, stand_in.jwks_url).verify(f"Bearer {token}")
    with pytest.raises(Exception, match="another audience"):
        stand_in.verifier().verify(f"Bearer {token}")  # not a token for the API's audience


def test_a_replayed_code_is_refused(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))
    with pytest.raises(SignInFailed, match="used before, expired"):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_an_expired_code_is_refused(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    stand_in.code_seconds = 0
    time.sleep(0.01)
    with pytest.raises(SignInFailed, match="code was refused"):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_another_flows_verifier_is_refused_by_pkce(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    other_state, _ = seal.new_flow()
    with pytest.raises(SignInFailed):
        oidc.redeem(code, seal.code_verifier(other_state), seal.nonce(state))
    assert code not in stand_in.redeemed


def test_a_wrong_nonce_in_the_id_token_is_refused(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    stand_in.id_token_claims = {"nonce": "a-nonce-of-another-sign-in"}
    with pytest.raises(SignInFailed, match="nonce"):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_an_id_token_for_another_audience_is_refused(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    stand_in.id_token_claims = {"aud": API_APP_ID}
    with pytest.raises(SignInFailed, match="another application"):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_an_id_token_signed_with_an_unpublished_key_is_refused(stand_in, seal):
    oidc = client(stand_in)
    state, code = sign_in(stand_in, oidc, seal)
    stand_in.withdraw(stand_in.kid)
    stand_in.publish("other-key")
    with pytest.raises(SignInFailed):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_a_wrong_client_secret_is_refused(stand_in, seal):
    oidc = client(stand_in, secret="not-the-secret")
    state, code = sign_in(stand_in, oidc, seal)
    with pytest.raises(SignInFailed):
        oidc.redeem(code, seal.code_verifier(state), seal.nonce(state))


def test_a_discovery_naming_another_issuer_than_the_partner_api_accepts_is_refused(stand_in):
    oidc = OidcClient(stand_in.authority, CLIENT_ID, REDIRECT, expected_issuer="https://elsewhere.example/v2.0")
    with pytest.raises(SignInFailed, match="not the one the partner services accept"):
        oidc.discovery()


# --- sealed cookies ---------------------------------------------------------------------------------------
def test_a_session_changed_or_sealed_with_another_secret_opens_as_none(seal):
    session, sealed = seal.new_session("a.token.value", int(time.time()) + 60)
    assert seal.session(sealed) == session
    assert seal.session(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")) is None
    assert PortalSeal(secrets.token_urlsafe(32)).session(sealed) is None
    assert seal.flow_state(sealed) is None  # a session is not a flow


def test_a_flow_older_than_ten_minutes_is_gone(seal, monkeypatch):
    state, sealed = seal.new_flow()
    assert seal.flow_state(sealed) == state
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    assert seal.flow_state(sealed) is None


def test_csrf_is_the_sessions_own(seal):
    one, _ = seal.new_session("t", 0)
    other, _ = seal.new_session("t", 0)
    assert seal.csrf_matches(one, seal.csrf_token(one))
    assert not seal.csrf_matches(one, seal.csrf_token(other)) and not seal.csrf_matches(one, None)


@pytest.mark.parametrize("secret", ["", "short", "@Microsoft.KeyVault(VaultName=kv;SecretName=portal-session-secret)"])
def test_a_missing_short_or_unresolved_secret_is_refused(secret):
    with pytest.raises(SessionSecretMissing):
        PortalSeal(secret)


# --- the local development issuer -----------------------------------------------------------------------------
def local_flow(issuer: LocalIssuer, seal: PortalSeal) -> tuple[AuthorizeRequest, str]:
    state, _ = seal.new_flow()
    request = AuthorizeRequest(client_id=LOCAL_CLIENT_ID, redirect_uri=REDIRECT, response_type="code",
                               scope="openid profile email", state=state, nonce=seal.nonce(state),
                               code_challenge=seal.code_challenge(seal.code_verifier(state)),
                               code_challenge_method="S256")
    return request, seal.code_verifier(state)


def redeem(issuer, code, verifier, redirect=REDIRECT):
    return issuer.redeem(TokenRequest(grant_type="authorization_code", code=code, redirect_uri=redirect,
                                      client_id=LOCAL_CLIENT_ID, code_verifier=verifier))


def test_the_local_issuer_redeems_a_code_once_with_its_verifier(tmp_path, seal):
    import jwt

    issuer = LocalIssuer(tmp_path, "http://127.0.0.1:7071", REDIRECT)
    request, verifier = local_flow(issuer, seal)
    code = issuer.issue_code(request, "Astrid@Fabrikam.example")
    answer = redeem(issuer, code, verifier)
    claims = jwt.decode(answer["id_token"], options={"verify_signature": False})
    assert claims["iss"] == LOCAL_ISSUER_ID and claims["aud"] == LOCAL_CLIENT_ID
    assert claims["nonce"] == request.nonce and claims["email"] == "astrid@fabrikam.example"
    with pytest.raises(OAuthError, match="used before"):
        redeem(issuer, code, verifier)


def test_the_local_issuer_checks_pkce_the_redirect_and_expiry(tmp_path, seal):
    clock = [1000.0]
    issuer = LocalIssuer(tmp_path, "http://127.0.0.1:7071", REDIRECT, clock=lambda: clock[0])
    request, verifier = local_flow(issuer, seal)
    _, other_verifier = local_flow(issuer, seal)
    with pytest.raises(OAuthError, match="verifier"):
        redeem(issuer, issuer.issue_code(request, "a@b.example"), other_verifier)
    with pytest.raises(OAuthError, match="another client or redirect"):
        redeem(issuer, issuer.issue_code(request, "a@b.example"), verifier, redirect=REDIRECT + "x")
    code = issuer.issue_code(request, "a@b.example")
    clock[0] += 61
    with pytest.raises(OAuthError, match="expired"):
        redeem(issuer, code, verifier)
    with pytest.raises(OAuthError, match="callback"):
        issuer.check_authorize(request.model_copy(update={"redirect_uri": "https://evil.example/cb"}))


def test_local_issuer_tokens_pass_the_partner_verifier_of_the_local_settings(tmp_path):
    """The same key signs in the host and in `b2b token` (the state folder's), and LOCAL_ISSUER's settings name
    its issuer and audience."""
    settings = Settings.from_env({"LOCAL_ISSUER": "true", "WEBSITE_HOSTNAME": "127.0.0.1:7071",
                                  "DATA_DIR": str(tmp_path)})
    assert (settings.partner_token_issuer, settings.partner_token_audience) == (LOCAL_ISSUER_ID, LOCAL_CLIENT_ID)
    assert settings.partner_token_jwks_url == "http://127.0.0.1:7071/api/local-issuer/keys"
    token = LocalIssuer(tmp_path, "http://localhost:9999", REDIRECT).token_for("erik@fabrikam.example")
    again = LocalIssuer(tmp_path, "http://127.0.0.1:7071", REDIRECT)
    import jwt

    key = jwt.PyJWK(again.jwks()["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=LOCAL_CLIENT_ID, issuer=LOCAL_ISSUER_ID)
    assert claims["email_verified"] is True


@pytest.mark.parametrize("environ, refusal", [
    ({"WEBSITE_INSTANCE_ID": "abc123"}, "refused in Azure"),
    ({"WEBSITE_SKU": "FlexConsumption", "WEBSITE_HOSTNAME": "127.0.0.1:7071"}, "refused in Azure"),  # Flex
    ({"PUBLIC_BASE_URL": "https://b2b.contoso.com"}, "loopback"),
    ({"WEBSITE_HOSTNAME": "127.0.0.1:7071", "PARTNER_TOKEN_ISSUER": "https://x.example"}, "sets PARTNER_TOKEN_ISSUER"),
])
def test_the_local_issuer_is_refused_in_azure_off_loopback_and_beside_real_settings(environ, refusal):
    with pytest.raises(ValueError, match=refusal):
        Settings.from_env({"LOCAL_ISSUER": "true", **environ})


def test_portal_settings_must_fit_the_partner_token_settings(stand_in):
    env = stand_in.portal_env(api_scope=False)
    assert Settings.from_env(env).portal_configured
    with pytest.raises(ValueError, match="PARTNER_TOKEN_AUDIENCE must be the same"):
        Settings.from_env({**env, "PARTNER_TOKEN_AUDIENCE": API_APP_ID})
    with pytest.raises(ValueError, match="PARTNER_TOKEN_ISSUER"):
        Settings.from_env({"PORTAL_OIDC_AUTHORITY": stand_in.authority, "PORTAL_CLIENT_ID": CLIENT_ID})
