"""Errors the services raise; adapters at the edge translate them to HTTP answers or retries."""


class DomainError(Exception):
    """A rule of the domain refused the operation."""


class NotFound(DomainError):
    pass


class IllegalTransition(DomainError):
    """The prospect's state machine has no such edge (for example Approved → Rejected)."""


class DecisionConflict(IllegalTransition):
    """The prospect was decided the other way already (terminal states stay terminal)."""


class MalformedMessage(DomainError):
    """A queue message that no retry can make valid; it ends on the poison queue for an operator."""


class NotReady(Exception):
    """Facts this step needs are not there yet (a retry later will find them)."""


class DuplicateRecord(DomainError):
    """A record with this identity exists already (two workers raced on the same deterministic id)."""


class InvalidInput(DomainError):
    """Input that fails validation; ``problems`` names each bad field (dotted path) and why."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {why}" for field, why in problems))


class MalformedBody(InvalidInput):
    """The body cannot even be parsed (not JSON); nothing in it could be checked field by field."""


class IdempotencyConflict(DomainError):
    """An Idempotency-Key came back with a different body than the first time."""


class ConcurrencyConflict(Exception):
    """Another writer changed a record since this unit of work read it; run the unit of work again.

    Stores that serialize writers never raise it; optimistic ones (ETags) do."""


class Forbidden(DomainError):
    """The caller is known and a member, but their role does not allow this (a User managing users)."""
