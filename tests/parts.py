"""The project's rule for tests that need a real part (Azurite, aiosmtpd, moto, chromium with Playwright,
pycep and checkov): the tests start the part themselves, and when it is missing they are skipped on a
developer's machine but fail in CI, never skip there.

``in_ci()`` is the one reading of the ``CI`` variable; ``missing_part()`` is the one way to report a
missing part. tests/conftest.py also turns any skip at all into a failure under CI."""
from __future__ import annotations

import os
from typing import NoReturn

import pytest

# What CI services put in CI (GitHub Actions, Azure Pipelines, GitLab: "true"; some "1" or "True").
_TRUTHY = frozenset({"true", "1", "yes"})


def in_ci() -> bool:
    """Whether the tests run in CI: ``CI`` is true, 1 or yes, in any case, with spaces around or not."""
    return os.environ.get("CI", "").strip().lower() in _TRUTHY


def missing_part(reason: str) -> NoReturn:
    """A part the test needs is not here: skip on a developer's machine, fail in CI."""
    if in_ci():
        pytest.fail(f"CI={os.environ['CI']!r} and a part the tests need is missing: {reason}", pytrace=False)
    pytest.skip(reason)
