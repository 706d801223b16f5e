"""Read infra/*.bicep through pycep's parse tree, and resolve the few expressions the tests need.

pycep turns a Bicep file into nested dicts: ``parameters``, ``variables``, ``resources``, ``modules``,
``outputs``. Values are literals, dicts, lists, ``{"operator": …}`` and ``{"function": …}`` nodes. Two
quirks matter here:

- a string literal and an identifier both come back as a plain ``str`` (``'b2b-leads'`` and ``appQueues``
  alike). The resolver treats a string as a reference when it names a loop variable, parameter or
  variable in scope, and as a literal otherwise, so a literal that happens to equal an identifier's
  name would be misread (none does in infra/; the checks below would then fail loudly, not pass);
- ``a.b.c`` is right-nested: ``property_accessor(a, property_accessor(b, c))``.

Only what the tests need resolves: literals, parameters (through the one module call that passes them,
or their default, or a value the test gives main.bicep as azd would), variables, property paths into them,
``${…}`` interpolation, loops over arrays, ``cond ? a : b``, ``!x`` and ``empty(x)``. Anything else
(resource properties, other function calls) resolves to ``UNRESOLVED``, and so does anything built on it.

pycep gives a parameter without a default ``"default": None``: ``has_default`` tells the two apart (a Bicep
default is never null).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[2] / "infra"

UNRESOLVED = object()
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.lru_cache(maxsize=None)
def parse(path: Path) -> dict[str, Any]:
    """The parse tree (cached: several tests load infra/ once per azd environment they follow; none
    changes a tree)."""
    from pycep import BicepParser

    return BicepParser().parse(file_path=path)


@dataclass
class BicepFile:
    path: Path
    tree: dict[str, Any]
    caller: tuple[BicepFile, dict[str, Any]] | None = field(default=None, repr=False)
    # The module call's own config (its `if (…)` condition included), for deployed().
    call: dict[str, Any] | None = field(default=None, repr=False)
    # Parameter values given to this file from outside (azd's main.parameters.json, for main.bicep).
    given: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return self.tree.get("parameters") or {}

    @property
    def variables(self) -> dict[str, Any]:
        return self.tree.get("variables") or {}

    @property
    def resources(self) -> dict[str, Any]:
        return self.tree.get("resources") or {}

    @property
    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules") or {}

    def resources_of_type(self, resource_type: str) -> dict[str, Any]:
        return {name: r for name, r in self.resources.items()
                if r["type"] == resource_type and not r.get("existing")}

    # --- resolution -------------------------------------------------------------------------------
    def resolve(self, value: Any, loop: dict[str, Any] | None = None) -> Any:
        loop = loop or {}
        if isinstance(value, str):
            return self._resolve_string(value, loop)
        if isinstance(value, list):
            return [self.resolve(item, loop) for item in value]
        if isinstance(value, dict):
            if "operator" in value:
                operator = value["operator"]
                if operator.get("type") in ("conditional", "not"):
                    return self._resolve_logic(operator, loop)
                try:
                    return self._resolve_path(_accessor_path(operator), loop)
                except _Unresolved:
                    return UNRESOLVED
            if "function" in value:
                return self._resolve_function(value["function"], loop)
            return {_key(k): self.resolve(v, loop) for k, v in value.items()}
        return value  # int, bool, None

    def _resolve_logic(self, operator: dict[str, Any], loop: dict[str, Any]) -> Any:
        operands = operator["operands"]
        if operator["type"] == "not":
            operand = self.resolve(operands["bool_value"], loop)
            return not operand if isinstance(operand, bool) else UNRESOLVED
        condition = self.resolve(operands["condition"], loop)
        if not isinstance(condition, bool):
            return UNRESOLVED
        return self.resolve(operands["true_value" if condition else "false_value"], loop)

    def _resolve_function(self, function: dict[str, Any], loop: dict[str, Any]) -> Any:
        if function.get("type") != "empty":
            return UNRESOLVED
        item = self.resolve(function["parameters"]["item_to_test"], loop)
        if item is None:
            return True
        return len(item) == 0 if isinstance(item, (str, list, dict)) else UNRESOLVED

    def choose(self, value: Any) -> Any:
        """``value`` with each `cond ? a : b` replaced by the branch taken, the rest left as written (so a
        string with an interpolation that cannot resolve still shows what it is made of); UNRESOLVED when a
        condition cannot be decided."""
        if isinstance(value, dict) and value.get("operator", {}).get("type") == "conditional":
            condition = self.resolve(value["operator"]["operands"]["condition"])
            if not isinstance(condition, bool):
                return UNRESOLVED
            return self.choose(value["operator"]["operands"]["true_value" if condition else "false_value"])
        return value

    def deployed(self) -> Any:
        """Whether this file's resources are deployed: every module call on the way from main.bicep holds."""
        if self.caller is None:
            return True
        caller_file = self.caller[0]
        here = caller_file.condition(self.call)
        return here if here is not True else caller_file.deployed()

    def condition(self, config: dict[str, Any]) -> Any:
        """Whether a resource or module `= if (…)` is deployed: True without a condition, else the condition's
        value (UNRESOLVED when it depends on what only exists at deploy time)."""
        return True if "condition" not in config else self.resolve(config["condition"])

    def _resolve_string(self, text: str, loop: dict[str, Any]) -> Any:
        if "${" in text:
            def substitute(match: re.Match) -> str:
                inner = match.group(1).strip()
                resolved = self._resolve_path(inner.split("."), loop) if _PATH.match(inner) else UNRESOLVED
                if resolved is UNRESOLVED or isinstance(resolved, (dict, list)):
                    raise _Unresolved
                return str(resolved)

            try:
                return _INTERPOLATION.sub(substitute, text)
            except _Unresolved:
                return UNRESOLVED
        if _PATH.match(text) and "." not in text:
            return self._resolve_path([text], loop)
        return text

    def _resolve_path(self, path: list[str], loop: dict[str, Any]) -> Any:
        head, rest = path[0], path[1:]
        if head in loop:
            value = loop[head]
        elif head in self.params:
            value = self._parameter(head)
        elif head in self.variables:
            value = self.resolve(self.variables[head]["value"])
        elif not rest:
            return head  # a literal string, not an identifier
        else:
            return UNRESOLVED  # a resource, module or function result
        for key in rest:
            if not isinstance(value, dict) or key not in value:
                return UNRESOLVED
            value = value[key]
        return value

    def _parameter(self, name: str) -> Any:
        if self.caller is not None:
            caller_file, params = self.caller
            if name in params:
                return caller_file.resolve(params[name])
        if name in self.given:
            return self.given[name]
        if has_default(self.params[name]):
            return self.resolve(self.params[name]["default"])
        return UNRESOLVED


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own properties: pycep nests them one level down under `= if (…)`."""
    return config["config"] if "condition" in config else config


def has_default(parameter: dict[str, Any]) -> bool:
    """pycep writes `"default": None` for a parameter declared without one."""
    return parameter.get("default") is not None


class _Unresolved(Exception):
    pass


def _accessor_path(operator: dict[str, Any]) -> list[str]:
    """``a.b.c`` as ["a", "b", "c"]; raises _Unresolved on anything else (calls, indexes, ?.)."""
    if operator.get("type") != "property_accessor":
        raise _Unresolved
    operands = operator["operands"]
    path = []
    for operand in (operands.get("operand_1"), operands.get("operand_2")):
        if isinstance(operand, dict) and "operator" in operand:
            path += _accessor_path(operand["operator"])
        elif isinstance(operand, str):
            path.append(operand)
        else:
            raise _Unresolved
    return path


def _key(key: str) -> str:
    """pycep keeps the quotes of quoted object keys ('azd-env-name')."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def load_all(given: dict[str, Any] | None = None) -> dict[Path, BicepFile]:
    """Every infra/ file, each linked to the module call that passes its parameters (if exactly one);
    ``given`` are main.bicep's parameter values (what azd would pass), the rest take their defaults."""
    files = {path: BicepFile(path, parse(path)) for path in bicep_files()}
    files[INFRA / "main.bicep"].given = dict(given or {})
    calls: dict[Path, list[tuple[BicepFile, dict[str, Any]]]] = {}
    for file in files.values():
        for module in file.modules.values():
            if module.get("type") != "local":
                continue
            target = (file.path.parent / module["detail"]["path"]).resolve()
            calls.setdefault(target, []).append((file, module["config"]))
    for path, file in files.items():
        if len(calls.get(path.resolve(), [])) == 1:
            caller_file, call = calls[path.resolve()][0]
            file.caller = (caller_file, body(call).get("params") or {})
            file.call = call
    return files


def loop_names(file: BicepFile, resource: dict[str, Any]) -> list[Any]:
    """The names a resource declares: one, or one per item of a `[for x in array: {...}]` loop."""
    config = resource["config"]
    if "loop_type" not in config:
        return [file.resolve(body(config)["name"])]  # a conditional resource (`= if (…)`) nests its properties
    detail = config["loop_type"]["detail"]
    items = file.resolve(detail["array_name"])
    if not isinstance(items, list):
        return [UNRESOLVED]
    return [file.resolve(config["config"]["name"], {detail["item_name"]: item}) for item in items]


def app_settings_as_written(given: dict[str, Any] | None = None) -> tuple[BicepFile, dict[str, Any]]:
    """The function app's file and its siteConfig.appSettings (name → value as written, each `cond ? a : b`
    decided), for main.bicep given ``given``."""
    files = load_all(given)
    [(file, resource)] = [(file, resource) for file in files.values()
                          for resource in file.resources_of_type("Microsoft.Web/sites").values()]
    entries = body(resource["config"])["properties"]["siteConfig"]["appSettings"]
    return file, {entry["name"]: file.choose(entry["value"]) for entry in entries}
