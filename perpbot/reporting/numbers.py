"""Provides the number formats reports share: the backtest's metrics as the CLI table shows them
(`metric_cells`, which the HTML report uses too) and prices with enough digits to tell a close
from a band, never in scientific notation (`price`: Telegram's /signals), and the block-character
`sparkline` (the weekly review's and the backtest summary's)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Cell = tuple[str, str, float | None]
"""(label, text, the value when the cell is coloured by its sign, else None)."""
_BLOCKS = "▁▂▃▄▅▆▇█"


def pct(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v * 100:+.2f} %" if signed else f"{v * 100:.2f} %"


def num(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}"


def money(v: float | None, signed: bool = True) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def span(ms: float | None) -> str:
    """A duration in hours, or days from two days up: 6.5 h, 2.8 d."""
    if ms is None:
        return "-"
    hours = ms / 3_600_000
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def price(value: Any) -> str:
    """Six significant digits in fixed notation (68,712.3; 0.0123456; 0.00000123456), '-' when unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-" if value is None or isinstance(value, float) else str(value)
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    return f"{value:,.{min(max(5 - magnitude, 0), 12)}f}"


def metric_cells(m: dict[str, Any]) -> list[Cell]:
    """The backtest metrics in the order, wording and format of `perpbot backtest`'s table."""
    return [
        ("total return", pct(m["total_return"], True), m["total_return"]),
        ("CAGR", pct(m["cagr"], True), m["cagr"]),
        ("Sharpe", num(m["sharpe"]), None), ("Sortino", num(m["sortino"]), None),
        ("max drawdown", pct(m["max_drawdown"]), None), ("drawdown length", span(m["max_drawdown_duration_ms"]), None),
        ("trades", str(m["trades"]), None), ("win rate", pct(m["win_rate"]), None),
        ("profit factor", num(m["profit_factor"]), None), ("expectancy", money(m["expectancy"]), None),
        ("exposure", pct(m["exposure"]), None), ("average hold", span(m["avg_hold_ms"]), None),
        ("fees paid", money(m["fees"], signed=False), None), ("funding paid", money(m["funding"]), None),
        ("final equity", money(m["final_equity"], signed=False), None), ("net pnl", money(m["net_pnl"]), m["net_pnl"]),
    ]


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled between the smallest and the largest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return _BLOCKS[len(_BLOCKS) // 2 - 1] * len(values)
    top = len(_BLOCKS) - 1
    return "".join(_BLOCKS[round((v - low) / (high - low) * top)] for v in values)
