"""Provides the sweep commands: `perpbot sensitivity` and `perpbot walk-forward`.

research.py parses the arguments and calls these; they parse the grids, run the sweep under a
rich progress bar and print rich tables (reporting/research_console.py: a coloured 2-D table of the
metric for two parameters; per-window results, the stitched out-of-sample summary and the OOS/IS
ratio for walk-forward). `--json FILE` also writes the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from perpbot.backtest.grid import parse_param
from perpbot.backtest.sensitivity import check_metric, run_sensitivity
from perpbot.backtest.walk_forward import run_walk_forward
from perpbot.cli.args import make_console
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.errors import PerpbotError
from perpbot.reporting.research_console import print_sweep, print_walk_forward


def run_sensitivity_command(settings: Settings, specs: Sequence[str], symbols: list[str] | None, start_ms: int | None,
                            end_ms: int | None, timeframe: str | None, metric: str, workers: int,
                            dask_address: str | None, json_path: str | None, console: Console | None = None,
                            partitions: int = 16) -> int:
    """`perpbot sensitivity`: returns the exit code."""
    out = console or make_console()
    grid, symbols = _sweep_inputs(specs, metric, symbols)
    store = open_store(settings)
    try:
        with progress_bar(out, "sweep") as progress:
            result = run_sensitivity(settings, store, symbols, start_ms, end_ms, grid, metric, timeframe, workers,
                                     dask_address, progress, partitions)
    finally:
        store.close()
    print_sweep(result, out)
    if json_path:
        out.print(f"[dim]saved to {result.to_json(json_path)}[/]")
    return 0


def run_walk_forward_command(settings: Settings, specs: Sequence[str], symbols: list[str] | None,
                             start_ms: int | None, end_ms: int | None, timeframe: str | None, metric: str,
                             train_days: float, test_days: float, anchored: bool, workers: int,
                             dask_address: str | None, json_path: str | None, console: Console | None = None,
                             partitions: int = 16, html_path: str | None = None) -> int:
    """`perpbot walk-forward`: returns the exit code."""
    if html_path:
        from perpbot.reporting.html import require_plotly

        require_plotly()
    out = console or make_console()
    grid, symbols = _sweep_inputs(specs, metric, symbols)
    store = open_store(settings)
    try:
        with progress_bar(out, "walk-forward") as progress:
            result = run_walk_forward(settings, store, symbols, start_ms, end_ms, grid, train_days, test_days,
                                      anchored, metric, timeframe, workers, dask_address, progress, partitions)
        print_walk_forward(result, out)
        if json_path:
            out.print(f"[dim]saved to {result.to_json(json_path)}[/]")
        if html_path:
            from perpbot.reporting.html import walk_forward_report

            out.print(f"[dim]report written to {walk_forward_report(result, settings, store, html_path)}[/]")
    finally:
        store.close()
    return 0


# --- sensitivity tables --------------------------------------------------------------------


# --- walk-forward tables -------------------------------------------------------------------


# --- helpers -------------------------------------------------------------------------------


def open_store(settings: Settings) -> Store:
    if not settings.db_path.exists():
        raise PerpbotError(f"no database at {settings.db_path}", "run `perpbot backfill` first (or set data.db_path)")
    return Store(settings.db_path, read_only=True)


@contextmanager
def progress_bar(console: Console, label: str) -> Iterator[Any]:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def _sweep_inputs(specs: Sequence[str], metric: str, symbols: list[str] | None) -> tuple[list, list[str] | None]:
    """The parameter grid and the symbols of a sweep, checked before any data is read (the store gives
    the symbols their stored spelling, kPEPE)."""
    grid = [parse_param(s) for s in specs]
    check_metric(metric)
    return grid, (list(symbols) if symbols else None)
