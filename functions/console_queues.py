"""The console's Queues and Emails pages (server-rendered, no script needed). Each handler calls the service the
CLI and the JSON routes call (OperatorService's poison actions, EmailOutbox), as the signed-in clerk.

GET       /api/console/queues                                        depths, poison counts, the audit
GET       /api/console/queues/{queue}/poison                         a poison queue's messages, masked
GET/POST  /api/console/queues/{queue}/replay                         replay its poison messages: confirm, then do
GET       /api/console/queues/{queue}/poison/{messageId}             one message, masked
POST      /api/console/queues/{queue}/poison/{messageId}/reveal      the same page unmasked (audited)
POST      /api/console/queues/{queue}/poison/{messageId}/replay      back to its queue
GET/POST  /api/console/queues/{queue}/poison/{messageId}/discard     with a reason: confirm, then do
GET       /api/console/emails                                        the outbox, filtered, paged
GET       /api/console/emails/{emailId}                              one email as rendered (sandboxed)
POST      /api/console/emails/{emailId}/retry                        a failed one back in line"""
from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import azure.functions as func

from functions._runtime import container
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import DomainError, InvalidInput, NotFound

bp = func.Blueprint()

_PAGE = func.AuthLevel.ANONYMOUS  # the console's own sign-in guards these (console_view), not a key


def _poison_path(queue: str, message_id: str = "") -> str:
    path = f"/api/console/queues/{quote(queue, safe='')}/poison"
    return f"{path}/{quote(message_id, safe='')}" if message_id else path


def _replay_all_path(queue: str) -> str:
    # Beside the poison path, not under it: there it would share its shape with a message's page.
    return f"/api/console/queues/{quote(queue, safe='')}/replay"


def _route(req: func.HttpRequest) -> tuple[str, str]:
    return req.route_params["queue"], req.route_params.get("messageId", "")


@bp.function_name("console_queues")
@bp.route(route="console/queues", methods=["GET"], auth_level=_PAGE)
@console_view("read")
def console_queues(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    operator = container().operator
    return visit.page("console/queues.html", depths=operator.queue_depths(), audit=operator.audit(50),
                      poison_path=_poison_path)


@bp.function_name("console_poison")
@bp.route(route="console/queues/{queue}/poison", methods=["GET"], auth_level=_PAGE)
@console_view("read")
def console_poison(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    queue, _ = _route(req)
    messages = container().operator.poison_summaries(queue)
    return visit.page("console/queues_poison.html", queue=queue, messages=messages, poison_path=_poison_path,
                      replay_all_path=_replay_all_path(queue))


@bp.function_name("console_poison_replay_all")
@bp.route(route="console/queues/{queue}/replay", methods=["GET", "POST"], auth_level=_PAGE)
@console_view("act")
def console_poison_replay_all(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    queue, _ = _route(req)
    operator = container().operator
    if req.method == "GET":  # the confirm page: what will happen, and the button that does it
        return visit.page("console/queues_replay_all.html", queue=queue, count=len(operator.poison_summaries(queue)),
                          poison_path=_poison_path, replay_all_path=_replay_all_path(queue))
    replayed = operator.replay_all_poison(queue, visit.operator)
    notice = f"Replayed {len(replayed)} message{'s' if len(replayed) != 1 else ''} from {queue}'s poison queue." \
        if replayed else f"Nothing replayed: {queue}'s poison queue was empty."
    return visit.done(_poison_path(queue), notice)


@bp.function_name("console_poison_message")
@bp.route(route="console/queues/{queue}/poison/{messageId}", methods=["GET"], auth_level=_PAGE)
@console_view("read")
def console_poison_message(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    message = container().operator.masked_poison_message(*_route(req))
    return visit.page("console/queues_message.html", queue=_route(req)[0], message=message, poison_path=_poison_path)


@bp.function_name("console_poison_reveal")
@bp.route(route="console/queues/{queue}/poison/{messageId}/reveal", methods=["POST"], auth_level=_PAGE)
@console_view("act")
def console_poison_reveal(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    # Shown in the answer to the POST itself: the unmasked body is never at a URL a GET (or the history) repeats.
    message = container().operator.reveal_poison(*_route(req), visit.operator)
    return visit.page("console/queues_message.html", queue=_route(req)[0], message=message, poison_path=_poison_path)


@bp.function_name("console_poison_replay")
@bp.route(route="console/queues/{queue}/poison/{messageId}/replay", methods=["POST"], auth_level=_PAGE)
@console_view("act")
def console_poison_replay(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    queue, message_id = _route(req)
    try:
        done = container().operator.replay_poison(queue, message_id, visit.operator)
    except NotFound as gone:  # replayed or discarded by someone else a moment ago
        return visit.done(_poison_path(queue), f"Not replayed: {gone}", refused=True)
    return visit.done(_poison_path(queue), f"Message {message_id} sent back to {queue} (as {done.new_id}).")


@bp.function_name("console_poison_discard")
@bp.route(route="console/queues/{queue}/poison/{messageId}/discard", methods=["GET", "POST"], auth_level=_PAGE)
@console_view("act")
def console_poison_discard(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    queue, message_id = _route(req)
    operator = container().operator
    reason = visit.form.get("reason", "")
    if req.method == "POST":
        try:
            entry = operator.discard_poison(queue, message_id, reason, visit.operator)
        except InvalidInput as refused:  # the confirm page again, saying what is missing next to the field
            error = "; ".join(message for _, message in refused.problems)
            return visit.page("console/queues_discard.html", status=422, queue=queue, reason=reason,
                              error=f"The reason {error}.",
                              message=operator.masked_poison_message(queue, message_id), poison_path=_poison_path)
        return visit.done(_poison_path(queue), f"Message {message_id} discarded from {entry.queue}; the audit keeps "
                                               "who, when and why.")
    return visit.page("console/queues_discard.html", queue=queue, reason="", error="",
                      message=operator.masked_poison_message(queue, message_id), poison_path=_poison_path)


# -- emails -------------------------------------------------------------------------------------------------

_FILTERS = {"status": "status", "template": "template", "to_domain": "to_domain", "cursor": "cursor"}


@bp.function_name("console_emails")
@bp.route(route="console/emails", methods=["GET"], auth_level=_PAGE)
@console_view("read")
def console_emails(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.domain.email_templates import PLACEHOLDERS
    from shared.services.outbox import EmailState, email_state, recipient_domain

    chosen = {field: req.params.get(name, "").strip() for name, field in _FILTERS.items()}
    page = container().email_outbox.page({k: v for k, v in chosen.items() if v})
    kept = {k: v for k, v in chosen.items() if v and k != "cursor"}
    next_url = f"/api/console/emails?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
    first_url = f"/api/console/emails?{urlencode(kept)}" if chosen["cursor"] else None
    return visit.page("console/emails.html", emails=page.emails, chosen=chosen, states=[s.value for s in EmailState],
                      templates=sorted(PLACEHOLDERS), next_url=next_url, first_url=first_url, state_of=email_state,
                      domain_of=recipient_domain)


_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)
# The email's own policy, inside its sandboxed frame (which also keeps the console's): no script, no remote
# content (an image or font from elsewhere would tell its sender that the email was opened), no form, no link out.
_EMAIL_POLICY = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                 "style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'\">")


def sandboxed_email(html: str) -> str:
    """The email's HTML for the frame's srcdoc, with its own Content-Security-Policy first in its head."""
    head = _HEAD.search(html)
    if head is None:
        return _EMAIL_POLICY + html
    return html[:head.end()] + _EMAIL_POLICY + html[head.end():]


@bp.function_name("console_email")
@bp.route(route="console/emails/{emailId}", methods=["GET"], auth_level=_PAGE)
@console_view("read")
def console_email(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    view = container().email_outbox.email(req.route_params["emailId"])
    srcdoc = sandboxed_email(view.rendered.html_body) if view.rendered else ""
    from shared.services.outbox import delivery_note

    return visit.page("console/emails_email.html", view=view, srcdoc=srcdoc,
                      delivery=delivery_note(view.record, container().clock.now()))


@bp.function_name("console_email_retry")
@bp.route(route="console/emails/{emailId}/retry", methods=["POST"], auth_level=_PAGE)
@console_view("act")
def console_email_retry(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    email_id = req.route_params["emailId"]
    back = f"/api/console/emails/{quote(email_id, safe='')}"
    try:
        container().email_outbox.retry_email(email_id, visit.operator)
    except NotFound:
        raise
    except DomainError as refused:  # sent meanwhile, or retried by someone else a moment ago: say so there
        return visit.done(back, f"Not retried: {refused}", refused=True)
    return visit.done(back, f"Email {email_id} queued again: its attempts start over.")
