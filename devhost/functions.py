"""Indexing: import the app module and read each function's bindings from its FunctionApp.

The metadata is the same the Python worker reports to the host (the function.json form of each
binding), so routes, schedules and queue names come from the decorators, never from a second list.
"""
from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from azure.functions.decorators.function_app import FunctionRegister

from devhost.settings import load_local_settings

HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
QUEUE_TRIGGER = "queueTrigger"


class AppLoadError(Exception):
    """The app module cannot be found, or holds no (or more than one) FunctionApp."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    function: Callable[..., Any]
    trigger: Mapping[str, Any]
    bindings: tuple[Mapping[str, Any], ...]
    directory: str

    @property
    def trigger_type(self) -> str:
        return self.trigger.get("type", "")

    @property
    def outputs(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(b for b in self.bindings if str(b.get("direction", "")).upper() in ("OUT", "INOUT"))

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel") or "function").lower()


# FunctionApp.get_functions() refuses a second call (it sees every name again as a duplicate), so the
# result is kept per app object for the life of the process.
_cache: dict[int, tuple[FunctionRegister, list[FunctionSpec]]] = {}
_cache_lock = threading.Lock()


def load_functions(app_dir: Path | str = ".", module: str = "function_app", *,
                   load_settings: bool = True) -> list[FunctionSpec]:
    """Import ``module`` from ``app_dir`` and return its functions' metadata.

    local.settings.json is applied first (without replacing set variables) because app modules
    commonly read settings at import time."""
    app_dir = Path(app_dir).resolve()
    if load_settings:
        load_local_settings(app_dir)
    app = find_function_app(import_app_module(app_dir, module))
    with _cache_lock:
        cached = _cache.get(id(app))
        if cached is None or cached[0] is not app:
            cached = (app, [_spec(f, app_dir) for f in _index(app)])
            _cache[id(app)] = cached
        return list(cached[1])


def _index(app: FunctionRegister) -> list:
    try:
        return app.get_functions()
    except ValueError:
        if not app.functions_bindings:
            raise  # a real duplicate name
        # Something else in this process (a test, say) indexed the app first; build the functions again
        # without the name check, which only fails because it remembers the first call.
        return [builder.build(app.auth_level) for builder in app._function_builders]


def import_app_module(app_dir: Path, module: str):
    loaded = sys.modules.get(module)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
        if origin and app_dir not in Path(origin).resolve().parents:
            raise AppLoadError(
                f"module {module!r} is already imported from {origin}, not from {app_dir}; "
                "give the app module a distinct name or run devhost in a fresh process"
            )
        return loaded
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise  # the app itself imports something missing: its own traceback says what
        raise AppLoadError(f"no module {module!r} in {app_dir}") from None


def find_function_app(module) -> FunctionRegister:
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    if not apps:
        raise AppLoadError(f"{module.__name__} defines no FunctionApp at module level")
    if len({id(a) for a in apps}) > 1:
        raise AppLoadError(f"{module.__name__} defines more than one FunctionApp; the worker allows one")
    return apps[0]


def _spec(function, app_dir: Path) -> FunctionSpec:
    bindings = tuple(json.loads(raw) for raw in function.get_raw_bindings())
    declared = function.get_trigger()
    trigger = next(b for b in bindings if b.get("name") == declared.name and b.get("type") == declared.type)
    return FunctionSpec(
        name=function.get_function_name(),
        function=function.get_user_function(),
        trigger=trigger,
        bindings=bindings,
        directory=str(app_dir),
    )
