"""Which failures are an outside part being briefly unavailable (the storage account throttling or timing out, a
SQLite file busy past its timeout) rather than a fault of ours: a caller should answer those "try again" (503 with
Retry-After), never 500. A retry is safe: a write that did get through before the answer was lost is found again by
its deterministic id or Idempotency-Key.

Told apart by class name along the error's class hierarchy, so that asking does not import the Azure SDK (cold
start; sqlite3 too) and works whichever SDK raised it.
"""
from __future__ import annotations

# azure-core's errors for a request that never got an answer (connection refused or reset, timeout) or whose
# answer could not be read.
_UNREACHABLE = frozenset({"ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                          "ServiceResponseTimeoutError"})
# An answer from the service that says "not now": throttled (429, "ServerBusy") or its own failure (5xx).
_NOT_NOW = frozenset({429, 500, 502, 503, 504})


def is_outage(error: BaseException) -> bool:
    classes = type(error).__mro__
    names = {cls.__name__ for cls in classes}
    if names & _UNREACHABLE:
        return True
    if "HttpResponseError" in names and getattr(error, "status_code", None) in _NOT_NOW:
        return True
    if any(cls.__module__ == "sqlite3" and cls.__name__ == "OperationalError" for cls in classes):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    return False
