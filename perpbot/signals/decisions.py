"""Provides the decision table: per bar and symbol, the values decided on and the outcome.

One row per symbol per closed bar, in the same shape for the live engine (the `signals` list
of `perpbot status`, one `decision` log line each) and the backtest (`backtest --decisions
FILE.csv`). Fields: symbol, bar_time (the decided bar's open time, epoch ms, as candles are
keyed), close, z, bb_lower, bb_upper, rsi, adx, hurst (null where disabled or warming up),
decision (LONG | SHORT | CLOSE | NONE), reason and risk.

`reason` is a closed vocabulary (REASONS): the signal engine's own names (signals/engine.py)
  entry:z<=-X / entry:z>=X  an entry signal (X = strategy.entry_z, two decimals)
  exit:z>=-X / exit:z<=X    a signal exit (X = strategy.exit_z)
  warmup                    not enough bars yet (z or an enabled filter is NaN)
  flat                      no position and z inside the entry thresholds
  blocked:bollinger|rsi|adx|hurst  z beyond the threshold, the first failing filter named
  hold                      a position is open and z has not reached the exit
plus `timeout`, the risk manager's time exit (risk.position_timeout_hours), a CLOSE.

`risk` is null, or why the risk manager refused a LONG/SHORT (RISK_REASONS): regime (crisis
regime), cooldown, max_positions, daily_loss_cap, paused, halted, pending_order (an entry of
this symbol is already waiting for its fill, or was sent and its outcome is not known yet),
storage (entries held while the database cannot be written), account (live: entries held
until a reconciliation succeeds, or while another perp-bot trades the account) and size (the
position the sizing gives is below the exchange's minimum order, risk.min_order_usd: the entry
is skipped when it would be sent, and that bar's row is amended to say so).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from perpbot.config import StrategyConfig
from perpbot.signals.engine import FILTERS, Action, BarValues, Decision, Indicators, entry_filters

log = logging.getLogger(__name__)

FIELDS = ("symbol", "bar_time", "close", "z", "bb_lower", "bb_upper", "rsi", "adx", "hurst", "decision", "reason",
          "risk")
REASONS = ("entry:z<=-X", "entry:z>=X", "exit:z>=-X", "exit:z<=X", "warmup", "flat", "blocked:bollinger",
           "blocked:rsi", "blocked:adx", "blocked:hurst", "hold", "timeout")
"""The closed list of reasons (X stands for the threshold the reason prints)."""
RISK_REASONS = ("regime", "cooldown", "max_positions", "daily_loss_cap", "paused", "halted", "pending_order",
                "storage", "account", "size")
# The risk manager's verdict names (risk/rules.py VERDICTS) as the table names them: an entry for a
# symbol that is "already open" can only be a pending entry (an open position decides CLOSE/hold).
_RISK_NAMES = {"regime_crisis": "regime", "already_open": "pending_order", "below_min_order": "size"}
TIMEOUT = Decision(Action.CLOSE, "timeout")
NO_DATA = BarValues(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
"""The values of a bar not stored yet: `decide` answers "warmup"."""
ENTRIES = (Action.LONG, Action.SHORT)


def risk_reason(verdict: str) -> str:
    """The table's name for a risk verdict ("regime_crisis" -> "regime", ...)."""
    return _RISK_NAMES.get(verdict, verdict)


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One symbol's decision at one bar close (NaN where a value is not computed)."""

    symbol: str
    bar_time: int
    close: float
    z: float
    bb_lower: float
    bb_upper: float
    rsi: float
    adx: float
    hurst: float
    decision: str
    reason: str
    risk: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def decision_row(symbol: str, bar_time: int, values: BarValues | None, decision: Decision,
                 risk: str | None = None) -> DecisionRow:
    """The row of one decision; `values` None (no closed bar stored yet) reads as all NaN."""
    v = values or NO_DATA
    return DecisionRow(symbol, int(bar_time), v.close, v.z, v.lower, v.upper, v.rsi, v.adx, v.hurst,
                       decision.action.value, decision.reason, None if risk is None else risk_reason(risk))


class DecisionTable:
    """The newest row per symbol, in the configured order; every record is one `decision` log line.

    Args:
        symbols: the configured symbols (the order `rows()` keeps).
        on_change: called with `rows()` after each record (the engine publishes them as `signals`).
    """

    def __init__(self, symbols: Sequence[str], on_change: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._latest: dict[str, dict[str, Any]] = {s: {} for s in symbols}
        self._on_change = on_change

    def record(self, row: DecisionRow) -> None:
        data = row.to_dict()
        self._latest[row.symbol] = data
        log.info("decision", extra=data)
        if self._on_change is not None:
            self._on_change(self.rows())

    def amend(self, symbol: str, bar_time: int, verdict: str) -> None:
        """A refusal found after the row was recorded (the order would be too small): the row of
        `bar_time`, if it is still the newest, gets the risk reason and is logged again."""
        row = self._latest.get(symbol)
        if not row or row.get("bar_time") != bar_time:
            return
        row["risk"] = risk_reason(verdict)
        log.info("decision", extra=row)
        if self._on_change is not None:
            self._on_change(self.rows())

    def rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._latest.values() if row]


def entry_blocks(ind: Indicators, close: Any, params: StrategyConfig, first: int = 0) -> dict[str, int]:
    """How the entry candidates from bar `first` on were decided, as `decide` would when flat.

    `candidates` counts bars whose z is beyond the entry threshold (either side); each such bar
    then counts once under `entries`, `warmup` or the first failing filter (FILTERS order).
    A sweep compares these tallies to name the filter that binds.
    """
    c = np.asarray(close, dtype=np.float64)[first:]
    z = ind.z[first:]
    out = {"candidates": 0, "entries": 0, "warmup": 0, **{name: 0 for name in FILTERS}}
    for long in (True, False):
        open_ = z <= -params.entry_z if long else z >= params.entry_z
        out["candidates"] += int(open_.sum())
        checks = entry_filters(c, ind.upper[first:], ind.lower[first:], ind.rsi[first:], ind.adx[first:],
                               ind.hurst[first:], params, long)
        for name, value, passes in checks:
            nan = open_ & np.isnan(value)
            out["warmup"] += int(nan.sum())
            open_ = open_ & ~nan
            failed = open_ & ~passes
            out[name] += int(failed.sum())
            open_ = open_ & passes
        out["entries"] += int(open_.sum())
    return out
