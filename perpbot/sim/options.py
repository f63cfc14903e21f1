"""Provides the simulator's options (what `perpbot sim` flags set) and their validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perpbot.errors import ConfigError
from perpbot.sim.exchange_options import check_exchange_options
from perpbot.sim.faults import FaultConfig


@dataclass
class SimOptions:
    """How the simulated exchange looks: its market, clock, history limits and faults."""

    seed: int = 1
    """Seeds the market (and, offset, the fault RNG): same seed and start, same market."""
    symbols: list[str] = field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    """Coins in `meta`'s universe, in this order (the order gives the asset indexes)."""
    history_days: float = 7.0
    """Generated history before the start time."""
    speed: float = 1.0
    """How many times faster than wall time the exchange's clock runs."""
    candle_limit: int = 5000
    """Only the most recent N candles per coin and interval are available (0 = all history)."""
    start_ms: int | None = None
    """The exchange clock's start (epoch ms); default: now, floored to the minute."""
    candles_file: str | None = None
    """Replay this 1m CSV (t,open,high,low,close,volume) for the single symbol instead of generating."""
    funding_file: str | None = None
    """Replay this hourly funding CSV (t,rate) instead of deriving funding from the bars."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    """Initial fault injection settings (mutable at runtime through SimServer.faults)."""
    funds: dict[str, float] = field(default_factory=dict)
    """Accounts that exist, lower-case address -> USDC deposited (only funded accounts can trade)."""
    agents: dict[str, str] = field(default_factory=dict)
    """API wallets approved from the start, agent address -> the funded account it signs for."""
    network: str = "testnet"
    """Which chain signatures are verified for: testnet (what the SDK signs for any URL but mainnet's) or mainnet."""
    scenario_file: str | None = None
    """A scenario (YAML or JSON) of timed price moves, funding rates, halts and faults; see perpbot.sim.scenario."""
    schedule_cancel_min_volume: float = 1_000_000.0
    """USD an account must have traded before scheduleCancel is accepted (the exchange's gate; 0 lifts it)."""
    maker_fill_ticks: int = 1
    """A resting limit fills (as maker) once the price path trades through it by this many price ticks, as
    the backtest assumes (the queue ahead is unknown); 0 fills it when the path touches its price."""

    def validate(self) -> None:
        """Raise ConfigError naming the first bad option and how to fix it."""
        if not self.symbols or any(not s or not isinstance(s, str) for s in self.symbols):
            raise ConfigError("the simulator needs at least one symbol", "pass --symbols BTC,ETH,SOL")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"symbols repeat a coin ({','.join(self.symbols)})", "list each coin once")
        if not 0 <= self.history_days <= 3650:
            raise ConfigError(f"history days must be between 0 and 3650 (got {self.history_days:g})", "pass --history-days 7")
        if not self.speed > 0:
            raise ConfigError(f"speed must be > 0 (got {self.speed:g})", "pass --speed 1 for real time, 60 for a minute per second")
        if not isinstance(self.maker_fill_ticks, int) or self.maker_fill_ticks < 0:
            raise ConfigError(f"maker fill ticks must be a whole number >= 0 (got {self.maker_fill_ticks})",
                              "pass --maker-fill-ticks 1 (trade-through), or 0 to fill resting orders on a touch")
        if self.candle_limit < 0:
            raise ConfigError(f"candle limit must be >= 0 (got {self.candle_limit})", "pass --candle-limit 5000, or 0 for all history")
        if self.candles_file is not None:
            if len(self.symbols) != 1:
                raise ConfigError(f"--candles replays one coin but {len(self.symbols)} symbols were given",
                                  "name the file's coin alone, e.g. --symbols BTC")
            if not Path(self.candles_file).is_file():
                raise ConfigError(f"--candles {self.candles_file}: no such file", "check the path")
        if self.scenario_file is not None and not Path(self.scenario_file).is_file():
            raise ConfigError(f"--scenario {self.scenario_file}: no such file", "check the path")
        if self.funding_file is not None and not Path(self.funding_file).is_file():
            raise ConfigError(f"--funding {self.funding_file}: no such file", "check the path")
        self.faults.validate()
        check_exchange_options(self.funds, self.network, self.agents)
