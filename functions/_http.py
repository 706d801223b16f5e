"""HTTP plumbing shared by the HTTP functions: problem+json errors, JSON answers, correlation ids."""
from __future__ import annotations

import decimal
import functools
import itertools
import json
import logging
import re
from typing import Callable
from urllib.parse import urlsplit

import azure.functions as func

from functions._runtime import container
from shared.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidQuery,
    MalformedBody,
    NotConfigured,
    NotFound,
    TokenKeysUnavailable,
    Unauthenticated,
)
from shared.observability import correlation
from shared.ports import Caller

log = logging.getLogger("b2b.http")

MAX_BODY_BYTES = 64 * 1024
REALM = "b2b-partners"  # named in the WWW-Authenticate challenge of partner routes
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestRefused(Exception):
    def __init__(self, status: int, title: str, detail: str):
        self.status, self.title, self.detail = status, title, detail
        super().__init__(detail)


# Answers about one person, partner, order or decision: no cache (a browser's, a proxy's) keeps a copy.
_NO_STORE = {"Cache-Control": "no-store"}


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None, *,
                  no_store: bool = False) -> func.HttpResponse:
    if no_store:
        headers = {**_NO_STORE, **(headers or {})}
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json",
                             charset="utf-8", headers=headers)


# The pages are server-rendered: styles (and, for a page that asks, scripts) come from this host's own files
# (shared/web/static), never inline, so an injected tag or attribute can neither run nor restyle the page;
# forms post to this host only; no other site may frame a page (clickjacking).
_PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'")
_SCRIPTED_PAGE_POLICY = _PAGE_POLICY.replace("style-src 'self';", "style-src 'self'; script-src 'self';")
# A page is never framed, and says so to browsers that predate frame-ancestors too.
_PAGE_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def page_policy(*, scripts: bool = False, allow: dict[str, tuple[str, ...]] | None = None) -> str:
    """The pages' Content-Security-Policy, with the origins in ``allow`` added per directive (a CAPTCHA
    provider's script and frame on the one page that shows its widget); pass it as the header."""
    policy = _SCRIPTED_PAGE_POLICY if scripts or (allow and "script-src" in allow) else _PAGE_POLICY
    for directive, origins in (allow or {}).items():
        if f"{directive} " in policy:
            policy = policy.replace(f"{directive} 'self'", f"{directive} 'self' {' '.join(origins)}", 1)
        else:
            policy += f"; {directive} {' '.join(origins)}"
    return policy


def html_response(text: str, status: int = 200, *, scripts: bool = False,
                  headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A page; ``scripts`` lets it load scripts from this host's static files (never inline ones)."""
    policy = _SCRIPTED_PAGE_POLICY if scripts else _PAGE_POLICY
    return func.HttpResponse(text, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": policy, **_PAGE_HEADERS, **_NO_STORE,
                                      **(headers or {})})


def request_cookies(req: func.HttpRequest) -> dict[str, str]:
    """The request's cookies by name; none when the header cannot be read (a page then acts as if signed out)."""
    from http.cookies import CookieError, SimpleCookie

    jar = SimpleCookie()
    try:
        jar.load(req.headers.get("cookie") or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def see_other(location: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """303 See Other: after a form's POST the browser GETs ``location``, so reload and back never resend it."""
    return func.HttpResponse(status_code=303, headers={"Location": location, **_NO_STORE, **(headers or {})})


def csv_download(directory, query) -> func.HttpResponse:
    """The list's rows of ``query`` as a CSV file to save (shared.services.prospect_directory). Written into one
    buffer as they are read, page by page, and handed over without a copy (BytesIO.getvalue shares its
    buffer): the rows are in memory once, as CSV text, never also as a list of records."""
    import io

    out = io.BytesIO()
    directory.write_csv(query, out)
    return func.HttpResponse(out.getvalue(), status_code=200, mimetype="text/csv", charset="utf-8",
                             headers={"Content-Disposition": 'attachment; filename="prospects.csv"', **_NO_STORE})


def problem(status: int, title: str, detail: str, errors: list[dict] | None = None,
            extensions: dict | None = None) -> func.HttpResponse:
    """An RFC 9457 problem; ``extensions`` are further members a client can act on without parsing ``detail``."""
    body: dict = {"type": "about:blank", "title": title, "status": status, "detail": detail, **(extensions or {})}
    if errors:
        body["errors"] = errors
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json",
                             charset="utf-8")


def signup_status_url(signup_id: str) -> str:
    """Where a signup's status is read (signup_status): on the app's configured public base URL, never on the
    request's Host header, which the client chooses (a forged one would put another site's link in the
    answer, the Location header and the confirmation page)."""
    return container().signup_status_url(signup_id)


def signed_in(req: func.HttpRequest) -> Caller:
    """The partner user whose bearer token the request carries (Unauthenticated otherwise)."""
    return container().token_verifier.verify(req.headers.get("authorization"))


def read_body(req: func.HttpRequest, allowed_types: tuple[str, ...], *, max_bytes: int = MAX_BODY_BYTES,
              type_optional: bool = False) -> bytes:
    """The body, once its type, size and (for JSON) nesting are acceptable: checked before anything parses it,
    so no JSON route can fail on a body nested too deeply (MalformedBody: 400)."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in allowed_types and not (type_optional and not content_type):
        raise RequestRefused(415, "Unsupported Media Type", f"send {' or '.join(allowed_types)}")
    declared = req.headers.get("content-length")
    too_large = RequestRefused(413, "Payload Too Large", f"the body may be at most {max_bytes} bytes")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise too_large
    if any(kind.endswith("json") for kind in allowed_types) and _nested_deeper_than(MAX_JSON_DEPTH, body):
        raise MalformedBody([("(body)", f"is nested more than {MAX_JSON_DEPTH} levels deep")])
    return body


# JSON nested deeper than this is refused before anything parses it: the standard library's parser (and
# pydantic's validation after it) recurse once per level, and 2,000 '[' raised RecursionError, a 500, on
# every JSON route, the anonymous intake included. No body the app takes comes near it: a signup nests 3
# levels, a partner or order body 3, a Dataverse RemoteExecutionContext with images 8, and one level more
# per parent context (a chain Dataverse's loop detection keeps short).
MAX_JSON_DEPTH = 64
# JSON strings (removed whole, so brackets inside text do not count; an unterminated one runs to the end, so
# the pattern never backtracks), then every byte but the brackets: exact for UTF-8, which RFC 8259 requires.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


def _nested_deeper_than(limit: int, body: bytes) -> bool:
    """Whether ``body`` opens more than ``limit`` arrays or objects inside each other, found without
    recursing and without a Python loop over the body (each step below runs in C: a 64 KiB body of
    brackets takes milliseconds)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0) > limit


def parse_json_body(body: bytes, *, exact_numbers: bool = False) -> object:
    """The JSON body; with ``exact_numbers`` a JSON number with a fraction is read as a Decimal (money
    must never pass through a float)."""
    try:
        return json.loads(body, parse_float=decimal.Decimal) if exact_numbers else json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedBody([("(body)", f"is not valid JSON: {error}")]) from None
    except RecursionError:  # read_body refuses deep nesting first; this stays a 400 should a caller skip it
        raise MalformedBody([("(body)", "is nested too deeply")]) from None


def json_object(req: func.HttpRequest, *, exact_numbers: bool = False) -> dict:
    """A JSON body that must be an object (type and size checked first); see ``parse_json_body``."""
    payload = parse_json_body(read_body(req, ("application/json",)), exact_numbers=exact_numbers)
    if not isinstance(payload, dict):
        raise InvalidInput([("(body)", "must be a JSON object")])
    return payload


def http_function(handler: Callable[[func.HttpRequest], func.HttpResponse]):
    """Correlation id in and out, and domain errors turned into problem+json; never a 5xx for bad input."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        given = req.headers.get("x-correlation-id") or ""
        with correlation(given if _CORRELATION_ID.match(given) else None) as correlation_id:
            response = _answer(handler, req)
            response.headers["x-correlation-id"] = correlation_id
            return response

    return wrapper


def _answer(handler, req: func.HttpRequest) -> func.HttpResponse:
    try:
        return handler(req)
    except RequestRefused as refused:
        return problem(refused.status, refused.title, refused.detail)
    except MalformedBody as error:
        return problem(400, "Bad Request", str(error))
    except InvalidQuery as error:
        errors = [{"field": field, "message": message} for field, message in error.problems]
        return problem(400, "Bad Request", "the query has values that cannot be used", errors)
    except InvalidInput as error:
        errors = [{"field": field, "message": message} for field, message in error.problems]
        return problem(422, "Unprocessable Content", "the request has invalid fields", errors)
    except Unauthenticated as error:
        response = problem(401, "Unauthorized", str(error))
        response.headers["WWW-Authenticate"] = error.challenge(REALM)
        return response
    except Forbidden as error:  # a blocked partner's refusal carries its code (partner_blocked) as members
        return problem(403, "Forbidden", str(error), extensions=error.problem_members())
    except NotFound as error:
        return problem(404, "Not Found", str(error))
    except DomainError as error:  # the rules' own refusals: a duplicate, a decided prospect, the last Admin …
        return problem(409, "Conflict", str(error))
    except TokenKeysUnavailable:
        log.warning("the token issuer's keys cannot be fetched", extra={"route": urlsplit(req.url).path})
        response = problem(503, "Service Unavailable", "sign-in cannot be checked right now; please try again")
        response.headers["Retry-After"] = "30"
        return response
    except ConcurrencyConflict:
        # Another writer kept winning the race for the same records (or one crashed holding a claim).
        response = problem(503, "Service Unavailable", "the record is being changed right now; please try again")
        response.headers["Retry-After"] = "1"
        return response
    except NotConfigured as error:
        return problem(503, "Service Unavailable", str(error))
    except Exception:
        log.exception("request failed", extra={"route": urlsplit(req.url).path})
        return problem(500, "Internal Server Error", "the request could not be handled; please try again later")
