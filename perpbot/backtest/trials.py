"""Provides what a search keeps of each trial besides its metrics, and what it concludes from them.

Per trial (in the worker, next to the metrics): a fingerprint of its trades (`trades_id`, equal
for identical trade lists), the tally of how its entry candidates were decided (`blocks`, see
signals/decisions.entry_blocks) and its daily returns (`DAILY`, a numpy array that travels back
from the worker but is not stored in the rows). Per search: the groups of parameter values with
identical trades and the filter that binds them, and the overfitting figures (overfitting.py)
over the trials' daily returns, where identical trades count once.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from perpbot.backtest.columns import TradeColumns
from perpbot.backtest.market import MarketData
from perpbot.backtest.metrics import compiled_metrics
from perpbot.backtest.overfitting import DEFAULT_PARTITIONS, Overfitting, overfitting_stats
from perpbot.clock import DAY_MS
from perpbot.config import StrategyConfig
from perpbot.errors import ConfigError
from perpbot.signals.decisions import entry_blocks
from perpbot.signals.engine import FILTERS, Indicators, filter_key

__all__ = ["DAILY", "check_partitions", "daily_returns", "describe_group", "identical_groups", "search_overfitting",
           "take_daily", "trial_extras"]

DAILY = "_daily"
_BINDERS = (*FILTERS, "warmup")


def check_partitions(partitions: int) -> int:
    if partitions < 2 or partitions % 2:
        raise ConfigError(f"--partitions must be an even number of at least 2 (got {partitions})",
                          "16 is the paper's choice; fewer suit short histories")
    return partitions


def trial_extras(result: Any, data: MarketData, indicators: dict[str, Indicators],
                 params: StrategyConfig, shared: dict | None = None) -> dict[str, Any]:
    """The trades' fingerprint, the entry tally over the run's range and the daily returns of one run.

    `shared` keeps the tallies for the next runs on the same data and indicators (they depend on
    entry_z and the filters only)."""
    blocks: dict[str, int] = {}
    for symbol, frame in data.frames.items():
        key = ("blocks", symbol, filter_key(params), params.entry_z)
        tally = shared.get(key) if shared is not None else None
        if tally is None:
            first = int(np.searchsorted(frame.time, data.start_ms))
            tally = entry_blocks(indicators[symbol], frame.close, params, first)
            if shared is not None:
                shared[key] = tally
        for k, v in tally.items():
            blocks[k] = blocks.get(k, 0) + v
    initial = float(result.metrics.get("initial_equity", 0.0)) or 1.0
    return {"trades_id": trades_id(result), "blocks": blocks,
            DAILY: daily_returns(result.times, result.values, initial)}


def trades_id(result: Any) -> str:
    """A short digest of the trade list: when, which way, how much, what it made."""
    cols = getattr(result, "columns", None) or TradeColumns(result.trades)
    digest = hashlib.blake2b(digest_size=8)
    names, codes = cols.by_symbol
    digest.update(",".join(names).encode())
    for a in (codes, cols.entry_time, cols.exit_time, cols.sign, cols.size, cols.pnl):
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def daily_returns(times: np.ndarray, values: np.ndarray, initial: float) -> np.ndarray:
    """Returns per UTC day from the equity at each day's last bar close (a close at midnight ends the day before)."""
    t = np.asarray(times, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if not len(t):
        return np.empty(0)
    fast = compiled_metrics()
    if fast is not None:  # the same floats in one compiled pass (fastmetrics.py)
        return fast.daily_returns(t, v, float(initial))
    day = (t - 1) // DAY_MS
    last = np.r_[np.flatnonzero(np.diff(day)), len(day) - 1]
    closes = v[last]
    before = np.r_[initial, closes[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(before > 0, closes / before - 1.0, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def take_daily(metrics: list[dict[str, Any] | None]) -> list[np.ndarray | None]:
    """Remove the daily returns from the rows' metrics (they are not stored), in order."""
    return [m.pop(DAILY, None) if m is not None else None for m in metrics]


def identical_groups(rows: list[dict[str, Any]], params: list[str]) -> list[dict[str, Any]]:
    """Groups of rows (two or more) with identical trades: their indices, the values that vary, the binding filter."""
    by_id: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if "error" not in row and row.get("trades_id"):
            by_id.setdefault(row["trades_id"], []).append(i)
    groups = []
    for ids in by_id.values():
        if len(ids) < 2:
            continue
        members = [rows[i] for i in ids]
        values = {}
        for p in params:
            seen: list[Any] = []
            for m in members:
                if m[p] not in seen:
                    seen.append(m[p])
            if len(seen) > 1:
                values[p] = seen
        groups.append({"rows": ids, "values": values, "trades": members[0].get("trades"),
                       "binding": binding_filter(members)})
    return groups


def binding_filter(members: list[dict[str, Any]]) -> str | None:
    """The entry filter that absorbs the difference between the members' settings, or None.

    Loosening a threshold adds entry candidates; when the trades stay the same, the first
    failing filter blocks exactly those: the filter whose count spreads most across the members.
    """
    tallies = [m.get("blocks") or {} for m in members]
    spread = {k: max(t.get(k, 0) for t in tallies) - min(t.get(k, 0) for t in tallies) for k in _BINDERS}
    name = max(_BINDERS, key=lambda k: spread[k])
    return name if spread[name] > 0 else None


def describe_group(group: dict[str, Any]) -> str:
    """'entry_z=1.5, 2 give identical trades (42): the bollinger filter binds first'."""
    varying = "; ".join(f"{k.rpartition('.')[2]}={', '.join(_value(v) for v in vs)}"
                        for k, vs in group["values"].items()) or "these combinations"
    binding = group.get("binding")
    if not group.get("trades"):
        return f"{varying} give no trades at all"
    why = (f"the {binding} filter binds first" if binding in FILTERS else
           "warm-up bars absorb the difference" if binding == "warmup" else
           "no entry filter absorbs it: these values never change a decision here")
    return f"{varying} give identical trades ({group.get('trades')}): {why}"


def search_overfitting(rows: list[dict[str, Any]], daily: list[np.ndarray | None], selected: np.ndarray | None,
                       partitions: int = DEFAULT_PARTITIONS) -> Overfitting:
    """The figures of a search: every row that ran is a trial; `selected` defaults to the first row's returns."""
    ran = [(r.get("trades_id"), d) for r, d in zip(rows, daily) if "error" not in r and d is not None]
    if not ran:
        return overfitting_stats(np.empty(0), np.empty((0, 0)), None, partitions)
    length = min(len(d) for _, d in ran)
    matrix = np.column_stack([d[len(d) - length:] for _, d in ran]) if length else np.empty((0, len(ran)))
    chosen = ran[0][1] if selected is None else selected
    return overfitting_stats(chosen, matrix, [i for i, _ in ran], partitions)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) and math.isfinite(v) else str(v)
