"""The wired container, built on first use in each worker process (no work at import time)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.bootstrap import Container


@functools.cache
def container() -> Container:
    # Imported here, not at module level: indexing the functions at cold start needs none of it.
    from shared.bootstrap import Container
    from shared.config import Settings
    from shared.observability import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return Container.build(settings)
