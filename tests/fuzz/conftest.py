"""Hypothesis profiles for the fuzz tests, and the module-scoped event loop they run on.

Profiles (``HYPOTHESIS_PROFILE`` selects one; ``ci`` is the default):

- ``ci``: 100 examples as the base unit, derandomized (every run tests the same examples, so a
  CI failure reproduces locally), no example database, ``deadline=None``. Tests ask for a
  multiple of the base through ``tests.fuzz.examples``; the per-input counts are listed in each
  module's docstring and add up to about 8,000 examples, run in well under 60 s on 2 cores.
- ``long``: ten times every count (1,000 base), randomized, with Hypothesis' example database
  (``.hypothesis/``) so that a failure found once is replayed first on the next run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from . import Runner

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    # the app and the provider run in-process: a slow example is not a slow strategy
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    parent=settings.get_profile("ci"),
    max_examples=1000,
    derandomize=False,
    database=settings.get_profile("default").database,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    """One event loop per fuzz module, for the app, the providers and every example."""
    loop = Runner()
    yield loop
    loop.close()
