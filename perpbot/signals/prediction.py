"""Provides the market regime: prediction-market probabilities -> NORMAL / ELEVATED / CRISIS.

The classifier is pure over the snapshots it is handed (the live engine reads the latest ones
from the store, the backtest replays stored ones), keeps its hysteresis and its last good
value per market in memory, and never does IO.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, Protocol

from perpbot.clock import MINUTE_MS
from perpbot.config import PredictionConfig
from perpbot.errors import ConfigError

log = logging.getLogger(__name__)


class Regime(str, Enum):
    NORMAL = "NORMAL"
    ELEVATED = "ELEVATED"
    CRISIS = "CRISIS"


_ORDER = {Regime.NORMAL: 0, Regime.ELEVATED: 1, Regime.CRISIS: 2}


@dataclass(frozen=True, slots=True)
class RegimeState:
    regime: Regime
    score: float | None  # weighted risk score in [0, 1]; None when no usable data
    size_factor: float  # multiplies position sizes
    stale: bool  # True when some or all of the inputs are not current
    reason: str  # short, human-readable


class Snapshot(Protocol):
    """What the classifier reads from a snapshot (perpbot.data.db.PredictionSnapshot fits).

    A protocol rather than the storage class, so the brain never imports the SQLite layer.
    """

    @property
    def source(self) -> str: ...
    @property
    def market_id(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def probability(self) -> float | None: ...
    @property
    def status(self) -> str: ...
    @property
    def fetched_at(self) -> int: ...
    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MarketReading:
    """How one configured market entered the last score (for tables and the dashboard)."""

    source: str
    market_id: str
    question: str
    probability: float | None  # the YES probability used (or last seen), None if none
    risk: float | None  # probability turned into risk (1 - p for risk_down)
    weight: float
    direction: str  # risk_up | risk_down
    contribution: float  # this market's share of the score (sums to the score)
    age_ms: int | None  # age of the value used, or of the latest snapshot if none was used
    status: str  # ok | held (last good value) | closed | error | missing | stale | none
    detail: str = ""


def size_factor_for(regime: Regime, cfg: PredictionConfig) -> float:
    """The position-size multiplier of a regime."""
    if regime is Regime.CRISIS:
        return cfg.crisis_size_factor
    if regime is Regime.ELEVATED:
        return cfg.elevated_size_factor
    return 1.0


def parse_regime(name: str) -> Regime:
    """'crisis' -> Regime.CRISIS; anything else is a ConfigError."""
    try:
        return Regime(name.strip().upper())
    except ValueError:
        raise ConfigError(
            f"unknown regime {name!r}", f"use one of {', '.join(r.value for r in Regime)}"
        ) from None


def fixed_regime(regime: str, cfg: PredictionConfig) -> RegimeState:
    """A constant regime (backtest.regime, or prediction disabled)."""
    value = parse_regime(regime)
    return RegimeState(value, None, size_factor_for(value, cfg), False, f"fixed regime {value.value}")


def level_for(score: float, elevated: float, crisis: float) -> Regime:
    """The regime a score maps to with plain thresholds."""
    if score >= crisis:
        return Regime.CRISIS
    if score >= elevated:
        return Regime.ELEVATED
    return Regime.NORMAL


def apply_hysteresis(current: Regime, score: float, cfg: PredictionConfig) -> Regime:
    """Move up as soon as a threshold is reached; move down only once the score is more than
    `hysteresis` below the threshold of the regime being left (no flapping at a boundary)."""
    target = level_for(score, cfg.elevated_threshold, cfg.crisis_threshold)
    if _ORDER[target] >= _ORDER[current]:
        return target
    sticky = level_for(score, cfg.elevated_threshold - cfg.hysteresis, cfg.crisis_threshold - cfg.hysteresis)
    return sticky if _ORDER[sticky] <= _ORDER[current] else current


class RegimeClassifier:
    """Turns the latest snapshot per market into a RegimeState, with hysteresis.

    Per market: a current `ok` snapshot no older than `max_age_minutes` is used and
    remembered; otherwise (closed, error, missing, too old) the remembered last good value is
    used while it is itself younger than the max age (`stale=True`). With no usable market
    at all the state falls back to `default_regime` (`stale=True`, score None). Closed or
    resolved markets are never read as a 0 % / 100 % signal.
    """

    def __init__(self, cfg: PredictionConfig) -> None:
        self.cfg = cfg
        self.max_age_ms = int(cfg.max_age_minutes * MINUTE_MS)
        self.default = parse_regime(cfg.default_regime)
        self._current = self.default
        self._good: dict[tuple[str, str], tuple[float, int, str]] = {}  # key -> (p, fetched_at, question)
        self._last: RegimeState | None = None
        self.readings: list[MarketReading] = []

    @property
    def state(self) -> RegimeState | None:
        """The state of the last update (None before the first)."""
        return self._last

    def update(self, snapshots: list[Snapshot], now_ms: int) -> RegimeState:
        """Classify from the latest snapshots (one or more per market; the newest counts)."""
        markets = self.cfg.markets
        if not markets:
            return self._finish(RegimeState(
                self.default, None, size_factor_for(self.default, self.cfg), False,
                f"no prediction markets configured; default regime {self.default.value}",
            ))
        latest = _latest_per_market(snapshots, now_ms)
        readings = [self._reading(m.source, m.id, m.weight, m.direction, latest.get((m.source, m.id)), now_ms)
                    for m in markets]
        used = [r for r in readings if r.risk is not None]
        total_weight = sum(r.weight for r in used)
        if not used or total_weight <= 0:
            self.readings = readings
            self._current = self.default
            why = ", ".join(_why(r) for r in readings)
            return self._finish(RegimeState(
                self.default, None, size_factor_for(self.default, self.cfg), True,
                f"no fresh prediction data ({why}); default regime {self.default.value}",
            ))
        score = sum(r.weight * (r.risk or 0.0) for r in used) / total_weight
        self.readings = [_with_contribution(r, total_weight) for r in readings]
        self._current = apply_hysteresis(self._current, score, self.cfg)
        not_current = [r for r in readings if r.status != "ok"]
        stale = bool(not_current)
        reason = f"score {score:.3f} from {len(used)} of {len(readings)} markets"
        if not_current:
            reason += "; " + ", ".join(_why(r) for r in not_current)
        return self._finish(RegimeState(self._current, score, size_factor_for(self._current, self.cfg), stale, reason))

    def _reading(self, source: str, market_id: str, weight: float, direction: str,
                 snap: Snapshot | None, now_ms: int) -> MarketReading:
        key = (source, market_id)
        status, detail = "none", "no snapshot yet"
        question = ""
        age: int | None = None
        if snap is not None:
            question, age = snap.question, now_ms - snap.fetched_at
            status, detail = snap.status, snap.detail
            p = snap.probability
            if status == "ok" and p is not None and 0.0 <= p <= 1.0:
                if age <= self.max_age_ms:
                    self._good[key] = (p, snap.fetched_at, snap.question)
                    return MarketReading(source, market_id, question, p, _risk(p, direction), weight, direction, 0.0,
                                         age, "ok")
                status, detail = "stale", f"last snapshot {age // MINUTE_MS} min old"
        good = self._good.get(key)
        if good is not None and now_ms - good[1] <= self.max_age_ms:
            p, fetched_at, question = good
            return MarketReading(source, market_id, question, p, _risk(p, direction), weight, direction, 0.0,
                                 now_ms - fetched_at, "held", f"{status}: {detail}".rstrip(": "))
        return MarketReading(source, market_id, question, None, None, weight, direction, 0.0, age, status, detail)

    def _finish(self, state: RegimeState) -> RegimeState:
        previous = self._last
        self._last = state
        fields = {"regime": state.regime.value, "score": state.score, "stale": state.stale, "reason": state.reason}
        if previous is None or previous.regime is not state.regime:
            log.info("regime_change", extra={**fields, "previous": previous.regime.value if previous else None})
        if state.stale and (previous is None or not previous.stale):
            log.warning("regime_stale", extra=fields)
        elif previous is not None and previous.stale and not state.stale:
            log.info("regime_fresh", extra=fields)
        return state


def _why(r: MarketReading) -> str:
    if r.status == "held":
        # A held reading's detail starts with the status that made it fall back.
        return f"{r.source}:{r.market_id} held after {r.detail.partition(':')[0]}"
    return f"{r.source}:{r.market_id} {r.status}"


def _risk(p: float, direction: str) -> float:
    # A risk_down market (e.g. "BTC above X") says less risk as its probability rises.
    return 1.0 - p if direction == "risk_down" else p


def _with_contribution(r: MarketReading, total_weight: float) -> MarketReading:
    if r.risk is None:
        return r
    return replace(r, contribution=r.weight * r.risk / total_weight)


def _latest_per_market(snapshots: list[Snapshot], now_ms: int) -> dict[tuple[str, str], Snapshot]:
    latest: dict[tuple[str, str], Snapshot] = {}
    for snap in snapshots:
        if snap.fetched_at > now_ms:
            continue  # never peek ahead (a backtest replays snapshots at simulated times)
        key = (snap.source, snap.market_id)
        held = latest.get(key)
        if held is None or snap.fetched_at >= held.fetched_at:
            latest[key] = snap
    return latest


def regime_report(state: RegimeState, readings: list[MarketReading], cfg: PredictionConfig) -> dict[str, Any]:
    """The state and its inputs as plain JSON-able data (`perpbot regime --json`, the dashboard)."""
    markets = []
    for r in readings:
        row = asdict(r)
        row["age_s"] = None if r.age_ms is None else r.age_ms / 1000.0
        del row["age_ms"]
        markets.append(row)
    return {
        "regime": state.regime.value,
        "score": state.score,
        "size_factor": state.size_factor,
        "stale": state.stale,
        "reason": state.reason,
        "enabled": cfg.enabled,
        "thresholds": {"elevated": cfg.elevated_threshold, "crisis": cfg.crisis_threshold,
                       "hysteresis": cfg.hysteresis},
        "markets": markets,
    }
