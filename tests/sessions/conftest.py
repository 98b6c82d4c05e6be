"""Fixtures of the session tests."""

from __future__ import annotations

# the module-scoped event loop of the Hypothesis tests, with their profiles registered and loaded
from ..fuzz.conftest import runner  # noqa: F401 - a fixture
