"""The API's docs page: Swagger UI from the swagger-ui-bundle-v2 package, served by the app itself (no CDN), and
a start script of ours, so that the page's policy can allow scripts and styles from this host only."""
from __future__ import annotations

import functools
from pathlib import Path

# The files the page loads: name → media type. Nothing else of the package is served.
ASSET_TYPES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "docs.js": "text/javascript",
}
_OWN = Path(__file__).with_name("docs.js")  # starts Swagger UI; a file, since the policy forbids inline scripts

# Scripts and styles from this host only (Swagger UI's icons are data: images); the API itself is fetched from
# this host too. No inline script may run.
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def docs_page(document_url: str, assets_url: str) -> str:
    """The page: Swagger UI reading ``document_url``; its files under ``assets_url``."""
    from shared.web.pages import render

    return render("api_docs.html", document_url=document_url, assets_url=assets_url.rstrip("/"))


@functools.cache
def asset(name: str) -> tuple[bytes, str] | None:
    """The file's bytes and media type, or None for a name the page does not load (kept per process)."""
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        return None
    if name == _OWN.name:
        return _OWN.read_bytes(), media_type
    from swagger_ui_bundle import swagger_ui_path  # the package's own location of its Swagger UI build

    return (Path(swagger_ui_path) / name).read_bytes(), media_type
