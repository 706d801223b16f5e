"""The wired container, built on first use in each worker process (no work at import time)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.bootstrap import Container

_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """One container per process, even when the first requests arrive together."""
    global _container
    if _container is None:
        with _lock:
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
                _container = Container.build(settings)
    return _container


def reset_container() -> None:
    """Forget the container (tests point the functions at a fresh state folder)."""
    global _container
    with _lock:
        _container = None
