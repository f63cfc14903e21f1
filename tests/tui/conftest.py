"""Dashboard test fixtures: a seeded store and log in tmp_path, the fixture session, no cursor blink."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from perpbot.config import Settings
from perpbot.tui.app import PerpBotApp
from tui.fixtures import FixtureLink, FixtureSession, fill_store, fixture_settings, write_log, write_results

LONG_RUNNING = {"log-tail", "backtest", "walk-forward", "reports-compare"}


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio, Textual's loop."""
    return "asyncio"


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make screenshots depend on timing: keep it steadily on."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture
def tui_settings(tmp_path: Path) -> Settings:
    settings = fixture_settings(tmp_path)
    fill_store(settings.db_path)
    write_log(settings.log_path)
    return settings


@pytest.fixture
def link() -> FixtureLink:
    return FixtureLink()


@pytest.fixture
def make_app(tui_settings: Settings, link: FixtureLink) -> Callable[[], PerpBotApp]:
    from perpbot.cli.dashboard import make_app

    def make() -> PerpBotApp:
        return make_app(FixtureSession(tui_settings, link))

    return make


async def settle(pilot: Pilot[object], rounds: int = 200) -> None:
    """Wait until the first snapshot arrived and every short worker (DB reads) finished."""
    app = pilot.app
    quiet = 0
    for _ in range(rounds):
        await pilot.pause(0.02)
        short = [w for w in app.workers if w.group not in LONG_RUNNING]
        # Quiet for a few rounds in a row: a finished worker's message may still be queued (slow CI).
        quiet = quiet + 1 if getattr(app, "view", None) is not None and all(w.is_finished for w in short) else 0
        if quiet >= 3:
            break
    await pilot.pause(0.05)


@pytest.fixture
def results(tui_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Walk-forward and sweep JSON files in tmp_path, which is also the working directory (short paths)."""
    monkeypatch.chdir(tmp_path)
    return write_results(tui_settings, tmp_path)


async def until_idle(pilot: Pilot[object], rounds: int = 400) -> None:
    """Wait until the screen's run form has finished its run (or load)."""
    from perpbot.tui.widgets.run_form import RunForm

    for _ in range(rounds):
        await pilot.pause(0.02)
        if not pilot.app.screen.query_one(RunForm).running:
            break
    await pilot.pause(0.1)
