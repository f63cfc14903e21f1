"""End to end: `perpbot sim --speed X` and `perpbot --headless trade` as subprocesses, on the
exchange's clock, for two simulated days; then kill -9 and a restart (crash recovery)."""

from __future__ import annotations

import signal

import pytest

from perpbot.clock import DAY_MS
from perpbot.data.db import Store
from perpbot.signals.decisions import FIELDS

from daemon_procs import cli, start_daemon, start_sim, status, stop, wait_for, write_config

pytestmark = pytest.mark.e2e
SPEED = 10000


@pytest.fixture
def sim(request):
    proc, url = start_sim(seed=5, speed=getattr(request, "param", SPEED))
    yield url
    stop(proc, signal.SIGINT)


def _last_tick(config) -> int:
    return (status(config) or {}).get("last_tick") or 0


def test_two_days_status_pause_resume_flatten_and_clean_stop(sim, tmp_path):
    config = write_config(tmp_path, sim)
    assert cli(config, "status").returncode == 1  # no daemon yet: a one-line explanation
    daemon = start_daemon(config)
    try:
        first = wait_for(lambda: status(config), 30, "the socket", daemon)
        assert first["mode"] == "paper" and first["timeframe"] == "15m"
        started = first["started_at"]
        wait_for(lambda: _last_tick(config), 30, "the first bar close", daemon)
        rows = status(config)["signals"]  # the decision table: every symbol from the first bar on
        assert [r["symbol"] for r in rows] == ["BTC", "ETH", "SOL"]
        assert all(set(r) == set(FIELDS) and r["decision"] in ("LONG", "SHORT", "CLOSE", "NONE") for r in rows)
        assert cli(config, "control", "pause").returncode == 0
        assert status(config)["paused"] is True
        assert cli(config, "control", "resume").returncode == 0
        assert status(config)["paused"] is False
        wait_for(lambda: _last_tick(config) >= started + 2 * DAY_MS, 60, "two days", daemon)
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
    assert cli(config, "status").returncode == 1
    store = Store(tmp_path / "bot.db")
    trades = store.recent_trades(10_000, mode="paper")
    store.close()
    assert len(trades) >= 5
    assert all(not t.is_open for t in trades)
    assert len({t.entry_cloid for t in trades}) == len(trades)
    assert {t.exit_reason for t in trades} <= {"signal", "stop_loss", "timeout", "flatten"}


def _kill_9_with_a_position_open(config, tries: int = 4) -> tuple[dict, set[str], int]:
    """Run the daemon until it holds a position, then kill -9 it; again when the position closed in
    the moment between the status and the kill (the sim is fast, a loaded machine slow): the test
    is about a position open at the kill. Returns the last status, the open entry cloids and the
    number of trades."""
    for _ in range(tries):
        daemon = start_daemon(config)
        try:
            wait_for(lambda: (status(config) or {}).get("positions"), 60, "an open position", daemon)
            before = status(config)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
        finally:
            stop(daemon, signal.SIGKILL)
        store = Store(config.parent / "bot.db")
        open_before = {t.entry_cloid for t in store.open_trades(mode="paper")}
        n_before = len(store.recent_trades(10_000))
        store.close()
        if open_before:
            return before, open_before, n_before
    raise AssertionError(f"no position open at the kill in {tries} tries")


@pytest.mark.parametrize("sim", [1500], indirect=True)  # slower: a position must outlive the kill
def test_kill_9_then_restart_recovers_without_duplicates(sim, tmp_path):
    config = write_config(tmp_path, sim)
    before, open_before, n_before = _kill_9_with_a_position_open(config)
    again = start_daemon(config)
    try:
        first = wait_for(lambda: status(config), 30, "the restarted socket", again)
        store = Store(tmp_path / "bot.db")  # read after the status: a trade open now was open then
        by_cloid = {t.entry_cloid: t for t in store.recent_trades(10_000)}
        assert open_before <= set(by_cloid)  # nothing lost
        still_open = {by_cloid[c].symbol for c in open_before if by_cloid[c].is_open}
        assert still_open <= {p["symbol"] for p in first["positions"]}  # recovered

        def ledger_matches() -> bool:
            snap = status(config) or {}
            if not snap.get("last_tick"):
                return False
            day = snap["last_tick"] - snap["last_tick"] % DAY_MS
            today = sum(t.pnl for t in store.closed_trades(start=day, mode="paper"))
            return abs(snap["pnl_today"] - today) < 1e-6

        wait_for(ledger_matches, 20, "pnl_today equal to today's closed trades", again)
        snap = status(config)
        for symbol, until in before["cooldowns"].items():
            assert snap["cooldowns"].get(symbol) == until or until <= snap["last_tick"]
        wait_for(lambda: _last_tick(config) >= before["last_tick"] + DAY_MS // 8, 60, "three hours more", again)
        assert stop(again) == 0
        trades = store.recent_trades(10_000)
        assert len(trades) >= n_before
        assert len({t.entry_cloid for t in trades}) == len(trades)
        store.close()
    finally:
        stop(again, signal.SIGKILL)
