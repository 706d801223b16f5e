"""Importing function_app (what the host does at cold start) loads no heavy SDK and does no I/O.

The figure lives in bench/bench_cold_import.py; this only guards the design that makes it small."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["pydantic", "email_validator", "requests", "boto3", "azure.data.tables", "azure.storage.queue",
         "azure.identity", "sqlite3", "jwt", "cryptography"]


def test_function_app_imports_no_heavy_module(tmp_path):
    probe = f"import function_app, json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin",
                                                                              "DATA_DIR": str(tmp_path)})
    assert json.loads(result.stdout) == []
    assert list(tmp_path.iterdir()) == [], "importing the app wrote files"
