"""`perpbot tui`: the dashboard attached to a headless daemon running in another process.

`perpbot sim` and `perpbot --headless trade` run as subprocesses on the simulator's accelerated
clock; the app attaches with AttachedSession: state over the socket, trades from SQLite, the
log from the daemon's file, ages in the daemon's time. Pause goes over the socket; quitting the
dashboard leaves the daemon running.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from perpbot.config import load_settings
from perpbot.errors import PerpbotError
from perpbot.execution.exchange_clock import FollowingClock
from perpbot.cli.sessions import AttachedSession
from perpbot.tui.widgets.log_view import LogView
from perpbot.cli.dashboard import make_app

sys.path.insert(0, str(Path(__file__).parent.parent / "daemon"))
from daemon_procs import cli, start_daemon, start_sim, status, stop, wait_for, write_config  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
SIZE = (120, 40)
SPEED = 1800  # a 15m bar every half wall second


async def _until(pilot, predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        if predicate():
            return
    pytest.fail(f"timed out waiting for {what}")


async def test_attached_dashboard_follows_the_daemon(tmp_path: Path) -> None:
    sim, url = start_sim(3, SPEED)
    config = write_config(tmp_path, url, strategy={"entry_z": 1.2})
    daemon = start_daemon(config)
    try:
        wait_for(lambda: (status(config) or {}).get("last_tick"), 30, "the daemon's first tick", daemon)
        settings = load_settings(config)
        session = AttachedSession(settings)
        app = make_app(session, poll_interval_s=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: app.view is not None and app.view.positions, 40, "an open position")
            assert app.info is not None and app.info.label == "attached"
            assert isinstance(app.info.clock, FollowingClock) and app.info.clock.speed > SPEED / 4
            view = app.view
            assert view.mode == "paper" and set(view.symbols) == {"BTC", "ETH", "SOL"}
            # Ages are in the daemon's (simulated) time: a position is never younger than 0 nor
            # opened after the daemon's clock, which the dashboard follows within a bar or two.
            now = app.info.clock.now_ms()
            assert abs(now - view.last_tick) < 3 * 15 * 60_000
            assert all(p.opened_at <= now for p in view.positions)

            # The log screen tails the daemon's file.
            await pilot.press("2")
            await _until(pilot, lambda: app.screen.query_one(LogView).shown, 10, "log lines")

            await pilot.press("p", "y")  # pause asks first
            await _until(pilot, lambda: (status(config) or {}).get("paused") is True, 10, "the daemon to pause")
            await _until(pilot, lambda: app.view.paused, 10, "the dashboard to show the pause")
            await pilot.press("p", "y")
            await _until(pilot, lambda: (status(config) or {}).get("paused") is False, 10, "the daemon to resume")

            await pilot.press("q")
            await _until(pilot, lambda: app.return_value is not None, 10, "the dashboard to quit")
        assert app.return_value == 0
        assert daemon.poll() is None and status(config) is not None  # the daemon keeps trading
    finally:
        stop(daemon)
        stop(sim, signal.SIGINT)


def test_attach_without_a_daemon_names_the_fix(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9"))
    with pytest.raises(PerpbotError) as err:
        AttachedSession(settings).start(lambda *a: None)
    assert "no daemon socket" in str(err.value)
    assert "perpbot --headless trade" in err.value.hint


def test_perpbot_tui_without_a_daemon_exits_1_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    (tmp_path / "perp-bot.sock").write_text("")  # a stale socket file from a dead daemon
    done = cli(config, "tui")
    assert done.returncode == 1 and done.stdout == ""
    assert "did not answer" in done.stderr and "perpbot status" in done.stderr
    (tmp_path / "perp-bot.sock").unlink()
    done = cli(config, "tui")
    assert done.returncode == 1 and "no daemon socket" in done.stderr and "perpbot --headless trade" in done.stderr
