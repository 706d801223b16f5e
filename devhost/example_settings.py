"""Keep a developer's local.settings.json complete: settings the example gained since it was copied are added
with the example's values; values the developer set are never changed.

    python -m devhost.example_settings local.settings.json.example local.settings.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def complete(example: Path, settings: Path) -> list[str]:
    """Create ``settings`` from ``example``, or add the ``Values`` it lacks; the names added."""
    wanted = json.loads(example.read_text("utf-8"))
    if not settings.exists():
        settings.write_text(json.dumps(wanted, indent=2) + "\n", "utf-8")
        return []
    current = json.loads(settings.read_text("utf-8"))
    values = current.setdefault("Values", {})
    missing = [name for name in wanted.get("Values", {}) if name not in values]
    if missing:
        values.update({name: wanted["Values"][name] for name in missing})
        settings.write_text(json.dumps(current, indent=2) + "\n", "utf-8")
    return missing


def main(argv: list[str]) -> int:
    example, settings = (Path(arg) for arg in argv)
    added = complete(example, settings)
    if added:
        print(f"{settings}: added {', '.join(added)} from {example}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
