"""What stands in front of the intake (``IntakeService.submit``) for the anonymous form and JSON API: the
form's honeypot and minimum fill time, an optional CAPTCHA, and rate limits per client address and per
requester email domain, counted in the store so that they hold across instances.

A request the form's checks take for a bot's is answered exactly as an accepted one (a decoy request id,
the same confirmation and status pages) and not kept: nothing tells its sender what gave it away. Each
refusal is one structured log line (``intake_rejected_bot``, ``intake_rate_limited``, ``intake_captcha_refused``)
with the reason and channel, never an address, email or name."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Mapping

from shared.domain import intake_defenses as defenses
from shared.ports import CaptchaUnreachable, CaptchaVerifier, Clock, Store

log = logging.getLogger("b2b.intake.defenses")

CAPTCHA_PROVIDERS = ("turnstile", "hcaptcha", "recaptcha")
SIGNING_SECRET_NAME = "intake-signing"
CLIENT_WINDOW = timedelta(minutes=1)
DOMAIN_WINDOW = timedelta(hours=1)
# How many ended windows the timer (functions/intake_defenses.py) deletes per store call: a quiet key's row
# does not stay.
EXPIRE_BATCH = 1000

# A provider's error codes that say our own configuration is wrong (the secret, the site key), not the token:
# the sender can do nothing about them, so they count as the provider being unavailable (and are logged).
_OUR_FAULT = frozenset({"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch",
                        "invalid-or-already-seen-response-secret", "internal-error"})
# A token that was good once but is spent or too old: the person solves the challenge again.
_EXPIRED = frozenset({"timeout-or-duplicate", "expired-input-response", "already-seen-response"})


class RateLimited(Exception):
    def __init__(self, scope: str, retry_after: int):
        self.scope, self.retry_after = scope, retry_after  # scope: "client" or "domain"
        super().__init__(f"too many requests from this {scope}; try again in {retry_after} s")


class CaptchaRefused(Exception):
    """The CAPTCHA was not solved: ``code`` is captcha_missing, captcha_failed or captcha_expired."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(CAPTCHA_DETAILS[code])


class CaptchaUnavailable(Exception):
    """The provider could not say (and CAPTCHA_FAIL_OPEN is false): the request is refused for now."""


CAPTCHA_DETAILS = {
    "captcha_missing": "complete the CAPTCHA: send its token",
    "captcha_failed": "the CAPTCHA was not solved",
    "captcha_expired": "the CAPTCHA token was used already or is too old: solve it again",
}


@dataclass(frozen=True)
class DefenseSettings:
    min_fill: timedelta
    client_limit_per_minute: int  # 0: off
    domain_limit_per_hour: int  # 0: off
    client_ip_header: str
    client_ip_proxy_hops: int
    captcha_fail_open: bool
    recaptcha_min_score: float
    signing_secret: str  # empty: the store's shared secret

    @classmethod
    def of(cls, settings) -> DefenseSettings:
        return cls(timedelta(seconds=settings.intake_min_fill_seconds), settings.intake_rate_limit_per_minute,
                   settings.intake_domain_rate_limit_per_hour, settings.client_ip_header,
                   settings.client_ip_proxy_hops, settings.captcha_fail_open, settings.recaptcha_min_score,
                   settings.intake_signing_secret)


def validate_defense_settings(settings) -> None:
    """ValueError naming what is wrong, at start (shared.config.Settings.validate)."""
    if settings.captcha_provider and settings.captcha_provider not in CAPTCHA_PROVIDERS:
        raise ValueError(f"CAPTCHA_PROVIDER={settings.captcha_provider!r} is not one of {', '.join(CAPTCHA_PROVIDERS)} "
                         "(or empty: no CAPTCHA)")
    if settings.captcha_provider and not (settings.captcha_site_key and settings.captcha_secret):
        raise ValueError(f"CAPTCHA_PROVIDER={settings.captcha_provider} needs CAPTCHA_SITE_KEY and CAPTCHA_SECRET")
    for name, value in (("INTAKE_RATE_LIMIT_PER_MINUTE", settings.intake_rate_limit_per_minute),
                        ("INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR", settings.intake_domain_rate_limit_per_hour),
                        ("INTAKE_MIN_FILL_SECONDS", settings.intake_min_fill_seconds)):
        if value < 0:
            raise ValueError(f"{name}={value} must be 0 (off) or more")
    if not 0 <= settings.recaptcha_min_score <= 1:
        raise ValueError(f"RECAPTCHA_MIN_SCORE={settings.recaptcha_min_score} must be between 0 and 1")
    if not settings.client_ip_header.strip() or settings.client_ip_proxy_hops < 1:
        raise ValueError("CLIENT_IP_HEADER must name a header and CLIENT_IP_PROXY_HOPS be 1 or more")
    if not 0 < settings.captcha_timeout_seconds <= 30:
        raise ValueError(f"CAPTCHA_TIMEOUT_SECONDS={settings.captcha_timeout_seconds} must be above 0 and at most 30")


class IntakeGuard:
    def __init__(self, store: Store, clock: Clock, settings: DefenseSettings, captcha: CaptchaVerifier | None = None):
        self._store, self._clock, self._settings, self.captcha = store, clock, settings, captcha

    @cached_property
    def _key(self) -> bytes:
        """The signing key: INTAKE_SIGNING_SECRET, else a random one the store keeps for every instance."""
        if self._settings.signing_secret:
            return self._settings.signing_secret.encode("utf-8")
        return self._store.shared_secret(SIGNING_SECRET_NAME)

    # --- the form's own checks -----------------------------------------------------------------------------
    def new_stamp(self) -> str:
        return defenses.issue_stamp(self._key, self._clock.now())

    def bot_reason(self, stamp: str | None, honeypot: str | None) -> str | None:
        """Why a form post looks like a bot's (the honeypot has a value, the stamp is missing, forged or too
        old, or it came back sooner than the minimum fill time), or None."""
        if honeypot:
            return defenses.HONEYPOT_FILLED
        reason = defenses.stamp_problem(self._key, stamp, self._clock.now(), self._settings.min_fill)
        if reason == defenses.TOO_FAST and not self._settings.min_fill:
            return None
        return reason

    def decoy(self, reason: str, channel: str) -> str:
        """A request id to answer a bot with, as if its request were accepted; the refusal is logged."""
        log.info("intake_rejected_bot", extra={"event": "intake_rejected_bot", "reason": reason, "channel": channel})
        return defenses.decoy_id(self._key, self._clock.now())

    def decoy_received_at(self, request_id: str) -> datetime | None:
        """When a decoy id was handed out (its pages show it as a received request); None for any other."""
        return defenses.decoy_received_at(self._key, request_id)

    # --- every channel: rate limits and the CAPTCHA ----------------------------------------------------------
    def client_address(self, headers: Mapping[str, str]) -> str | None:
        return defenses.client_address(headers, self._settings.client_ip_header, self._settings.client_ip_proxy_hops)

    def admit(self, address: str | None, captcha_token: str | None, payload: object, channel: str) -> None:
        """Everything but the form's own checks, in order: the client's rate limit, the CAPTCHA, the email
        domain's rate limit (RateLimited, CaptchaRefused, CaptchaUnavailable). The domain is counted only once
        the CAPTCHA passed, so requests without one cannot use up a domain's hour; without a CAPTCHA both
        windows are counted in one store write (the defenses' cost is mostly that write)."""
        client = self._window("client", address or "unknown", CLIENT_WINDOW, self._settings.client_limit_per_minute)
        domain_name = defenses.email_domain(payload)
        domain = self._window("domain", domain_name, DOMAIN_WINDOW, self._settings.domain_limit_per_hour) \
            if domain_name is not None else None
        if self.captcha is None:
            self._count([window for window in (client, domain) if window], channel)
            return
        self._count([client] if client else [], channel)
        self.check_captcha(captcha_token, address, channel)
        self._count([domain] if domain else [], channel)

    def _window(self, scope: str, value: str, length: timedelta, limit: int):
        """(scope, the store's key, the window now, limit), or None when that limit is off. Requests without an
        address (no such header: a misconfigured front end) share one window."""
        if not limit:
            return None
        return scope, defenses.hashed_key(self._key, scope, value), defenses.fixed_window(self._clock.now(), length), \
            limit

    def _count(self, windows: list, channel: str) -> None:
        if not windows:
            return
        answers = self._store.count_in_windows([(key, window.start, window.end, limit)
                                                for _scope, key, window, limit in windows])
        refused = [(scope, window) for (scope, _key, window, _limit), counted in zip(windows, answers) if not counted]
        if refused:
            scope, window = max(refused, key=lambda item: item[1].end)  # the one that lasts longest says when
            log.info("intake_rate_limited", extra={"event": "intake_rate_limited", "scope": scope, "channel": channel})
            raise RateLimited(scope, window.retry_after(self._clock.now()))

    def check_captcha(self, token: str | None, address: str | None, channel: str) -> None:
        """Nothing when no CAPTCHA is configured or the provider vouches for ``token``; CaptchaRefused when
        it does not, CaptchaUnavailable when it cannot say (unless CAPTCHA_FAIL_OPEN)."""
        if self.captcha is None:
            return
        if not token:
            self._refused("captcha_missing", channel)
        try:
            answer = self.captcha.verify(token, address)
        except CaptchaUnreachable as error:
            return self._unavailable(str(error), channel)
        if not answer.success:
            codes = set(answer.error_codes)
            if codes & _OUR_FAULT:
                log.error("the CAPTCHA provider refused our configuration", extra={
                    "event": "intake_captcha_misconfigured", "provider": self.captcha.provider,
                    "error_codes": sorted(codes & _OUR_FAULT)})
                return self._unavailable("configuration refused", channel)
            self._refused("captcha_expired" if codes & _EXPIRED else "captcha_failed", channel)
        if answer.score is not None and answer.score < self._settings.recaptcha_min_score:
            self._refused("captcha_failed", channel)

    def _refused(self, code: str, channel: str) -> None:
        log.info("intake_captcha_refused", extra={"event": "intake_captcha_refused", "reason": code, "channel": channel})
        raise CaptchaRefused(code)

    def _unavailable(self, why: str, channel: str) -> None:
        if self._settings.captcha_fail_open:
            log.warning("CAPTCHA unavailable; let through (CAPTCHA_FAIL_OPEN)", extra={
                "event": "intake_captcha_unavailable", "detail": why, "channel": channel, "fail_open": True})
            return
        log.warning("CAPTCHA unavailable; refused", extra={
            "event": "intake_captcha_unavailable", "detail": why, "channel": channel, "fail_open": False})
        raise CaptchaUnavailable(why)

    def expire_windows(self, limit: int = EXPIRE_BATCH) -> int:
        """Delete the windows that ended (the timer's work); returns how many."""
        return self._store.expire_rate_windows(self._clock.now(), limit)
