"""Provides the research and report commands: `review`, `compare`, `backtest`, `sensitivity`,
`walk-forward` and `optimize` (their console side lives in reports.py, backtest.py, sweeps.py, optimize.py)."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from perpbot.cli.args import (
    command,
    load_config,
    number_arg,
    output_file_arg,
    setup_command_logging,
    symbols_arg,
    time_arg,
    timeframe_arg,
)


def _add_review(sub: Any) -> None:
    p = sub.add_parser(
        "review",
        help="weekly review of closed trades (pnl, return, win rate, drawdown, losing-week streak)",
        description="Per UTC week (Monday to Sunday): pnl, return on the equity at the week's start "
        "(backtest.initial_equity plus every earlier closed trade), trades, win rate, profit factor, "
        "average win and loss, max drawdown, fees and funding, by symbol and exit reason, and the "
        "losing-week streak the startup halt acts on. The running week is the last row.",
    )
    p.add_argument("--weeks", type=number_arg(1, 520, whole=True), default=4, metavar="N",
                   help="weeks to show (default 4)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--markdown", type=output_file_arg, metavar="FILE", help="also write the review as markdown to FILE")
    p.add_argument("--mode", choices=("paper", "live"), help="which trades (default: execution.mode)")
    p.add_argument("--at", type=time_arg, metavar="TIME", help="review as of this time, ISO or epoch ms (default: now)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_review)
def _run_review(args: argparse.Namespace) -> int:
    from perpbot.cli.reports import run_review

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    mode = args.mode or settings.execution.mode
    return run_review(settings, args.weeks, mode, args.at, args.json, args.markdown)


def _add_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="backtest the period the bot traded and compare it trade by trade",
        description="Runs the backtest with the same settings over the period the bot traded (paper or "
        "live trades in the database), matches trades one to one (symbol, side, nearest entry within "
        "--tolerance bars) and reports missed and extra trades, entry/exit timing and price differences, "
        "slippage, and the pnl gap split by cause.",
    )
    p.add_argument("--from", dest="start", type=time_arg, metavar="TIME",
                   help="period start, ISO or epoch ms (default: first trade)")
    p.add_argument("--to", dest="end", type=time_arg, metavar="TIME",
                   help="period end (default: the last trade's exit)")
    p.add_argument("--mode", choices=("paper", "live"), help="which trades (default: execution.mode)")
    p.add_argument("--tolerance", type=number_arg(0, 10_000), default=2.0, metavar="BARS",
                   help="largest entry-time difference that still matches, in strategy bars (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_compare)
def _run_compare(args: argparse.Namespace) -> int:
    from perpbot.cli.reports import run_compare

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    mode = args.mode or settings.execution.mode
    return run_compare(settings, args.start, args.end, mode, args.tolerance, args.json)


def _add_backtest(sub: Any) -> None:
    p = sub.add_parser(
        "backtest",
        help="run the strategy over stored candles, after fees, slippage and funding",
        description="Simulates the live strategy and risk rules over the stored candles of every symbol on one "
        "shared account. A timeframe that is not stored is resampled from 1m. Prints the metrics, a per-symbol "
        "and per-exit-reason breakdown and an equity sparkline, and saves the result as JSON.",
    )
    p.add_argument("--symbols", type=symbols_arg, metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--from", dest="start", type=time_arg, metavar="DATE",
                   help="first bar, ISO date/time or epoch ms (default: all data)")
    p.add_argument("--to", dest="end", type=time_arg, metavar="DATE", help="end (exclusive), ISO date/time or epoch ms")
    p.add_argument("--timeframe", type=timeframe_arg, metavar="15m", help="bar interval (default: strategy.timeframe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config key, e.g. strategy.entry_z=2.5")
    p.add_argument("--json", type=output_file_arg, metavar="FILE", help="write the result here (default: <db dir>/backtests/)")
    p.add_argument("--decisions", type=output_file_arg, metavar="FILE.csv", help="also write every bar's decision per symbol: the values, "
                   "the decision, its reason and any risk refusal (the table `perpbot status` shows live)")
    p.add_argument("--html", type=output_file_arg, metavar="FILE", help="also write a self-contained HTML report (needs perp-bot[html])")


@command(_add_backtest)
def _run_backtest(args: argparse.Namespace) -> int:
    with _collector_paused():
        from perpbot.cli.backtest import run_backtest_command

        settings = load_config(args)
        setup_command_logging(settings, to_file=True)
        return run_backtest_command(settings, args.symbols, args.start, args.end, args.timeframe, args.json,
                                    decisions_path=args.decisions, html_path=args.html)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a backtest makes next to no cycles, while a collection walks
    every object numpy, rich and the run made (a year of 1m, three symbols: ~20 ms of collections)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything made meanwhile joins the oldest generation, unexamined (freeze moves all tracked objects
        # aside and zeroes the young count, unfreeze hands them to the oldest generation): turned back on with
        # the run's objects still young, the collector examined them all at the next allocation (~12 ms).
        # Cycles among them are still found, by the next full collection.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _sweep_arguments(p: Any) -> None:
    from perpbot.cli.search_args import sweep_arguments

    sweep_arguments(p)


def _add_sensitivity(sub: Any) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="backtest every combination of one or two parameter grids",
        description="Loads the candles once and backtests every combination of the --param grids (combinations "
        "sharing indicator parameters share one indicator pass). Two parameters print a coloured table of the "
        "metric; one prints a row per value; more print the best combinations.",
    )
    _sweep_arguments(p)


@command(_add_sensitivity)
def _run_sensitivity(args: argparse.Namespace) -> int:
    from perpbot.cli.sweeps import run_sensitivity_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    return run_sensitivity_command(settings, args.param, args.symbols, args.start, args.end, args.timeframe,
                                   args.metric, args.workers, args.dask, args.json, partitions=args.partitions)


def _add_walk_forward(sub: Any) -> None:
    p = sub.add_parser(
        "walk-forward",
        help="pick parameters on each train window, trade them on the next test window",
        description="Test windows tile the range after the first train window; on each train window (rolling, or "
        "from the start with --anchored) the best combination of the --param grids by --metric is picked and run "
        "on the test window. Prints every window, the stitched out-of-sample result and the OOS/IS ratio.",
    )
    from perpbot.cli.search_args import window_arguments

    _sweep_arguments(p)
    window_arguments(p)
    p.add_argument("--html", type=output_file_arg, metavar="FILE", help="also write a self-contained HTML report (needs perp-bot[html])")


@command(_add_walk_forward)
def _run_walk_forward(args: argparse.Namespace) -> int:
    from perpbot.cli.sweeps import run_walk_forward_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    return run_walk_forward_command(settings, args.param, args.symbols, args.start, args.end, args.timeframe,
                                    args.metric, args.train_days, args.test_days, args.anchored, args.workers,
                                    args.dask, args.json, partitions=args.partitions, html_path=args.html)


def _add_optimize(sub: Any) -> None:
    from perpbot.cli.search_args import add_optimize_parser

    add_optimize_parser(sub)


@command(_add_optimize)
def _run_optimize(args: argparse.Namespace) -> int:
    from perpbot.cli.optimize import run_optimize_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    return run_optimize_command(settings, args, args.symbols, args.start, args.end)
