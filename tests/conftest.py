"""Shared fixtures: a fixed clock, settings with no user config, a store in tmp_path."""

from __future__ import annotations

import pytest

from perpbot.clock import FakeClock
from perpbot.config import Settings, build_settings
from perpbot.data.db import Store

FIXED_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FIXED_START_MS)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Defaults only (no config.yaml discovery), with the DB in tmp_path."""
    return build_settings({"data": {"db_path": str(tmp_path / "perp_bot.db")}}, source="test")


@pytest.fixture
def store(settings) -> Store:
    s = Store(settings.db_path)
    yield s
    s.close()
