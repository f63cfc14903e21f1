"""Provides the report commands: `review` and `compare`, and "now" on the daemon's clock.

commands.py / research.py parse the arguments and call these; they read the trades table, call the
pure reporting functions (and, for `compare`, the backtest) and print rich tables
(reporting/console.py) or JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from pathlib import Path

from rich.console import Console

from perpbot.clock import WallClock, interval_ms
from perpbot.cli.args import make_console
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.errors import PerpbotError
from perpbot.models import Trade
from perpbot.reporting.compare import compare_trades, comparison_period, maker_fill
from perpbot.reporting.console import print_comparison, print_review
from perpbot.reporting.weekly import review_markdown, weekly_review

log = logging.getLogger(__name__)


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


def _maker_rows(settings: Settings, mode: str, start_ms: int | None = None, end_ms: int | None = None) -> list[dict]:
    """The maker orders of `mode` placed in the period ([] from a database older than schema v4)."""
    store = Store(settings.db_path, read_only=True)
    try:
        return store.maker_orders(mode, start_ms, end_ms)
    except sqlite3.OperationalError:  # no maker_orders table: a database no daemon has migrated yet
        return []
    finally:
        store.close()


def _maker_fees(settings: Settings, mode: str) -> dict[str, float]:
    return {r["cloid"]: r["fee"] for r in _maker_rows(settings, mode) if r["outcome"] == "filled"}


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
    review = weekly_review(_trades(settings, mode), now, weeks, settings.backtest.initial_equity,
                           _maker_fees(settings, mode))
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


# --- compare -----------------------------------------------------------------------------------


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
    if "maker_orders" in result.metrics:
        comparison = dataclasses.replace(comparison, maker={"bot": maker_fill(_maker_rows(settings, mode, start, end)),
                                                "backtest": result.metrics["maker_orders"]})
    if as_json:
        print(json.dumps({"mode": mode, "start_ms": start, "end_ms": end, **comparison.to_dict()}, indent=2))
        return 0
    print_comparison(comparison, mode, start, end, console or make_console())
    return 0


# --- regime ------------------------------------------------------------------------------------


