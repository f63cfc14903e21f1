"""Provides the console side of the report commands: `review` and `compare`.

cli.py parses the arguments and calls these; they read the trades table, call the pure
reporting functions (and, for `compare`, the backtest) and print rich tables or JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from rich import box
from rich.columns import Columns
from rich.console import Console
from rich.table import Table
from rich.text import Text

from perpbot.clock import WallClock, interval_ms
from perpbot.cli_args import make_console
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.errors import PerpbotError
from perpbot.models import Trade
from perpbot.reporting.compare import Comparison, compare_trades
from perpbot.reporting.weekly import (
    BREAKDOWN_COLUMNS,
    WEEK_COLUMNS,
    WeeklyReview,
    breakdown_cells,
    headline,
    money,
    review_markdown,
    total_cells,
    week_cells,
    weekly_review,
)
from perpbot.risk.halt import halt_message, startup_halt

log = logging.getLogger(__name__)


def _fmt_ms(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


# WEEK_COLUMNS, shortened to fit 100 columns.
_SHORT_HEADERS = ("Week", "Trades", "PnL", "Return", "Win %", "PF", "Avg win", "Avg loss", "Max DD", "DD %",
                  "Fees", "Funding", "Daily")
assert len(_SHORT_HEADERS) == len(WEEK_COLUMNS)


def _signed(cell: str) -> Text:
    """Green gains, red losses: the eye finds the bad weeks first."""
    style = "green" if cell.startswith("+") else "red" if cell.startswith("-") and cell != "-" else ""
    return Text(cell, style=style)


def report_now(settings: Settings) -> int | None:
    """"Now" on the clock the daemon trades by: the wall clock, or with `execution.clock: exchange`
    the running daemon's own time (its ping), else one reading of the exchange's time; None when
    neither answers (an accelerated simulator runs hours or weeks ahead of the wall)."""
    if settings.execution.clock != "exchange":
        return WallClock().now_ms()
    from perpbot.data.client import HyperliquidClient
    from perpbot.ipc.client import DaemonUnavailable, request

    try:
        reply = request(settings.socket_path, "ping", timeout_s=2.0)
        if reply.get("ok") and isinstance(reply.get("data", {}).get("time"), int):
            return int(reply["data"]["time"])
    except DaemonUnavailable:
        pass
    once = dataclasses.replace(settings.exchange, max_retries=0, timeout_s=min(settings.exchange.timeout_s, 5.0))
    client = HyperliquidClient.from_settings(settings.replace(exchange=once), clock=WallClock())
    try:
        return int(client.l2_book(settings.data.symbols[0]).time)
    except PerpbotError as exc:
        log.info("exchange time unavailable", extra={"error": str(exc)})
        return None
    finally:
        client.close()


def _trades(settings: Settings, mode: str) -> list[Trade]:
    store = Store(settings.db_path, read_only=True)
    try:
        return store.closed_trades(mode=mode) + store.open_trades(mode=mode)
    finally:
        store.close()


# --- review ------------------------------------------------------------------------------------


def run_review(settings: Settings, weeks: int, mode: str, at_ms: int | None, as_json: bool,
               markdown_path: str | None, console: Console | None = None) -> int:
    """`perpbot review`: the last `weeks` UTC weeks of `mode` trades."""
    if weeks < 1:
        raise PerpbotError(f"--weeks must be at least 1 (got {weeks})")
    now = at_ms if at_ms is not None else report_now(settings)
    if now is None:
        raise PerpbotError(f"cannot tell the time: execution.clock is exchange, and neither a daemon nor the "
                           f"exchange at {settings.exchange.url} answers", "start one of them, or pass --at TIME")
    review = weekly_review(_trades(settings, mode), now, weeks, settings.backtest.initial_equity)
    if markdown_path:
        path = Path(markdown_path).expanduser()
        try:
            path.write_text(review_markdown(review), encoding="utf-8")
        except OSError as exc:
            raise PerpbotError(f"cannot write {path}: {exc.strerror}", "check the --markdown path") from exc
    if as_json:
        print(json.dumps({"mode": mode, **review.to_dict()}, indent=2))
        return 0
    console = console or make_console()
    print_review(review, settings, mode, console)
    if markdown_path:
        console.print(f"markdown written to {markdown_path}")
    return 0


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
        table.add_row(cells[0], cells[1], _signed(cells[2]), _signed(cells[3]), *cells[4:])
    table.add_section()
    cells = total_cells(review)
    table.add_row(cells[0], cells[1], _signed(cells[2]), _signed(cells[3]), *cells[4:], style="bold")
    console.print(table)
    parts = []
    for title, rows in (("symbol", review.by_symbol), ("exit reason", review.by_exit_reason)):
        part = Table(title.capitalize(), *BREAKDOWN_COLUMNS, box=box.SIMPLE_HEAD, title=f"by {title}")
        for column in part.columns[1:]:
            column.justify = "right"
        for row in rows:
            trades, win_rate, pnl = breakdown_cells(row)
            part.add_row(row.key, trades, win_rate, _signed(pnl))
        parts.append(part)
    console.print(Columns(parts))
    check = startup_halt(review.losing_week_streak, settings.risk, force=False)
    if not check.allowed:
        console.print(f"[bold red]{halt_message(review.losing_week_streak, settings.risk)}[/]")


# --- compare -----------------------------------------------------------------------------------


def comparison_period(actual: Sequence[Trade], start_ms: int | None, end_ms: int | None,
                      tolerance_ms: int) -> tuple[int, int]:
    """[start, end) of the comparison: the given bounds, else the span the bot traded.

    Without --from the period opens one tolerance before the bot's first entry (so a backtest
    entry a little earlier still finds its twin); without --to it closes at the bot's last
    entry or exit.
    """
    if start_ms is None:
        start_ms = min(t.entry_time for t in actual) - tolerance_ms
    if end_ms is None:
        end_ms = max(t.exit_time or t.entry_time for t in actual) + 1
    if end_ms <= start_ms:
        raise PerpbotError("the comparison period is empty", "--to must be after --from")
    return start_ms, end_ms


def run_compare(settings: Settings, start_ms: int | None, end_ms: int | None, mode: str,
                tolerance_bars: float, as_json: bool, console: Console | None = None) -> int:
    """`perpbot compare`: backtest the period the bot traded and compare trade by trade."""
    from perpbot.backtest import run_backtest

    tolerance_ms = int(tolerance_bars * interval_ms(settings.strategy.timeframe))
    every = _trades(settings, mode)
    inside = [t for t in every if (start_ms is None or t.entry_time >= start_ms)
              and (end_ms is None or t.entry_time < end_ms)]
    if not inside:
        raise PerpbotError(f"no {mode} trades in the database for that period",
                           "run the bot first, or choose another --mode or --from/--to")
    if end_ms is None and any(t.exit_time is None for t in inside):
        now = report_now(settings)  # positions still open: compare up to now (when it can be told)
        end_ms = max(now, max(t.entry_time for t in inside) + 1) if now is not None else None
    start, end = comparison_period(inside, start_ms, end_ms, tolerance_ms)
    actual = sorted((t for t in every if start <= t.entry_time < end), key=lambda t: (t.entry_time, t.id or 0))
    store = Store(settings.db_path, read_only=True)
    try:
        # The backtest runs one tolerance past the period so twins of the bot's last trades can
        # exit as they would have; entries after the period are not the bot's to match.
        result = run_backtest(settings, store, list(settings.data.symbols), start, end + tolerance_ms)
    finally:
        store.close()
    backtest = sorted((t for t in result.trades if t.entry_time < end), key=lambda t: t.entry_time)
    comparison = compare_trades(actual, backtest, tolerance_ms)
    if as_json:
        print(json.dumps({"mode": mode, "start_ms": start, "end_ms": end, **comparison.to_dict()}, indent=2))
        return 0
    print_comparison(comparison, mode, start, end, console or make_console())
    return 0


def print_comparison(c: Comparison, mode: str, start_ms: int, end_ms: int, console: Console) -> None:
    data = c.to_dict()
    console.print(f"[bold]{mode} vs backtest[/], {_fmt_ms(start_ms)} to {_fmt_ms(end_ms)} UTC "
                  f"(entries within {c.tolerance_ms / 60_000:g} min match)")
    rate = "-" if c.match_rate is None else f"{c.match_rate * 100:.0f} %"
    console.print(f"matched {len(c.matched)}, missed {len(c.missed)} (backtest only), extra {len(c.extra)} "
                  f"(bot only), match rate {rate}, exit reasons differ on {c.exit_reason_mismatches}")
    summary = Table("", "bot", "backtest", box=box.SIMPLE_HEAD, title="pnl")
    summary.add_row("net pnl", _signed(money(c.actual_pnl)), _signed(money(c.backtest_pnl)))
    summary.add_row("entry slippage (bps)", _bps(c.actual_slippage.entry_bps), _bps(c.backtest_slippage.entry_bps))
    summary.add_row("exit slippage (bps)", _bps(c.actual_slippage.exit_bps), _bps(c.backtest_slippage.exit_bps))
    causes = Table("cause", "usd", box=box.SIMPLE_HEAD, title=f"gap {money(c.pnl_gap)} by cause")
    for name, value in c.causes.to_dict().items():
        causes.add_row(name.replace("_", " "), _signed(money(value)))
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
                          money(m.actual.pnl), money(m.backtest.pnl), _signed(money(m.pnl_gap)))
        console.print(pairs)
    for title, trades in (("missed (backtest only)", c.missed), ("extra (bot only)", c.extra)):
        if trades:
            table = Table("symbol", "side", "entry", "exit", "exit reason", "pnl", box=box.SIMPLE_HEAD, title=title)
            for t in trades:
                table.add_row(t.symbol, t.side.value, _fmt_ms(t.entry_time), _fmt_ms(t.exit_time),
                              t.exit_reason or "open", _signed(money(t.pnl)))
            console.print(table)


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _minutes(value_ms: float | None) -> str:
    return "-" if value_ms is None else f"{value_ms / 60_000:+.1f} min"


# --- regime ------------------------------------------------------------------------------------


def print_regime(report: dict[str, Any]) -> None:
    console = make_console()
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
