"""The CaptchaVerifier port's contract, run against each provider's adapter (Turnstile, hCaptcha,
reCAPTCHA) talking to a loopback stand-in of that provider's siteverify API (tests/captcha_stand_in.py),
and the intake guard's verdicts on what they answer: solved, not solved, spent, our secret refused, no
answer in time, an answer that is not the API's."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from shared.adapters.captcha import PROVIDERS, SiteverifyCaptcha
from shared.ports import CaptchaUnreachable
from shared.services.intake_guard import (
    CaptchaRefused,
    CaptchaUnavailable,
    DefenseSettings,
    IntakeGuard,
)
from tests.captcha_stand_in import DUPLICATE_CODE, SECRET, SITE_KEY, SiteverifyStandIn

TIMEOUT = 0.5


class FixedClock:
    def now(self):
        return datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request):
    with SiteverifyStandIn(request.param, slow_seconds=TIMEOUT * 4) as stand_in:
        yield request.param, stand_in


def verifier(provider, secret: str = SECRET) -> SiteverifyCaptcha:
    name, stand_in = provider
    return SiteverifyCaptcha(name, secret, SITE_KEY, verify_url=stand_in.verify_url, timeout=TIMEOUT)


def guard(provider, *, fail_open: bool = False, secret: str = SECRET, min_score: float = 0.5) -> IntakeGuard:
    settings = DefenseSettings(min_fill=timedelta(0), client_limit_per_minute=0,
                               domain_limit_per_hour=0, client_ip_header="X-Forwarded-For", client_ip_proxy_hops=1,
                               captcha_fail_open=fail_open, recaptcha_min_score=min_score,
                               signing_secret="a test secret")
    return IntakeGuard(store=None, clock=FixedClock(), settings=settings, captcha=verifier(provider, secret))


def test_a_solved_token_passes_and_the_provider_gets_what_it_documents(provider):
    name, stand_in = provider
    answer = verifier(provider).verify("pass-1", "203.0.113.7")
    assert answer.success and answer.error_codes == ()
    sent = stand_in.requests[-1]
    assert sent["secret"] == SECRET and sent["response"] == "pass-1" and sent["remoteip"] == "203.0.113.7"
    # hCaptcha checks the token was issued for our site key; the others take no such field.
    assert ("sitekey" in sent) is (name == "hcaptcha")
    guard(provider).check_captcha("pass-2", "203.0.113.7", "b2b-web")


def test_the_widgets_token_field_is_the_providers(provider):
    name, _ = provider
    assert verifier(provider).token_field == {"turnstile": "cf-turnstile-response", "hcaptcha": "h-captcha-response",
                                              "recaptcha": "g-recaptcha-response"}[name]


def test_a_token_it_did_not_issue_is_refused_as_failed(provider):
    answer = verifier(provider).verify("made-up", None)
    assert not answer.success and answer.error_codes == ("invalid-input-response",)
    with pytest.raises(CaptchaRefused) as refused:
        guard(provider).check_captcha("made-up-too", None, "b2b-web")
    assert refused.value.code == "captcha_failed"


def test_a_token_used_twice_is_refused_as_expired(provider):
    name, _ = provider
    check = guard(provider)
    check.check_captcha("pass-once", None, "b2b-web")
    assert verifier(provider).verify("pass-once", None).error_codes == (DUPLICATE_CODE[name],)
    with pytest.raises(CaptchaRefused) as refused:
        check.check_captcha("pass-once", None, "b2b-web")
    assert refused.value.code == "captcha_expired"


def test_no_token_is_refused_without_asking_the_provider(provider):
    _, stand_in = provider
    with pytest.raises(CaptchaRefused) as refused:
        guard(provider).check_captcha("", None, "b2b-web")
    assert refused.value.code == "captcha_missing" and stand_in.requests == []


def test_a_secret_the_provider_refuses_is_our_fault_closed_by_default_open_when_set(provider):
    assert verifier(provider, secret="").verify("pass-1", None).error_codes == ("missing-input-secret",)
    assert verifier(provider, secret="wrong").verify("pass-2", None).error_codes == ("invalid-input-secret",)
    with pytest.raises(CaptchaUnavailable):
        guard(provider, secret="wrong").check_captcha("pass-3", None, "b2b-web")
    guard(provider, secret="wrong", fail_open=True).check_captcha("pass-4", None, "b2b-web")


def test_a_provider_that_does_not_answer_in_time_fails_closed_unless_open(provider):
    started = time.monotonic()
    with pytest.raises(CaptchaUnreachable):
        verifier(provider).verify("slow-1", None)
    assert time.monotonic() - started < TIMEOUT * 3  # the timeout, not the provider, decided
    with pytest.raises(CaptchaUnavailable):
        guard(provider).check_captcha("slow-2", None, "b2b-web")
    guard(provider, fail_open=True).check_captcha("slow-3", None, "b2b-web")


def test_an_answer_that_is_not_the_apis_is_no_answer(provider):
    with pytest.raises(CaptchaUnreachable):
        verifier(provider).verify("broken-1", None)
    with pytest.raises(CaptchaUnavailable):
        guard(provider).check_captcha("broken-2", None, "b2b-web")


def test_an_unreachable_provider_is_no_answer(provider):
    name, stand_in = provider
    url = stand_in.verify_url
    stand_in.stop()
    with pytest.raises(CaptchaUnreachable):
        SiteverifyCaptcha(name, SECRET, SITE_KEY, verify_url=url, timeout=TIMEOUT).verify("pass-1", None)


def test_a_recaptcha_v3_score_below_the_threshold_is_refused(provider):
    name, _ = provider
    if name != "recaptcha":
        assert verifier(provider).verify("score-0.3-a", None).score is None  # only reCAPTCHA scores
        return
    assert verifier(provider).verify("score-0.3-a", None).score == 0.3
    with pytest.raises(CaptchaRefused):
        guard(provider).check_captcha("score-0.3-b", None, "b2b-web")
    guard(provider, min_score=0.2).check_captcha("score-0.3-c", None, "b2b-web")
