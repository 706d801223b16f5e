"""The OpenAPI description of the routes of functions/erasure.py: an applicant's personal data erased on request,
as automation (a function key) and as the console's confirm page and form post (issue 11)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.web.openapi_answers import Operator


class EraseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: str = Operator
    reason: str = Field(min_length=1, max_length=500, description="Why (kept in the audit; name no personal data)")


class Erased(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str = Field(description="What was erased: the prospect's number")
    changed: bool = Field(description="false: its personal data was erased already; nothing was done")
    emails: int = Field(description="Email records deleted")
    keptEmails: int = Field(description="Emails the transport kept (.eml files or blobs) deleted")
    queueMessages: int = Field(description="Queue messages (poison ones too) that named the applicant, removed")


def erasure_operations() -> tuple:
    from shared.web.openapi import (
        FORM,
        HTML,
        JSON,
        JSON_BODY_ERRORS,
        NOT_FOUND,
        Answer,
        Auth,
        Operation,
        _form,
        _FORM_REFUSALS,
        _page,
        _problem,
    )

    refused = "An approved partner, or a prospect not decided yet: the detail says what to do instead"
    return (
        Operation("backoffice_erase", "POST", "backoffice/prospects/{key}/erase",
                  "Erase a prospect's personal data (the right to erasure), recorded in the audit",
                  Auth.FUNCTION_KEY, tag="back office", body={JSON: EraseBody},
                  example={"operator": "alice", "reason": "the applicant asked"},
                  answers={200: Answer("Erased (changed is false when it was erased already)", {JSON: Erased}),
                           **JSON_BODY_ERRORS, 404: NOT_FOUND, 409: _problem(refused)}),
        Operation("console_prospect_erase", "GET", "console/prospects/{key}/erase",
                  "Confirm erasing a prospect's personal data, with the reason (or why it is not erased here)",
                  Auth.CONSOLE, tag="console",
                  answers={200: _page("What will happen, with a confirm button; or the refusal, saying what to do "
                                      "instead"), 404: _page("No such prospect: a page saying so")}),
        Operation("console_prospect_erase", "POST", "console/prospects/{key}/erase",
                  "Erase a prospect's personal data, with a reason", Auth.CONSOLE, tag="console",
                  body={FORM: _form("reason")},
                  answers={303: Answer("Done: back to the prospect's page, which says what was erased", {},
                                       ("Location",)),
                           **_FORM_REFUSALS, 409: Answer(refused, {HTML: {"type": "string"}}),
                           422: _page("No usable reason: the confirm page again, saying what to fix")}),
    )
