"""Fixed data for the dashboard tests and screenshots: a seeded store, a log file and an engine link.

Everything here is a pure function of its arguments (seeded RNG, fixed clock), so snapshot
SVGs are identical on every machine. `scripts/screenshots.py` builds the same fixtures.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from perpbot.clock import MINUTE_MS, FakeClock
from perpbot.config import Settings, build_settings
from perpbot.data.db import Store
from perpbot.models import Candle, Side, Trade
from perpbot.tui.session import EngineStoppedCallback, SessionInfo

NOW_MS = 1_704_283_200_000  # 2024-01-03T12:00:00Z, a Wednesday
SYMBOLS = ("BTC", "ETH", "SOL")
_BASE = {"BTC": 43_000.0, "ETH": 2_300.0, "SOL": 100.0}
HISTORY_BARS = 3 * 24 * 60  # three days of 1m bars, enough for the weekly review's days


def fixture_settings(tmp: Path) -> Settings:
    """Defaults with a 1m strategy and the DB and log in `tmp`."""
    return build_settings({"data": {"db_path": str(tmp / "perp_bot.db"), "symbols": list(SYMBOLS)},
                           "strategy": {"timeframe": "1m"}}, source="test")


def _candles(symbol: str, seed: int) -> list[Candle]:
    rng = np.random.default_rng(seed)
    n = HISTORY_BARS
    # A mean-reverting walk (an AR(1) around the base) so the chart shows the bands at work.
    dev = np.zeros(n)
    shocks = rng.normal(0.0, 0.0012, n)
    for i in range(1, n):
        dev[i] = 0.97 * dev[i - 1] + shocks[i]
    close = _BASE[symbol] * np.exp(dev - dev[-1])  # the last close is the base, near the snapshot's marks
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.0006, n)) * close
    start = NOW_MS - n * MINUTE_MS
    return [Candle(symbol, "1m", start + i * MINUTE_MS, float(open_[i]), float(max(open_[i], close[i]) + spread[i]),
                   float(min(open_[i], close[i]) - spread[i]), float(close[i]), 1.0) for i in range(n)]


def _trade(symbol: str, side: Side, entry_min: int, entry: float, exit_min: int | None, exit_: float | None,
           reason: str | None) -> Trade:
    size = round(3000.0 / entry, 4)
    pnl = None if exit_ is None else round(side.sign * (exit_ - entry) * size - 0.9, 2)
    return Trade(symbol=symbol, side=side, size=size, entry_time=NOW_MS - entry_min * MINUTE_MS, entry_price=entry,
                 exit_time=None if exit_min is None else NOW_MS - exit_min * MINUTE_MS, exit_price=exit_,
                 stop_price=entry * (1 - side.sign * 0.02), fees=0.9 if exit_ else 0.45,
                 pnl=pnl, exit_reason=reason, entry_reason="z")


DAY_MIN = 24 * 60
TRADES = (
    ("ETH", Side.LONG, 19 * DAY_MIN, 2_240.0, 19 * DAY_MIN - 50, 2_262.0, "signal"),
    ("BTC", Side.SHORT, 17 * DAY_MIN, 42_600.0, 17 * DAY_MIN - 90, 42_950.0, "stop_loss"),
    ("SOL", Side.LONG, 15 * DAY_MIN, 96.1, 15 * DAY_MIN - 35, 97.4, "signal"),
    ("BTC", Side.LONG, 11 * DAY_MIN, 42_100.0, 11 * DAY_MIN - 45, 42_420.0, "signal"),
    ("ETH", Side.SHORT, 9 * DAY_MIN, 2_330.0, 9 * DAY_MIN - 20, 2_318.0, "signal"),
    ("SOL", Side.SHORT, 6 * DAY_MIN, 101.5, 6 * DAY_MIN - 24 * 60, 100.9, "timeout"),
    ("BTC", Side.LONG, 2 * 24 * 60, 42_900.0, 2 * 24 * 60 - 40, 43_050.0, "signal"),
    ("ETH", Side.SHORT, 36 * 60, 2_310.0, 36 * 60 - 55, 2_296.0, "signal"),
    ("SOL", Side.LONG, 30 * 60, 99.2, 30 * 60 - 12, 97.2, "stop_loss"),
    ("BTC", Side.SHORT, 20 * 60, 43_150.0, 20 * 60 - 30, 43_020.0, "signal"),
    ("ETH", Side.LONG, 9 * 60, 2_292.0, 9 * 60 - 25, 2_301.5, "signal"),
    ("SOL", Side.SHORT, 5 * 60, 100.9, 5 * 60 - 80, 100.4, "timeout"),
    ("BTC", Side.LONG, 90, 42_880.0, 62, 42_990.0, "signal"),
    ("ETH", Side.SHORT, 48, 2_306.0, 20, 2_298.5, "signal"),
    ("BTC", Side.LONG, 14, 42_955.0, None, None, None),
    ("SOL", Side.SHORT, 6, 100.6, None, None, None),
)


def fill_store(path: Path) -> None:
    """Candles of every symbol plus ten paper trades (two still open), all before NOW_MS."""
    store = Store(path)
    try:
        for seed, symbol in enumerate(SYMBOLS, start=7):
            store.insert_candles(_candles(symbol, seed))
        for row in TRADES:
            store.insert_trade(_trade(*row))
    finally:
        store.close()


LOG_LINES = (
    ("11:58:00.120", "INFO", "perpbot.execution.engine", "tick", {"symbols": 3, "ms": 14}),
    ("11:58:00.131", "INFO", "perpbot.signals", "signal", {"symbol": "SOL", "action": "SHORT", "z": 2.31}),
    ("11:58:00.140", "INFO", "perpbot.execution.paper", "entry filled", {"symbol": "SOL", "price": 100.6}),
    ("11:58:30.002", "DEBUG", "perpbot.data.ws_client", "allMids", {"n": 3}),
    ("11:59:00.118", "INFO", "perpbot.execution.engine", "tick", {"symbols": 3, "ms": 12}),
    ("11:59:12.500", "WARNING", "perpbot.data.client", "rate limited, retrying", {"attempt": 1, "wait_s": 0.5}),
    ("11:59:40.000", "WARNING", "perpbot.data.ws_client", "feed stale, falling back to REST", {"symbol": "ETH"}),
    ("11:59:41.250", "INFO", "perpbot.data.ws_client", "reconnected", {"after_s": 1.25}),
    ("12:00:00.101", "INFO", "perpbot.execution.engine", "tick", {"symbols": 3, "ms": 13}),
    ("12:00:00.130", "ERROR", "perpbot.ops.alerts", "alert not delivered", {"channel": "discord", "status": 500}),
)


def write_log(path: Path) -> None:
    """A JSON-lines log as perpbot.ops.logging writes it."""
    with path.open("w", encoding="utf-8") as out:
        for clock, level, logger, event, fields in LOG_LINES:
            out.write(json.dumps({"time": f"2024-01-03T{clock}Z", "level": level, "logger": logger, "event": event,
                                  **fields}) + "\n")


def snapshot_data() -> dict[str, Any]:
    """An engine snapshot consistent with the store: the two open trades, marks near the last closes."""
    return {
        "mode": "paper", "paused": False, "halted": False, "halt_reason": "", "equity": 10_234.56,
        "pnl_today": 48.12, "regime": "NORMAL", "regime_score": 0.18, "last_tick": NOW_MS,
        "started_at": NOW_MS - 6 * 3600_000, "timeframe": "1m", "symbols": list(SYMBOLS),
        "feed": {"BTC": {"healthy": True, "age_s": 0.4, "source": "ws"},
                 "ETH": {"healthy": True, "age_s": 0.6, "source": "ws"},
                 "SOL": {"healthy": False, "age_s": 42.0, "source": "rest"}},
        "risk_blocks": ["cooldown: SOL after a stop loss", "max_positions: 2 of 3 open"],
        "cooldowns": {"SOL": NOW_MS + 35 * MINUTE_MS},
        "recent_signals": [
            {"time": NOW_MS - 6 * MINUTE_MS, "symbol": "SOL", "action": "SHORT", "reason": "z>=2.0 rsi>=70"},
            {"time": NOW_MS - 14 * MINUTE_MS, "symbol": "BTC", "action": "LONG", "reason": "z<=-2.0 rsi<=30"},
            {"time": NOW_MS - 20 * MINUTE_MS, "symbol": "ETH", "action": "CLOSE", "reason": "z<=0.5"},
        ],
        "marks": {"BTC": 43_012.5, "ETH": 2_301.2, "SOL": 100.31},
        "signals": [
            {"symbol": "BTC", "bar_time": NOW_MS - MINUTE_MS, "close": 43_010.0, "z": -0.84, "bb_lower": 42_890.1,
             "bb_upper": 43_120.7, "rsi": 41.2, "adx": 18.4, "hurst": 0.43, "decision": "NONE", "reason": "hold",
             "risk": None},
            {"symbol": "ETH", "bar_time": NOW_MS - MINUTE_MS, "close": 2_288.4, "z": -2.31, "bb_lower": 2_290.2,
             "bb_upper": 2_311.8, "rsi": 27.5, "adx": 31.0, "hurst": 0.41, "decision": "NONE",
             "reason": "blocked:adx", "risk": None},
            {"symbol": "SOL", "bar_time": NOW_MS - MINUTE_MS, "close": 100.29, "z": 0.35, "bb_lower": 99.71,
             "bb_upper": 100.88, "rsi": 52.0, "adx": 22.3, "hurst": None, "decision": "CLOSE", "reason": "exit:z<=0.50",
             "risk": None},
        ],
        "positions": [
            {"symbol": "BTC", "side": "long", "size": 0.0233, "entry_price": 42_955.0, "mark": 43_012.5,
             "unrealized_pnl": 1.34, "stop": 42_095.9, "opened_at": NOW_MS - 14 * MINUTE_MS,
             "timeout_at": NOW_MS - 14 * MINUTE_MS + 24 * 3600_000},
            {"symbol": "SOL", "side": "short", "size": 9.9404, "entry_price": 100.6, "mark": 100.31,
             "unrealized_pnl": 2.88, "stop": 102.612, "opened_at": NOW_MS - 6 * MINUTE_MS,
             "timeout_at": NOW_MS - 6 * MINUTE_MS + 24 * 3600_000},
        ],
    }


class FixtureLink:
    """An engine link answering from a fixed snapshot; commands change it as the engine would."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data if data is not None else snapshot_data()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        with self._lock:
            if cmd != "snapshot":
                self.requests.append((cmd, args))
            if cmd == "snapshot":
                return {"ok": True, "data": copy.deepcopy(self.data)}
            if cmd in ("pause", "resume"):
                self.data["paused"] = cmd == "pause"
            elif cmd == "close":
                positions = [p for p in self.data["positions"] if p["symbol"] != args.get("symbol")]
                if len(positions) == len(self.data["positions"]):
                    return {"ok": False, "error": f"no open position in {args.get('symbol')}"}
                self.data["positions"] = positions
            elif cmd == "flatten":
                self.data["positions"] = []
            elif cmd != "ping":
                return {"ok": False, "error": f"unknown command {cmd!r}"}
            return {"ok": True, "data": {}}


class FixtureSession:
    """A session over the fixture link, the fixture store and a fixed clock."""

    label = "paper"

    def __init__(self, settings: Settings, link: FixtureLink | None = None, now_ms: int = NOW_MS) -> None:
        self.settings = settings
        self.link = link or FixtureLink()
        self.clock = FakeClock(now_ms)
        self.stopped = False

    def start(self, on_engine_stopped: EngineStoppedCallback) -> SessionInfo:
        return SessionInfo(link=self.link, settings=self.settings, clock=self.clock, db_path=self.settings.db_path,
                           log_path=self.settings.log_path, label=self.label)

    def stop(self) -> None:
        self.stopped = True


WF_FILE = "walk-forward.json"
SWEEP_FILE = "sweep.json"
WF_GRID = [("strategy.entry_z", [1.5, 2.0, 2.5])]
SWEEP_GRID = [("strategy.entry_z", [1.5, 1.75, 2.0, 2.25, 2.5]), ("strategy.window", [15, 20, 30, 40])]


def write_results(settings: Settings, folder: Path) -> tuple[Path, Path]:
    """A walk-forward and a sensitivity result over the fixture store, as the CLI's --json writes them."""
    from perpbot.backtest.sensitivity import run_sensitivity
    from perpbot.backtest.walk_forward import run_walk_forward

    store = Store(settings.db_path, read_only=True)
    try:
        wf = run_walk_forward(settings, store, list(SYMBOLS), None, None, WF_GRID, train_days=1.0, test_days=0.5)
        sweep = run_sensitivity(settings, store, list(SYMBOLS), None, None, SWEEP_GRID)
    finally:
        store.close()
    return wf.to_json(folder / WF_FILE), sweep.to_json(folder / SWEEP_FILE)
