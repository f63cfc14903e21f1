"""Provides the arguments of the search commands (sensitivity, walk-forward, optimize), without heavy imports.

The CLI builds its parser from these at every start, so nothing here may import numpy, rich or
the backtest.
"""

from __future__ import annotations

from typing import Any

from perpbot.cli.args import days_arg, number_arg, output_file_arg, symbols_arg, time_arg, timeframe_arg

OBJECTIVE_NAMES = "sharpe (default), sortino, calmar, profit_factor, expectancy, net_pnl"


def range_arguments(p: Any) -> None:
    """Data, workers and output arguments every search takes."""
    p.add_argument("--symbols", type=symbols_arg, metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--from", dest="start", type=time_arg, metavar="DATE",
                   help="first bar, ISO date/time or epoch ms (default: all data)")
    p.add_argument("--to", dest="end", type=time_arg, metavar="DATE", help="end (exclusive), ISO date/time or epoch ms")
    p.add_argument("--timeframe", type=timeframe_arg, metavar="15m", help="bar interval (default: strategy.timeframe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (the search's base)")
    p.add_argument("--workers", type=number_arg(1, 1024, whole=True), default=1, metavar="N",
                   help="local worker processes (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler instead (needs perp-bot[dask])")
    p.add_argument("--json", type=output_file_arg, metavar="FILE", help="also write the result to FILE")
    p.add_argument("--partitions", type=number_arg(2, 64, whole=True), default=16, metavar="S",
                   help="blocks of the PBO's cross-validation (even; default 16, fewer for short histories)")


def sweep_arguments(p: Any) -> None:
    p.add_argument("--param", action="append", required=True, metavar="KEY=SPEC",
                   help="a grid: section.key=START:STOP:STEP (inclusive) or section.key=A,B,C (repeatable)")
    p.add_argument("--metric", default="sharpe", metavar="NAME",
                   help="rank by: sharpe (default), sortino, total_return, cagr, net_pnl, profit_factor, win_rate, "
                   "expectancy, final_equity, max_drawdown (lower is better)")
    range_arguments(p)


def window_arguments(p: Any) -> None:
    p.add_argument("--train-days", type=days_arg, default=60.0, metavar="D", help="train window length (default 60)")
    p.add_argument("--test-days", type=days_arg, default=14.0, metavar="D", help="test window length (default 14)")
    p.add_argument("--anchored", action="store_true", help="train windows all start at the beginning of the range")


def add_optimize_parser(sub: Any) -> Any:
    p = sub.add_parser(
        "optimize",
        help="search parameter ranges with Bayesian optimisation (TPE) or random search (needs perp-bot[optimize])",
        description="Searches the --param ranges for the best --objective with Optuna: TPE (Bayesian, the default) "
        "or random sampling, reproducible with --seed (for a given number of workers). Every trial is kept in a "
        "study file, so running the same command again after an interruption resumes it. --walk-forward optimises "
        "inside each train window and trades the pick on the next test window. Prints the best trials and the "
        "overfitting figures (deflated Sharpe ratio, PBO).",
    )
    p.add_argument("--param", action="append", required=True, metavar="KEY=SPEC",
                   help="a range: section.key=LOW:HIGH (continuous), LOW:HIGH:STEP, or A,B,C (repeatable)")
    p.add_argument("--objective", default="sharpe", metavar="NAME", help=f"maximise: {OBJECTIVE_NAMES}")
    p.add_argument("--trials", type=number_arg(1, 1_000_000, whole=True), default=100, metavar="N", help="trials in the study (per window; default 100)")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe", help="tpe (Bayesian, default) or random")
    p.add_argument("--seed", type=number_arg(0, 2**32 - 1, whole=True), metavar="N", help="sampler seed: the same seed gives the same trials")
    p.add_argument("--min-trades", type=number_arg(0, 10**9, whole=True), default=0, metavar="N", help="a trial needs at least N trades to count")
    p.add_argument("--max-drawdown", type=number_arg(0, 1, low_open=True), metavar="F", help="a trial's max drawdown must stay <= F (e.g. 0.2)")
    p.add_argument("--study", metavar="FILE",
                   help="the study file (default: <db dir>/optimize/, named after the search)")
    p.add_argument("--walk-forward", action="store_true", help="optimise inside each train window, test on the next")
    window_arguments(p)
    range_arguments(p)
    p.add_argument("--html", type=output_file_arg, metavar="FILE", help="also write a self-contained HTML report (needs perp-bot[html])")
    return p
