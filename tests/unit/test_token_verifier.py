"""Bearer JWTs against a JWKS served on loopback (tests/auth_keys.py): what is accepted, every way a token is
refused, key rotation and the refetch limit, and the settings that switch partner tokens on."""
from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from shared.adapters.jwks_tokens import JwksTokenVerifier
from shared.bootstrap import Container, build_token_verifier
from shared.config import Settings
from shared.domain.errors import DomainError, NotConfigured, TokenKeysUnavailable, Unauthenticated
from shared.ports import Caller


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(verifier, authorization) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(authorization)
    return caught.value


def test_a_valid_token_names_the_caller(jwks):
    claims = jwks.claims_for("anna@partner.example")
    caller = jwks.verifier().verify(f"Bearer {jwks.sign(claims)}")
    assert caller == Caller(issuer=jwks.issuer, subject=claims["sub"], verified_email="anna@partner.example")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive_and_the_email_is_normalised(jwks, scheme):
    caller = jwks.verifier().verify(f"  {scheme}   {jwks.token_for('  Anna.Svensson@Partner.EXAMPLE ')} ")
    assert caller.verified_email == "anna.svensson@partner.example"


# Every refusal, with its reason. Each case builds the Authorization header from the running issuer.
REFUSALS = {
    "no header": (lambda j: None, "no bearer token", None),
    "empty header": (lambda j: "   ", "no bearer token", None),
    "another scheme": (lambda j: f"Basic {j.token_for('a@b.example')}", "not a bearer token", None),
    "bearer without token": (lambda j: "Bearer ", "empty bearer token", "invalid_request"),
    "not a JWT": (lambda j: "Bearer hello", "malformed token", "invalid_token"),
    "garbage segments": (lambda j: "Bearer aaa.bbb.ccc", "malformed token", "invalid_token"),
    "two tokens": (lambda j: f"Bearer {j.token_for('a@b.example')} x", "malformed token", "invalid_token"),
    "alg none": (lambda j: j.sign(j.claims_for("a@b.example"), alg="none"), "unsigned token", "invalid_token"),
    "HS256 keyed with the public key": (
        lambda j: j.sign(j.claims_for("a@b.example"), alg="HS256", key=j.public_pem),
        "signing algorithm not accepted (only RS256)", "invalid_token"),
    "RS512": (lambda j: j.sign(j.claims_for("a@b.example"), alg="RS512"),
              "signing algorithm not accepted (only RS256)", "invalid_token"),
    "no kid": (lambda j: j.sign(j.claims_for("a@b.example"), kid=""), "token names no signing key (kid)",
               "invalid_token"),
    "another key under the published kid": (
        lambda j: j.sign(j.claims_for("a@b.example"), key=j.attacker_key), "signature does not verify",
        "invalid_token"),
    "another key under its own kid": (
        lambda j: j.sign(j.claims_for("a@b.example"), key=j.attacker_key, kid="attacker"),
        "token is signed with an unknown key", "invalid_token"),
    "payload swapped after signing": (lambda j: _swap_payload(j), "signature does not verify", "invalid_token"),
    "wrong issuer": (lambda j: j.token_for("a@b.example", issuer="https://evil.example/v2.0"),
                     "token is from another issuer", "invalid_token"),
    "wrong audience": (lambda j: j.token_for("a@b.example", audience="api://someone-else"),
                       "token is for another audience", "invalid_token"),
    "expired beyond the leeway": (lambda j: j.token_for("a@b.example", exp=int(time.time()) - 61 - 5),
                                  "token expired", "invalid_token"),
    "not yet valid": (lambda j: j.token_for("a@b.example", nbf=int(time.time()) + 600), "token not yet valid",
                      "invalid_token"),
    "no exp": (lambda j: j.token_for("a@b.example", exp=None), "token has no exp claim", "invalid_token"),
    "no sub": (lambda j: j.token_for("a@b.example", sub=None), "token has no sub claim", "invalid_token"),
    "blank sub": (lambda j: j.token_for("a@b.example", sub="  "), "token has no subject (sub)", "invalid_token"),
}


def _swap_payload(j) -> str:
    header, _, signature = j.token_for("victim@b.example").split(".")
    other_payload = j.token_for("attacker@b.example").split(".")[1]
    return f"{header}.{other_payload}.{signature}"


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_bad_token_is_refused_with_its_reason(jwks, case):
    build, reason, error = REFUSALS[case]
    authorization = build(jwks)
    if authorization and authorization.startswith("eyJ"):  # a bare token: send it as a bearer token
        authorization = f"Bearer {authorization}"
    refusal = refused(jwks.verifier(), authorization)
    assert (str(refusal), refusal.error) == (reason, error)
    assert isinstance(refusal, DomainError)


def test_the_wrongly_signed_token_verifies_once_signed_with_the_published_key(jwks):
    """The refusals above are about the one thing each case changes: the same claims, rightly signed, pass."""
    claims = jwks.claims_for("a@b.example")
    verifier = jwks.verifier()
    assert refused(verifier, f"Bearer {jwks.sign(claims, key=jwks.attacker_key)}").reason == "signature does not verify"
    assert verifier.verify(f"Bearer {jwks.sign(claims)}").verified_email == "a@b.example"


def test_the_leeway_absorbs_clock_skew(jwks):
    now = int(time.time())
    verifier = jwks.verifier(leeway_seconds=60)
    assert verifier.verify(jwks.header_for("a@b.example", exp=now - 30)).verified_email == "a@b.example"
    assert verifier.verify(jwks.header_for("a@b.example", nbf=now + 30)).verified_email == "a@b.example"
    assert refused(jwks.verifier(leeway_seconds=0), jwks.header_for("a@b.example", exp=now - 30)).reason \
        == "token expired"


def test_the_challenge_follows_rfc_6750(jwks):
    verifier = jwks.verifier()
    assert refused(verifier, None).challenge("partners") == 'Bearer realm="partners"'
    expired = refused(verifier, jwks.header_for("a@b.example", exp=int(time.time()) - 3600))
    assert expired.challenge("partners") == (
        'Bearer realm="partners", error="invalid_token", error_description="token expired"')
    assert Unauthenticated('say "hi"\\\n').challenge("p").endswith('error_description="say hi"')


def test_the_token_is_never_logged_nor_repeated(jwks, caplog):
    caplog.set_level(logging.DEBUG)
    verifier = jwks.verifier()
    good = jwks.token_for("a@b.example")
    bad = [jwks.sign(jwks.claims_for("a@b.example"), key=jwks.attacker_key, kid="attacker"),
           jwks.token_for("a@b.example", audience="api://other"), jwks.sign(jwks.claims_for("a@b"), alg="none")]
    verifier.verify(f"Bearer {good}")
    reasons = [str(refused(verifier, f"Bearer {token}")) for token in bad]
    for token in [good, *bad]:
        for part in token.split("."):
            if part:
                assert part not in caplog.text and all(part not in reason for reason in reasons)


# -- the account and the email the issuer vouches for ------------------------------------------------------
def test_a_token_without_an_email_names_its_account_still(jwks):
    claims = jwks.claims_for("a@b.example", email=None, email_verified=None)
    assert jwks.verifier().verify(f"Bearer {jwks.sign(claims)}") == Caller(jwks.issuer, claims["sub"], None)


@pytest.mark.parametrize("claims, vouched", [
    ({}, "anna@b.example"),
    ({"email_verified": "true"}, "anna@b.example"),  # some issuers send the string
    ({"email_verified": None}, None),
    ({"email_verified": False}, None),
    ({"email_verified": "false"}, None),
    ({"email_verified": 1}, None),
    ({"email": "not an email"}, None),
], ids=["true", "'true'", "absent", "false", "'false'", "1", "not an email"])
def test_an_email_counts_only_with_email_verified_true(jwks, claims, vouched):
    assert jwks.verifier().verify(jwks.header_for("Anna@B.example", **claims)).verified_email == vouched


def test_preferred_username_never_counts(jwks):
    for verified in (True, None):
        header = jwks.header_for("x@b.example", email=None, email_verified=verified,
                                 preferred_username="Bo.Ek@Partner.Example")
        assert jwks.verifier().verify(header).verified_email is None


@pytest.mark.parametrize("idp, vouched", [(None, "first@b2c.example"), ("issuer", "first@b2c.example"),
                                          ("google.com", None), ("https://evil.example/", None)])
def test_the_emails_claim_counts_for_local_accounts_only(jwks, idp, vouched):
    """B2C / External ID put a local account's verified sign-up email in ``emails``; a federated account's
    ``idp`` names the provider that vouched for its email instead: not this issuer."""
    header = jwks.header_for("ignored@b.example", email=None, email_verified=None, idp=jwks.issuer if idp == "issuer" else idp,
                             emails=[" First@B2C.Example", "second@b2c.example"])
    assert jwks.verifier().verify(header).verified_email == vouched


def test_which_ways_of_vouching_count_is_configured(jwks):
    both = jwks.header_for("email@b.example", emails=["array@b.example"])
    assert jwks.verifier().verify(both).verified_email == "email@b.example"
    assert jwks.verifier(email_trust=("emails_claim",)).verify(both).verified_email == "array@b.example"
    only_array = jwks.header_for("email@b.example", email_verified=None, emails=["array@b.example"])
    assert jwks.verifier(email_trust=("email_verified",)).verify(only_array).verified_email is None
    with pytest.raises(ValueError, match="email_trust"):
        jwks.verifier(email_trust=("preferred_username",))


def test_the_subject_may_be_the_object_id(jwks):
    claims = jwks.claims_for("a@b.example", oid="00000000-0000-0000-0000-0000000000aa")
    assert jwks.verifier(subject_claim="oid").verify(f"Bearer {jwks.sign(claims)}") == Caller(
        jwks.issuer, claims["oid"], "a@b.example", "oid")
    assert jwks.verifier().verify(f"Bearer {jwks.sign(claims)}").subject == claims["sub"]
    assert refused(jwks.verifier(subject_claim="oid"), jwks.header_for("a@b.example")).reason == "token has no oid claim"
    with pytest.raises(ValueError, match="subject_claim"):
        jwks.verifier(subject_claim="email")


# -- keys: caching, rotation, the refetch limit ------------------------------------------------------------
def test_keys_are_fetched_once_and_cached(jwks):
    verifier = jwks.verifier()
    assert jwks.fetches == 0, "building a verifier does no I/O"
    for n in range(5):
        verifier.verify(jwks.header_for(f"user{n}@b.example"))
    assert jwks.fetches == 1


def test_a_rotated_key_is_accepted_after_one_refetch(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock, refetch_interval_seconds=30)
    verifier.verify(jwks.header_for("a@b.example"))
    new_key = jwks.publish("key-2")
    rotated = "Bearer " + jwks.sign(jwks.claims_for("a@b.example"), key=new_key, kid="key-2")

    assert refused(verifier, rotated).reason == "token is signed with an unknown key", "within the refetch limit"
    assert jwks.fetches == 1
    clock.now += 31
    assert verifier.verify(rotated).verified_email == "a@b.example"
    assert verifier.verify(jwks.header_for("a@b.example")).verified_email == "a@b.example", "the old key still counts"
    assert jwks.fetches == 2


def test_made_up_key_ids_cannot_hammer_the_jwks_endpoint(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock, refetch_interval_seconds=30)
    for _ in range(3):
        for _ in range(50):
            bogus = jwks.sign(jwks.claims_for("a@b.example"), key=jwks.attacker_key, kid=uuid.uuid4().hex)
            assert refused(verifier, f"Bearer {bogus}").reason == "token is signed with an unknown key"
        clock.now += 10
    assert jwks.fetches == 1, "150 unknown kids within 30 s: the first fetch only"
    clock.now += 1
    refused(verifier, "Bearer " + jwks.sign(jwks.claims_for("a@b.example"), key=jwks.attacker_key, kid="again"))
    assert jwks.fetches == 2, "once the interval has passed, one more"


def test_concurrent_callers_share_one_fetch(jwks):
    verifier = jwks.verifier()
    headers = [jwks.header_for(f"user{n}@b.example") for n in range(16)]
    bogus = [f"Bearer {jwks.sign(jwks.claims_for('x@b.example'), key=jwks.attacker_key, kid=f'k{n}')}"
             for n in range(16)]
    results, start = [], threading.Barrier(32)

    def call(header):
        start.wait()
        try:
            results.append(verifier.verify(header).verified_email)
        except Unauthenticated as refusal:
            results.append(refusal.reason)

    threads = [threading.Thread(target=call, args=(header,)) for header in headers + bogus]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted([f"user{n}@b.example" for n in range(16)]
                                     + ["token is signed with an unknown key"] * 16)
    assert jwks.fetches == 1


def test_an_old_cache_is_refreshed_and_a_withdrawn_key_stops_counting(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock, cache_seconds=3600)
    header = jwks.header_for("a@b.example")
    verifier.verify(header)
    jwks.withdraw(jwks.kid)
    clock.now += 1800
    assert verifier.verify(header).verified_email == "a@b.example", "the cache is still young"
    clock.now += 1801
    assert refused(verifier, header).reason == "token is signed with an unknown key"
    assert jwks.fetches == 2


def test_an_unreachable_jwks_is_the_servers_trouble_not_the_callers(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock)
    header = jwks.header_for("a@b.example")
    jwks.fail_with = 503
    with pytest.raises(TokenKeysUnavailable):
        verifier.verify(header)
    with pytest.raises(TokenKeysUnavailable):
        verifier.verify(header)
    assert jwks.fetches == 1, "a failing endpoint is not asked again within the refetch interval"
    jwks.fail_with = None
    clock.now += 31
    assert verifier.verify(header).verified_email == "a@b.example"


def test_keys_held_stay_in_use_when_a_refresh_fails(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock, cache_seconds=60)
    header = jwks.header_for("a@b.example")
    verifier.verify(header)
    jwks.fail_with = 500
    clock.now += 120
    assert verifier.verify(header).verified_email == "a@b.example"
    assert jwks.fetches == 2


def test_an_unusable_jwks_document_is_unavailable_keys(jwks):
    verifier = JwksTokenVerifier(jwks.issuer, jwks.audience, jwks.jwks_url.replace("/keys", "/nothing"))
    with pytest.raises(TokenKeysUnavailable, match="404"):
        verifier.verify(jwks.header_for("a@b.example"))


# -- settings and wiring ---------------------------------------------------------------------------------
PARTNER_SETTINGS = ("PARTNER_TOKEN_ISSUER", "PARTNER_TOKEN_AUDIENCE", "PARTNER_TOKEN_JWKS_URL")


def test_partner_tokens_are_off_by_default_and_the_routes_say_so():
    settings = Settings.from_env({})
    assert not settings.partner_tokens_configured
    with pytest.raises(NotConfigured, match="PARTNER_TOKEN_ISSUER"):
        build_token_verifier(settings)
    container = Container(settings=settings, clock=None, store=None, queue=None, sales=None, transport=None)
    with pytest.raises(NotConfigured):
        container.token_verifier


@pytest.mark.parametrize("given", [0, 1, 2])
def test_one_partner_setting_needs_the_other_two(given):
    environ = {"PARTNER_TOKEN_ISSUER": "https://issuer.example/v2.0", "PARTNER_TOKEN_AUDIENCE": "api://x",
               "PARTNER_TOKEN_JWKS_URL": "https://issuer.example/keys"}
    missing = [name for name in PARTNER_SETTINGS if name != PARTNER_SETTINGS[given]]
    with pytest.raises(ValueError, match=f"missing {', '.join(missing)}"):
        Settings.from_env({PARTNER_SETTINGS[given]: environ[PARTNER_SETTINGS[given]]})


@pytest.mark.parametrize("url, accepted", [
    ("https://contoso.ciamlogin.com/t/discovery/v2.0/keys", True),
    ("http://127.0.0.1:8123/keys", True),
    ("http://localhost/keys", True),
    ("http://[::1]:8123/keys", True),
    ("http://contoso.ciamlogin.com/keys", False),
    ("http://127.0.0.1.evil.example/keys", False),
    ("ftp://contoso.example/keys", False),
    ("https:///keys", False),
    ("contoso.example/keys", False),
])
def test_the_jwks_url_is_https_except_on_loopback(url, accepted):
    environ = {"PARTNER_TOKEN_ISSUER": "https://issuer.example/v2.0", "PARTNER_TOKEN_AUDIENCE": "api://x",
               "PARTNER_TOKEN_JWKS_URL": url}
    if accepted:
        assert Settings.from_env(environ).partner_token_jwks_url == url
    else:
        with pytest.raises(ValueError, match="PARTNER_TOKEN_JWKS_URL must be an https:// URL"):
            Settings.from_env(environ)


def test_the_account_and_email_trust_settings(jwks):
    defaults = Settings.from_env(jwks.settings_env())
    assert (defaults.partner_token_subject_claim, defaults.partner_email_trust) == ("sub", ("email_verified", "emails_claim"))
    chosen = Settings.from_env({**jwks.settings_env(), "PARTNER_TOKEN_SUBJECT_CLAIM": "oid",
                                "PARTNER_TOKEN_EMAIL_TRUST": " emails_claim "})
    verifier = build_token_verifier(chosen)
    assert (verifier.subject_claim, verifier.email_trust) == ("oid", ("emails_claim",))
    for name, value in [("PARTNER_TOKEN_SUBJECT_CLAIM", "email"), ("PARTNER_TOKEN_EMAIL_TRUST", "preferred_username"),
                        ("PARTNER_TOKEN_EMAIL_TRUST", " , ")]:
        with pytest.raises(ValueError, match=name):
            Settings.from_env({**jwks.settings_env(), name: value})


def test_the_container_builds_a_verifier_from_settings(jwks):
    settings = Settings.from_env(jwks.settings_env())
    container = Container(settings=settings, clock=None, store=None, queue=None, sales=None, transport=None)
    verifier = container.token_verifier
    assert isinstance(verifier, JwksTokenVerifier) and container.token_verifier is verifier
    assert verifier.verify(jwks.header_for("Admin@Partner.example")).verified_email == "admin@partner.example"
