"""The wired container, built on first use in each worker process (no work at import time)."""
from __future__ import annotations

import functools

from shared.bootstrap import Container
from shared.config import Settings
from shared.observability import configure_logging


@functools.cache
def container() -> Container:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return Container.build(settings)
