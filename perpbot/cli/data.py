"""Provides the data commands: `backfill`, `import-candles` and `regime`.

commands.py parses the arguments and calls these; they compose client, store and ingestor, drive
a rich progress bar and print the summary. Logs go to the file, never over the progress bar.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpbot.clock import DAY_MS, WallClock, interval_ms
from perpbot.cli.args import make_console
from perpbot.config import INTERVALS, Settings
from perpbot.config_checks import CANDLE_LIMIT
from perpbot.data.candle_csv import import_candles
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import BackfillReport, DataIngestor
from perpbot.data.ingest import Progress as IngestProgress
from perpbot.data.prediction_client import poll_markets
from perpbot.errors import ConfigError
from perpbot.reporting.console import print_regime
from perpbot.signals.prediction import RegimeClassifier, regime_report

EXIT_INTERRUPTED = 130


def fmt_ms(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def check_timeframes(timeframes: Sequence[str]) -> list[str]:
    bad = [tf for tf in timeframes if tf not in INTERVALS]
    if bad:
        raise ConfigError(f"unknown timeframe {', '.join(bad)}", f"use intervals from {', '.join(INTERVALS)}")
    return list(timeframes)


class _ProgressBars:
    """One rich task per symbol x series, created on its first event."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def __call__(self, event: IngestProgress) -> None:
        key = (event.symbol, event.series)
        task = self.tasks.get(key)
        if task is None:
            task = self.progress.add_task(f"{event.symbol} {event.series}", total=event.total)
            self.tasks[key] = task
        self.progress.update(task, completed=event.done, total=event.total)


def run_backfill(
    settings: Settings,
    symbols: Sequence[str] | None,
    timeframes: Sequence[str] | None,
    days: float | None,
    funding: bool = True,
    console: Console | None = None,
) -> int:
    """Backfill with a progress bar, then print the summary. Returns the exit code."""
    console = console or make_console()
    symbols = list(symbols) if symbols else settings.data.symbols  # backfill gives them the exchange's spelling
    timeframes = check_timeframes(timeframes or settings.data.timeframes)
    days = days if days is not None else settings.data.history_days
    if days <= 0:
        raise ConfigError(f"--days must be > 0 (got {days:g})", "e.g. --days 30")
    store = Store(settings.db_path)
    client = HyperliquidClient.from_settings(settings)
    ingestor = DataIngestor(client, store, WallClock())
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            report = ingestor.backfill(symbols, timeframes, days, funding=funding, progress=_ProgressBars(progress))
    except KeyboardInterrupt:
        console.print(
            "[yellow]Interrupted.[/] Every page fetched so far is saved and the database is consistent; "
            "run the same command again to resume where it stopped.",
            soft_wrap=True,
        )
        return EXIT_INTERRUPTED
    finally:
        client.close()
        store.close()
    print_backfill_report(report, days, console)
    return 0


def print_backfill_report(report: BackfillReport, days: float, console: Console) -> None:
    # Short headers, no edges and collapsed padding keep one line per series in 80 columns.
    table = Table(title=f"Backfill summary: {days:g} days asked, times UTC",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for name in ("symbol", "timeframe", "new", "rows", "first", "last", "gaps"):
        table.add_column(name, justify="right" if name in ("new", "rows", "gaps") else "left", no_wrap=True)
    for s in report.candles:
        table.add_row(s.symbol, s.interval, str(s.new_rows), str(s.total_rows), fmt_ms(s.first_ms), fmt_ms(s.last_ms),
                      str(len(s.gaps)))
    for f in report.funding:
        table.add_row(f.symbol, "funding", str(f.new_rows), str(f.total_rows), fmt_ms(f.first_ms), fmt_ms(f.last_ms), "")
    console.print(table)
    console.print(f"{report.new_rows} new rows in total.")
    for s in report.candles:
        if s.gaps:
            first_gap = s.gaps[0]
            console.print(
                f"[yellow]Gaps[/] in {s.symbol} {s.interval}: {len(s.gaps)} stretch(es), {s.missing_bars} bars missing "
                f"(first {fmt_ms(first_gap[0])} to {fmt_ms(first_gap[1])}). The exchange did not serve them; "
                f"import them with `perpbot import-candles FILE --symbol {s.symbol} --timeframe {s.interval}`.",
                soft_wrap=True,
            )
    if report.limited:
        console.print(_limited_note(report, days), soft_wrap=True)


def _limited_note(report: BackfillReport, days: float) -> str:
    lines = ["[yellow]History was limited:[/]"]
    for s in report.limited:
        served = "nothing" if s.first_ms is None else f"from {fmt_ms(s.first_ms)} ({_span(s.interval, s.first_ms, s.last_ms)})"
        lines.append(f"  {s.symbol} {s.interval}: asked from {fmt_ms(s.requested_start_ms)}, the store now holds {served}.")
    example = report.limited[0]
    lines.append(
        f"Hyperliquid serves only the most recent {CANDLE_LIMIT} candles per coin and interval "
        f"(1m is about 3.5 days, 15m about 52 days, 1h about 208 days), so {days:g} days cannot all be downloaded. "
        "To get more: keep the bot running (it ingests continuously, so stored history grows from now on), "
        f"or import older candles from a CSV: `perpbot import-candles FILE --symbol {example.symbol} "
        f"--timeframe {example.interval}`."
    )
    return "\n".join(lines)


def _span(interval: str, first_ms: int, last_ms: int | None) -> str:
    bars = ((last_ms or first_ms) - first_ms) // interval_ms(interval) + 1
    return f"{bars} bars, {bars * interval_ms(interval) / DAY_MS:.1f} days"


def run_import(settings: Settings, path: str, symbol: str, timeframe: str, console: Console | None = None) -> int:
    """Import a candle CSV (all or nothing) and print what happened. Returns the exit code."""
    console = console or make_console()
    (timeframe,) = check_timeframes([timeframe])
    store = Store(settings.db_path)
    try:
        (symbol,) = store.spelled([symbol])  # the exchange's spelling if the database knows it (kPEPE)
        result = import_candles(store, Path(path), symbol, timeframe)
    finally:
        store.close()
    console.print(
        f"{symbol} {timeframe}: {result.rows_read} rows read, {result.imported} imported, "
        f"{result.ignored} ignored as duplicates ({fmt_ms(result.first_ms)} to {fmt_ms(result.last_ms)}).",
        soft_wrap=True,
    )
    if result.conflicts:
        console.print(f"[yellow]{len(result.conflicts)} bar(s) differ[/] from a bar with the same time already stored "
                      f"or earlier in the file, the first at {fmt_ms(result.conflicts[0])}; the first values were "
                      "kept (a stored bar is never rewritten: to replace bars, import into a fresh database).",
                      soft_wrap=True)
    if result.gaps:
        console.print(f"[yellow]{len(result.gaps)} gap(s)[/] remain in that range; the first starts {fmt_ms(result.gaps[0][0])}.")
    return 0


def run_regime(settings: Settings, as_json: bool, console: Console | None = None) -> int:
    """`perpbot regime`: poll the markets once, store the snapshots, print the regime. Returns the exit code."""
    clock, cfg = WallClock(), settings.prediction
    store = Store(settings.db_path)
    try:
        if cfg.markets:
            poll_markets(settings, store, clock)
        now = clock.now_ms()
        classifier = RegimeClassifier(cfg)
        # Seed with the last good values first, so a failing market is held as the daemon would.
        classifier.update(store.latest_snapshots(now, only_ok=True), now)
        state = classifier.update(store.latest_snapshots(now), now)
    finally:
        store.close()
    report = regime_report(state, classifier.readings, cfg)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_regime(report, console or make_console())
    return 0
