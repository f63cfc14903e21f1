"""Provides `sim`: the funded simulator the live-mode engine tests trade on (seed 3, on a FakeClock).
A test file that needs another market defines its own `sim`, which takes precedence."""

from __future__ import annotations

import pytest

from live_engine_harness import live_sim


@pytest.fixture
def sim():
    with live_sim(seed=3) as server:
        yield server
