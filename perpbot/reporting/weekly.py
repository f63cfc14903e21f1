"""Provides the weekly review: per-UTC-week and whole-window trading figures over closed trades.

Everything here is a pure function of a list of `Trade` (the CLI, the dashboard and tests all
call `weekly_review`). Weeks are UTC ISO weeks (Monday 00:00 UTC), the same weeks as the
startup halt, whose `losing_week_streak` is reused rather than re-implemented.

Return is measured against realized equity: the equity at a week's start is
`initial_equity` (backtest.initial_equity) plus the net pnl of every trade closed before that
week, over the whole history, not just the reviewed window. Open positions, unrealized pnl and
deposits are not in the trades table, so they do not move it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from perpbot.clock import DAY_MS
from perpbot.models import Trade
from perpbot.reporting.numbers import sparkline
from perpbot.risk.halt import WEEK_MS, losing_week_streak, week_start_ms


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Trades grouped by one key (a symbol or an exit reason)."""

    key: str
    trades: int
    wins: int
    pnl: float

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    def to_dict(self) -> dict[str, Any]:
        return {"trades": self.trades, "wins": self.wins, "win_rate": self.win_rate, "pnl": self.pnl}


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Figures over the closed trades of one period, in exit order."""

    trades: int
    wins: int  # pnl > 0
    losses: int  # pnl < 0 (a zero-pnl trade is neither)
    pnl: float  # net of fees and funding
    gross_profit: float
    gross_loss: float  # <= 0
    fees: float
    funding: float
    max_drawdown: float  # USD, peak to trough of realized equity within the period (>= 0)
    max_drawdown_pct: float  # that drop as a fraction of the peak it fell from

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    @property
    def profit_factor(self) -> float | None:
        """Gross profit over gross loss; None when nothing lost (undefined, not infinite)."""
        return self.gross_profit / -self.gross_loss if self.gross_loss < 0 else None

    @property
    def avg_win(self) -> float | None:
        return self.gross_profit / self.wins if self.wins else None

    @property
    def avg_loss(self) -> float | None:
        return self.gross_loss / self.losses if self.losses else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trades": self.trades, "wins": self.wins, "losses": self.losses, "win_rate": self.win_rate,
            "pnl": self.pnl, "profit_factor": self.profit_factor, "avg_win": self.avg_win,
            "avg_loss": self.avg_loss, "max_drawdown": self.max_drawdown,
            "max_drawdown_pct": self.max_drawdown_pct, "fees": self.fees, "funding": self.funding,
        }


@dataclass(frozen=True, slots=True)
class WeekReview:
    """One UTC ISO week."""

    start_ms: int
    complete: bool  # False for the week still running at review time
    start_equity: float
    stats: PeriodStats
    daily_pnl: tuple[float, ...]  # Monday..Sunday; the running week only up to today
    by_symbol: tuple[Breakdown, ...]
    by_exit_reason: tuple[Breakdown, ...]

    @property
    def end_ms(self) -> int:
        return self.start_ms + WEEK_MS

    @property
    def label(self) -> str:
        """ISO week name, e.g. 2024-W02."""
        year, week, _ = _utc(self.start_ms).isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def end_equity(self) -> float:
        return self.start_equity + self.stats.pnl

    @property
    def return_pct(self) -> float:
        """Week pnl over the equity at the week's start (a fraction: 0.012 = 1.2 %)."""
        return self.stats.pnl / self.start_equity if self.start_equity > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.label, "start": _utc(self.start_ms).date().isoformat(), "start_ms": self.start_ms,
            "end_ms": self.end_ms, "complete": self.complete, "start_equity": self.start_equity,
            "end_equity": self.end_equity, "return": self.return_pct, **self.stats.to_dict(),
            "daily_pnl": list(self.daily_pnl),
            "by_symbol": {b.key: b.to_dict() for b in self.by_symbol},
            "by_exit_reason": {b.key: b.to_dict() for b in self.by_exit_reason},
        }


@dataclass(frozen=True, slots=True)
class WeeklyReview:
    """The last N UTC weeks (oldest first, the running week last) and the window as a whole."""

    now_ms: int
    initial_equity: float
    weeks: tuple[WeekReview, ...]
    total: PeriodStats
    by_symbol: tuple[Breakdown, ...]
    by_exit_reason: tuple[Breakdown, ...]
    losing_week_streak: int  # completed losing weeks in a row, as the startup halt counts them
    fees_maker: float = 0.0  # of total.fees, what the window's trades paid on maker fills (the rest: taker)

    @property
    def fees_taker(self) -> float:
        return self.total.fees - self.fees_maker

    @property
    def start_equity(self) -> float:
        return self.weeks[0].start_equity

    @property
    def end_equity(self) -> float:
        return self.weeks[-1].end_equity

    @property
    def return_pct(self) -> float:
        """Window pnl over the equity at the window's start."""
        return self.total.pnl / self.start_equity if self.start_equity > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms, "initial_equity": self.initial_equity,
            "start_equity": self.start_equity, "end_equity": self.end_equity, "return": self.return_pct,
            "losing_week_streak": self.losing_week_streak, "total": self.total.to_dict(),
            "fees_maker": self.fees_maker, "fees_taker": self.fees_taker,
            "by_symbol": {b.key: b.to_dict() for b in self.by_symbol},
            "by_exit_reason": {b.key: b.to_dict() for b in self.by_exit_reason},
            "weeks": [w.to_dict() for w in self.weeks],
        }


def _utc(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)


def _pnl(trade: Trade) -> float:
    return float(trade.pnl or 0.0)


def period_stats(trades: Sequence[Trade], start_equity: float) -> PeriodStats:
    """Figures over closed trades (taken in the order given, which should be exit order)."""
    pnls = [_pnl(t) for t in trades]
    equity = peak = start_equity
    max_dd = max_dd_pct = 0.0
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        drop = peak - equity
        max_dd = max(max_dd, drop)
        if peak > 0:
            max_dd_pct = max(max_dd_pct, drop / peak)
    return PeriodStats(
        trades=len(pnls),
        wins=sum(1 for p in pnls if p > 0),
        losses=sum(1 for p in pnls if p < 0),
        pnl=sum(pnls),
        gross_profit=sum(p for p in pnls if p > 0),
        gross_loss=sum(p for p in pnls if p < 0),
        fees=sum(t.fees for t in trades),
        funding=sum(t.funding for t in trades),
        max_drawdown=max_dd,
        max_drawdown_pct=max_dd_pct,
    )


def breakdown(trades: Iterable[Trade], key: str) -> tuple[Breakdown, ...]:
    """Trades grouped by `symbol` or `exit_reason`, biggest absolute pnl first."""
    groups: dict[str, list[float]] = {}
    for trade in trades:
        groups.setdefault(str(getattr(trade, key) or "unknown"), []).append(_pnl(trade))
    rows = [Breakdown(k, len(v), sum(1 for p in v if p > 0), sum(v)) for k, v in groups.items()]
    return tuple(sorted(rows, key=lambda b: (-abs(b.pnl), b.key)))


def weekly_review(trades: Iterable[Trade], now_ms: int, weeks: int = 4, initial_equity: float = 10_000.0,
                  maker_fees: dict[str, float] | None = None) -> WeeklyReview:
    """The review of the last `weeks` UTC weeks, the running week included.

    Args:
        trades: every trade of one mode (open ones and ones exiting at or after now_ms are ignored);
            pass the whole history: start equity and the losing-week streak need it.
        now_ms: review time; the week containing it is the last, incomplete one.
        weeks: how many weeks to show (>= 1).
        initial_equity: equity before the first trade (backtest.initial_equity).
        maker_fees: the fee each filled maker order paid, by cloid (the store's maker_orders): a trade's
            entry or exit leg with that cloid paid it as maker, the rest of its fees as taker.

    Returns:
        A WeeklyReview; weeks without trades are present with zero figures.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1 (got {weeks})")
    closed = _closed(trades, now_ms)
    current = week_start_ms(now_ms)
    starts = [current - k * WEEK_MS for k in range(weeks - 1, -1, -1)]
    window = [(ts, t) for ts, t in closed if ts >= starts[0]]
    equity = initial_equity + sum(_pnl(t) for ts, t in closed if ts < starts[0])
    window_start_equity = equity
    reviews = []
    for start in starts:
        in_week = [(ts, t) for ts, t in window if start <= ts < start + WEEK_MS]
        daily = [0.0] * 7
        for ts, t in in_week:
            daily[(ts - start) // DAY_MS] += _pnl(t)
        if start == current:
            daily = daily[: (now_ms - start) // DAY_MS + 1]  # days still to come are not zero-pnl days
        week_trades = [t for _, t in in_week]
        reviews.append(WeekReview(
            start_ms=start, complete=start < current, start_equity=equity,
            stats=period_stats(week_trades, equity), daily_pnl=tuple(daily),
            by_symbol=breakdown(week_trades, "symbol"), by_exit_reason=breakdown(week_trades, "exit_reason"),
        ))
        equity += reviews[-1].stats.pnl
    window_trades = [t for _, t in window]
    return WeeklyReview(
        now_ms=now_ms, initial_equity=initial_equity, weeks=tuple(reviews),
        total=period_stats(window_trades, window_start_equity),
        by_symbol=breakdown(window_trades, "symbol"), by_exit_reason=breakdown(window_trades, "exit_reason"),
        losing_week_streak=losing_week_streak(((ts, _pnl(t)) for ts, t in closed), now_ms),
        fees_maker=maker_fee_total(window_trades, maker_fees or {}),
    )


def maker_fee_total(trades: Iterable[Trade], maker_fees: dict[str, float]) -> float:
    """What these trades paid on maker fills (their entry and exit orders' fees, by cloid)."""
    return sum(maker_fees.get(t.entry_cloid or "", 0.0) + maker_fees.get(t.exit_cloid or "", 0.0) for t in trades)


def _closed(trades: Iterable[Trade], now_ms: int) -> list[tuple[int, Trade]]:
    """(exit time, trade) of the trades closed before now_ms, in exit order."""
    pairs = [(t.exit_time, t) for t in trades if t.exit_time is not None and t.pnl is not None and t.exit_time < now_ms]
    pairs.sort(key=lambda pair: (pair[0], pair[1].id or 0))
    return pairs


# --- presentation (shared by the terminal table, the markdown export and the dashboard) -------

WEEK_COLUMNS = ("Week", "Trades", "PnL", "Return", "Win rate", "PF", "Avg win", "Avg loss", "Max DD",
                "DD %", "Fees", "Funding", "Daily PnL")
BREAKDOWN_COLUMNS = ("Trades", "Win rate", "PnL")


def money(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.2f} %" if signed else f"{value * 100:.1f} %"


def _profit_factor(stats: PeriodStats) -> str:
    if stats.profit_factor is not None:
        return f"{stats.profit_factor:.2f}"
    return "∞" if stats.wins else "-"  # all winners: unbounded; no trades: undefined


def stats_cells(label: str, stats: PeriodStats, return_pct: float, spark: str) -> list[str]:
    """One row of the weekly table, as text."""
    drawn = stats.max_drawdown > 0
    return [
        label, str(stats.trades), money(stats.pnl), percent(return_pct, signed=True), percent(stats.win_rate),
        _profit_factor(stats), money(stats.avg_win), money(stats.avg_loss),
        money(stats.max_drawdown, signed=False) if drawn else "-",
        percent(stats.max_drawdown_pct) if drawn else "-", money(stats.fees, signed=False), money(stats.funding), spark,
    ]


def week_cells(week: WeekReview) -> list[str]:
    label = week.label if week.complete else f"{week.label} (running)"
    return stats_cells(label, week.stats, week.return_pct, sparkline(week.daily_pnl) if week.stats.trades else "")


def total_cells(review: WeeklyReview) -> list[str]:
    return stats_cells("Total", review.total, review.return_pct, sparkline([w.stats.pnl for w in review.weeks]))


def breakdown_cells(row: Breakdown) -> list[str]:
    return [str(row.trades), percent(row.win_rate), money(row.pnl)]


def headline(review: WeeklyReview) -> str:
    """The one-line summary above the table."""
    return (
        f"As of {_utc(review.now_ms):%Y-%m-%d %H:%M} UTC, last {len(review.weeks)} weeks: equity "
        f"{money(review.start_equity, signed=False)} -> {money(review.end_equity, signed=False)} "
        f"({percent(review.return_pct, signed=True)}), losing-week streak {review.losing_week_streak}"
    )


def fee_split(review: WeeklyReview) -> str:
    """The fees line under the table: paid as maker and as taker."""
    return (f"fees {money(review.total.fees, signed=False)}: maker {money(review.fees_maker, signed=False)}, "
            f"taker {money(review.fees_taker, signed=False)}")


def review_markdown(review: WeeklyReview) -> str:
    """The review as a markdown document (headline, weekly table, breakdowns)."""

    def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
        align = ["---"] + ["---:"] * (len(header) - 1)
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
        return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]

    total = total_cells(review)
    total[0] = "**Total**"
    out = ["# perp-bot weekly review", "", headline(review), ""]
    out += table(WEEK_COLUMNS, [*(week_cells(w) for w in review.weeks), total])
    out += ["", "Return is net pnl over realized equity at the week's start "
            "(initial equity plus every earlier closed trade). Weeks are UTC, Monday to Sunday.", "",
            fee_split(review) + "."]
    for title, rows in (("By symbol", review.by_symbol), ("By exit reason", review.by_exit_reason)):
        out += ["", f"## {title}", ""]
        out += table((title.split()[-1].capitalize(), *BREAKDOWN_COLUMNS), ([r.key, *breakdown_cells(r)] for r in rows))
    return "\n".join(out) + "\n"
