"""The data CI provides beside the checkout (`../shared`): the real VLGuard test annotations.

A test that needs them asks for the `vlguard_test` fixture (conftest.py). On a plain clone
without them it skips; under CI (CI=true) their absence fails it, so that a CI run that lost
`../shared` cannot pass green with the real-data tests silently left out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
VLGUARD_TEST = SHARED / "data" / "vlguard" / "test.json"


def in_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(path: Path, env: Mapping[str, str] = os.environ) -> Path:
    """`path` if it is a file; else skip the test, or fail it under CI."""
    if path.is_file():
        return path
    message = f"{path} is missing (CI copies the shared directory beside the checkout)"
    if in_ci(env):
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)
