"""What `make run` installs (the project, built by setuptools from pyproject.toml) and how it starts the host."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_builds_without_setuptools_deprecation_warnings(tmp_path):
    # `make run` installs the project with pip; a deprecated pyproject.toml (`project.license` as a TOML table)
    # printed setuptools' warning box three times to every newcomer. Built as pip builds it (an isolated build
    # environment from the configured indexes), with the build backend's output shown (-v).
    # From a copy: setuptools builds in the source folder (build/, *.egg-info), which must stay the developer's.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", ".data", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "--wheel-dir", str(tmp_path),
         str(source)],
        capture_output=True, text=True, timeout=300,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-3000:]
    # pip names the category BuildBackendWarning (newer pips) or SetuptoolsDeprecationWarning: match the words.
    deprecated = output.lower().find("deprecated")
    assert deprecated == -1, output[max(deprecated - 300, 0):][:1500]
    (wheel,) = tmp_path.glob("b2b_partner_onboarding-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        assert "License-Expression: MIT" in archive.read(metadata).decode("utf-8").splitlines()
        # The files the app reads at run time ship with it: templates of emails and pages, the docs script.
        assert {"shared/web/templates/api_docs.html", "shared/web/docs.js", "shared/web/templates/storefront/form.html",
                "shared/web/locales/sv/LC_MESSAGES/messages.po", "shared/web/static/storefront.css",
                "shared/web/templates/layout.html", "shared/web/templates/console/layout.html",
                "shared/web/templates/portal/users.html", "shared/web/static/site.css",
                "shared/web/static/status-refresh.js"} <= set(archive.namelist())


def _make_run(port: str | None, environ: dict[str, str]) -> tuple[str, str]:
    """What `make run [PORT=…]` prints for the newcomer, and the STORE_URL its host would start with (the
    host command's own environment assignments, evaluated by the shell as make would run them)."""
    dry = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "run", *([f"PORT={port}"] if port else [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    banner = next(line for line in dry if "Onboarding form:" in line)
    # Not `-m devhost.example_settings`, which a dry run also prints while local.settings.json is missing or old.
    (host,) = [line for line in dry if "-m devhost --port" in line]
    assignments = host.split(".venv/bin/python -m devhost")[0]
    shown = subprocess.run(["sh", "-c", f"{assignments} printenv STORE_URL || true"], capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"], **environ}, timeout=30, check=True)
    assert f"--port {port or 7071}" in host
    return banner, shown.stdout.strip()


@pytest.mark.parametrize("port", [None, "7099"])
def test_make_run_uses_the_port_it_is_given_in_every_url(port):
    banner, store_url = _make_run(port, {})
    wanted = port or "7071"
    assert f"http://localhost:{wanted}/api/signup " in banner and f"http://localhost:{wanted}/api/signups" in banner
    # The default port leaves STORE_URL to local.settings.json (which names 7071); another port sets it.
    assert store_url == ("" if port is None else f"http://localhost:{port}/api/signup")


def test_make_run_on_another_port_keeps_a_store_url_set_in_the_environment():
    assert _make_run("7099", {"STORE_URL": "https://shop.example/b2b"})[1] == "https://shop.example/b2b"
