"""Versioned JSON contracts of every queue message.

Each message names its ``schema`` and ``version``; a consumer refuses what it does not know with
``MalformedMessage`` (the host retries it to the poison queue, where an operator can read it).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.errors import MalformedMessage
from shared.domain.sales import OutcomeKind, Qualification


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    version: Literal[1] = 1

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class CreateLead(_Message):
    schema_: Literal["create-lead"] = Field("create-lead", alias="schema")
    prospect_id: str


class DeliverEmail(_Message):
    schema_: Literal["deliver-email"] = Field("deliver-email", alias="schema")
    email_id: str


class SalesOutcome(_Message):
    """A decision made in Sales. ``event_id`` is deterministic (see ``ids.outcome_event_id``)."""

    schema_: Literal["sales-outcome"] = Field("sales-outcome", alias="schema")
    event_id: str
    kind: OutcomeKind
    lead_id: str
    opportunity_id: str | None = None
    occurred_at: datetime
    qualification: Qualification | None = None
    reason: str | None = None
    source: str = "sales"


M = TypeVar("M", bound=_Message)


def parse_message(body: str | bytes, model: type[M]) -> M:
    """Parse a queue body into ``model`` or raise ``MalformedMessage`` saying what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedMessage(f"not JSON: {error}") from None
    except RecursionError:
        raise MalformedMessage("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedMessage("not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in error.errors())
        raise MalformedMessage(f"not a valid {model.__name__} v1 message: {fields}") from None
