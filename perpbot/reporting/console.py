"""Provides the rich renderers of the report commands: the weekly review, the paper/live-vs-backtest
comparison and the regime report (`perpbot review`, `compare`, `regime`), and the green/red cell
every console table shares.

The data comes from the pure reporting functions (weekly.py, compare.py) and signals/prediction.py;
the commands (perpbot/cli/reports.py, data.py) choose the console and call these.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.columns import Columns
from rich.console import Console
from rich.table import Table

from perpbot.config import Settings
from perpbot.reporting.cells import signed
from perpbot.reporting.compare import Comparison
from perpbot.reporting.weekly import (
    BREAKDOWN_COLUMNS,
    WEEK_COLUMNS,
    WeeklyReview,
    breakdown_cells,
    fee_split,
    headline,
    money,
    total_cells,
    week_cells,
)
from perpbot.risk.halt import halt_message, startup_halt

def _fmt_ms(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


# WEEK_COLUMNS, shortened to fit 100 columns.
_SHORT_HEADERS = ("Week", "Trades", "PnL", "Return", "Win %", "PF", "Avg win", "Avg loss", "Max DD", "DD %",
                  "Fees", "Funding", "Daily")
assert len(_SHORT_HEADERS) == len(WEEK_COLUMNS)


def print_review(review: WeeklyReview, settings: Settings, mode: str, console: Console) -> None:
    console.print(f"[bold]perp-bot weekly review[/] ({mode} trades)")
    console.print(headline(review))
    table = Table(*_SHORT_HEADERS, box=box.SIMPLE_HEAD, collapse_padding=True, caption="* the running week")
    for column in (table.columns[0], table.columns[-1]):
        column.no_wrap = True
    table.columns[-1].min_width = 7  # a whole week of sparkline
    for column in table.columns[1:-1]:
        column.justify = "right"
    for week in review.weeks:
        cells = week_cells(week)
        cells[0] = week.label if week.complete else f"{week.label}*"
        table.add_row(cells[0], cells[1], signed(cells[2]), signed(cells[3]), *cells[4:])
    table.add_section()
    cells = total_cells(review)
    table.add_row(cells[0], cells[1], signed(cells[2]), signed(cells[3]), *cells[4:], style="bold")
    console.print(table)
    console.print(fee_split(review))
    parts = []
    for title, rows in (("symbol", review.by_symbol), ("exit reason", review.by_exit_reason)):
        part = Table(title.capitalize(), *BREAKDOWN_COLUMNS, box=box.SIMPLE_HEAD, title=f"by {title}")
        for column in part.columns[1:]:
            column.justify = "right"
        for row in rows:
            trades, win_rate, pnl = breakdown_cells(row)
            part.add_row(row.key, trades, win_rate, signed(pnl))
        parts.append(part)
    console.print(Columns(parts))
    check = startup_halt(review.losing_week_streak, settings.risk, force=False)
    if not check.allowed:
        console.print(f"[bold red]{halt_message(review.losing_week_streak, settings.risk)}[/]")


def print_comparison(c: Comparison, mode: str, start_ms: int, end_ms: int, console: Console) -> None:
    data = c.to_dict()
    console.print(f"[bold]{mode} vs backtest[/], {_fmt_ms(start_ms)} to {_fmt_ms(end_ms)} UTC "
                  f"(entries within {c.tolerance_ms / 60_000:g} min match)")
    rate = "-" if c.match_rate is None else f"{c.match_rate * 100:.0f} %"
    console.print(f"matched {len(c.matched)}, missed {len(c.missed)} (backtest only), extra {len(c.extra)} "
                  f"(bot only), match rate {rate}, exit reasons differ on {c.exit_reason_mismatches}")
    summary = Table("", "bot", "backtest", box=box.SIMPLE_HEAD, title="pnl")
    summary.add_row("net pnl", signed(money(c.actual_pnl)), signed(money(c.backtest_pnl)))
    summary.add_row("entry slippage (bps)", _bps(c.actual_slippage.entry_bps), _bps(c.backtest_slippage.entry_bps))
    summary.add_row("exit slippage (bps)", _bps(c.actual_slippage.exit_bps), _bps(c.backtest_slippage.exit_bps))
    if c.maker is not None:
        summary.add_row("maker fill rate", *(_rate(c.maker[k]) for k in ("bot", "backtest")))
    causes = Table("cause", "usd", box=box.SIMPLE_HEAD, title=f"gap {money(c.pnl_gap)} by cause")
    for name, value in c.causes.to_dict().items():
        causes.add_row(name.replace("_", " "), signed(money(value)))
    console.print(Columns([summary, causes]))
    timing = (f"mean entry delay {_minutes(data['mean_entry_delay_ms'])}, exit delay "
              f"{_minutes(data['mean_exit_delay_ms'])}; entry price {_bps(data['mean_entry_diff_bps'])} bps, "
              f"exit price {_bps(data['mean_exit_diff_bps'])} bps worse than the backtest")
    console.print(timing)
    if c.matched:
        pairs = Table("symbol", "side", "entry", "delay", "entry Δbps", "exit Δbps", "exit reason", "pnl", "backtest",
                      "gap", box=box.SIMPLE_HEAD, title="matched trades")
        for m in c.matched:
            reason = m.actual.exit_reason or "open"
            if m.backtest.exit_reason != m.actual.exit_reason:
                reason += f" / {m.backtest.exit_reason}"
            pairs.add_row(m.actual.symbol, m.actual.side.value, _fmt_ms(m.actual.entry_time),
                          _minutes(m.entry_delay_ms), _bps(m.entry_diff_bps), _bps(m.exit_diff_bps), reason,
                          money(m.actual.pnl), money(m.backtest.pnl), signed(money(m.pnl_gap)))
        console.print(pairs)
    for title, trades in (("missed (backtest only)", c.missed), ("extra (bot only)", c.extra)):
        if trades:
            table = Table("symbol", "side", "entry", "exit", "exit reason", "pnl", box=box.SIMPLE_HEAD, title=title)
            for t in trades:
                table.add_row(t.symbol, t.side.value, _fmt_ms(t.entry_time), _fmt_ms(t.exit_time),
                              t.exit_reason or "open", signed(money(t.pnl)))
            console.print(table)


def _rate(orders: dict) -> str:
    rate = orders.get("fill_rate")
    return "-" if rate is None else f"{rate * 100:.0f} % of {orders['placed']}"


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _minutes(value_ms: float | None) -> str:
    return "-" if value_ms is None else f"{value_ms / 60_000:+.1f} min"


def print_regime(report: dict[str, Any], console: Console) -> None:
    if not report["markets"]:
        console.print("No prediction markets configured (prediction.markets is empty): "
                      f"the bot runs with the default regime {report['regime']}.")
        return
    table = Table("source", "market", "question", "probability", "age", "contribution", "status")
    for m in report["markets"]:
        prob = "-" if m["probability"] is None else f"{m['probability']:.3f}"
        age_s = m["age_s"]
        age = "-" if age_s is None else (f"{age_s / 60:.0f} min" if age_s >= 60 else f"{age_s:.0f} s")
        status = m["status"] + (f": {m['detail']}" if m["detail"] and m["status"] != "ok" else "")
        contribution = "-" if m["risk"] is None else f"{m['contribution']:.3f}"
        table.add_row(m["source"], m["market_id"], m["question"], prob, age, contribution, status)
    console.print(table)
    score = "n/a" if report["score"] is None else f"{report['score']:.3f}"
    stale = " (STALE)" if report["stale"] else ""
    console.print(f"score {score} -> regime {report['regime']}{stale}, size factor {report['size_factor']:g}")
    console.print(report["reason"])
    if not report["enabled"]:
        console.print("note: prediction.enabled is false, so the bot itself ignores these markets.")
