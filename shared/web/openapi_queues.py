"""The back office's queue and email routes in the OpenAPI table (``shared.web.openapi``), with the models of
what they answer (the routes build these shapes with ``QueueDepth.to_json``, ``PoisonMessage.to_json``,
``AuditEntry.to_json`` and ``email_summary_json``/``email_view_json``; the fuzz test checks the answers)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.validation import MAX_OPERATOR
from shared.web.openapi_answers import OperatorBody

EMAIL_STATES = ("queued", "sending", "sent", "failed")
AUDIT_ACTIONS = ("reveal", "replay", "discard", "retry-email")


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


_OPERATOR = Field(min_length=1, max_length=MAX_OPERATOR, description="Who in the back office acts (the audit's "
                                                                      "operator)")


class DiscardBody(BaseModel):
    operator: str = _OPERATOR
    reason: str = Field(min_length=1, max_length=500, description="Why it is discarded (kept in the audit)")


class QueueDepth(_Camel):
    queue: str
    depth: int = Field(description="Messages on the queue (Azure: approximate, those a consumer holds included)")
    poison_queue: str
    poison_depth: int


class QueueDepths(_Camel):
    queues: list[QueueDepth]


class PoisonMessage(_Camel):
    queue: str = Field(description="The poison queue")
    id: str
    inserted_at: datetime
    dequeue_count: int = Field(description="How often it was read from the poison queue (not its tries before)")
    about: str = Field(description="Its schema, kind and ids: what it was about, without personal data")
    fingerprint: str = Field(description="sha256 of the body as it is on the queue")
    masked: bool = Field(description="true: names, emails, phones and addresses are replaced by •••")
    body: str = Field(description="Pretty-printed when it is JSON")


class PoisonMessages(_Camel):
    messages: list[PoisonMessage] = Field(description="The first ones (Azure shows at most 32 at a time), masked")


class Replayed(_Camel):
    message_id: str
    replayed_as: str = Field(description="The id of the message sent back to the queue")


class ReplayedAll(_Camel):
    replayed: list[Replayed]


class AuditEntry(_Camel):
    id: str
    at: datetime
    operator: str
    action: Literal[AUDIT_ACTIONS]
    queue: str | None
    message_id: str | None
    email_id: str | None
    reason: str | None
    fingerprint: str | None
    about: str
    detail: str


class AuditEntries(_Camel):
    entries: list[AuditEntry] = Field(description="Newest first")


class EmailSummary(_Camel):
    id: str
    template: str
    status: Literal[EMAIL_STATES]
    to_domain: str = Field(description="The recipient's domain (the address is on the email's own answer)")
    language: str
    attempts: int
    last_error: str | None
    prospect_id: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    delivery_started_at: datetime | None


class EmailPage(_Camel):
    emails: list[EmailSummary] = Field(description="Newest first")
    next_cursor: str | None = Field(description="The next page's cursor; null on the last page")


class EmailView(EmailSummary):
    to: str
    render_error: str | None = Field(description="Why it cannot be rendered now (its template changed), if so")
    subject: str | None
    html: str | None = Field(description="The HTML body as sent (show it sandboxed: it is the sender's markup)")
    text: str | None


def queue_operations(auth) -> tuple:
    """The rows of the OpenAPI table for these routes (``auth``: the back office's key)."""
    from shared.web.openapi import CONFLICT, JSON, JSON_BODY_ERRORS, NOT_FOUND, Answer, Operation

    operation, answer, json_, json_errors, tag = Operation, Answer, JSON, JSON_BODY_ERRORS, "back office"
    poison = "backoffice/queues/{queue}/poison"
    operator = {"operator": "alice"}
    gone = {404: NOT_FOUND}
    return (
        operation("backoffice_queues", "GET", "backoffice/queues", "Every queue's depth and its poison queue's",
                  auth, tag=tag, answers={200: answer("The queues", {json_: QueueDepths})}),
        operation("backoffice_poison", "GET", poison, "A queue's poison messages, masked", auth, tag=tag,
                  answers={200: answer("The messages", {json_: PoisonMessages}), **gone}),
        operation("backoffice_poison_message", "GET", poison + "/{messageId}",
                  "One poison message, pretty-printed, personal data masked", auth, tag=tag,
                  answers={200: answer("The message", {json_: PoisonMessage}), **gone}),
        operation("backoffice_poison_reveal", "POST", poison + "/{messageId}/reveal",
                  "One poison message unmasked (the audit records who asked)", auth, tag=tag,
                  body={json_: OperatorBody}, example=operator,
                  answers={200: answer("The message, unmasked", {json_: PoisonMessage}), **json_errors, **gone}),
        operation("backoffice_poison_replay", "POST", poison + "/{messageId}/replay",
                  "Send one poison message back to its queue (audited)", auth, tag=tag,
                  body={json_: OperatorBody}, example=operator,
                  answers={200: answer("Sent back", {json_: Replayed}), **json_errors, **gone}),
        operation("backoffice_poison_replay_all", "POST", "backoffice/queues/{queue}/replay",
                  "Send every poison message of the queue back (each audited)", auth, tag=tag,
                  body={json_: OperatorBody}, example=operator,
                  answers={200: answer("Sent back (an empty list: there were none)", {json_: ReplayedAll}),
                           **json_errors, **gone}),
        operation("backoffice_poison_discard", "POST", poison + "/{messageId}/discard",
                  "Delete one poison message for good, with a reason (audited)", auth, tag=tag,
                  body={json_: DiscardBody}, example={**operator, "reason": "a test message sent by hand"},
                  answers={200: answer("Discarded: the audit record", {json_: AuditEntry}), **json_errors, **gone}),
        operation("backoffice_audit", "GET", "backoffice/audit",
                  "The operator audit: reveals, replays, discards, email retries", auth, tag=tag,
                  answers={200: answer("The newest records", {json_: AuditEntries})}),
        operation("backoffice_emails", "GET", "backoffice/emails", "The email outbox, newest first", auth, tag=tag,
                  params=_email_filters(),
                  answers={200: answer("One page", {json_: EmailPage}), 422: json_errors[422]}),
        operation("backoffice_email", "GET", "backoffice/emails/{emailId}",
                  "One email as rendered, with its attempts and last error", auth, tag=tag,
                  answers={200: answer("The email", {json_: EmailView}), **gone}),
        operation("backoffice_email_retry", "POST", "backoffice/emails/{emailId}/retry",
                  "Put a failed email back in line (audited)", auth, tag=tag, body={json_: OperatorBody},
                  example=operator,
                  answers={200: answer("Queued again", {json_: EmailSummary}), **json_errors, **gone,
                           409: CONFLICT}),
    )


def _email_filters() -> tuple:
    from shared.web.openapi import Param

    # Empty is no filter, as an HTML form sends an unchosen field.
    return (
        Param("status", "query", "Only emails in this state (pending: queued or sending; empty: any)",
              {"type": "string", "enum": [*EMAIL_STATES, "pending", ""]}),
        Param("template", "query", "Only emails of this template (e.g. prospect_approved; empty: any)",
              {"type": "string", "pattern": "^[a-z0-9_-]{0,64}$"}),
        Param("toDomain", "query", "Only emails to this domain (the part after @; empty: any)",
              {"type": "string", "maxLength": 253, "pattern": "^[^@\\s]*$"}),
        Param("cursor", "query", "The previous page's nextCursor", {"type": "string", "maxLength": 400}),
        Param("limit", "query", "Emails per page (50 unless given)", {"type": "integer", "minimum": 1,
                                                                      "maximum": 200}),
    )


def console_operations(auth) -> tuple:
    """The rows of the console's Queues and Emails pages (``auth``: the console's sign-in). Each answers HTML: the
    page, 303 after an action (with a one-time notice), or a page saying why not."""
    from shared.web.openapi import FORM, HTML, Answer, Operation

    page = {HTML: {"type": "string"}}
    form = {FORM: {"type": "object", "required": ["csrf"], "properties": {"csrf": {"type": "string"}}}}
    discard_form = {FORM: {"type": "object", "required": ["csrf", "reason"],
                           "properties": {"csrf": {"type": "string"}, "reason": {"type": "string"}}}}
    gone = {404: Answer("No such queue, message or email: a page saying so", page)}
    unreadable = {status: Answer(why, page) for status, why in (
        (400, "A form that cannot be read"), (413, "The form is too large"), (415, "Not a form post"))}
    done = {303: Answer("Done (or refused, the notice says why): to the page that shows it", {}, ("Location",))}
    poison = "console/queues/{queue}/poison"
    tag = "console"

    def view(function: str, route: str, summary: str, extra: dict | None = None) -> Operation:
        return Operation(function, "GET", route, summary, auth, tag=tag,
                         answers={200: Answer("The page", page), **gone, **(extra or {})})

    def act(function: str, route: str, summary: str, body=form, extra: dict | None = None) -> Operation:
        return Operation(function, "POST", route, summary, auth, tag=tag, body=body,
                         answers={**done, **unreadable, **gone, **(extra or {})})

    return (
        Operation("console_queues", "GET", "console/queues", "Queues: depths, poison counts and the operator audit",
                  auth, tag=tag, answers={200: Answer("The page", page)}),
        view("console_poison", poison, "A poison queue's messages, masked"),
        view("console_poison_replay_all", "console/queues/{queue}/replay", "Replay every poison message: the confirm "
             "page"),
        act("console_poison_replay_all", "console/queues/{queue}/replay", "Replay every poison message of the queue"),
        view("console_poison_message", poison + "/{messageId}", "One poison message, personal data masked"),
        Operation("console_poison_reveal", "POST", poison + "/{messageId}/reveal",
                  "One poison message with its personal data (audited)", auth, tag=tag, body=form,
                  answers={200: Answer("The message unmasked", page), **unreadable, **gone}),
        act("console_poison_replay", poison + "/{messageId}/replay", "Send one poison message back to its queue"),
        view("console_poison_discard", poison + "/{messageId}/discard",
             "Discard a poison message: the confirm page, asking why"),
        act("console_poison_discard", poison + "/{messageId}/discard", "Discard a poison message, with a reason",
            body=discard_form, extra={422: Answer("No reason (or too long): the confirm page again, saying so", page)}),
        view("console_emails", "console/emails", "Emails: the outbox, filtered and paged",
             extra={422: Answer("A filter or cursor that is not valid: a page saying which", page)}),
        view("console_email", "console/emails/{emailId}", "One email as rendered (sandboxed), attempts, last error"),
        act("console_email_retry", "console/emails/{emailId}/retry", "Retry a failed email"),
    )
