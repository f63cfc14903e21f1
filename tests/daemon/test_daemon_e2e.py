"""End to end: `perpbot sim --speed X` and `perpbot --headless trade` as subprocesses, on the
exchange's clock, for two simulated days; then kill -9 and a restart (crash recovery)."""

from __future__ import annotations

import signal

import pytest

from perpbot.clock import DAY_MS
from perpbot.data.db import Store

from daemon_procs import cli, start_daemon, start_sim, status, stop, wait_for, write_config

pytestmark = pytest.mark.slow
SPEED = 6000


@pytest.fixture
def sim():
    proc, url = start_sim(seed=5, speed=SPEED)
    yield url
    stop(proc, signal.SIGINT)


def test_two_days_status_pause_resume_flatten_and_clean_stop(sim, tmp_path):
    config = write_config(tmp_path, sim)
    assert cli(config, "status").returncode == 1  # no daemon yet: a one-line explanation
    daemon = start_daemon(config)
    try:
        first = wait_for(lambda: status(config), 30, "the socket", daemon)
        assert first["mode"] == "paper" and first["timeframe"] == "15m"
        started = first["started_at"]
        assert "Pause" not in cli(config, "control", "pause").stderr
        assert status(config)["paused"] is True
        assert cli(config, "control", "resume").returncode == 0
        assert status(config)["paused"] is False
        wait_for(lambda: (status(config) or {}).get("last_tick", 0) >= started + 2 * DAY_MS, 60, "two days", daemon)
        snap = status(config)
        assert set(snap["feed"]) == {"BTC", "ETH", "SOL"}
        cli(config, "control", "pause")
        done = cli(config, "control", "flatten")
        assert done.returncode == 0, done.stderr
        assert status(config)["positions"] == []
        assert stop(daemon) == 0
    finally:
        stop(daemon, signal.SIGKILL)
    assert not (tmp_path / "perp-bot.sock").exists()
    store = Store(tmp_path / "bot.db")
    trades = store.recent_trades(10_000, mode="paper")
    store.close()
    assert len(trades) >= 5
    assert all(not t.is_open for t in trades)
    assert len({t.entry_cloid for t in trades}) == len(trades)
    assert {t.exit_reason for t in trades} <= {"signal", "stop_loss", "timeout", "flatten"}


def test_kill_9_then_restart_recovers_without_duplicates(sim, tmp_path):
    config = write_config(tmp_path, sim)
    daemon = start_daemon(config)
    try:
        wait_for(lambda: (status(config) or {}).get("positions"), 60, "an open position", daemon)
        before = status(config)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
    finally:
        stop(daemon, signal.SIGKILL)
    store = Store(tmp_path / "bot.db")
    open_before = {t.entry_cloid for t in store.open_trades(mode="paper")}
    n_before = len(store.recent_trades(10_000))
    store.close()
    assert open_before
    again = start_daemon(config)
    try:
        snap = wait_for(lambda: status(config), 30, "the restarted socket", again)
        store = Store(tmp_path / "bot.db")
        recovered = {p["symbol"] for p in snap["positions"]}
        still_open = {t.symbol for t in store.open_trades(mode="paper")}
        assert recovered == still_open
        assert {t.entry_cloid for t in store.open_trades(mode="paper")} <= open_before | {
            t.entry_cloid for t in store.recent_trades(10_000) if t.entry_time > before["last_tick"]}
        day = snap["last_tick"] - snap["last_tick"] % DAY_MS if snap["last_tick"] else 0
        today = sum(t.pnl for t in store.closed_trades(start=day, mode="paper"))
        assert snap["pnl_today"] == pytest.approx(today, abs=1e-6)
        for symbol, until in before["cooldowns"].items():
            assert snap["cooldowns"].get(symbol) == until or until <= snap["last_tick"]
        wait_for(lambda: (status(config) or {}).get("last_tick", 0) >= before["last_tick"] + DAY_MS // 2, 60,
                 "half a day more", again)
        assert stop(again) == 0
        trades = store.recent_trades(10_000)
        assert len(trades) >= n_before
        assert len({t.entry_cloid for t in trades}) == len(trades)
        store.close()
    finally:
        stop(again, signal.SIGKILL)
