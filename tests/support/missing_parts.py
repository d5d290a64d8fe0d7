"""What a test does when a part it needs (editors root, shared data) is missing: skip locally, fail in CI."""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """Whether this is a CI run (CI=true, as GitHub Actions, GitLab and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> None:
    """pytest.skip outside CI; pytest.fail with the same reason in CI, where no test may be skipped for a missing
    part (editors root, shared data)."""
    if in_ci():
        pytest.fail(f"CI=true, so this test may not be skipped: {reason}", pytrace=False)
    pytest.skip(reason)
