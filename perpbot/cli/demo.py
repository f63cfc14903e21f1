"""Provides the offline demo's pieces: the simulator's options and the settings that paper-trade against it.

`perpbot demo` serves a seeded, accelerated exchange on loopback and lets the engine trade it in
paper mode. Everything here is chosen so trades come within a wall minute: a 1m strategy on the
Bollinger rule alone, a modest entry threshold, short cooldowns and timeouts. The risk regime
comes from the simulator's own prediction markets (`perpbot.sim.prediction`), polled every few
wall seconds, so its score moves and the regime swings into ELEVATED and back within minutes.
No config file, no keys, no network; the database lives in a folder of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpbot.config import Settings, build_settings
from perpbot.errors import ConfigError
from perpbot.sim.options import SimOptions
from perpbot.sim.prediction import DEMO_MARKETS, KALSHI_PATH, POLYMARKET_PATH

DEMO_SYMBOLS = ("BTC", "ETH", "SOL")
DEFAULT_SPEED = 120.0
"""Two simulated 1m bars per wall second: the first trades within a minute, a day in 12 minutes."""
HISTORY_DAYS = 2.0
"""History the simulator generates before its start: enough bands for the chart and the first ticks."""
WAKES_PER_WALL_S = 4.0
"""How often the engine wakes between bars (stops, marks), in wall time whatever the speed."""
DB_NAME = "demo.db"
PREDICTION_POLL_MINUTES = 5.0
"""Simulated minutes between prediction polls: 2.5 wall seconds at the default speed (the walk moves per minute)."""
PREDICTION_MAX_AGE_MINUTES = 30.0
"""Six missed polls and a market's value is stale: a stuck simulator shows within seconds, not hours."""


def demo_options(seed: int, speed: float) -> SimOptions:
    """The simulator of the demo: three coins, two days of history, its clock `speed` times wall time.

    Raises:
        ConfigError: a speed that is not positive.
    """
    if not speed > 0:
        raise ConfigError(f"the demo speed must be > 0 (got {speed:g})", "pass --speed 120 (simulated seconds per wall second)")
    return SimOptions(seed=seed, symbols=list(DEMO_SYMBOLS), history_days=HISTORY_DAYS, speed=speed,
                      candle_limit=5000)


def demo_settings(sim_url: str, folder: Path, speed: float) -> Settings:
    """Paper trading against the simulator at `sim_url` (its prediction markets set the regime), files in `folder`."""
    raw: dict[str, Any] = {
        "exchange": {"base_url": sim_url, "network": "testnet", "timeout_s": 5.0, "retry_backoff_s": 0.05},
        "data": {"db_path": str(folder / DB_NAME), "symbols": list(DEMO_SYMBOLS), "timeframes": ["1m"], "backups": 0,
                 "history_days": 2},
        "strategy": {"timeframe": "1m", "window": 20, "entry_z": 1.6, "exit_z": 0.3, "use_rsi": False,
                     "use_adx": False, "use_hurst": False},
        "risk": {"sizing": "fixed", "notional_usd": 2000.0, "stop_loss_pct": 0.006, "cooldown_minutes": 10,
                 "position_timeout_hours": 2, "daily_loss_limit_pct": 0.2, "losing_weeks_halt": 0},
        "execution": {"mode": "paper", "clock": "exchange",
                      "tick_seconds": min(max(speed / WAKES_PER_WALL_S, 0.05), 3600.0)},
        "prediction": {"enabled": True, "polymarket_url": sim_url + POLYMARKET_PATH,
                       "kalshi_url": sim_url + KALSHI_PATH, "timeout_s": 5.0, "max_retries": 1,
                       "poll_minutes": PREDICTION_POLL_MINUTES, "max_age_minutes": PREDICTION_MAX_AGE_MINUTES,
                       "markets": [{"source": m.source, "id": m.market_id, "weight": 1.0, "direction": m.direction}
                                   for m in DEMO_MARKETS]},
        "alerts": {"enabled": False, "heartbeat_minutes": 0},
        "logging": {"level": "INFO", "file": True},
    }
    return build_settings(raw, source="demo")
