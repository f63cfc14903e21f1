"""Provides the dashboard's number and time formatting (UTC everywhere, units on the screen)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from rich.text import Text


def utc(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)


def hms(ts_ms: int | None) -> str:
    """12:01:30 (UTC), or - for no time."""
    return "-" if ts_ms is None else f"{utc(ts_ms):%H:%M:%S}"


def stamp(ts_ms: int | None) -> str:
    """01-05 12:01 (UTC): short enough for a table cell, with the day for multi-day views."""
    return "-" if ts_ms is None else f"{utc(ts_ms):%m-%d %H:%M}"


def day(ts_ms: int | None) -> str:
    return "-" if ts_ms is None else f"{utc(ts_ms):%Y-%m-%d}"


def duration(ms: float | None) -> str:
    """A span as 45s, 12m05s, 3h07m or 2d04h (table-narrow); negative spans read as 0s (a due timeout)."""
    if ms is None:
        return "-"
    s = max(int(ms // 1000), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def money(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def pnl(value: float | None) -> Text:
    """Signed money, green for gains and red for losses: the eye finds losses first."""
    text = money(value, signed=True)
    if value is None or text == "-":
        return Text(text)
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "")


def price(value: float | None) -> str:
    """Prices keep ~6 significant figures (BTC 43210.5 and a 0.123456 coin both read right).

    No thousands separators: price columns are narrow and read digit by digit anyway.
    """
    if value is None or not math.isfinite(value):
        return "-"
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = min(max(5 - magnitude, 0), 8)
    return f"{value:.{decimals}f}"


def size(value: float) -> str:
    return f"{value:.6g}"


def pct(value: float | None, signed: bool = False) -> str:
    """A fraction as a percentage (0.012 -> 1.20 %)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * 100:+.2f} %" if signed else f"{value * 100:.2f} %"


def number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def overfitting(raw: dict | None) -> list[Text]:
    """A search's overfitting figures as two lines: DSR and PBO with their inputs, then the plain sentence."""
    if not raw:
        return []
    from perpbot.backtest.overfitting import DSR_BAR, Overfitting

    stats = Overfitting.from_dict(raw)
    dsr = "-" if stats.dsr is None else f"{stats.dsr:.3f}"
    pbo = "-" if stats.pbo is None else f"{stats.pbo:.3f}"
    dsr_style = "" if stats.dsr is None else "green" if stats.dsr >= DSR_BAR else "red"
    pbo_style = "" if stats.pbo is None else "red" if stats.pbo >= 0.5 else "yellow" if stats.pbo > 0.05 else "green"
    head = Text.assemble("deflated Sharpe ", (dsr, f"bold {dsr_style}"), "   PBO ", (pbo, f"bold {pbo_style}"),
                         f"   {stats.distinct_trials} distinct of {stats.trials} trials, {stats.returns} days")
    return [head, Text(stats.sentence(), style="italic")]
