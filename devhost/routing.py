"""HTTP route templates with ASP.NET Core semantics, as the Functions host matches them.

``signups/{id}``, ``{id:guid}``, ``{id:int:min(1)}``, optional ``{id?}``, defaults ``{page=1}``,
catch-all ``{*rest}``; literals match case-insensitively and a trailing slash is ignored. When several
templates match, the most specific wins (literal before constrained before plain parameter before
optional before catch-all), segment by segment.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

_LITERAL, _CONSTRAINED, _PARAMETER, _OPTIONAL, _CATCH_ALL = range(5)


@dataclass(frozen=True)
class _Param:
    name: str
    constraints: tuple[Callable[[str], bool], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


@dataclass
class RouteTemplate:
    template: str
    regex: re.Pattern[str] = field(init=False)
    params: list[_Param] = field(init=False)
    rank: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.params = []
        pattern, rank = [], []
        segments = _split_segments(self.template.strip("/"))
        for index, parts in enumerate(segments):
            last = index == len(segments) - 1
            only = parts[0] if len(parts) == 1 and isinstance(parts[0], _Param) else None
            if only is not None and only.catch_all:
                if not last:
                    raise ValueError(f"route {self.template!r}: a catch-all parameter must be the last segment")
                pattern.append(f"(?:/(?P<{self._group(only)}>.*))?")
                rank.append(_CATCH_ALL)
            elif only is not None and (only.optional or only.default is not None):
                pattern.append(f"(?:/(?P<{self._group(only)}>[^/]+))?")
                rank.append(_OPTIONAL)
            else:
                pieces = []
                for part in parts:
                    if isinstance(part, str):
                        pieces.append(re.escape(part))
                    elif part.catch_all or part.optional:
                        raise ValueError(f"route {self.template!r}: {{{part.name}}} must be a whole segment")
                    else:
                        pieces.append(f"(?P<{self._group(part)}>[^/]+)")
                pattern.append("/" + "".join(pieces))
                rank.append(_LITERAL if all(isinstance(p, str) for p in parts)
                            else _CONSTRAINED if any(isinstance(p, _Param) and p.constraints for p in parts)
                            else _PARAMETER)
        self.regex = re.compile("".join(pattern), re.IGNORECASE | re.DOTALL)
        self.rank = tuple(rank)

    def _group(self, param: _Param) -> str:
        if any(p.name.lower() == param.name.lower() for p in self.params):
            raise ValueError(f"route {self.template!r}: parameter {param.name!r} appears twice")
        self.params.append(param)
        return f"p{len(self.params) - 1}"

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for ``path`` (relative to the route prefix, already percent-decoded), or None."""
        path = path.strip("/")
        found = self.regex.fullmatch("/" + path if path else "")
        if not found:
            return None
        values: dict[str, str] = {}
        for index, param in enumerate(self.params):
            value = found.group(f"p{index}")
            if value is None or (param.catch_all and value == ""):
                if param.default is not None:
                    values[param.name] = param.default
                continue
            if not all(check(value) for check in param.constraints):
                return None
            values[param.name] = value
        return values

    def sort_key(self) -> tuple:
        # Lower sorts first; of two templates equal so far, the one that ends there matched exactly.
        return self.rank + (-1,)


def _split_segments(template: str) -> list[list[str | _Param]]:
    if not template:
        return []
    segments: list[list[str | _Param]] = []
    current: list[str | _Param] = []
    literal = []
    i = 0
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i + 1:i + 2] == char:
            literal.append(char)  # {{ and }} are literal braces
            i += 2
            continue
        if char == "}":
            raise ValueError(f"route {template!r}: unmatched '}}'")
        if char == "{":
            end, text = _read_parameter(template, i)
            if literal:
                current.append("".join(literal))
                literal = []
            if current and isinstance(current[-1], _Param):
                raise ValueError(f"route {template!r}: two parameters need a literal between them")
            current.append(_parse_parameter(text, template))
            i = end
            continue
        if char == "/":
            if literal:
                current.append("".join(literal))
                literal = []
            if not current:
                raise ValueError(f"route {template!r}: empty segment")
            segments.append(current)
            current = []
        else:
            literal.append(char)
        i += 1
    if literal:
        current.append("".join(literal))
    if not current:
        raise ValueError(f"route {template!r}: empty segment")
    segments.append(current)
    return segments


def _read_parameter(template: str, start: int) -> tuple[int, str]:
    text = []
    i = start + 1
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i + 1:i + 2] == char:
            text.append(char)
            i += 2
            continue
        if char == "}":
            return i + 1, "".join(text)
        text.append(char)
        i += 1
    raise ValueError(f"route {template!r}: unclosed '{{'")


def _parse_parameter(text: str, template: str) -> _Param:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    default = None
    # A default follows the constraints; '=' cannot appear in a name but may appear in a regex constraint.
    name_and_constraints, _, default_text = _split_default(text)
    if default_text is not None:
        default = default_text
    optional = name_and_constraints.endswith("?")
    name_and_constraints = name_and_constraints.rstrip("?")
    name, *constraint_texts = _split_constraints(name_and_constraints)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
        raise ValueError(f"route {template!r}: {name!r} is not a parameter name")
    if optional and default is not None:
        raise ValueError(f"route {template!r}: {{{name}}} cannot be optional and have a default")
    constraints = tuple(_constraint(c, template) for c in constraint_texts)
    return _Param(name, constraints, optional, default, catch_all)


def _split_default(text: str) -> tuple[str, str, str | None]:
    depth = 0
    for i, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if char == "=" and depth == 0:
            return text[:i], "=", text[i + 1:]
    return text, "", None


def _split_constraints(text: str) -> list[str]:
    parts, current, depth = [], [], 0
    for char in text:
        if char == ":" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    parts.append("".join(current))
    return parts


def _is_int(v: str) -> bool:
    return re.fullmatch(r"-?\d+", v) is not None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return v.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")


def _is_guid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "int": _is_int,
    "long": _is_int,
    "float": _is_float,
    "double": _is_float,
    "decimal": _is_float,
    "guid": _is_guid,
    "bool": lambda v: v.lower() in ("true", "false"),
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "datetime": _is_datetime,
}


def _constraint(text: str, template: str) -> Callable[[str], bool]:
    name, _, argument = text.partition("(")
    name = name.lower()
    if not argument:
        if name in _SIMPLE:
            return _SIMPLE[name]
        raise ValueError(f"route {template!r}: unknown constraint {text!r}")
    if not argument.endswith(")"):
        raise ValueError(f"route {template!r}: constraint {text!r} lacks ')'")
    argument = argument[:-1]
    if name == "regex":
        pattern = re.compile(argument, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    try:
        numbers = [int(a) for a in argument.split(",")]
    except ValueError:
        raise ValueError(f"route {template!r}: constraint {text!r} needs whole numbers") from None
    if name == "minlength" and len(numbers) == 1:
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength" and len(numbers) == 1:
        return lambda v: len(v) <= numbers[0]
    if name == "length" and len(numbers) in (1, 2):
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else numbers
        return lambda v: low <= len(v) <= high
    if name == "min" and len(numbers) == 1:
        return lambda v: _is_int(v) and int(v) >= numbers[0]
    if name == "max" and len(numbers) == 1:
        return lambda v: _is_int(v) and int(v) <= numbers[0]
    if name == "range" and len(numbers) == 2:
        return lambda v: _is_int(v) and numbers[0] <= int(v) <= numbers[1]
    raise ValueError(f"route {template!r}: unknown constraint {text!r}")
