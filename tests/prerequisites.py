"""Tests that need something of the system (root, Chromium, a tmpfs) run by default: the
README's test command installs all of it, so a machine that lacks a part fails those tests
and names what is missing, rather than passing quietly without them."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

#: Set to 1 to skip, on purpose, the tests this machine cannot run.
SKIP_ENV = "FER_SKIP_SYSTEM_TESTS"


def require(missing: Sequence[str], tests: str) -> None:
    """Fail the calling test when anything is ``missing`` for ``tests`` (e.g. "the browser
    tests"), unless :data:`SKIP_ENV` asks to skip them."""
    if not missing:
        return
    why = f"{tests} need {'; '.join(missing)}"
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(why)
    pytest.fail(f"{why}: install them as the README's test command does, or set {SKIP_ENV}=1 to skip these tests",
                pytrace=False)
