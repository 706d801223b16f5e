"""The wired container, built on first use in each worker process (no work at import time)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.bootstrap import Container


@functools.cache
def container() -> Container:
    # Imported here, not at module level: indexing the functions at cold start needs none of it.
    # Logging is the host's: the Azure worker ships records to Application Insights with the invocation
    # id, and the local host installs the JSON formatter.
    from shared.bootstrap import Container
    from shared.config import Settings

    return Container.build(Settings.from_env())
