"""Pages rendered from the Jinja2 templates in ``shared/web/templates`` (autoescaped: a value can never
become markup). The environment is built on first use, not at import (cold start)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


@functools.cache
def _environment():
    import jinja2

    from shared.web.assets import asset_url

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.globals["asset_url"] = asset_url
    return environment


def render(template: str, **values: Any) -> str:
    """The page ``template`` (a file name in ``templates/``) with ``values``; a value the template names and
    the caller did not give is an error, not an empty string."""
    return _environment().get_template(template).render(**values)
