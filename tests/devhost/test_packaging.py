"""What `make run` installs: the project itself, built by setuptools from pyproject.toml."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
