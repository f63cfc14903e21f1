"""Provides the console side of `perpbot optimize`: parse the ranges, search under a progress bar, print.

The search itself is perpbot/backtest/optimize*.py; this prints the best trials, the best
parameters and the overfitting figures (or the walk-forward tables with --walk-forward), and
writes the JSON and HTML results.
"""

from __future__ import annotations

import argparse

from rich import box
from rich.console import Console
from rich.table import Table

from perpbot.backtest.optimize import SearchSpec, require_optuna
from perpbot.backtest.search_space import Constraints, check_objective, parse_space
from perpbot.cli.args import make_console
from perpbot.cli.sweeps import open_store, progress_bar
from perpbot.config import Settings
from perpbot.errors import ConfigError
from perpbot.reporting.research_console import fmt, print_overfitting, print_walk_forward

TOP_TRIALS = 10


def run_optimize_command(settings: Settings, args: argparse.Namespace, symbols: list[str] | None,
                         start_ms: int | None, end_ms: int | None, console: Console | None = None) -> int:
    """`perpbot optimize`: returns the exit code."""
    out = console or make_console()  # `| head` ends it quietly (141), as for backtest
    spec = _spec(args)
    require_optuna()
    if args.html:
        from perpbot.reporting.html import require_plotly

        require_plotly()
    symbols = list(symbols) if symbols else None  # the store gives them the stored spelling (kPEPE)
    store = open_store(settings)
    try:
        with progress_bar(out, "optimize") as progress:
            result = _search(settings, store, args, spec, symbols, start_ms, end_ms, progress)
        if args.walk_forward:
            print_walk_forward(result, out)
            out.print(f"[dim]{spec.trials} {spec.sampler} trials per train window; study {result.search['study']}[/]")
        else:
            print_optimize(result, out)
        if args.json:
            out.print(f"[dim]saved to {result.to_json(args.json)}[/]")
        if args.html:
            out.print(f"[dim]report written to {_report(result, settings, store, args.html)}[/]")
    finally:
        store.close()
    return 0


def _spec(args: argparse.Namespace) -> SearchSpec:
    if args.trials < 1:
        raise ConfigError(f"--trials must be at least 1 (got {args.trials})")
    if args.max_drawdown is not None and not 0 < args.max_drawdown <= 1:
        raise ConfigError(f"--max-drawdown is a fraction in (0, 1] (got {args.max_drawdown:g})", "e.g. 0.2 for 20 %")
    space = tuple(parse_space(s) for s in args.param)
    keys = [p.key for p in space]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"--param {', '.join(twice)} given more than once", "give each parameter once")
    return SearchSpec(space, check_objective(args.objective), Constraints(args.min_trades, args.max_drawdown),
                      args.trials, args.sampler, args.seed)


def _search(settings, store, args, spec, symbols, start_ms, end_ms, progress):
    from perpbot.backtest.optimize_run import run_optimize, run_optimize_walk_forward

    if args.walk_forward:
        return run_optimize_walk_forward(settings, store, symbols, start_ms, end_ms, args.timeframe, spec,
                                         args.train_days, args.test_days, args.anchored, args.workers, args.dask,
                                         args.study, progress, args.partitions)
    return run_optimize(settings, store, symbols, start_ms, end_ms, args.timeframe, spec, args.workers, args.dask,
                        args.study, progress, args.partitions)


def _report(result, settings, store, path):
    from perpbot.reporting.html import optimize_report, walk_forward_report

    if hasattr(result, "windows"):
        return walk_forward_report(result, settings, store, path)
    return optimize_report(result, settings, store, path)


def print_optimize(result, console: Console) -> None:
    b = result.best
    ran = [t for t in result.trials if "error" not in t]
    feasible = [t for t in ran if t["feasible"]]
    console.print(f"[bold]Optimisation[/] {', '.join(b.symbols)} {b.timeframe}: {len(result.trials)} {result.sampler} "
                  f"trials ({len(feasible)} feasible, constraints: {result.constraints}), "
                  f"maximising {result.objective}")
    console.print(trials_table(result))
    best = " ".join(f"{k.partition('.')[2]}={_value(v)}" for k, v in result.best_params.items())
    m = b.metrics
    console.print(f"best: [bold]{best}[/] -> {result.objective} {fmt('sharpe', result.best_value)}, return "
                  f"{fmt('total_return', m.get('total_return'))}, max DD {fmt('max_drawdown', m.get('max_drawdown'))}, "
                  f"{m.get('trades')} trades")
    print_overfitting(result.overfitting, console)
    console.print(f"[dim]study {result.study} (run the same command again to resume or extend it)[/]")


def trials_table(result) -> Table:
    """The best TOP_TRIALS feasible trials, objective first."""
    ranked = sorted((t for t in result.trials if t.get("feasible") and t.get("value") is not None),
                    key=lambda t: (-t["value"], t["number"]))[:TOP_TRIALS]
    table = Table(box=box.SIMPLE_HEAD, title=f"top {len(ranked)} trials by {result.objective}", title_justify="left")
    for col in ("#", *(p.partition(".")[2] for p in result.params), result.objective, "return", "max DD", "trades"):
        table.add_column(col, justify="right")
    for t in ranked:
        table.add_row(str(t["number"]), *(_value(t[p]) for p in result.params), fmt("sharpe", t["value"]),
                      fmt("total_return", t.get("total_return")), fmt("max_drawdown", t.get("max_drawdown")),
                      str(t.get("trades")))
    return table


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
