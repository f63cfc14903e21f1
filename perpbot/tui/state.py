"""Provides the typed view of an engine snapshot: the link's JSON becomes these at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perpbot.models import Side


@dataclass(frozen=True, slots=True)
class PositionView:
    """One open position as the engine reports it (times in epoch ms)."""

    symbol: str
    side: Side
    size: float
    entry_price: float
    mark: float | None
    unrealized_pnl: float | None
    stop: float | None
    opened_at: int
    timeout_at: int | None
    liquidation_px: float | None = None  # live: the exchange's
    margin_used: float | None = None  # live: the exchange's


@dataclass(frozen=True, slots=True)
class FeedView:
    """Price-feed health of one symbol."""

    symbol: str
    healthy: bool
    age_s: float | None
    source: str


@dataclass(frozen=True, slots=True)
class SignalView:
    """A recent decision of the signal engine."""

    time: int
    symbol: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class DecisionView:
    """One symbol's row of the decision table (None where a value is not computed)."""

    symbol: str
    bar_time: int
    close: float | None
    z: float | None
    bb_lower: float | None
    bb_upper: float | None
    rsi: float | None
    adx: float | None
    hurst: float | None
    decision: str
    reason: str
    risk: str | None


@dataclass(frozen=True, slots=True)
class RestingView:
    """A resting post-only (maker) order: an entry waiting for its fill, or an exit."""

    symbol: str
    kind: str  # entry | exit
    side: str  # buy | sell
    size: float
    limit: float


@dataclass(frozen=True, slots=True)
class EngineView:
    """Everything the dashboard shows about the running engine, at one instant."""

    mode: str
    paused: bool
    halted: bool
    halt_reason: str
    equity: float | None
    pnl_today: float | None
    regime: str
    regime_score: float | None
    last_tick: int | None
    started_at: int | None
    timeframe: str
    symbols: tuple[str, ...]
    feed: tuple[FeedView, ...]
    risk_blocks: tuple[str, ...]
    cooldowns: tuple[tuple[str, int], ...]
    recent_signals: tuple[SignalView, ...]
    marks: tuple[tuple[str, float], ...]
    positions: tuple[PositionView, ...]
    signals: tuple[DecisionView, ...] = ()
    resting: tuple[RestingView, ...] = ()

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> EngineView:
        """Parse the `data` of a `snapshot` reply (docs/interfaces.md).

        Raises:
            ValueError: a field is missing or has the wrong type.
        """
        try:
            return cls(
                mode=str(data["mode"]),
                paused=bool(data["paused"]),
                halted=bool(data.get("halted", False)),
                halt_reason=str(data.get("halt_reason") or ""),
                equity=_float(data.get("equity")),
                pnl_today=_float(data.get("pnl_today")),
                regime=str(data.get("regime") or "?"),
                regime_score=_float(data.get("regime_score")),
                last_tick=_int(data.get("last_tick")),
                started_at=_int(data.get("started_at")),
                timeframe=str(data.get("timeframe") or ""),
                symbols=tuple(str(s) for s in data.get("symbols") or ()),
                feed=tuple(_feed(sym, f) for sym, f in sorted((data.get("feed") or {}).items())),
                risk_blocks=tuple(str(b) for b in data.get("risk_blocks") or ()),
                cooldowns=tuple(sorted((str(k), int(v)) for k, v in (data.get("cooldowns") or {}).items())),
                recent_signals=tuple(_signal(s) for s in data.get("recent_signals") or ()),
                marks=tuple(sorted((str(k), float(v)) for k, v in (data.get("marks") or {}).items())),
                positions=tuple(_position(p) for p in data.get("positions") or ()),
                signals=tuple(_decision(d) for d in data.get("signals") or ()),
                resting=tuple(_resting(r) for r in data.get("resting_orders") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the engine's snapshot is malformed ({type(exc).__name__}: {exc})") from exc

    def mark(self, symbol: str) -> float | None:
        return dict(self.marks).get(symbol)

    def position(self, symbol: str) -> PositionView | None:
        return next((p for p in self.positions if p.symbol == symbol), None)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _feed(symbol: str, raw: Mapping[str, Any]) -> FeedView:
    return FeedView(symbol, bool(raw.get("healthy")), _float(raw.get("age_s")), str(raw.get("source") or "-"))


def _signal(raw: Mapping[str, Any]) -> SignalView:
    return SignalView(int(raw["time"]), str(raw["symbol"]), str(raw["action"]), str(raw.get("reason") or ""))


def _decision(raw: Mapping[str, Any]) -> DecisionView:
    numbers = {k: _float(raw.get(k)) for k in ("close", "z", "bb_lower", "bb_upper", "rsi", "adx", "hurst")}
    risk = raw.get("risk")
    return DecisionView(symbol=str(raw["symbol"]), bar_time=int(raw["bar_time"]), decision=str(raw["decision"]),
                        reason=str(raw.get("reason") or ""), risk=None if risk is None else str(risk), **numbers)


def _resting(raw: Mapping[str, Any]) -> RestingView:
    return RestingView(str(raw["symbol"]), str(raw["kind"]), str(raw["side"]), float(raw["size"]), float(raw["limit"]))


def _position(raw: Mapping[str, Any]) -> PositionView:
    return PositionView(
        symbol=str(raw["symbol"]),
        side=Side(str(raw["side"]).lower()),
        size=float(raw["size"]),
        entry_price=float(raw["entry_price"]),
        mark=_float(raw.get("mark")),
        unrealized_pnl=_float(raw.get("unrealized_pnl")),
        stop=_float(raw.get("stop")),
        opened_at=int(raw["opened_at"]),
        timeout_at=_int(raw.get("timeout_at")),
        liquidation_px=_float(raw.get("liquidation_px")),
        margin_used=_float(raw.get("margin_used")),
    )


@dataclass(frozen=True, slots=True)
class Connection:
    """How the dashboard is connected to its engine: what the status bar says when not all is well."""

    state: str  # starting | up | down | failed | stopping
    detail: str = ""

    @property
    def up(self) -> bool:
        return self.state == "up"
