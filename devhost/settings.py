"""App settings and host configuration, read the way the Functions host reads them.

``local.settings.json`` ``Values`` become environment variables (never replacing one already set, as with
``func start``); ``host.json`` is the host configuration, and any ``AzureFunctionsJobHost__a__b`` setting
overrides its ``a.b`` entry. Keys are case-insensitive, as in .NET configuration.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, MutableMapping, Mapping

from shared.queue_worker import QueueRules

log = logging.getLogger("devhost.settings")

OVERRIDE_PREFIX = "AzureFunctionsJobHost__"
DEFAULT_ROUTE_PREFIX = "api"


class ConfigError(ValueError):
    """The app's settings or host.json cannot be used; the message says which entry and why."""


# --- local.settings.json -------------------------------------------------------------------------

def _json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (BOM tolerated, as the Functions host does)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def read_local_settings(app_dir: Path | str) -> dict[str, Any]:
    path = Path(app_dir) / "local.settings.json"
    if not path.is_file():
        return {}
    data = _json_object(path)
    if data.get("IsEncrypted"):
        raise ConfigError(f"{path} is encrypted (IsEncrypted=true); devhost reads plain values only")
    return data


def load_local_settings(app_dir: Path | str, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Copy ``Values`` into the environment where not set already; return the ones copied."""
    environ = os.environ if environ is None else environ
    values = read_local_settings(app_dir).get("Values") or {}
    if not isinstance(values, dict):
        raise ConfigError("local.settings.json: Values must be a JSON object")
    applied: dict[str, str] = {}
    for name, value in values.items():
        if name in environ or value is None:
            continue
        text = _setting_text(value)
        environ[name] = text
        applied[name] = text
    if applied:
        log.debug("loaded %d settings from local.settings.json", len(applied))
    return applied


def local_http_port(app_dir: Path | str) -> int | None:
    """``Host.LocalHttpPort`` from local.settings.json, which ``func start`` uses as its default port."""
    host = read_local_settings(app_dir).get("Host") or {}
    port = _lookup(host, "LocalHttpPort") if isinstance(host, dict) else None
    return None if port is None else _as_int(port, "local.settings.json Host.LocalHttpPort", 0, 65535)


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


# --- host.json -------------------------------------------------------------------------------------

def load_host_config(app_dir: Path | str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    path = Path(app_dir) / "host.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: the app directory of a Functions app has a host.json")
    return apply_overrides(_json_object(path), os.environ if environ is None else environ)


def apply_overrides(config: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply ``AzureFunctionsJobHost__path__to__key`` settings (values stay strings, as in Azure)."""
    prefix = OVERRIDE_PREFIX.lower()
    for name in sorted(environ):
        if not name.lower().startswith(prefix):
            continue
        path = name[len(prefix):].split("__")
        if not all(path):
            raise ConfigError(f"setting {name}: empty key in the path")
        _set_path(config, path, environ[name])
    return config


def _set_path(node: Any, path: list[str], value: str) -> None:
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list) and key.isdigit() and int(key) <= len(node):
            index = int(key)
            if index == len(node):
                node.append(value if last else {})
            elif last:
                node[index] = value
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{OVERRIDE_PREFIX}{'__'.join(path)}: {'.'.join(path[:i])} is not an object")
        actual = _actual_key(node, key) or key
        if last:
            node[actual] = value
        else:
            if not isinstance(node.get(actual), (dict, list)):
                node[actual] = {}
            node = node[actual]


def _actual_key(node: Mapping[str, Any], key: str) -> str | None:
    lowered = key.lower()
    return next((k for k in node if k.lower() == lowered), None)


def _lookup(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return None
    actual = _actual_key(node, key)
    return None if actual is None else node[actual]


def get_path(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``get_path(config, "extensions.queues.batchSize")``, case-insensitive."""
    node: Any = config
    for key in dotted.split("."):
        node = _lookup(node, key)
        if node is None:
            return default
    return node


def route_prefix(config: Mapping[str, Any]) -> str:
    prefix = get_path(config, "extensions.http.routePrefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise ConfigError("host.json extensions.http.routePrefix must be a string")
    return prefix.strip("/")


def function_allow_list(config: Mapping[str, Any]) -> list[str] | None:
    """host.json ``functions``: when present, only these functions run."""
    names = get_path(config, "functions")
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("host.json functions must be a list of function names")
    return names


@dataclass(frozen=True)
class QueueOptions:
    rules: QueueRules
    new_batch_threshold: int
    max_polling_interval: float
    min_polling_interval: float = 0.1


def queue_options(config: Mapping[str, Any]) -> QueueOptions:
    section = "extensions.queues"
    def value(key: str) -> Any:
        return get_path(config, f"{section}.{key}")

    batch_size = _as_int(_default(value("batchSize"), 16), f"{section}.batchSize", 1, 32)
    threshold_raw = value("newBatchThreshold")
    threshold = (batch_size // 2 if threshold_raw is None
                 else _as_int(threshold_raw, f"{section}.newBatchThreshold", 0, 10_000))
    max_dequeue = _as_int(_default(value("maxDequeueCount"), 5), f"{section}.maxDequeueCount", 1, 10_000)
    visibility = parse_timespan(_default(value("visibilityTimeout"), "00:00:00"), f"{section}.visibilityTimeout")
    polling = parse_timespan(_default(value("maxPollingInterval"), "00:01:00"), f"{section}.maxPollingInterval")
    if polling < 0.1:
        raise ConfigError(f"host.json {section}.maxPollingInterval must be at least 00:00:00.1")
    return QueueOptions(
        rules=QueueRules(batch_size=batch_size, max_dequeue_count=max_dequeue, visibility_timeout=visibility),
        new_batch_threshold=threshold,
        max_polling_interval=polling,
    )


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _as_int(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise ConfigError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return number


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$")


def parse_timespan(text: Any, what: str = "value") -> float:
    """A .NET TimeSpan such as ``00:00:10``, ``1.02:00:00`` or ``00:00:00.5``, in seconds."""
    match = _TIMESPAN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ConfigError(f"{what} must be a TimeSpan like \"hh:mm:ss\", not {text!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
        raise ConfigError(f"{what}: {text!r} is not a valid TimeSpan")
    return (int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
            + (int(fraction) / 10 ** len(fraction) if fraction else 0.0))


# --- %SETTING% placeholders ------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%([^%]+)%")


def resolve_placeholders(value: str, environ: Mapping[str, str] | None = None, *, what: str = "value") -> str:
    """Replace each ``%NAME%`` with the app setting NAME, as the host does for binding expressions."""
    environ = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"{what} {value!r} refers to app setting {name}, which is not set "
                "(add it to local.settings.json Values or the environment)"
            )
        return environ[name]

    return _PLACEHOLDER.sub(replace, value)
