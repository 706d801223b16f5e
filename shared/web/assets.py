"""The pages' own static files (style sheets, small scripts, images) from ``shared/web/static``.

Pages link them with ``asset_url(name)``: the URL carries a fingerprint of the file, so a browser may keep it for
a year and still sees a new version at once after a deployment."""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).with_name("static")
ROUTE = "/api/assets"
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png",
               ".ico": "image/x-icon"}
# A plain file name: no folders, no dots but the extension's, so no path can leave the folder.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.[a-z]{2,4}")


@functools.cache
def static_file(name: str) -> tuple[bytes, str, str] | None:
    """The file's bytes, media type and fingerprint, or None for a name that is not a served file."""
    if not _NAME.fullmatch(name):
        return None
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    path = STATIC / name
    if media_type is None or not path.is_file():
        return None
    body = path.read_bytes()
    return body, media_type, hashlib.sha256(body).hexdigest()[:12]


def asset_url(name: str) -> str:
    """The URL of a static file, with its fingerprint; a name that is not a file is an error in the template."""
    found = static_file(name)
    if found is None:
        raise LookupError(f"no static file {name!r} in {STATIC}")
    return f"{ROUTE}/{name}?v={found[2]}"
