"""Provides the bridge from the backtest to the live risk manager and regime classifier.

The backtest does not re-implement a single risk rule: it drives `RiskManager` (on a
MemoryState, with simulated time passed in) and `RegimeClassifier` (replaying stored
prediction snapshots) at events only. What this module adds is the knowledge of how long a
refusal lasts, so the event loop can skip straight to the first bar where the answer could
change instead of asking again on every bar.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from typing import NamedTuple

import numpy as np

from perpbot.clock import DAY_MS, FakeClock, floor_ms
from perpbot.config import Settings
from perpbot.risk.manager import RiskCheck, RiskManager
from perpbot.signals.prediction import (Regime, RegimeClassifier, RegimeState, Snapshot, apply_hysteresis,
                                       fixed_regime, size_factor_for)

NEVER = 2**62
REGIMES = tuple(Regime)  # a regime's index in the timeline's tables


class RegimeTimeline(NamedTuple):
    """A replay as plain arrays (the compiled loop's form of `RegimeReplay.at`).

    Time is cut into intervals (`starts`, the first at -NEVER) inside which every market's reading,
    hence the score, is constant. `step[i, c]` is the regime an update inside interval i leads to
    from regime c; updating twice with one score changes nothing (hysteresis is idempotent), so
    what matters is which intervals saw an update: every poll's (`polls`, interval indices, fed
    in order) and the one holding the time asked about.
    """

    starts: np.ndarray  # int64
    polls: np.ndarray  # int64 indices into starts
    step: np.ndarray  # int64 [interval, regime index]
    size_factor: np.ndarray  # per regime index
    crisis: np.ndarray  # bool per regime index
    start: int  # the regime index before any update
    max_age_ms: int  # a refusal for crisis wakes at the next poll or after this long
    replaying: bool


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
        self._fetched = [s.fetched_at for s in self._snaps]  # sorted: _visible bisects it

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
        return self._snaps[bisect_left(self._fetched, lo):bisect_right(self._fetched, now_ms)]

    def timeline(self) -> RegimeTimeline:
        """This replay for the compiled loop (see RegimeTimeline), built on a classifier of its own.

        A reading changes only at a poll, when a snapshot grows older than the max age, or when it
        leaves the visible window (2 max ages), so those times bound the intervals. Which last good
        value a market holds does not depend on when updates happened (each poll updates at its
        own time, where its snapshot is fresh), so one pass of updates finds every interval's score.
        """
        cfg = self._classifier.cfg
        index = {r: i for i, r in enumerate(REGIMES)}
        factor = np.array([size_factor_for(r, cfg) for r in REGIMES])
        crisis = np.array([r is Regime.CRISIS for r in REGIMES])
        if self._fixed is not None:
            fixed = index[self._fixed.regime]
            factor[fixed] = self._fixed.size_factor
            step = np.full((1, len(REGIMES)), fixed, dtype=np.int64)
            return RegimeTimeline(np.array([-NEVER]), np.zeros(0, np.int64), step, factor, crisis, fixed, 0, False)
        age = int(self._classifier.max_age_ms)
        cuts = set(self._times)
        for t in self._fetched:
            cuts.update((t + age + 1, t + 2 * age + 1))
        starts = [-NEVER, *sorted(cuts)]
        scratch = RegimeClassifier(cfg)
        default = index[scratch.default]
        step = np.empty((len(starts), len(REGIMES)), dtype=np.int64)
        for i, t in enumerate(starts):
            score = scratch.update(self._visible(t), t).score
            step[i] = default if score is None else [index[apply_hysteresis(r, score, cfg)] for r in REGIMES]
        polls = np.searchsorted(np.array(starts), np.array(self._times, dtype=np.int64))
        return RegimeTimeline(np.array(starts, dtype=np.int64), polls.astype(np.int64), step, factor, crisis,
                              default, age, True)


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
