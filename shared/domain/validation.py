"""Input validation with answers a person can act on: each bad field by its dotted path, in plain words."""
from __future__ import annotations

import unicodedata
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, PlainValidator, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

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
        errors = error.errors(include_url=False)
        raise InvalidInput([_problem(e) for e in errors], [(e["type"], e.get("ctx", {})) for e in errors]) from None


def _problem(error: dict) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "(body)"
    message = _PLAIN_MESSAGES.get(error["type"], error["msg"])
    if error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        message = "is required"
    return field, message.removeprefix("Value error, ")


MAX_OPERATOR = 64

# Refused in every text a person types, everywhere (intake, partner users, back office): characters that
# cannot be seen or that move text around make one name look like another in a history, a listing, Sales
# or an email (bidi overrides and isolates, zero-width characters, the BOM: category Cf); controls (Cc)
# and the line and paragraph separators U+2028/U+2029 (Zl, Zp) break a line where none may be; a lone
# surrogate (Cs) cannot even be stored as UTF-8. A multiline text (a comment, a note) keeps LF and TAB.
class TextRefused(ValueError):
    """A text refused by ``visible_text``; ``code`` names the rule (line_break, tab, hidden_character)."""

    def __init__(self, code: str, message: str, **context: str):
        self.code, self.context = code, context
        super().__init__(message)


def refused(code: str, message: str, **context: str) -> PydanticCustomError:
    """A validator's refusal that keeps ``message`` as the API's words and ``code`` as its error type (with
    ``context``, e.g. the character found), so that a page can word it in its reader's language (shared/web)
    without parsing English."""
    return PydanticCustomError(code, message, context or None)


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MULTILINE_KEEPS = frozenset("\n\t")


def visible_text(text: str, *, multiline: bool = False) -> str:
    """``text`` if it holds no hidden characters (see ``_HIDDEN_CATEGORIES``); a multiline text gets its line
    breaks as LF (CR LF and a lone CR are what browsers and Windows send). ValueError says in plain words what
    was found, naming an invisible character by its code point, since the person cannot see it."""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isprintable():  # the common case, at C speed: no character of the "Other" or separator classes
        return text
    for ch in text:
        if unicodedata.category(ch) not in _HIDDEN_CATEGORIES or multiline and ch in _MULTILINE_KEEPS:
            continue
        if not multiline and ch in _LINE_BREAKS:
            raise TextRefused("line_break", "must be on one line, without line breaks")
        if not multiline and ch == "\t":
            raise TextRefused("tab", "must not contain tabs")
        raise TextRefused("hidden_character", f"has a hidden character (U+{ord(ch):04X}), often pasted along with copied text: "
                         "please type it again", character=f"U+{ord(ch):04X}")
    return text


def _single_line(text: str) -> str:
    try:
        return visible_text(text)
    except TextRefused as error:
        raise refused(error.code, str(error), **error.context) from None


def _multiline(text: str) -> str:
    try:
        return visible_text(text, multiline=True)
    except TextRefused as error:
        raise refused(error.code, str(error), **error.context) from None


def text_field(max_length: int, min_length: int = 1, *, multiline: bool = False):
    """The pydantic type of a text field a person fills in: stripped, between ``min_length`` and
    ``max_length`` characters, visible characters only (``visible_text``): one rule for every name,
    address and comment the intake, partner admins and the back office take."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_multiline if multiline else _single_line),
    ]


def plain_text(value: object, limit: int, multiline: bool = False) -> str:
    """``value`` stripped, as the back office takes a name or a note outside a model: required, at most
    ``limit`` characters, and ``visible_text``. ValueError says why."""
    if value is None:
        raise ValueError("is required")
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if not text:
        raise ValueError("is required")
    if len(text) > limit:
        raise ValueError(f"may be at most {limit} characters")
    return visible_text(text, multiline=multiline)


def operator_name(value: object) -> str:
    """Who in the back office acted, as every back-office action records it (the history's actor)."""
    return plain_text(value, MAX_OPERATOR)


OperatorName = Annotated[str, PlainValidator(operator_name)]
