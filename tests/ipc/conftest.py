"""Fixtures for the ipc tests: a short socket directory (AF_UNIX paths are limited to ~107 bytes)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def sock_dir() -> Path:
    # pytest's tmp_path can exceed the AF_UNIX path limit with long test names.
    path = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: Path) -> Path:
    return sock_dir / "perp-bot.sock"
