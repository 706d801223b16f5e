"""Input validation with answers a person can act on: each bad field by its dotted path, in plain words."""
from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.domain.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

# pydantic's wording where a person filling in a form deserves plainer words
_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be text",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "string_pattern_mismatch": "is not a valid id (letters, digits, '.', '_', ':' or '-', at most 100)",
}


def validated(model: type[M], payload: object) -> M:
    """``payload`` as ``model``, or InvalidInput naming every field that is wrong."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput([_problem(e) for e in error.errors(include_url=False)]) from None


def _problem(error: dict) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "(body)"
    message = _PLAIN_MESSAGES.get(error["type"], error["msg"])
    if error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        message = "is required"
    return field, message.removeprefix("Value error, ")
