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
    assert caller == Caller(subject=claims["sub"], email="anna@partner.example", issuer=jwks.issuer)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive_and_the_email_is_normalised(jwks, scheme):
    caller = jwks.verifier().verify(f"  {scheme}   {jwks.token_for('  Anna.Svensson@Partner.EXAMPLE ')} ")
    assert caller.email == "anna.svensson@partner.example"


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
    "no email at all": (lambda j: j.token_for("a@b.example", email=None), "token carries no email address",
                        "invalid_token"),
    "preferred_username that is no email": (
        lambda j: j.token_for("a@b.example", email=None, preferred_username="anna"),
        "token carries no email address", "invalid_token"),
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
    assert verifier.verify(f"Bearer {jwks.sign(claims)}").email == "a@b.example"


def test_the_leeway_absorbs_clock_skew(jwks):
    now = int(time.time())
    verifier = jwks.verifier(leeway_seconds=60)
    assert verifier.verify(jwks.header_for("a@b.example", exp=now - 30)).email == "a@b.example"
    assert verifier.verify(jwks.header_for("a@b.example", nbf=now + 30)).email == "a@b.example"
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


# -- emails ----------------------------------------------------------------------------------------------
def test_b2c_sends_an_emails_array_and_its_first_entry_counts(jwks):
    header = jwks.header_for("ignored@b.example", email=None, emails=[" First@B2C.Example", "second@b2c.example"])
    assert jwks.verifier().verify(header).email == "first@b2c.example"


def test_preferred_username_counts_when_it_is_an_email(jwks):
    header = jwks.header_for("ignored@b.example", email=None, preferred_username="Bo.Ek@Partner.Example")
    assert jwks.verifier().verify(header).email == "bo.ek@partner.example"


def test_email_claims_are_tried_in_order(jwks):
    header = jwks.header_for("email@b.example", emails=["array@b.example"], preferred_username="upn@b.example")
    assert jwks.verifier().verify(header).email == "email@b.example"
    assert jwks.verifier(email_claims=("preferred_username",)).verify(header).email == "upn@b.example"
    no_usable = jwks.header_for("x@b.example", email="not an email", emails=[], preferred_username=None)
    assert refused(jwks.verifier(), no_usable).reason == "token carries no email address"


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
    assert verifier.verify(rotated).email == "a@b.example"
    assert verifier.verify(jwks.header_for("a@b.example")).email == "a@b.example", "the old key still counts"
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
            results.append(verifier.verify(header).email)
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
    assert verifier.verify(header).email == "a@b.example", "the cache is still young"
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
    assert verifier.verify(header).email == "a@b.example"


def test_keys_held_stay_in_use_when_a_refresh_fails(jwks):
    clock = FakeMonotonic()
    verifier = jwks.verifier(monotonic=clock, cache_seconds=60)
    header = jwks.header_for("a@b.example")
    verifier.verify(header)
    jwks.fail_with = 500
    clock.now += 120
    assert verifier.verify(header).email == "a@b.example"
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


def test_the_container_builds_a_verifier_from_settings(jwks):
    settings = Settings.from_env(jwks.settings_env())
    container = Container(settings=settings, clock=None, store=None, queue=None, sales=None, transport=None)
    verifier = container.token_verifier
    assert isinstance(verifier, JwksTokenVerifier) and container.token_verifier is verifier
    assert verifier.verify(jwks.header_for("Admin@Partner.example")).email == "admin@partner.example"
