"""The OpenAPI 3.1 document of every HTTP route, built from one declarative table and the pydantic models.

``operations()`` names each HTTP function with its method, route (relative to the host's route prefix), who may
call it, what it reads and what it answers. ``document()`` turns the table into the document once per process,
on first use (never at import: the Function App's cold start does not pay for it). tests/functions/test_openapi.py
checks that the table lists exactly the Function App's HTTP routes, so a route cannot be added undocumented.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (a test keeps the two the same)
OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"

JSON = "application/json"
PROBLEM = "application/problem+json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"


class Auth(Enum):
    """Who may call a route: the Functions host checks keys before the function runs; the function checks bearer
    tokens itself."""

    ANONYMOUS = "anonymous"
    FUNCTION_KEY = "function"
    ADMIN_KEY = "admin"
    BEARER = "bearer"
    CONSOLE = "console"  # a clerk signed in to the console (App Service Authentication, or the development one)


@dataclass(frozen=True)
class Answer:
    """One status code's answer: its content by media type (a model, a raw JSON schema, or None for "any")."""

    description: str
    content: Mapping[str, type[BaseModel] | dict | None] = field(default_factory=dict)
    headers: tuple[str, ...] = ()  # names from _HEADERS


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" or "header"
    description: str
    schema: dict


@dataclass(frozen=True)
class Operation:
    function: str  # the Azure Function's name (function_app's @function_name)
    method: str
    route: str  # as in @route, relative to the route prefix
    summary: str
    auth: Auth
    answers: Mapping[int, Answer]
    body: Mapping[str, type[BaseModel] | dict] | None = None  # the request body by media type
    params: tuple[Param, ...] = ()
    tag: str = ""
    example: dict | None = None  # a body the route accepts (the docs page shows it; the fuzz test sends it)
    body_required: bool = True

    @property
    def operation_id(self) -> str:
        return f"{self.function}_{self.method.lower()}"


def _problem(description: str, *headers: str) -> Answer:
    return Answer(description, {PROBLEM: "Problem"}, headers)


# What http_function (functions/_http.py) answers for each kind of refusal, in its words.
MALFORMED = _problem("The body is not valid JSON")
TOO_LARGE = _problem("The body is too large")
WRONG_TYPE = _problem("The body's Content-Type is not one this route reads")
INVALID = _problem("Invalid fields: `errors` names each one and why")
NOT_FOUND = _problem("No such record (or not one the caller may see)")
CONFLICT = _problem("The rules refuse it: a duplicate, a decision made the other way, the last Admin …")
UNAVAILABLE = _problem("Try again later (Retry-After, when given, says when): a record being changed right now, "
                       "a part not configured, the token issuer's keys out of reach", "Retry-After")
FAILED = _problem("An unexpected fault (logged with the correlation id)")
JSON_BODY_ERRORS = {400: MALFORMED, 413: TOO_LARGE, 415: WRONG_TYPE, 422: INVALID}
NO_SALES = _problem("There is no Sales to compare with (SALES_MODE=none)")
DECIDED_OTHERWISE = _problem("Decided the other way already (also when another instance won a race): `decision` "
                             "names the decision that stands, who made it and when")

_KEY_REFUSED = Answer("No key or a wrong one: the Functions host refuses the request before the function runs "
                      "(its answer has no problem+json body)")
_TOKEN_REFUSED = _problem("No bearer token, or one that is expired, wrongly signed or for another audience",
                          "WWW-Authenticate")
_FORBIDDEN = _problem("The signed-in user may not do this (a User where an Admin is needed), the token's "
                      "account is not the one this email's partner user signs in with, or the partner is blocked by "
                      "the back office (`code`: partner_blocked; an order check or reservation adds `decision`: deny)")

# The answers many routes share, kept once in components/responses.
_SHARED_ANSWERS = {"Malformed": MALFORMED, "TooLarge": TOO_LARGE, "WrongType": WRONG_TYPE, "Invalid": INVALID,
                   "NotFound": NOT_FOUND, "Conflict": CONFLICT, "Unavailable": UNAVAILABLE, "Failed": FAILED,
                   "KeyRefused": _KEY_REFUSED, "TokenRefused": _TOKEN_REFUSED, "Forbidden": _FORBIDDEN}

_HEADERS: dict[str, dict] = {
    "x-correlation-id": {"description": "The id this request's logs carry (the caller's own when it sent a valid one)",
                         "required": True, "schema": {"type": "string"}},
    "Location": {"description": "Where the created resource is read", "required": True,
                 "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again", "required": False,
                    "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "The Bearer challenge (RFC 6750)", "required": True,
                         "schema": {"type": "string"}},
}

# Route parameters by name: every operation whose route has one gets it (all required strings): description, example.
_PATH_PARAMS = {
    "id": ("The signup's id, as the intake answered it", None),
    "key": ("The prospect's number or id", "PRO-000001"),
    "hierarchyId": ("The partner's customer hierarchy", "CH-000001"),
    "userId": ("The partner user's id", None),
    "orderId": ("The storefront's order id (letters, digits, '.', '_', ':' or '-', at most 100)", "order-1001"),
    "name": ("The file's name", "swagger-ui.css"),
    "messageId": ("A kept email's message id (as the outbox lists it), or a poison message's id (as its queue's listing shows it)", None),
    "emailId": ("An email's id, as the email listing or the prospect's timeline shows it", None),
    "channel": ("The channel (online store) id", "b2b-web"),
    "queue": ("A queue of the app, or its poison queue", "b2b-emails"),
}

_PATH_PARAMS.update({
    "expires": ("When the emailed confirmation link stops working (Unix seconds), as the link holds it", None),
    "signature": ("The link's signature (HMAC-SHA256 over the request id and expiry, base64url)", None),
})


def _confirmation_operations(lang: Param) -> tuple[Operation, ...]:
    """The double opt-in's page (issue 11): a GET that only shows the button (mail scanners open links), the
    POST that confirms."""
    route = "signup/confirm/{id}/{expires}/{signature}"
    page = {HTML: {"type": "string"}}
    refused = Answer("An expired, tampered or unknown link: a page saying so and what to do", page)
    return (
        Operation("signup_confirm_page", "GET", route, "The emailed link's page: a button that confirms the email",
                  Auth.ANONYMOUS, tag="storefront", params=(lang,),
                  answers={200: Answer("The page with the confirm button, or (a reused link) that the email is "
                                       "confirmed already", page), 404: refused, 410: refused}),
        Operation("signup_confirm", "POST", route, "Confirm the requester's email (the page's button)",
                  Auth.ANONYMOUS, tag="storefront", params=(lang,), body_required=False,
                  answers={200: Answer("Confirmed (or confirmed already): the next steps and the status link", page),
                           404: refused, 410: refused}),
    )


_SECURITY_SCHEMES = {
    "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                         "description": "A function key (Dataverse's WebhookKey sends it this way)"},
    "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                          "description": "A function key; for the back-office routes the host key `backoffice` "
                                         "(its own, not the master key)"},
    "adminKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                      "description": "The host's admin (master) key; the local host prints the key it accepts"},
    "adminKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                       "description": "The host's admin (master) key; the local host prints the key it accepts"},
    "consoleSignIn": {"type": "apiKey", "in": "cookie", "name": "AppServiceAuthSession",
                      "description": "A clerk signed in to the console: App Service Authentication with Microsoft "
                                     "Entra ID in Azure (the app reads the platform's X-MS-CLIENT-PRINCIPAL and "
                                     "needs the app role B2B.Operator to act, B2B.Viewer to read); on a loopback "
                                     "local host, the development sign-in's cookie b2b_console_dev"},
    "partnerBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "An RS256 token of the partner token issuer (PARTNER_TOKEN_ISSUER), for the "
                                   "audience PARTNER_TOKEN_AUDIENCE"},
}
_SECURITY = {
    Auth.ANONYMOUS: [],
    Auth.FUNCTION_KEY: [{"functionKeyQuery": []}, {"functionKeyHeader": []}],
    Auth.ADMIN_KEY: [{"adminKeyQuery": []}, {"adminKeyHeader": []}],
    Auth.BEARER: [{"partnerBearer": []}],
    Auth.CONSOLE: [{"consoleSignIn": []}],
}
_AUTH_ANSWERS = {
    Auth.ANONYMOUS: {},
    Auth.FUNCTION_KEY: {401: _KEY_REFUSED},
    Auth.ADMIN_KEY: {401: _KEY_REFUSED},
    Auth.BEARER: {401: _TOKEN_REFUSED, 403: _FORBIDDEN},
    Auth.CONSOLE: {302: Answer("Not signed in: to the sign-in, coming back here after it", {}, ("Location",)),
                   403: Answer("A page saying why not: a role that may not do this, a form without its CSRF "
                               "token or from another site, or a principal header without the platform's "
                               "authentication in front of the app", {HTML: {"type": "string"}})},
}


def _list_params() -> tuple[Param, ...]:
    """The query of All prospects (shared.services.prospect_directory.ListQuery): an empty value is no filter."""
    from shared.services.prospect_directory import MAX_PAGE, MAX_SEARCH

    from shared.domain.signup import CHANNEL_ID_PATTERN
    from shared.services.prospect_directory import SORTS, STATUS_VALUES

    blank = {"const": ""}  # a blank form field: no filter
    day = {"type": "string", "anyOf": [{"format": "date"}, blank]}
    return (
        Param("status", "query", "Only prospects in this status", {"type": "string", "enum": ["", *STATUS_VALUES]}),
        Param("attention", "query", "true: only flagged prospects", {"type": "string", "enum": ["", "true", "false"]}),
        Param("channel", "query", "Only those of this channel",
              {"type": "string", "anyOf": [{"pattern": f"^{CHANNEL_ID_PATTERN}$"}, blank]}),
        Param("from", "query", "Received on or after this day (UTC)", day),
        Param("to", "query", "Received on or before this day (UTC)", day),
        Param("q", "query", "Search: the start of a company name, requester email, number, registration or VAT "
              "number (any case, accents optional)", {"type": "string", "maxLength": MAX_SEARCH}),
        Param("sort", "query", "newest (the default) or oldest first, by received date",
              {"type": "string", "enum": ["", *SORTS]}),
        Param("cursor", "query", "A page's nextCursor or previousCursor (with the same filter)",
              {"type": "string", "minLength": 1}),
        Param("limit", "query", "Rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    )


def _page(description: str) -> Answer:
    return Answer(description, {HTML: {"type": "string"}})


def _form(*fields: str) -> dict:
    """A console form: its CSRF token and ``fields`` (strings, none required by the schema: the page says what
    is missing)."""
    return {"type": "object", "required": ["csrf"],
            "properties": {"csrf": {"type": "string"}, **{name: {"type": "string"} for name in fields}}}


# What the console's shell answers a form post it cannot take, before the page's handler runs; 404 and 409 are
# the handler's refusals (no such prospect or email; no Sales to reconcile with), shown as a page.
_FORM_REFUSALS = {status: Answer(why, {HTML: {"type": "string"}}) for status, why in (
    (400, "A form that cannot be read"), (404, "No such prospect or email"), (409, "Refused by the rules"),
    (413, "The form is too large"), (415, "Not a form post"), (422, "Invalid values"))}


_PAGE = {HTML: {"type": "string"}}
# A console form's POST: 303 back to the partner's page, which shows what changed or, in words, why not.
_CONSOLE_POST_ANSWERS = {303: Answer("Done or refused: back to the page, which says which and why", {}, ("Location",)),
                         **{status: Answer(why, _PAGE) for status, why in (
                             (400, "A form that cannot be read"), (413, "The form is too large"),
                             (415, "Not a form post"))}}


def _console_form(fields: dict[str, bool]) -> dict:
    """A console form's schema: its CSRF token and ``fields`` (name: required)."""
    return {"type": "object", "required": ["csrf", *(name for name, required in fields.items() if required)],
            "properties": {"csrf": {"type": "string"}, **{name: {"type": "string"} for name in fields}}}


def _operations() -> tuple[Operation, ...]:
    """The table. Imports here, not at the top: the domain models load pydantic and the services."""
    from shared.domain.partner_inputs import (
        CreditLineInput, NewCustomer, NewPartnerUser, OnboardExisting, OperatorNewPartnerUser,
        OperatorPartnerUserChanges, OrderCheck, OrderRelease, OrderReservation, PartnerUserChanges,
    )
    from shared.domain.model import Customer  # the route answers the entity itself (model_dump)
    from shared.domain.partners import user_id_for
    from shared.domain.signup import SignupRequest
    from shared.domain.intake_defenses import CAPTCHA_HEADER
    from shared.services.intake import MAX_IDEMPOTENCY_KEY_LENGTH
    from shared.services.health import HealthReport
    from shared.services.sales_webhook import RemoteExecutionContext
    from shared.web import openapi_answers as a
    from shared.web.api_docs import ASSET_TYPES
    from shared.web.assets import MEDIA_TYPES as STATIC_TYPES
    from shared.web.openapi_queues import console_operations, queue_operations
    from shared.web.openapi_approvals import approval_operations
    from shared.web.openapi_ledger import ledger_operations

    json_errors = JSON_BODY_ERRORS
    # An order of the example signup's requester, who becomes its partner's first user (CH-000001) once approved.
    order = {"hierarchyId": "CH-000001", "userId": user_id_for(_SIGNUP["contact"]["email"]), "amount": "125.50",
             "currency": "EUR"}
    user_answers = {404: NOT_FOUND, 409: CONFLICT}
    lang = Param("lang", "query", "The page's language (en, sv …); without it, the best of Accept-Language",
                 {"type": "string"})
    return (
        # --- the storefront ---------------------------------------------------------------------------------
        Operation("signup_intake", "POST", "signups", "Submit a partner signup (the storefront's back end)",
                  Auth.ANONYMOUS, tag="signups", body={JSON: SignupRequest},
                  params=(Param("Idempotency-Key", "header", "A retry with the same key and body answers the first "
                                "request again; with another body, 409",
                                {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH}),
                          Param(CAPTCHA_HEADER, "header", "With CAPTCHA_PROVIDER set: the token the provider's widget "
                                "gave (Turnstile, hCaptcha or reCAPTCHA), checked with its siteverify API; a token "
                                "is good once", {"type": "string"})),
                  example=_SIGNUP,
                  answers={202: Answer("Taken: the sync makes it a prospect", {JSON: a.SignupAccepted},
                                       ("Location",)),
                           **json_errors,
                           422: _problem("Invalid fields (`errors` names each one), or the CAPTCHA refused: `code` is "
                                         "captcha_missing, captcha_failed or captcha_expired (solve it again)"),
                           409: _problem("The Idempotency-Key was used with another body"),
                           429: _problem("Too many requests from this client (INTAKE_RATE_LIMIT_PER_MINUTE) or for "
                                         "this email domain (INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR): `code` rate_limited; "
                                         "Retry-After says when the window ends", "Retry-After"),
                           503: _problem("The CAPTCHA provider cannot be reached (`code` captcha_unavailable), or "
                                         "another part is not available", "Retry-After")}),
        Operation("signup_status", "GET", "signups/{id}", "Where a signup stands (no personal data)",
                  Auth.ANONYMOUS, tag="signups", params=(lang,),
                  answers={200: Answer("The signup's steps; with `Accept: text/html` a page in the reader's "
                                       "language with local dates, reloading itself until the request is decided",
                                       {JSON: a.SignupStatus, HTML: {"type": "string"}}),
                           404: Answer("No such signup (a page with `Accept: text/html`)",
                                       {PROBLEM: NOT_FOUND.content[PROBLEM], HTML: {"type": "string"}})}),
        Operation("storefront_form", "GET", "signup", "The onboarding form (an HTML page)", Auth.ANONYMOUS,
                  tag="storefront",
                  params=(Param("channel", "query", "The channel (online store) the form is for; an unknown one "
                                "falls back to the storefront's default", {"type": "string"}), lang),
                  answers={200: Answer("The form", {HTML: {"type": "string"}})}),
        Operation("storefront_received", "GET", "signup/received/{id}",
                  "The confirmation page a sent form leads to (the request's id and status link, no personal data)",
                  Auth.ANONYMOUS, tag="storefront",
                  params=(lang, Param("channel", "query", "The channel the form was sent from, as the form's answer "
                                      "names it (another than the default)", {"type": "string"})),
                  answers={200: Answer("The confirmation: what happens next and the status link",
                                       {HTML: {"type": "string"}}),
                           404: Answer("No such request: a page saying so", {HTML: {"type": "string"}})}),
        Operation("storefront_theme", "GET", "signup/theme/{channel}", "The channel's colours as a style sheet",
                  Auth.ANONYMOUS, tag="storefront",
                  params=(Param("v", "query", "The theme's fingerprint, as pages link it: with the current one the "
                                "answer may be kept a year", {"type": "string"}),),
                  answers={200: Answer("The style sheet (an unknown channel gets the default colours)",
                                       {"text/css": {"type": "string"}})}),
        Operation("storefront_submit", "POST", "signup", "Send the onboarding form (a browser's form post)",
                  Auth.ANONYMOUS, tag="storefront", body={FORM: _form_schema()},
                  example=_SIGNUP_FORM, params=(lang,),
                  answers={303: Answer("Sent: to its confirmation page (GET /api/signup/received/{id}), so a reload "
                                       "never sends it again", {}, ("Location",)),
                           # A browser shows what it gets: every refusal of the form post is the form again.
                           400: Answer("A post the form cannot read (more than 100 fields): the form again, "
                                       "with a notice", {HTML: {"type": "string"}}),
                           409: Answer("This form was sent already with other values: the form again",
                                       {HTML: {"type": "string"}}),
                           413: Answer("The post is too large: the form again, with a notice",
                                       {HTML: {"type": "string"}}),
                           415: Answer("Not a form post: the form again, with a notice", {HTML: {"type": "string"}}),
                           422: Answer("The form again, each invalid field's error next to it (or the CAPTCHA's "
                                       "notice)", {HTML: {"type": "string"}}),
                           429: Answer("Too many requests from this network or email domain: a page saying when to "
                                       "try again", {HTML: {"type": "string"}}, ("Retry-After",)),
                           503: Answer("The CAPTCHA cannot be checked right now: the form again, with a notice",
                                       {HTML: {"type": "string"}}, ("Retry-After",))}),
        *_confirmation_operations(lang),
        # --- Sales (Dataverse webhook) --------------------------------------------------------------------------
        Operation("sales_events", "POST", "sales/events", "A decision made in Sales (Dataverse's webhook)",
                  Auth.FUNCTION_KEY, tag="sales",
                  body={JSON: RemoteExecutionContext, "text/json": RemoteExecutionContext}, example=_QUALIFY_LEAD,
                  answers={202: Answer("On the outcome queue, a repeat, or not a decision about a B2B prospect",
                                       {JSON: a.WebhookAccepted}),
                           400: _problem("Not a RemoteExecutionContext this webhook can use (no retry helps)"),
                           413: TOO_LARGE, 415: WRONG_TYPE}),
        # --- the back office (a key of its own: the host key `backoffice`) ------------------------------------------------------------------------
        *(Operation(f"backoffice_{verb}", "POST", f"backoffice/prospects/{{key}}/{verb}", summary,
                    Auth.FUNCTION_KEY, tag="back office", body={JSON: model}, example=example,
                    answers={200: Answer(done, {JSON: answer}), **json_errors, 404: NOT_FOUND,
                             409: DECIDED_OTHERWISE if verb != "acknowledge" else CONFLICT})
          for verb, summary, model, example, answer, done in (
              ("approve", "Approve a prospect (as winning it in Sales would)", a.ApproveBody, {"operator": "alice"},
               a.ProspectDecision, "Approved (or approved before: changed is false)"),
              ("reject", "Reject a prospect, with the reason for its decline email", a.RejectBody,
               {"operator": "alice", "reason": "We sell to retailers only"}, a.ProspectDecision,
               "Rejected (or rejected before: changed is false)"),
              ("acknowledge", "Clear a prospect's attention flag, with a note", a.AcknowledgeBody,
               {"operator": "alice", "note": "Admin added by the back office"}, a.Acknowledgement,
               "Acknowledged (changed is false when it was not flagged)"))),
        # --- one prospect's timeline, its repairs, drift (function key) ---------------------------------------
        Operation("backoffice_prospect", "GET", "backoffice/prospects/{key}",
                  "A prospect with its whole timeline: history, Sales decisions, queue messages, emails",
                  Auth.FUNCTION_KEY, tag="back office",
                  answers={200: Answer("The prospect, its Sales records and its timeline (oldest first)",
                                       {JSON: a.ProspectTimeline}), 404: NOT_FOUND}),
        Operation("backoffice_replay", "POST", "backoffice/prospects/{key}/replay",
                  "Send a prospect's poisoned messages back to their queues", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: a.ReplayBody}, example={"operator": "alice"},
                  answers={200: Answer("Replayed (changed is false when none was poisoned)", {JSON: a.ProspectReplayed}),
                           **json_errors, 404: NOT_FOUND}),
        Operation("backoffice_drift", "GET", "backoffice/drift",
                  "Prospects whose state disagrees with Sales (Pending first, one Sales read per prospect)",
                  Auth.FUNCTION_KEY, tag="back office",
                  params=(Param("limit", "query", "Prospects to check (default 100)",
                                {"type": "integer", "minimum": 1, "maximum": 1000}),),
                  answers={200: Answer("The prospects that disagree", {JSON: a.DriftReport}),
                           422: _problem("limit is not a whole number from 1 to 1000"), 409: NO_SALES}),
        Operation("backoffice_drift_reconcile", "POST", "backoffice/drift/reconcile",
                  "Apply now what Sales says for one prospect, or for every drifting one", Auth.FUNCTION_KEY,
                  tag="back office", body={JSON: a.ReconcileBody}, example={"key": "PRO-000001"},
                  answers={200: Answer("What each prospect's reconciliation did", {JSON: a.Reconciliation}),
                           **json_errors, 404: NOT_FOUND, 409: NO_SALES}),
        Operation("backoffice_credit", "GET", "backoffice/partners/{hierarchyId}/credit", "A partner's credit line",
                  Auth.FUNCTION_KEY, tag="back office",
                  answers={200: Answer("The credit line", {JSON: a.CreditLine}), 404: NOT_FOUND}),
        Operation("backoffice_credit", "PUT", "backoffice/partners/{hierarchyId}/credit",
                  "Set a partner's credit line", Auth.FUNCTION_KEY, tag="back office", body={JSON: CreditLineInput},
                  example={"limit": "5000.00", "currency": "EUR"},
                  answers={200: Answer("The credit line as set", {JSON: a.CreditLine}), **json_errors,
                           404: NOT_FOUND,
                           409: _problem("The currency cannot change while orders are reserved or a user has a "
                                         "spending limit")}),
        Operation("backoffice_partner_users", "GET", "backoffice/partners/{hierarchyId}/users",
                  "A partner's users, removed ones too", Auth.FUNCTION_KEY, tag="back office",
                  answers={200: Answer("The users", {JSON: a.PartnerUsers}), 404: NOT_FOUND}),
        Operation("backoffice_partner_users", "POST", "backoffice/partners/{hierarchyId}/users",
                  "Add a user (an Admin, say) to any partner", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: OperatorNewPartnerUser},
                  example={"operator": "alice", **_NEW_USER, "role": "Admin"},
                  answers={201: Answer("Added (Pending until the sync)", {JSON: a.PartnerUser}),
                           200: Answer("The same add again", {JSON: a.PartnerUser}), **json_errors, **user_answers}),
        Operation("backoffice_customers", "POST", "backoffice/customers",
                  "Record an existing customer (from the ERP) by account number", Auth.FUNCTION_KEY,
                  tag="back office", body={JSON: NewCustomer},
                  example={"accountNumber": "ERP-1001", "type": "Organization", "name": "Contoso AB", "country": "SE"},
                  answers={201: Answer("Recorded", {JSON: Customer}),
                           200: Answer("Recorded before with the same values", {JSON: Customer}),
                           **json_errors, 409: CONFLICT}),
        Operation("backoffice_partners", "GET", "backoffice/partners", "Partners in number order, a page at a time",
                  Auth.FUNCTION_KEY, tag="back office",
                  params=(Param("q", "query", "A partner's number (CH-000001), a user's email, or text its name "
                                "contains (any case)", {"type": "string"}),
                          Param("cursor", "query", "The previous page's `next`", {"type": "string"}),
                          Param("limit", "query", "Partners per page (1 to 200, default 25)",
                                {"type": "integer", "minimum": 1, "maximum": 200})),
                  answers={200: Answer("A page of partners", {JSON: a.Partners}),
                           422: _problem("A cursor this list did not give, or a limit out of range")}),
        Operation("backoffice_partner", "GET", "backoffice/partners/{hierarchyId}",
                  "A partner whole: standing, users, credit line, open reservations, history", Auth.FUNCTION_KEY,
                  tag="back office", answers={200: Answer("The partner", {JSON: a.PartnerFile}), 404: NOT_FOUND}),
        Operation("backoffice_partner", "PATCH", "backoffice/partners/{hierarchyId}",
                  "Rename a partner (told in its history)", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: a.RenameBody}, example={"name": "Fabrikam Nordic AB", "operator": "alice"},
                  answers={200: Answer("Renamed (changed is false when it had the name)", {JSON: a.PartnerChange}),
                           **json_errors, 404: NOT_FOUND}),
        Operation("backoffice_partner_block", "POST", "backoffice/partners/{hierarchyId}/block",
                  "Block a partner: its users get 403 on the partner routes, its orders are denied "
                  "(partner_blocked); nothing is deleted", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: a.BlockBody}, example={"reason": "Unpaid invoices", "operator": "alice"},
                  answers={200: Answer("Blocked (changed is false when it was blocked: the first who and why "
                                       "stand)", {JSON: a.PartnerChange}), **json_errors, 404: NOT_FOUND}),
        Operation("backoffice_partner_reactivate", "POST", "backoffice/partners/{hierarchyId}/reactivate",
                  "Reactivate a blocked partner", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: a.ReactivateBody}, example={"operator": "alice", "note": "Invoices paid"},
                  answers={200: Answer("Active (changed is false when it was not blocked)", {JSON: a.PartnerChange}),
                           **json_errors, 404: NOT_FOUND}),
        Operation("backoffice_partner_user", "PATCH", "backoffice/partners/{hierarchyId}/users/{userId}",
                  "Change any partner's user (make another Admin, say), under its admin's rules", Auth.FUNCTION_KEY,
                  tag="back office", body={JSON: OperatorPartnerUserChanges},
                  example={"operator": "alice", "role": "Admin"},
                  answers={202: Answer("Changed; the sync applies it", {JSON: a.PartnerUser}),
                           200: Answer("Nothing changed", {JSON: a.PartnerUser}), **json_errors, **user_answers}),
        Operation("backoffice_partner_user", "DELETE", "backoffice/partners/{hierarchyId}/users/{userId}",
                  "Remove any partner's user (never its last Admin)", Auth.FUNCTION_KEY, tag="back office",
                  body={JSON: a.OperatorBody}, example={"operator": "alice"},
                  answers={202: Answer("Removed; the sync takes it out of the hierarchy", {JSON: a.PartnerUser}),
                           **json_errors, **user_answers}),
        # --- the console's Partners pages (functions/console_partners.py) ---------------------------------------
        Operation("console_partners", "GET", "console/partners", "Partners: the list, with search", Auth.CONSOLE,
                  tag="console",
                  params=(Param("q", "query", "A name (any part), a number CH-000001 or a user's email",
                                {"type": "string"}),
                          Param("cursor", "query", "Where the previous page ended (its Next page link)",
                                {"type": "string"})),
                  answers={200: Answer("The page", _PAGE),
                           422: Answer("A cursor the list did not give", _PAGE)}),
        Operation("console_partner", "GET", "console/partners/{hierarchyId}",
                  "A partner's page: hierarchy, members, credit line, open reservations, history; the actions for "
                  "an Operator", Auth.CONSOLE, tag="console",
                  params=(Param("ledger", "query", "The credit ledger's page: entries numbered below this (its Older "
                                "entries link)", {"type": "string", "pattern": "^[0-9]{1,15}$"}),),
                  answers={200: Answer("The page", _PAGE), 404: Answer("No such partner", _PAGE)}),
        Operation("console_partner_block", "GET", "console/partners/{hierarchyId}/block",
                  "Confirm blocking a partner (what it does), with the reason", Auth.CONSOLE, tag="console",
                  answers={200: Answer("The confirmation", _PAGE), 404: Answer("No such partner", _PAGE)}),
        Operation("console_partner_user", "GET", "console/partners/{hierarchyId}/users/{userId}",
                  "Confirm demoting or removing a partner's user", Auth.CONSOLE, tag="console",
                  params=(Param("change", "query", "What to confirm", {"enum": ["demote", "remove"]}),),
                  answers={200: Answer("The confirmation", _PAGE),
                           303: Answer("No such user: back to the partner's page", {}, ("Location",)),
                           404: Answer("No such partner", _PAGE), 422: Answer("Neither demote nor remove", _PAGE)}),
        *(Operation(function, "POST", f"console/partners/{{hierarchyId}}{suffix}", summary, Auth.CONSOLE,
                    tag="console", body={FORM: _console_form(fields)}, example={"csrf": "(the page's)", **example},
                    answers=_CONSOLE_POST_ANSWERS)
          for function, suffix, summary, fields, example in (
              ("console_partner_rename", "/rename", "Rename the partner", {"name": True}, {"name": "Fabrikam Nordic"}),
              ("console_partner_block", "/block", "Block the partner (with the reason)", {"reason": True},
               {"reason": "Unpaid invoices"}),
              ("console_partner_reactivate", "/reactivate", "Reactivate the partner", {"note": False}, {}),
              ("console_partner_credit", "/credit", "Set the partner's credit line",
               {"limit": True, "currency": True}, {"limit": "5000.00", "currency": "EUR"}),
              ("console_partner_users", "/users", "Add a user to the partner",
               {"firstName": True, "lastName": True, "email": True, "role": False, "spendingLimit": False,
                "monthlyLimit": False},
               {"firstName": "Anna", "lastName": "Berg", "email": "anna@fabrikam.example", "role": "Admin"}),
              ("console_partner_user", "/users/{userId}", "Make a user Admin or Approver, make it User, or remove it",
               {"change": True}, {"change": "admin"}),
              ("console_partner_time_zone", "/time-zone", "Set the partner's time zone (monthly limits run by it)",
               {"timeZone": True}, {"timeZone": "Europe/Stockholm"}))),
        Operation("backoffice_partners", "POST", "backoffice/partners",
                  "Make an existing Organization a partner, with existing Persons as its users", Auth.FUNCTION_KEY,
                  tag="back office", body={JSON: OnboardExisting},
                  example={"organizationCustomerId": "ERP-1001", "operator": "alice",
                           "members": [{"customerId": "ERP-2001", "role": "Admin"}]},
                  answers={201: Answer("Onboarded", {JSON: a.OnboardedPartner}),
                           200: Answer("Onboarded before", {JSON: a.OnboardedPartner}),
                           **json_errors, 404: NOT_FOUND, 409: CONFLICT}),
        *(Operation(function, "GET", route, summary, Auth.FUNCTION_KEY, tag="back office", params=_list_params(),
                    answers={200: answer, 400: _problem("A query value cannot be used: `errors` names each one "
                                                         "(a cursor of another filter, say)")})
          for function, route, summary, answer in (
              ("backoffice_prospects", "backoffice/prospects", "All prospects, a page at a time",
               Answer("The page, with the counts per status", {JSON: a.ProspectList})),
              ("backoffice_prospects_csv", "backoffice/prospects.csv", "Every prospect of the filter, as CSV",
               Answer("A CSV file (UTF-8): a cell that starts with = + - or @ starts with an apostrophe, so "
                      "that no spreadsheet runs it", {"text/csv": {"type": "string"}})))),
        *queue_operations(Auth.FUNCTION_KEY),
        # --- partners (bearer JWT) ------------------------------------------------------------------------------
        Operation("partner_me", "GET", "partners/me", "The signed-in user and their partner", Auth.BEARER,
                  tag="partners", answers={200: Answer("The user and the partner", {JSON: a.Me}), 404: NOT_FOUND}),
        Operation("partner_users", "GET", "partners/{hierarchyId}/users", "The partner's users (an Admin's view)",
                  Auth.BEARER, tag="partners",
                  params=(Param("includeRemoved", "query", "true: removed users too", {"type": "boolean"}),),
                  answers={200: Answer("The users", {JSON: a.PartnerUsers}), 404: NOT_FOUND,
                           422: _problem("includeRemoved is neither true nor false")}),
        Operation("partner_users", "POST", "partners/{hierarchyId}/users", "Add a user to the partner",
                  Auth.BEARER, tag="partners", body={JSON: NewPartnerUser},
                  example=_NEW_USER,
                  answers={201: Answer("Added (Pending until the sync)", {JSON: a.PartnerUser}, ("Location",)),
                           200: Answer("The same add again", {JSON: a.PartnerUser}, ("Location",)),
                           **json_errors, **user_answers}),
        Operation("partner_user", "GET", "partners/{hierarchyId}/users/{userId}", "One user of the partner",
                  Auth.BEARER, tag="partners",
                  answers={200: Answer("The user", {JSON: a.PartnerUser}), 404: NOT_FOUND}),
        Operation("partner_user", "PATCH", "partners/{hierarchyId}/users/{userId}",
                  "Change a user (only the fields sent)", Auth.BEARER, tag="partners", body={JSON: PartnerUserChanges},
                  example={"spendingLimit": "250.00"},
                  answers={202: Answer("Changed; the sync applies it", {JSON: a.PartnerUser}),
                           200: Answer("Nothing changed", {JSON: a.PartnerUser}), **json_errors, **user_answers}),
        Operation("partner_user", "DELETE", "partners/{hierarchyId}/users/{userId}", "Remove a user",
                  Auth.BEARER, tag="partners",
                  answers={202: Answer("Removed; the sync takes it out of the hierarchy", {JSON: a.PartnerUser}),
                           **user_answers}),
        # --- orders (bearer JWT) --------------------------------------------------------------------------------
        Operation("order_check", "POST", "orders/check", "May this order go on the partner's credit?", Auth.BEARER,
                  tag="orders", body={JSON: OrderCheck},
                  example={**order, "orderId": "order-1001"},
                  answers={200: Answer("allow, or deny with every reason", {JSON: a.OrderDecision}),
                           **json_errors, 404: NOT_FOUND}),
        Operation("order_reserve", "POST", "orders/{orderId}/reserve", "Hold an order's amount against the credit",
                  Auth.BEARER, tag="orders", body={JSON: OrderReservation},
                  example=order,
                  answers={201: Answer("Held", {JSON: a.OrderDecision}),
                           200: Answer("Held before (the first answer stands)", {JSON: a.OrderDecision}),
                           409: Answer("Denied (the reasons say why), or the order id was used otherwise",
                                       {JSON: a.OrderDecision, PROBLEM: "Problem"}),
                           **{s: json_errors[s] for s in (400, 413, 415, 422)}, 404: NOT_FOUND}),
        Operation("order_release", "POST", "orders/{orderId}/release",
                  "Give an order's held amount back (order ids are per partner)",
                  Auth.BEARER, tag="orders", body={JSON: OrderRelease}, body_required=False,
                  example={"hierarchyId": order["hierarchyId"]},
                  answers={200: Answer("Released (changed is false when it was released before)",
                                       {JSON: a.ReleasedReservation}),
                           **json_errors, 404: NOT_FOUND}),
        Operation("partner_credit", "GET", "partners/{hierarchyId}/credit",
                  "The partner's credit line: limit, reserved by open orders, available", Auth.BEARER, tag="partners",
                  answers={200: Answer("The credit line", {JSON: a.CreditLine}),
                           404: _problem("Not a partner the caller is an Active user of, or it has no credit line "
                                         "yet")}),
        *approval_operations(order),
        # --- the credit ledger: capture, payments, the ledger (shared/web/openapi_ledger.py) ---------------------
        *ledger_operations(),
        # --- the partner portal (HTML pages; a session cookie after an OpenID Connect sign-in) -----------------
        *_portal_operations(),
        # --- the local development issuer (LOCAL_ISSUER=true only; 404 elsewhere) ------------------------------
        *_local_issuer_operations(),
        # --- an applicant's personal data erased on request (functions/erasure.py) ---------------------------
        *_erasure_operations(),
        # --- the pages' static files and the console's sign-in ------------------------------------------------
        Operation("static_asset", "GET", "assets/{name}", "A style sheet, script or image of the pages",
                  Auth.ANONYMOUS, tag="pages",
                  params=(Param("v", "query", "The file's fingerprint, as pages link it: with the current one the "
                                "answer may be kept a year", {"type": "string"}),),
                  answers={200: Answer("The file", {media: {"type": "string"}
                                                    for media in sorted(set(STATIC_TYPES.values()))}),
                           404: NOT_FOUND}),
        Operation("console_sign_in", "GET", "console/sign-in", "The console's development sign-in (loopback only)",
                  Auth.ANONYMOUS, tag="console",
                  params=(Param("next", "query", "The console page to come back to", {"type": "string"}),),
                  answers={200: Answer("The sign-in page (a local host on loopback)", {HTML: {"type": "string"}}),
                           302: Answer("To the platform's sign-in (App Service Authentication)", {}, ("Location",)),
                           404: Answer("No development sign-in here (Azure, or not on loopback)",
                                       {HTML: {"type": "string"}})}),
        Operation("console_sign_in", "POST", "console/sign-in", "Sign in to the console as the chosen role "
                  "(development sign-in)", Auth.ANONYMOUS, tag="console",
                  body={FORM: {"type": "object", "required": ["csrf", "role"],
                               "properties": {"csrf": {"type": "string"}, "name": {"type": "string"},
                                              "role": {"enum": ["operator", "viewer"]},
                                              "next": {"type": "string"}}}},
                  answers={303: Answer("Signed in: to the page asked for", {}, ("Location",)),
                           302: Answer("To the platform's sign-in (App Service Authentication)", {}, ("Location",)),
                           **{status: Answer(why, {HTML: {"type": "string"}}) for status, why in (
                               (400, "A form that cannot be read"), (403, "The form's CSRF token is missing or wrong"),
                               (404, "No development sign-in here"), (413, "The form is too large"),
                               (415, "Not a form post"), (422, "No role chosen: the form again"))}}),
        *console_operations(Auth.CONSOLE),
        Operation("console_sign_out", "POST", "console/sign-out", "Sign out of the console", Auth.CONSOLE,
                  tag="console", body={FORM: {"type": "object", "required": ["csrf"],
                                              "properties": {"csrf": {"type": "string"}}}},
                  answers={303: Answer("Signed out", {}, ("Location",)),
                           **{status: Answer(why, {HTML: {"type": "string"}}) for status, why in (
                               (400, "A form that cannot be read"), (413, "The form is too large"),
                               (415, "Not a form post"))}}),
        Operation("backoffice_outbox", "GET", "backoffice/outbox",
                  "The emails kept instead of sent (EMAIL_TRANSPORT=outbox or storage), oldest first",
                  Auth.FUNCTION_KEY, tag="back office",
                  answers={200: Answer("The kept emails", {JSON: a.KeptEmails}),
                           503: _problem("The email transport sends emails on (SMTP, SES) and keeps none")}),
        Operation("backoffice_outbox_email", "GET", "backoffice/outbox/{messageId}", "One kept email, as its .eml",
                  Auth.FUNCTION_KEY, tag="back office",
                  answers={200: Answer("The email (RFC 5322), as an attachment", {"message/rfc822": {"type": "string"}}),
                           404: NOT_FOUND,
                           503: _problem("The email transport sends emails on (SMTP, SES) and keeps none")}),
        # --- operations -------------------------------------------------------------------------------------
        Operation("health", "GET", "health", "Whether the app, as configured where it runs, can take a signup to a "
                  "decision: settings, mode allowed here, state store, queues, Sales, email transport",
                  Auth.ANONYMOUS, tag="operations",
                  answers={200: Answer("Every check passed", {JSON: HealthReport}),
                           503: Answer("A check failed: `failing` names them, each check's `detail` says why",
                                       {JSON: HealthReport})}),
        Operation("console_prospects", "GET", "console", "All prospects: the console's entry page", Auth.CONSOLE,
                  tag="console", params=_list_params(),
                  answers={200: Answer("The page: counts per status, the filter form, a page of prospects",
                                       {HTML: {"type": "string"}}),
                           400: Answer("The page with the filter's values that cannot be used named above it",
                                       {HTML: {"type": "string"}})}),
        Operation("console_prospects_csv", "GET", "console/prospects.csv", "All prospects of the page's filter, "
                  "as CSV", Auth.CONSOLE, tag="console", params=_list_params(),
                  answers={200: Answer("A CSV file (UTF-8; cells a spreadsheet would run start with an apostrophe)",
                                       {"text/csv": {"type": "string"}}),
                           422: Answer("A page naming the filter's values that cannot be used",
                                       {HTML: {"type": "string"}})}),
        # --- the console's prospect and drift pages (functions/console_prospect.py) ------------------------------
        Operation("console_prospect", "GET", "console/prospects/{key}",
                  "A prospect's page: the request, its Sales records, its whole timeline, the actions", Auth.CONSOLE,
                  tag="console", answers={200: _page("The page"), 404: _page("No such prospect: a page saying so")}),
        *(Operation(f"console_prospect_{name}", "GET", f"console/prospects/{{key}}/{name}", summary, Auth.CONSOLE,
                    tag="console", answers={200: _page("What will happen, with a confirm button"),
                                            404: _page("No such prospect: a page saying so")})
          for name, summary in (("reject", "Confirm rejecting a prospect, with the reason"),
                                ("replay", "Confirm replaying a prospect's poisoned messages"))),
        *(Operation(function, "POST", route, summary, Auth.CONSOLE, tag="console", body={FORM: _form(*fields)},
                    answers={303: Answer("Done, or refused: back to the page, which says what changed or why not",
                                         {}, ("Location",)), **_FORM_REFUSALS, **extra})
          for function, route, summary, fields, extra in (
              ("console_prospect_approve", "console/prospects/{key}/approve", "Approve a prospect", (), {}),
              ("console_prospect_reject", "console/prospects/{key}/reject", "Reject a prospect with a reason",
               ("reason",), {422: _page("No usable reason: the confirm page again, saying what to fix")}),
              ("console_prospect_acknowledge", "console/prospects/{key}/acknowledge",
               "Acknowledge a prospect's attention flag with a note", ("note",), {}),
              ("console_prospect_email_retry", "console/prospects/{key}/emails/{emailId}/retry",
               "Queue a prospect's failed email again", (), {}),
              ("console_prospect_replay", "console/prospects/{key}/replay",
               "Replay a prospect's poisoned messages", (), {}),
              ("console_drift_reconcile", "console/drift/reconcile",
               "Reconcile one prospect (key) or every drifting one with Sales now", ("key",), {}))),
        Operation("console_drift", "GET", "console/drift", "Prospects whose state disagrees with Sales, to reconcile",
                  Auth.CONSOLE, tag="console", answers={200: _page("The page")}),
        # --- this document and its docs page --------------------------------------------------------------------
        Operation("openapi_document", "GET", "openapi.json", "This document (OpenAPI 3.1)", Auth.ANONYMOUS,
                  tag="documentation", answers={200: Answer("The document", {JSON: {"type": "object"}})}),
        Operation("openapi_docs", "GET", "docs", "This document in a browser (Swagger UI)", Auth.ANONYMOUS,
                  tag="documentation", answers={200: Answer("The page", {HTML: {"type": "string"}})}),
        Operation("openapi_docs_asset", "GET", "docs/assets/{name}", "A script or style sheet of the docs page",
                  Auth.ANONYMOUS, tag="documentation",
                  answers={200: Answer("The file", {media: {"type": "string"}
                                                    for media in sorted(set(ASSET_TYPES.values()))}),
                           404: NOT_FOUND}),
    )


_PAGE = {HTML: {"type": "string"}}
_PORTAL_UNAVAILABLE = Answer("A page saying the portal cannot serve now: sign-in not configured (PORTAL_* or "
                             "PORTAL_SESSION_SECRET missing), the issuer out of reach, a record being changed",
                             _PAGE)
_PORTAL_REFUSED = Answer("A page: no session (sign in again), a form not sent from this session (CSRF), a User where "
                         "an Admin is needed, or an account that is no partner user", _PAGE)
_PORTAL_FORM_REFUSED = {400: Answer("A page: the form could not be read", _PAGE),
                        413: Answer("A page: the form is too large", _PAGE),
                        415: Answer("A page: not a form post", _PAGE)}


def _erasure_operations() -> tuple[Operation, ...]:
    from shared.web.openapi_erasure import erasure_operations

    return erasure_operations()


def _portal_form(*fields: str, required: tuple[str, ...] = ()) -> dict:
    """A portal form's schema: its fields are strings; ``csrf`` is the session's token, on every form."""
    return {"type": "object", "properties": {"csrf": {"type": "string"}, **{f: {"type": "string"} for f in fields}},
            "required": ["csrf", *required]}


def _portal_operations() -> tuple[Operation, ...]:
    user_fields = ("firstName", "lastName", "role", "spendingLimit", "monthlyLimit", "language")
    tag = "portal"
    return (
        Operation("portal_page", "GET", "portal", "Organization users (an Admin), your profile (a User), or the sign-in "
                  "page", Auth.ANONYMOUS, tag=tag,
                  answers={200: Answer("The users page, the profile page, or the sign-in page", _PAGE),
                           403: _PORTAL_REFUSED, 503: _PORTAL_UNAVAILABLE}),
        Operation("portal_sign_in", "GET", "portal/sign-in", "Start an OpenID Connect sign-in (code + PKCE)",
                  Auth.ANONYMOUS, tag=tag,
                  answers={302: Answer("To the issuer's authorization endpoint (state, nonce, S256 challenge); sets "
                                       "the sign-in's sealed state cookie"),
                           503: _PORTAL_UNAVAILABLE}),
        Operation("portal_callback", "GET", "portal/callback", "The issuer's answer to a sign-in", Auth.ANONYMOUS,
                  tag=tag,
                  params=(Param("code", "query", "The authorization code", {"type": "string"}),
                          Param("state", "query", "The sign-in's state, as sent", {"type": "string"}),
                          Param("error", "query", "The issuer's error code, when it refused", {"type": "string"})),
                  answers={303: Answer("Signed in: to the portal, with the session cookie"),
                           400: Answer("The sign-in page saying what failed: the issuer refused, the code was "
                                       "refused (used before, expired), the ID token does not verify (nonce, "
                                       "audience, issuer), the partner services refuse the token", _PAGE),
                           403: Answer("The sign-in page: not the sign-in this browser started (state), or too "
                                       "old; or an account that is no partner user", _PAGE),
                           503: _PORTAL_UNAVAILABLE}),
        Operation("portal_sign_out", "POST", "portal/sign-out", "Sign out of the portal", Auth.ANONYMOUS, tag=tag,
                  body={FORM: _portal_form()},
                  answers={200: Answer("The sign-in page; the session cookie is cleared", _PAGE),
                           403: _PORTAL_REFUSED, **_PORTAL_FORM_REFUSED, 503: _PORTAL_UNAVAILABLE}),
        Operation("portal_users", "POST", "portal/users", "An Admin adds a user (the form of the users page)",
                  Auth.ANONYMOUS, tag=tag,
                  body={FORM: _portal_form("email", *user_fields, required=("firstName", "lastName", "email"))},
                  answers={303: Answer("Added: to the users page, which says so"), 403: _PORTAL_REFUSED,
                           409: Answer("The users page saying why not (the email signs in elsewhere)", _PAGE),
                           422: Answer("The users page, each invalid field's error next to it", _PAGE),
                           **_PORTAL_FORM_REFUSED, 503: _PORTAL_UNAVAILABLE}),
        Operation("portal_user", "GET", "portal/users/{userId}", "An Admin's form to edit a user", Auth.ANONYMOUS,
                  tag=tag,
                  answers={200: Answer("The edit form (or the sign-in page without a session)", _PAGE),
                           403: _PORTAL_REFUSED, 404: Answer("A page: no such user in the partner", _PAGE),
                           503: _PORTAL_UNAVAILABLE}),
        Operation("portal_user", "POST", "portal/users/{userId}", "An Admin edits a user", Auth.ANONYMOUS, tag=tag,
                  body={FORM: _portal_form(*user_fields)},
                  answers={303: Answer("Saved: to the users page, which says so"), 403: _PORTAL_REFUSED,
                           404: Answer("A page: no such user in the partner", _PAGE),
                           409: Answer("The form saying why not (the last Admin)", _PAGE),
                           422: Answer("The form, each invalid field's error next to it", _PAGE),
                           **_PORTAL_FORM_REFUSED, 503: _PORTAL_UNAVAILABLE}),
        Operation("portal_user_remove", "GET", "portal/users/{userId}/remove", "Confirm removing a user",
                  Auth.ANONYMOUS, tag=tag,
                  answers={200: Answer("What removing does, and the button (or the sign-in page)", _PAGE),
                           403: _PORTAL_REFUSED, 404: Answer("A page: no such user in the partner", _PAGE),
                           503: _PORTAL_UNAVAILABLE}),
        Operation("portal_user_remove", "POST", "portal/users/{userId}/remove", "An Admin removes a user",
                  Auth.ANONYMOUS, tag=tag, body={FORM: _portal_form()},
                  answers={303: Answer("Removed: to the users page, which says so"), 403: _PORTAL_REFUSED,
                           404: Answer("A page: no such user in the partner", _PAGE),
                           409: Answer("The confirmation page saying why not (the last Admin)", _PAGE),
                           **_PORTAL_FORM_REFUSED, 503: _PORTAL_UNAVAILABLE}),
    )


def _local_issuer_operations() -> tuple[Operation, ...]:
    tag = "local development issuer"
    off = _problem("LOCAL_ISSUER is off: there is no development issuer here")
    authorize = {"type": "object", "properties": {name: {"type": "string"} for name in (
        "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
        "code_challenge_method", "email")}}
    refused = Answer("A page: the request is not the local portal's (client id, redirect URI, PKCE S256)", _PAGE)
    return (
        Operation("local_issuer_discovery", "GET", "local-issuer/.well-known/openid-configuration",
                  "The development issuer's discovery document", Auth.ANONYMOUS, tag=tag,
                  answers={200: Answer("The document", {JSON: {"type": "object"}}), 404: off}),
        Operation("local_issuer_keys", "GET", "local-issuer/keys", "The development issuer's signing keys (JWKS)",
                  Auth.ANONYMOUS, tag=tag,
                  answers={200: Answer("The JWKS", {JSON: {"type": "object"}}), 404: off}),
        Operation("local_issuer_authorize", "GET", "local-issuer/authorize",
                  "The labelled page where one picks the partner user to sign in as", Auth.ANONYMOUS, tag=tag,
                  params=tuple(Param(name, "query", f"OAuth 2.0 / PKCE parameter {name}", {"type": "string"})
                               for name in authorize["properties"] if name != "email"),
                  answers={200: Answer("The page", _PAGE), 400: refused, 404: off}),
        Operation("local_issuer_authorize", "POST", "local-issuer/authorize", "Sign in as the email chosen",
                  Auth.ANONYMOUS, tag=tag, body={FORM: authorize},
                  answers={303: Answer("To the portal's callback with a code and the state"), 400: refused,
                           404: off, 413: TOO_LARGE, 415: WRONG_TYPE,
                           422: Answer("The page again: the email is not an email address (a problem when the body "
                                       "is no form)", {**_PAGE, PROBLEM: "Problem"})}),
        Operation("local_issuer_demo_partner", "POST", "local-issuer/demo-partner",
                  "Create the demo partner (shared/demo.py), then back to the page", Auth.ANONYMOUS, tag=tag,
                  body={FORM: authorize},
                  answers={303: Answer("Back to the page, which lists the demo partner's users"), 400: refused,
                           404: off, 409: CONFLICT, 413: TOO_LARGE, 415: WRONG_TYPE, 422: INVALID}),
        Operation("local_issuer_token", "POST", "local-issuer/token",
                  "Redeem a code (once, within a minute, with its PKCE verifier)", Auth.ANONYMOUS, tag=tag,
                  body={FORM: {"type": "object", "properties": {name: {"type": "string"} for name in (
                      "grant_type", "code", "redirect_uri", "client_id", "code_verifier")}}},
                  answers={200: Answer("The ID token (also as the access token)", {JSON: {"type": "object"}}),
                           400: Answer("RFC 6749's error: invalid_grant (used, expired, another verifier), "
                                       "invalid_request", {JSON: {"type": "object"}}),
                           404: off, 413: TOO_LARGE, 415: WRONG_TYPE}),
    )


# Bodies the routes accept, shown on the docs page (and sent by the fuzz test as its explicit examples).
_SIGNUP = {
    "company": {"name": "Fabrikam AB", "phone": "+46 8 123 456",
                "address": {"street": "Storgatan 1", "city": "Stockholm", "zip_code": "111 22", "country": "SE"}},
    "contact": {"first_name": "Astrid", "last_name": "Lind", "email": "astrid@fabrikam.example",
                "phone": "+46 70 123 45 67", "preferred_language": "sv-SE"},
    "comments": "We order weekly.", "channel_id": "b2b-web",
}
_SIGNUP_FORM = {
    "company.name": "Fabrikam AB", "company.phone": "+46 8 123 456", "company.address.street": "Storgatan 1",
    "company.address.city": "Stockholm", "company.address.zip_code": "111 22", "company.address.country": "SE",
    "contact.first_name": "Astrid", "contact.last_name": "Lind", "contact.email": "astrid@fabrikam.example",
    "contact.phone": "+46 70 123 45 67", "channel_id": "b2b-web",
}
_LEAD = "6f1c2a4e-0b7d-4c55-9e3a-2f8d1b9c7e10"
_QUALIFY_LEAD = {  # the parts of Dataverse's RemoteExecutionContext the webhook reads, for a lead qualified in Sales
    "MessageName": "QualifyLead", "PrimaryEntityName": "lead", "PrimaryEntityId": _LEAD,
    "InputParameters": [{"key": "LeadId", "value": {"Id": _LEAD, "LogicalName": "lead"}},
                        {"key": "CreateOpportunity", "value": True}, {"key": "Status", "value": {"Value": 3}}],
    "OutputParameters": [{"key": "CreatedEntities",
                          "value": [{"Id": "0c9b8a7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "LogicalName": "opportunity"}]}],
    "CorrelationId": "2b7e6c1d-5a4f-4e3d-9c2b-1a0f9e8d7c6b", "OperationCreatedOn": "/Date(1764751200000)/",
}
_NEW_USER = {"firstName": "Anna", "lastName": "Berg", "email": "anna@fabrikam.example", "spendingLimit": "100.00"}


def _form_schema() -> dict:
    """The storefront form's fields (dotted names of the intake body, shared.web.storefront.FORM_FIELDS)."""
    from shared.domain.intake_defenses import CAPTCHA_TOKEN_FIELDS, STAMP_FIELD
    from shared.web.storefront import CONSENT, FORM_FIELDS, FORM_KEY

    properties = {f.name: {"type": "string", "description": f.label} for f in FORM_FIELDS}
    properties["channel_id"] = {"type": "string", "description": "The channel the form is for"}
    properties[FORM_KEY] = {"type": "string", "description": "The form's idempotency key (a hidden field): "
                                                             "sending one form twice makes one signup"}
    properties[CONSENT] = {"type": "string", "description": "The privacy policy box: `yes` when ticked (another "
                                                           "value: not ticked); a channel with a policy needs it"}
    properties[STAMP_FIELD] = {"type": "string", "description": "The form page's stamp (a hidden field): sent "
                                                                "back as the page carried it"}
    for token_field in CAPTCHA_TOKEN_FIELDS:
        properties[token_field] = {"type": "string", "description": "With CAPTCHA_PROVIDER set: the token the "
                                                                    "provider's widget puts in the form"}
    return {"type": "object", "properties": properties,
            "required": [f.name for f in FORM_FIELDS if f.required]}


@functools.cache
def operations() -> tuple[Operation, ...]:
    return _operations()


@functools.cache
def document() -> dict:
    """The OpenAPI document, built on first use and kept for the life of the process."""
    ops = operations()
    components = _schemas(ops)
    paths: dict[str, dict] = {}
    for op in ops:
        paths.setdefault("/" + op.route, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "B2B partner onboarding", "version": API_VERSION,
                 "description": "Signups from the storefront, back-office decisions, partner users and order "
                                "credit, the Dataverse webhook. Errors are application/problem+json (RFC 9457)."},
        "servers": [{"url": f"/{ROUTE_PREFIX}", "description": "This host, under its route prefix"}],
        "paths": paths,
        "components": {"schemas": components,
                       "responses": {name: _response(answer) for name, answer in _SHARED_ANSWERS.items()},
                       "securitySchemes": _SECURITY_SCHEMES},
    }


@functools.cache
def document_bytes() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode()


def _ref(model: type[BaseModel] | str) -> dict:
    return {"$ref": f"#/components/schemas/{model if isinstance(model, str) else model.__name__}"}


def _models(ops: tuple[Operation, ...]) -> list[tuple[type[BaseModel], str]]:
    """Every model the table names, with the mode its schema is for (a body is validated, an answer serialized)."""
    from shared.web.openapi_answers import Problem

    found: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for op in ops:
        for schema in (op.body or {}).values():
            if isinstance(schema, type):
                found[(schema, "validation")] = None
        for answer in op.answers.values():
            for schema in answer.content.values():
                if isinstance(schema, type):
                    found[(schema, "serialization")] = None
    return list(found)


def _schemas(ops: tuple[Operation, ...]) -> dict:
    """components/schemas: pydantic's schemas of every model, their references pointing there."""
    models = _models(ops)
    names = {model.__name__ for model, _ in models}
    modes = {model: {m for mm, m in models if mm is model} for model, _ in models}
    if any(len(m) > 1 for m in modes.values()):
        raise ValueError("a model is both a body and an answer: give the answer its own model")
    _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas = definitions.get("$defs", {})
    missing = names - set(schemas)
    if missing:
        raise ValueError(f"pydantic named these models otherwise: {sorted(missing)}")
    return schemas


def _content(content: Mapping[str, type[BaseModel] | dict | str | None]) -> dict:
    out = {}
    for media, schema in content.items():
        if schema is None:
            out[media] = {}
        elif isinstance(schema, dict):
            out[media] = {"schema": schema}
        else:
            out[media] = {"schema": _ref(schema)}
    return out


_ROUTE_PARAM = re.compile(r"{(\w+)}")


def _response(answer: Answer) -> dict:
    entry: dict = {"description": answer.description}
    if answer.content:
        entry["content"] = _content(answer.content)
    # Every answer the function gives carries the correlation id; the host's own refusal of a key does not.
    headers = answer.headers if answer is _KEY_REFUSED else ("x-correlation-id", *answer.headers)
    if headers:
        entry["headers"] = {name: _HEADERS[name] for name in headers}
    return entry


def _operation(op: Operation) -> dict:
    answers = {**op.answers, **_AUTH_ANSWERS[op.auth], 500: FAILED}
    answers.setdefault(503, UNAVAILABLE)
    shared = {id(answer): name for name, answer in _SHARED_ANSWERS.items()}
    responses = {}
    for status in sorted(answers):
        name = shared.get(id(answers[status]))
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"} if name else _response(answers[status])
    parameters = []
    for name in _ROUTE_PARAM.findall(op.route):
        description, example = _PATH_PARAMS[name]
        parameters.append({"name": name, "in": "path", "required": True, "description": description,
                           "schema": {"type": "string", "minLength": 1},
                           **({"example": example} if example else {})})
    parameters += [{"name": p.name, "in": p.where, "required": False, "description": p.description,
                    "schema": p.schema} for p in op.params]
    entry = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag] if op.tag else [],
             "x-azure-function": op.function, "security": _SECURITY[op.auth], "responses": responses}
    if parameters:
        entry["parameters"] = parameters
    if op.body is not None:
        content = _content(op.body)
        if op.example is not None:
            for media in content:
                content[media]["example"] = op.example
        entry["requestBody"] = {"required": op.body_required, "content": content}
    return entry
