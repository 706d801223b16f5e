"""No ``extra=`` key of a log call may be a ``LogRecord`` attribute: ``Logger.makeRecord`` raises ``KeyError``
for one ("Attempt to overwrite 'created' in LogRecord"), so the call fails — at INFO in production, where the
suite (logging at WARNING) never saw it. This reads the code (its AST) instead of running it, so a log call on a
path no test takes is checked too.

Keys are read from dict literals: ``extra={"a": …}``, ``extra={**base, "b": …}`` and ``extra=name`` where
``base``/``name`` is a dict literal assigned in the same function (or module). A key that cannot be read
statically (a computed key, a dict from elsewhere) is not checked here; the DEBUG logging of the service and
host tests (tests/conftest.py) is the net under that."""
from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("shared", "functions", "devhost")

# Taken from a real record, not a hand list: what makeRecord refuses is the record's own attributes, plus the
# two names it refuses explicitly ("message", "asctime"; Formatter sets them).
RESERVED = frozenset(vars(logging.LogRecord("name", logging.INFO, "path", 1, "msg", None, None))) | {"message",
                                                                                                    "asctime"}


def _scopes(tree: ast.Module):
    """The module and every function in it, each with the nodes that belong to it (not to a nested function)."""
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield node


def _own_nodes(scope: ast.AST):
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _dict_literals(scope: ast.AST) -> dict[str, list[ast.Dict]]:
    """name → the dict literals assigned to it in this scope (``x = {…}``, ``x: T = {…}``, ``x |= {…}``)."""
    found: dict[str, list[ast.Dict]] = {}
    for node in _own_nodes(scope):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.value, ast.Dict) \
                and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        else:
            continue
        for name in targets:
            found.setdefault(name, []).append(node.value)
    return found


def _keys(value: ast.AST, local: dict[str, list[ast.Dict]], module: dict[str, list[ast.Dict]],
          seen: frozenset[str] = frozenset()) -> set[str]:
    """The literal string keys ``value`` (a dict literal or a name bound to one) can carry."""
    if isinstance(value, ast.Name):
        if value.id in seen:
            return set()
        keys: set[str] = set()
        for literal in local.get(value.id) or module.get(value.id) or []:
            keys |= _keys(literal, local, module, seen | {value.id})
        return keys
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        keys = {kw.arg for kw in value.keywords if kw.arg is not None}
        for kw in value.keywords:
            if kw.arg is None:
                keys |= _keys(kw.value, local, module, seen)
        return keys
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return _keys(value.left, local, module, seen) | _keys(value.right, local, module, seen)
    if not isinstance(value, ast.Dict):
        return set()
    keys = set()
    for key, item in zip(value.keys, value.values):
        if key is None:  # {**other, …}
            keys |= _keys(item, local, module, seen)
        elif isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
    return keys


def extra_keys(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, key) for every key of every ``extra=`` argument found in ``source``."""
    tree = ast.parse(source, filename)
    module = _dict_literals(tree)
    found = []
    for scope in _scopes(tree):
        local = _dict_literals(scope) if scope is not tree else {}
        for node in _own_nodes(scope):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "extra":
                        found += [(node.lineno, key) for key in sorted(_keys(keyword.value, local, module))]
    return found


def collisions(source: str, filename: str = "<source>") -> list[str]:
    return [f"{filename}:{line}: extra key {key!r} is a LogRecord attribute"
            for line, key in extra_keys(source, filename) if key in RESERVED]


def test_reserved_names_come_from_a_real_record():
    assert {"created", "name", "msg", "args", "levelname", "module", "process", "thread", "filename"} <= RESERVED


@pytest.mark.parametrize("source, expected", [
    ('log.info("x", extra={"created": 1})', ["created"]),
    ('base = {"module": 1}\nlog.info("x", extra={**base, "ok": 2})', ["module"]),
    ('def f():\n    base = {"a": 1, "name": 2}\n    more = {**base, "b": 3}\n    log.info("x", extra=more)', ["name"]),
    ('def f():\n    log.info("x", extra=dict(thread=1, fine=2))', ["thread"]),
    ('def f():\n    log.info("x", extra={"fine": 1} | {"process": 2})', ["process"]),
    ('def f():\n    base = {"lineno": 1}\ndef g():\n    base = {"ok": 1}\n    log.info("x", extra=base)', []),
    ('log.info("x", extra={"prospect": 1, "lead_id": 2})', []),
])
def test_the_scan_reads_literal_keys_and_bases_defined_in_the_same_function(source, expected):
    assert [c.split("'")[1] for c in collisions(source)] == expected


def test_no_extra_key_collides_with_a_log_record_attribute():
    files = sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))
    assert len(files) > 20  # the folders were found
    problems = []
    for path in files:
        problems += collisions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == []


@pytest.mark.log_errors_expected
def test_debug_logging_reports_a_swallowed_log_error_and_an_unformattable_record(monkeypatch):
    """The net of tests/conftest.py: what production's INFO would raise or print, a test sees as a failure.
    On a logger of its own that does not propagate, so pytest's handlers never see these records."""
    from tests.log_checks import debug_logging_that_reports_errors

    log = logging.getLogger("b2b.log-check")
    monkeypatch.setattr(log, "propagate", False)
    with debug_logging_that_reports_errors(log) as failures:
        try:
            log.debug("batch done", extra={"created": 3})  # at DEBUG: below the default WARNING, seen here
        except KeyError:
            pass  # code under test that swallows it
        log.info("took %d ms", "not a number")  # handleError would only print this
        log.debug("fine", extra={"leads_created": 3})
    assert len(failures) == 2
    assert "created" in failures[0] and "took %d ms" in failures[1]
