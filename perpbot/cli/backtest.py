"""Provides the console side of `perpbot backtest`: run, print a rich summary, save the JSON.

Every run is saved: to `--json FILE` when given, else to `<db dir>/backtests/` with a
timestamped name, so runs can be compared later (`BacktestResult.load`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from perpbot.backtest.engine import run_backtest
from perpbot.backtest.results import BacktestResult
from perpbot.cli.args import make_console
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.errors import PerpbotError
from perpbot.reporting.cells import signed
from perpbot.reporting.numbers import metric_cells, money, pct, sparkline

SPARK_WIDTH = 60


def run_backtest_command(settings: Settings, symbols: list[str] | None, start_ms: int | None, end_ms: int | None,
                         timeframe: str | None, json_path: str | None, console: Console | None = None,
                         decisions_path: str | None = None, html_path: str | None = None) -> int:
    """`perpbot backtest`: returns the exit code."""
    if html_path:
        from perpbot.reporting.html import require_plotly

        require_plotly()
    out = console or make_console()
    if not settings.db_path.exists():
        raise PerpbotError(f"no database at {settings.db_path}", "run `perpbot backfill` first (or set data.db_path)")
    chosen = symbols or list(settings.data.symbols)
    store = Store(settings.db_path, read_only=True)
    started = time.perf_counter()
    try:
        with _progress_bar(out, len(chosen) + 1) as progress:
            if decisions_path:
                from perpbot.backtest.decisions import backtest_with_decisions, write_decisions_csv

                result, rows = backtest_with_decisions(settings, store, chosen, start_ms, end_ms, timeframe, progress)
                write_decisions_csv(decisions_path, rows)
            else:
                result = run_backtest(settings, store, chosen, start_ms, end_ms, timeframe, progress)
        elapsed = time.perf_counter() - started
        path = result.to_json(json_path or default_result_path(settings, result))
        print_summary(result, out)
        out.print(f"[dim]{len(result.trades)} trades in {elapsed:.2f} s; saved to {path}[/]")
        if decisions_path:
            out.print(f"[dim]decisions of {len(rows)} symbol-bars written to {decisions_path}[/]")
        if html_path:
            from perpbot.reporting.html import backtest_report

            out.print(f"[dim]report written to {backtest_report(result, settings, store, html_path)}[/]")
    finally:
        store.close()
    return 0


@contextmanager
def _progress_bar(out: Console, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on a terminal, and its update function; nothing elsewhere (rich's
    progress module is not even imported: ~10 ms of a fresh process)."""
    if not out.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=out, transient=True) as bar:
        task = bar.add_task("run", total=total)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def default_result_path(settings: Settings, result: BacktestResult) -> Path:
    folder = settings.db_path.parent / "backtests"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return folder / f"backtest-{stamp}-{result.timeframe}.json"


def print_summary(result: BacktestResult, console: Console) -> None:
    m = result.metrics
    console.print(f"[bold]Backtest[/] {', '.join(result.symbols)} {result.timeframe}, "
                  f"{_day(result.start_ms)} to {_day(result.end_ms)} UTC")
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("metric")
    table.add_column("value", justify="right")
    cells = [(label, signed(text) if sign is not None else text) for label, text, sign in metric_cells(m)]
    for i in range(0, len(cells), 2):
        (a, av), (b, bv) = cells[i], cells[i + 1]
        table.add_row(a, av, b, bv)
    console.print(table)
    for title, key in (("by symbol", "by_symbol"), ("by exit reason", "by_exit_reason")):
        if m.get(key):
            console.print(_breakdown(title, m[key]))
    if m.get("entries_blocked"):
        blocked = ", ".join(f"{k} {v}" for k, v in m["entries_blocked"].items())
        console.print(f"entries refused: {blocked}")
    if len(result.values):
        step = max(1, len(result.values) // SPARK_WIDTH)
        console.print(f"equity  {sparkline([float(v) for v in result.values[::step]])}")


def _breakdown(title: str, rows: dict) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for col, justify in (("", "left"), ("trades", "right"), ("win rate", "right"), ("pnl", "right"),
                         ("fees", "right"), ("funding", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, r in rows.items():
        t.add_row(name, str(r["trades"]), pct(r["win_rate"]), signed(money(r["pnl"])), money(r["fees"], False),
                  money(r["funding"]))
    return t


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
