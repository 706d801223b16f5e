"""The intake's defenses against bots and floods, as pure functions: the form's signed stamp, decoy request
ids, the client's address from a trusted header, and rate-limit windows. No I/O here; the service
(shared/services/intake_guard.py) wires them to the store, the clock and a CAPTCHA provider."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping

# The honeypot: a field a form-filling bot fills (its name is a bait: "website"), hidden from people by the
# stylesheet (display: none, which also hides it from screen readers and from browsers' autofill), with
# tabindex=-1 and autocomplete=off for a page whose stylesheet did not load.
HONEYPOT_FIELD = "website"
STAMP_FIELD = "form_stamp"
# The field each provider's widget puts its token in (Turnstile, hCaptcha, reCAPTCHA), and the JSON API's
# header for the same token.
CAPTCHA_TOKEN_FIELDS = ("cf-turnstile-response", "h-captcha-response", "g-recaptcha-response")
CAPTCHA_HEADER = "X-Captcha-Token"
# A stamp older than this is refused as a replay. A day, not less: a person may open the form in the morning
# and send it after lunch, or leave the tab open overnight; a refused stamp is answered as accepted and the
# request is lost without a word, so the age must cover every honest pace. A bot gains nothing from a long
# one: it can fetch a fresh stamp whenever it likes, so the stamp's job is the minimum fill time, not expiry.
STAMP_MAX_AGE = timedelta(hours=24)

# Why a request was taken for a bot's (the log line's reason; never shown to the sender).
HONEYPOT_FILLED, TOO_FAST, STAMP_MISSING, STAMP_FORGED, STAMP_EXPIRED = (
    "honeypot_filled", "too_fast", "stamp_missing", "stamp_forged", "stamp_expired")


def _mac(key: bytes, purpose: bytes, message: bytes) -> bytes:
    return hmac.new(key, purpose + b"\0" + message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def issue_stamp(key: bytes, at: datetime) -> str:
    """When the form was served, signed: ``<milliseconds>.<HMAC>``."""
    issued = str(int(at.timestamp() * 1000))
    return f"{issued}.{_b64(_mac(key, b'form-stamp', issued.encode())[:18])}"


def stamp_problem(key: bytes, stamp: str | None, now: datetime, min_fill: timedelta) -> str | None:
    """None for a stamp this app signed between ``STAMP_MAX_AGE`` and ``min_fill`` ago; else why not."""
    if not stamp:
        return STAMP_MISSING
    issued, _, signature = stamp.partition(".")
    if not (issued.isdigit() and len(issued) <= 16 and signature.isascii()) or not hmac.compare_digest(
            signature, _b64(_mac(key, b"form-stamp", issued.encode())[:18])):
        return STAMP_FORGED
    age = now - datetime.fromtimestamp(int(issued) / 1000, timezone.utc)
    if age > STAMP_MAX_AGE:
        return STAMP_EXPIRED
    if age < min_fill:  # a stamp from the future (another instance's clock ahead) is too fast as well
        return TOO_FAST
    return None


# --- decoy ids -----------------------------------------------------------------------------------------------
# A request taken for a bot's is answered like an accepted one, with a request id of its own: a version-4 UUID
# like every real one (random-looking in all 122 bits, and as unlikely to repeat), which carries, encrypted and
# signed with the intake's key, the moment it was "received" (to 10 ms, with the finer digits drawn from the
# signature, as a real time has them). The confirmation and status pages show such an id as a received request,
# so following the answer tells a bot nothing; no real id verifies (62 bits of signature).
# Layout: bytes 0-4 the time (10 ms since 1970, good until 2318) XOR a pad, bytes 5-7 a nonce (20 random bits
# and the version nibble), bytes 8-15 the tag (with the variant bits).
_TICK_MICROSECONDS = 10_000


def decoy_id(key: bytes, at: datetime) -> str:
    ticks = (int(at.timestamp() * 1_000_000) // _TICK_MICROSECONDS).to_bytes(5, "big")
    nonce = bytearray(secrets.token_bytes(3))
    nonce[1] = (nonce[1] & 0x0F) | 0x40  # byte 6 of the UUID: its version nibble, inside the nonce (MAC-covered)
    masked = bytes(a ^ b for a, b in zip(ticks, _decoy_pad(key, bytes(nonce))))
    return str(uuid.UUID(bytes=masked + bytes(nonce) + _decoy_tag(key, ticks, bytes(nonce))))


def _decoy_pad(key: bytes, nonce: bytes) -> bytes:
    return _mac(key, b"decoy-time", nonce)[:5]


def _decoy_tag(key: bytes, ticks: bytes, nonce: bytes) -> bytes:
    tag = bytearray(_mac(key, b"decoy-id", ticks + nonce)[:8])
    tag[0] = (tag[0] & 0x3F) | 0x80  # the UUID's variant bits
    return bytes(tag)


def decoy_received_at(key: bytes, request_id: str) -> datetime | None:
    """The moment a decoy id was handed out; None for any other id (a real one among them)."""
    try:
        raw = uuid.UUID(request_id).bytes
    except (ValueError, AttributeError, TypeError):
        return None
    masked, nonce, tag = raw[:5], raw[5:8], raw[8:]
    ticks = bytes(a ^ b for a, b in zip(masked, _decoy_pad(key, nonce)))
    if not hmac.compare_digest(tag, _decoy_tag(key, ticks, nonce)):
        return None
    micros = int.from_bytes(ticks, "big") * _TICK_MICROSECONDS + 1 + int.from_bytes(tag[-2:], "big") % (
        _TICK_MICROSECONDS - 1)
    return datetime.fromtimestamp(0, timezone.utc) + timedelta(microseconds=micros)


# --- the client -----------------------------------------------------------------------------------------------

def client_address(headers: Mapping[str, str], header: str, proxy_hops: int) -> str | None:
    """The client's address from ``header`` as the trusted front end set it, or None.

    X-Forwarded-For is a list each proxy appends to, so only the entries our own proxies appended can be
    believed: the one ``proxy_hops`` from the right (Azure's front end appends the connection's address, with
    its port: 1; behind Application Gateway as well: 2). Anything a client wrote itself is further left. A
    header such as X-Azure-ClientIP (Front Door) holds one address and is taken as it is. An IPv6 client is
    its /64: one subscriber's network, whose addresses it can change at will."""
    value = next((v for name, v in headers.items() if name.lower() == header.lower()), None)
    if not value:
        return None
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not entries:
        return None
    hop = max(proxy_hops, 1)
    return _client_of(entries[-hop] if len(entries) >= hop else entries[0])


@functools.lru_cache(maxsize=4096)
def _client_of(entry: str) -> str | None:
    """The client an address entry names (cached: a client sends many requests, and parsing is the costly
    part of reading it)."""
    address = _without_port(entry)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is that IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _without_port(entry: str) -> str:
    if entry.startswith("["):  # [2001:db8::1]:443
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:  # 203.0.113.7:50123
        return entry.partition(":")[0]
    return entry


def email_domain(payload: object) -> str | None:
    """The requester's email domain, lower-case, read from the raw body (before validation: a flood is
    counted whether or not its requests are valid); None when there is none."""
    contact = payload.get("contact") if isinstance(payload, dict) else None
    email = contact.get("email") if isinstance(contact, dict) else None
    if not isinstance(email, str) or "@" not in email:
        return None
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    return domain or None


@functools.lru_cache(maxsize=4096)
def hashed_key(key: bytes, kind: str, value: str) -> str:
    """A rate-limit key as the store keeps it: keyed with the intake's secret, so an IPv4 address (only 2³²
    of them) cannot be recovered from the store by hashing every address."""
    return f"{kind}-{_mac(key, b'rate-key', f'{kind}:{value}'.encode()).hex()[:32]}"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least 1): the Retry-After of a refused request."""
        return max(1, math.ceil((self.end - now).total_seconds()))


def fixed_window(now: datetime, length: timedelta) -> Window:
    """The window of ``length`` (aligned to the epoch) that ``now`` falls in."""
    seconds = length.total_seconds()
    start = datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, timezone.utc)
    return Window(start, start + length)
