"""Provides the bridge from the backtest to the live risk manager and regime classifier.

The backtest does not re-implement a single risk rule: it drives `RiskManager` (on a
MemoryState, with simulated time passed in) and `RegimeClassifier` (replaying stored
prediction snapshots) at events only. What this module adds is the knowledge of how long a
refusal lasts, so the event loop can skip straight to the first bar where the answer could
change instead of asking again on every bar.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from perpbot.clock import DAY_MS, FakeClock, floor_ms
from perpbot.config import Settings
from perpbot.risk.manager import RiskCheck, RiskManager
from perpbot.signals.prediction import RegimeClassifier, RegimeState, Snapshot, fixed_regime

NEVER = 2**62


class RegimeReplay:
    """The regime at any simulated time: fixed, or replayed from stored snapshots in time order."""

    def __init__(self, settings: Settings, snapshots: Sequence[Snapshot] = ()) -> None:
        cfg = settings.prediction
        fixed = settings.backtest.regime
        self._snaps = sorted(snapshots, key=lambda s: s.fetched_at)
        if fixed is not None or not cfg.enabled or not self._snaps:
            self._fixed: RegimeState | None = fixed_regime(fixed or cfg.default_regime, cfg)
        else:
            self._fixed = None
        self._classifier = RegimeClassifier(cfg)
        self._fed = 0  # snapshots handed to the classifier so far
        self._times = sorted({s.fetched_at for s in self._snaps})

    @property
    def replaying(self) -> bool:
        return self._fixed is None

    def at(self, now_ms: int) -> RegimeState:
        """The regime at now_ms, updating the classifier at every poll time up to now (as live does)."""
        if self._fixed is not None:
            return self._fixed
        while self._fed < len(self._times) and self._times[self._fed] <= now_ms:
            t = self._times[self._fed]
            self._classifier.update(self._visible(t), t)
            self._fed += 1
        return self._classifier.update(self._visible(now_ms), now_ms)

    def next_change_after(self, now_ms: int) -> int:
        """The next time the regime could differ (the next poll, or staleness): NEVER if fixed."""
        if self._fixed is not None:
            return NEVER
        later = [t for t in self._times[self._fed:] if t > now_ms]
        age = int(self._classifier.max_age_ms)
        return min(later[0] if later else NEVER, now_ms + age)

    def _visible(self, now_ms: int) -> list[Snapshot]:
        # The newest snapshots per market are what matter; hand over the last few hours only.
        lo = now_ms - 2 * int(self._classifier.max_age_ms)
        return [s for s in self._snaps if lo <= s.fetched_at <= now_ms]


class WriteOnlyState:
    """The StatePort of a backtest: nothing reads the state back, so nothing is serialised.

    MemoryState JSON-encodes every write (to behave like SQLite); at tens of thousands of exits
    per run that was a third of the event loop's time. The manager reads its state only when
    constructed, which here is once, from empty.
    """

    def __init__(self) -> None:
        self._data: dict[str, object] = {}

    def get_state(self, key: str, default: object = None) -> object:
        return self._data.get(key, default)

    def set_state(self, key: str, value: object, now_ms: int = 0) -> None:
        self._data[key] = value


class BacktestRisk:
    """RiskManager on simulated time, plus the wake-up time of each refusal."""

    def __init__(self, settings: Settings, regime: RegimeReplay) -> None:
        self.cfg = settings.risk
        self.manager = RiskManager(settings.risk, WriteOnlyState(), FakeClock(0))
        self.regime = regime
        self._noted_day: int | None = None
        # Called at every entry: straight to the manager, a forwarding method would add a call each.
        self.note_equity = self.manager.note_equity  # (equity, now_ms)
        self.size = self.manager.position_size  # (equity, price, size_factor)
        self.stop_price = self.manager.stop_price  # (side, entry_price)

    def check(self, symbol: str, open_symbols: Collection[str], now_ms: int) -> tuple[RiskCheck, RegimeState]:
        state = self.regime.at(now_ms)
        return self.manager.check_entry(symbol, open_symbols, state, now_ms), state

    def wake_after(self, check: RiskCheck, symbol: str, now_ms: int) -> int:
        """The earliest time the refusal could turn into a yes without an exit happening.

        Exits (a slot freeing, a profit lifting the daily cap) wake waiting symbols separately.
        """
        if check.reason == "cooldown":
            return self.manager.cooldown_until(symbol, now_ms) or now_ms + 1
        if check.reason == "daily_loss_cap":
            return floor_ms(now_ms, DAY_MS) + DAY_MS
        if check.reason == "regime_crisis":
            return self.regime.next_change_after(now_ms)
        if check.reason == "max_positions":
            return NEVER
        return now_ms + 1

    def note_day(self, now_ms: int, equity_before_midnight: float) -> bool:
        """Tell the manager the equity seen just before a new UTC day (live notes it every tick)."""
        day = floor_ms(now_ms, DAY_MS)
        if day == self._noted_day:
            return False
        self._noted_day = day
        self.manager.note_equity(equity_before_midnight, day - 1)
        return True

    @property
    def timeout_ms(self) -> int:
        return self.manager.timeout_ms

    def record_exit(self, symbol: str, pnl: float, reason: str, now_ms: int) -> None:
        if not math.isfinite(pnl):
            raise ValueError(f"non-finite pnl for {symbol}")
        self.manager.record_exit(symbol, pnl, reason, now_ms)
