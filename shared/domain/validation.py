"""Input validation with answers a person can act on: each bad field by its dotted path, in plain words."""
from __future__ import annotations

import unicodedata
from typing import Annotated, TypeVar

from pydantic import BaseModel, PlainValidator, ValidationError

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


MAX_OPERATOR = 64


def plain_text(value: object, limit: int, multiline: bool = False) -> str:
    """``value`` stripped, as the back office takes a name or a note: required, at most ``limit`` characters,
    and no control or format characters (those hide in a history: zero-width and bidi-override characters
    make one name look like another); a multiline note keeps its line breaks and tabs. ValueError says why."""
    if value is None:
        raise ValueError("is required")
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if not text:
        raise ValueError("is required")
    if len(text) > limit:
        raise ValueError(f"may be at most {limit} characters")
    allowed = {"\n", "\t"} if multiline else set()
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in allowed for ch in text):
        raise ValueError("contains control characters")
    return text


def operator_name(value: object) -> str:
    """Who in the back office acted, as every back-office action records it (the history's actor)."""
    return plain_text(value, MAX_OPERATOR)


OperatorName = Annotated[str, PlainValidator(operator_name)]
