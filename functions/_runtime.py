"""The wired container, built on first use in each worker process (no work at import time)."""
from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.bootstrap import Container
    from shared.deployment import UnworkableDeployment

log = logging.getLogger("b2b.runtime")

_lock = threading.Lock()
_container: Container | None = None
_refused: UnworkableDeployment | None = None  # kept: the refusal is logged once, raised every time


def container() -> Container:
    """One container per process, even when the first requests arrive together. In Azure, a mode that would
    lose work there (shared/deployment.py) raises UnworkableDeployment instead, on every call: no function
    takes work it cannot keep (HTTP routes answer 503, queue messages stay queued and go to poison, where
    they can be replayed), and GET /api/health says why."""
    global _container
    if _refused is not None:
        raise _refused
    if _container is None:
        with _lock:
            if _refused is not None:
                raise _refused
            if _container is None:
                # Imported here, not at module level: indexing the functions at cold start needs none of it.
                from shared.bootstrap import Container
                from shared.config import Settings
                from shared.observability import install_log_hygiene

                settings = Settings.from_env()
                # Logging is the host's: the Azure worker ships records to Application Insights with the
                # invocation id, the local host through its JSON formatter. Either way the records are
                # redacted and carry the correlation id, at LOG_LEVEL.
                install_log_hygiene(settings.log_level)
                _refuse_unworkable(settings)
                _container = Container.build(settings)
    return _container


def _refuse_unworkable(settings) -> None:
    global _refused
    from shared.deployment import UnworkableDeployment, refusals

    found = refusals(settings, os.environ)
    if found:
        _refused = UnworkableDeployment(found)
        # One line, at the first invocation of this process: each setting, why it cannot work, what to use instead.
        log.error("refusing to start: %s", _refused,
                  extra={"refused_settings": ",".join(refusal.setting for refusal in found)})
        raise _refused


def reset_container() -> None:
    """Forget the container (tests point the functions at a fresh state folder)."""
    global _container, _refused
    with _lock:
        _container = _refused = None
