"""Errors the services raise; adapters at the edge translate them to HTTP answers or retries."""
from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """A rule of the domain refused the operation."""


class NotFound(DomainError):
    pass


class IllegalTransition(DomainError):
    """The prospect's state machine has no such edge (for example Approved → Rejected)."""


class DecisionConflict(IllegalTransition):
    """The prospect was decided the other way already (terminal states stay terminal); names the decision
    that stands, so a caller who lost a race learns who won and when."""

    def __init__(self, number: str, status: str, decided_by: str | None, decided_at: datetime | None, wanted: str):
        self.number, self.status, self.decided_by, self.decided_at = number, _text(status), decided_by, decided_at
        when = f" at {decided_at.isoformat(timespec='seconds')}" if decided_at else ""
        super().__init__(f"prospect {number} was already {self.status} by {decided_by or 'an earlier decision'}"
                         f"{when}; it cannot become {_text(wanted)}")


def _text(value: str) -> str:
    # A str-valued Enum (ProspectStatus) formats as its member name; the answer shows its value.
    return getattr(value, "value", value)


class MalformedMessage(DomainError):
    """A queue message that no retry can make valid; it ends on the poison queue for an operator."""


class NotReady(Exception):
    """Facts this step needs are not there yet (a retry later will find them)."""


class DuplicateRecord(DomainError):
    """A record with this identity exists already (two workers raced on the same deterministic id)."""


class InvalidInput(DomainError):
    """Input that fails validation; ``problems`` names each bad field (dotted path) and why; ``kinds`` says,
    for each problem, which rule refused it when known (pydantic's error type or ours, e.g. "missing",
    "email", with the rule's figures such as max_length), so that a page can say it in its reader's
    language without parsing English."""

    def __init__(self, problems: list[tuple[str, str]], kinds: list[tuple[str, dict]] | None = None):
        self.problems = problems
        self.kinds = kinds if kinds is not None else [("", {}) for _ in problems]
        super().__init__("; ".join(f"{field}: {why}" for field, why in problems))


class InvalidQuery(InvalidInput):
    """Query values (a list's filter, sort or cursor) that cannot be used; ``problems`` names each one. A 400,
    not a 422: there is no body, the request line itself is wrong."""


class MalformedBody(InvalidInput):
    """The body cannot even be parsed (not JSON); nothing in it could be checked field by field."""


class IdempotencyConflict(DomainError):
    """An Idempotency-Key came back with a different body than the first time."""


class ConcurrencyConflict(Exception):
    """Another writer changed a record since this unit of work read it; run the unit of work again.

    Stores that serialize writers never raise it; optimistic ones (ETags) do."""


class Forbidden(DomainError):
    """The caller is known and a member, but their role does not allow this (a User managing users)."""

    def problem_members(self) -> dict | None:
        """Members a problem+json answer adds beside the words (a refusal with a code a client acts on)."""
        return None


class Unauthenticated(DomainError):
    """The request does not prove who sends it: no bearer token, or one that does not verify.

    ``str(error)`` is a short reason safe to show the caller (it never repeats the token). ``error`` is the
    RFC 6750 error code: ``None`` when the request offered no bearer credentials at all (no Authorization
    header, or another scheme), in which case the challenge names no error."""

    def __init__(self, reason: str, *, error: str | None = "invalid_token"):
        self.reason = reason
        self.error = error
        super().__init__(reason)

    def challenge(self, realm: str) -> str:
        """The ``WWW-Authenticate`` header value of the 401 answer (RFC 6750 §3)."""
        parts = [f'realm="{_quoted(realm)}"']
        if self.error:
            parts += [f'error="{self.error}"', f'error_description="{_quoted(self.reason)}"']
        return "Bearer " + ", ".join(parts)


def _quoted(text: str) -> str:
    """Text fit for a quoted-string: RFC 6750 allows printable ASCII but for the quote and backslash."""
    return "".join(c for c in text if " " <= c <= "~" and c not in '"\\')


class TokenKeysUnavailable(Exception):
    """The issuer's signing keys (its JWKS) could not be fetched: the server's trouble, not the caller's
    (answer 503 and let the caller retry, never 401)."""


class NotConfigured(Exception):
    """A feature was asked for whose settings are empty (e.g. partner routes without PARTNER_TOKEN_*)."""
