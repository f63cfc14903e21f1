"""Provides the `perpbot` command: parse, compose, run, map errors to exit codes.

Each command is a pair of functions, `_add_<name>(subparsers)` and `_run_<name>(args)`,
listed in `_COMMANDS`. Heavy imports happen inside the `_run_` functions so `--help` and
`status` start fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from perpbot import __version__
from perpbot.config import Settings, load_settings
from perpbot.errors import PerpbotError

log = logging.getLogger(__name__)


# --- shared helpers ----------------------------------------------------------------------


def load_config(args: argparse.Namespace, overrides: list[str] | None = None) -> Settings:
    """Settings from --config (or ./config.yaml) plus --set overrides."""
    return load_settings(getattr(args, "config", None), overrides=overrides or getattr(args, "set", None))


def setup_command_logging(settings: Settings, to_file: bool = False, stdout: bool = True) -> None:
    from perpbot.ops.logging import setup_logging

    setup_logging(
        level=settings.logging.level,
        file_path=settings.log_path if (to_file and settings.logging.file) else None,
        stdout=stdout,
        secrets=settings.secrets.values(),
        max_bytes=settings.logging.max_bytes,
        backups=settings.logging.backups,
    )


def split_list(text: str | None) -> list[str] | None:
    """'BTC, eth' -> ['BTC', 'ETH']; None stays None."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_time(text: str | None) -> int | None:
    """An ISO date/time (UTC unless it says otherwise) or epoch ms, as epoch ms."""
    if text is None:
        return None
    from datetime import datetime, timezone

    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PerpbotError(f"cannot read the time {text!r}", "use a date like 2024-03-01 or 2024-03-01T12:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


# --- commands ----------------------------------------------------------------------------

_COMMANDS: list[tuple[Callable[[Any], None], Callable[[argparse.Namespace], int | None]]] = []


def command(add: Callable[[Any], None]) -> Callable[[Callable[[argparse.Namespace], int | None]], Any]:
    """Register a command: `@command(_add_x)` above `def _run_x(args)`."""

    def register(run: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int | None]:
        _COMMANDS.append((add, run))
        return run

    return register


# --- parser and main ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perpbot",
        description="Mean-reversion trading bot for Hyperliquid perpetual futures.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: ./config.yaml if present)")
    parser.add_argument("--headless", action="store_true", help="run without the dashboard (daemon mode)")
    parser.add_argument("--version", action="version", version=f"perpbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, run in _COMMANDS:
        add(sub)
        # The last parser added is this command's; remember what runs it.
        list(sub.choices.values())[-1].set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        default = _default_command()
        if default is None:
            parser.print_help()
            return 0
        run = default
    try:
        return int(run(args) or 0)
    except PerpbotError as exc:
        print(f"perpbot: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("perpbot: interrupted", file=sys.stderr)
        return 130


def _default_command() -> Callable[[argparse.Namespace], int | None] | None:
    """What plain `perpbot` runs: the dashboard, once it exists."""
    for add, run in _COMMANDS:
        if run.__name__ == "_run_dashboard":
            return run
    return None


# === command definitions =================================================================
# (Keep each pair small: compose objects from other packages and hand over.)


def _add_config_check(sub: Any) -> None:
    p = sub.add_parser("config-check", help="validate the config and print the effective settings")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_config_check)
def _run_config_check(args: argparse.Namespace) -> int:
    import json

    from perpbot.config import settings_to_dict

    settings = load_config(args)
    out = settings_to_dict(settings)
    out["paths"] = {"db": str(settings.db_path), "socket": str(settings.socket_path), "log": str(settings.log_path)}
    print(json.dumps(out, indent=2))
    return 0


def _add_backfill(sub: Any) -> None:
    p = sub.add_parser(
        "backfill",
        help="download candles and funding history into the database",
        description="Fetch the candles (every symbol x timeframe) and hourly funding not yet stored. "
        "Re-running adds only what is missing; after Ctrl-C, run it again to resume.",
    )
    p.add_argument("--symbols", metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--timeframes", metavar="1m,15m", help="intervals (default: data.timeframes)")
    p.add_argument("--days", type=float, metavar="N", help="how far back (default: data.history_days)")
    p.add_argument("--no-funding", action="store_true", help="skip the funding history")


@command(_add_backfill)
def _run_backfill(args: argparse.Namespace) -> int:
    from perpbot.cli_data import run_backfill

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    return run_backfill(settings, split_list(args.symbols), split_list(args.timeframes), args.days, not args.no_funding)


def _add_import_candles(sub: Any) -> None:
    p = sub.add_parser(
        "import-candles",
        help="import candles from a CSV file (t,open,high,low,close,volume)",
        description="Import a CSV with header t,open,high,low,close,volume (t: bar open time, epoch ms or "
        "ISO). Every row is validated first; a bad row is reported with its line number and nothing is "
        "written. Rows already stored are ignored.",
    )
    p.add_argument("file", metavar="FILE", help="the CSV file")
    p.add_argument("--symbol", required=True, metavar="BTC", help="the coin the candles belong to")
    p.add_argument("--timeframe", default="1m", metavar="1m", help="the bar interval of the file (default: 1m)")


@command(_add_import_candles)
def _run_import_candles(args: argparse.Namespace) -> int:
    from perpbot.cli_data import run_import

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    return run_import(settings, args.file, args.symbol, args.timeframe)


def _add_regime(sub: Any) -> None:
    p = sub.add_parser(
        "regime",
        help="poll the prediction markets once and show the risk regime",
        description="Poll every market in prediction.markets once, store the snapshots, and print each "
        "market's probability and contribution with the resulting score and regime. With no markets "
        "configured it says so and exits 0 (the bot then runs with prediction.default_regime).",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_regime)
def _run_regime(args: argparse.Namespace) -> int:
    import json

    from perpbot.clock import WallClock
    from perpbot.data.db import Store
    from perpbot.data.prediction_client import poll_markets
    from perpbot.signals.prediction import RegimeClassifier, regime_report

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
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
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_regime(report)
    return 0


def _print_regime(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
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


def _add_sim(sub: Any) -> None:
    p = sub.add_parser(
        "sim",
        help="run the local Hyperliquid exchange simulator",
        description="Serve a Hyperliquid-compatible exchange (POST /info, WebSocket /ws) on loopback with a "
        "deterministic synthetic market, or replay a candle CSV. Point exchange.base_url at the URL it prints. "
        "Like mainnet it serves only the most recent 5000 candles per coin and interval (see --candle-limit), "
        "including the bar still forming (close time T >= now: drop it before storing). Runs until Ctrl-C.",
    )
    p.add_argument("--port", type=int, default=8765, metavar="PORT", help="port to listen on (default 8765; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--seed", type=int, default=1, metavar="N", help="market seed (default 1)")
    p.add_argument("--history-days", type=float, default=7.0, metavar="D", help="history before the start (default 7)")
    p.add_argument("--symbols", default="BTC,ETH,SOL", metavar="BTC,ETH,SOL", help="coins listed (default BTC,ETH,SOL)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X", help="clock speed vs wall time (default 1)")
    p.add_argument("--candles", metavar="FILE", help="replay a 1m CSV t,open,high,low,close,volume for the one symbol")
    p.add_argument("--funding", metavar="FILE", help="replay an hourly funding CSV t,rate")
    p.add_argument("--candle-limit", type=int, default=5000, metavar="N",
                   help="most recent candles available per coin and interval (default 5000; 0 = all)")
    p.add_argument("--start", metavar="TIME", help="the clock's start, ISO or epoch ms (default: now)")
    p.add_argument("--fund", action="append", default=[], metavar="ADDRESS=USD",
                   help="create an account holding USD (repeatable); only funded accounts and their agents can trade")
    p.add_argument("--agent", action="append", default=[], metavar="ACCOUNT=AGENT",
                   help="approve an API wallet for a funded account from the start (repeatable)")
    p.add_argument("--network", choices=("testnet", "mainnet"), default="testnet",
                   help="verify signatures as this chain (default testnet, as the SDK signs for any non-mainnet URL)")
    faults = p.add_argument_group("fault injection")
    faults.add_argument("--error-rate", type=float, default=0.0, metavar="P", help="share of /info answered 5xx")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, metavar="P", help="share of /info answered 429")
    faults.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="delay added to every /info answer")
    faults.add_argument("--malformed-rate", type=float, default=0.0, metavar="P", help="share of /info with broken bodies")
    faults.add_argument("--ws-stall", action="store_true", help="websockets stay open but send nothing")
    faults.add_argument("--exchange-error-rate", type=float, default=0.0, metavar="P",
                        help="share of /exchange answered 502 before the action runs")
    faults.add_argument("--exchange-lost-rate", type=float, default=0.0, metavar="P",
                        help="share of /exchange actions that run and then lose their answer (502)")


@command(_add_sim)
def _run_sim(args: argparse.Namespace) -> int:
    from perpbot.sim.runner import run_sim

    return run_sim(args, parse_time(args.start))


def _add_review(sub: Any) -> None:
    p = sub.add_parser(
        "review",
        help="weekly review of closed trades (pnl, return, win rate, drawdown, losing-week streak)",
        description="Per UTC week (Monday to Sunday): pnl, return on the equity at the week's start "
        "(backtest.initial_equity plus every earlier closed trade), trades, win rate, profit factor, "
        "average win and loss, max drawdown, fees and funding, by symbol and exit reason, and the "
        "losing-week streak the startup halt acts on. The running week is the last row.",
    )
    p.add_argument("--weeks", type=int, default=4, metavar="N", help="weeks to show (default 4)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--markdown", metavar="FILE", help="also write the review as markdown to FILE")
    p.add_argument("--mode", choices=("paper", "live"), help="which trades (default: execution.mode)")
    p.add_argument("--at", metavar="TIME", help="review as of this time, ISO or epoch ms (default: now)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_review)
def _run_review(args: argparse.Namespace) -> int:
    from perpbot.cli_reports import run_review

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    mode = args.mode or settings.execution.mode
    return run_review(settings, args.weeks, mode, parse_time(args.at), args.json, args.markdown)


def _add_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="backtest the period the bot traded and compare it trade by trade",
        description="Runs the backtest with the same settings over the period the bot traded (paper or "
        "live trades in the database), matches trades one to one (symbol, side, nearest entry within "
        "--tolerance bars) and reports missed and extra trades, entry/exit timing and price differences, "
        "slippage, and the pnl gap split by cause.",
    )
    p.add_argument("--from", dest="start", metavar="TIME", help="period start, ISO or epoch ms (default: first trade)")
    p.add_argument("--to", dest="end", metavar="TIME", help="period end (default: the last trade's exit)")
    p.add_argument("--mode", choices=("paper", "live"), help="which trades (default: execution.mode)")
    p.add_argument("--tolerance", type=float, default=2.0, metavar="BARS",
                   help="largest entry-time difference that still matches, in strategy bars (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_compare)
def _run_compare(args: argparse.Namespace) -> int:
    from perpbot.cli_reports import run_compare

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    mode = args.mode or settings.execution.mode
    return run_compare(settings, parse_time(args.start), parse_time(args.end), mode, args.tolerance, args.json)


def _add_backtest(sub: Any) -> None:
    p = sub.add_parser(
        "backtest",
        help="run the strategy over stored candles, after fees, slippage and funding",
        description="Simulates the live strategy and risk rules over the stored candles of every symbol on one "
        "shared account. A timeframe that is not stored is resampled from 1m. Prints the metrics, a per-symbol "
        "and per-exit-reason breakdown and an equity sparkline, and saves the result as JSON.",
    )
    p.add_argument("--symbols", metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first bar, ISO date/time or epoch ms (default: all data)")
    p.add_argument("--to", dest="end", metavar="DATE", help="end (exclusive), ISO date/time or epoch ms")
    p.add_argument("--timeframe", metavar="15m", help="bar interval (default: strategy.timeframe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key, e.g. strategy.entry_z=2.5")
    p.add_argument("--json", metavar="FILE", help="write the result here (default: <db dir>/backtests/)")


@command(_add_backtest)
def _run_backtest(args: argparse.Namespace) -> int:
    from perpbot.cli_backtest import run_backtest_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    return run_backtest_command(settings, split_list(args.symbols), parse_time(args.start), parse_time(args.end),
                                args.timeframe, args.json)


def _add_trade(sub: Any) -> None:
    p = sub.add_parser(
        "trade",
        help="trade in execution.mode (paper by default): the dashboard, or the daemon with --headless",
        description="Run the tick loop against the exchange in execution.mode (paper by default). With "
        "--headless (`perpbot --headless trade`) it runs as a daemon: logs to the file next to the database, "
        "serves `perpbot status` / `perpbot control` on the socket beside it, and stops cleanly after the "
        "current tick on Ctrl-C or SIGTERM. Without --headless the dashboard hosts the same engine.",
    )
    p.add_argument("--force", action="store_true", help="start despite the losing-weeks halt")
    _adopt_argument(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


def _adopt_argument(p: Any) -> None:
    p.add_argument("--adopt-account", action="store_true",
                   help="live: take the account over from another perp-bot instance that traded it (asks first; "
                        "only once that bot is stopped for good)")


@command(_add_trade)
def _run_trade(args: argparse.Namespace) -> int:
    from perpbot.cli_daemon import confirm_adoption, run_trade

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    adopt = bool(getattr(args, "adopt_account", False))
    if adopt and not confirm_adoption():
        return 1
    if not args.headless:
        from perpbot.cli_tui import run_dashboard

        return run_dashboard(settings, args.force, adopt)
    return run_trade(settings, args.force, adopt)


def _add_status(sub: Any) -> None:
    sub.add_parser("status", help="print the running daemon's state as JSON (exit 1 if none runs)")


@command(_add_status)
def _run_status(args: argparse.Namespace) -> int:
    from perpbot.cli_daemon import run_status

    return run_status(load_config(args))


def _add_control(sub: Any) -> None:
    p = sub.add_parser("control", help="pause, resume, close SYMBOL or flatten in the running daemon")
    p.add_argument("action", choices=("pause", "resume", "close", "flatten"), help="what to do")
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="the coin for close")


@command(_add_control)
def _run_control(args: argparse.Namespace) -> int:
    from perpbot.cli_daemon import run_control

    return run_control(load_config(args), args.action, args.symbol)


def _add_dashboard(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="open the dashboard hosting the trading engine (the default command)",
        description="Runs the engine in execution.mode (paper by default) inside the dashboard: positions, log, "
        "backtest, walk-forward and report screens. `perpbot` with no command does the same; with --headless it "
        "runs the daemon instead (`trade`).",
    )
    p.add_argument("--force", action="store_true", help="start despite the losing-weeks halt")
    _adopt_argument(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_dashboard)
def _run_dashboard(args: argparse.Namespace) -> int:
    from perpbot.cli_daemon import confirm_adoption

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    adopt = bool(getattr(args, "adopt_account", False))
    if adopt and not confirm_adoption():
        return 1
    if args.headless:
        from perpbot.cli_daemon import run_trade

        return run_trade(settings, getattr(args, "force", False), adopt)
    from perpbot.cli_tui import run_dashboard

    return run_dashboard(settings, getattr(args, "force", False), adopt)


def _add_tui(sub: Any) -> None:
    sub.add_parser("tui", help="open the dashboard attached to the running headless daemon")


@command(_add_tui)
def _run_tui(args: argparse.Namespace) -> int:
    from perpbot.cli_tui import run_tui

    return run_tui(load_config(args))


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="paper-trade a simulated exchange in the dashboard (offline, no keys, no config)",
        description="Starts the exchange simulator in-process on a free loopback port with an accelerated clock "
        "and opens the dashboard paper-trading against it. Ignores config.yaml; its database and log live in a "
        "temporary folder (removed at exit) unless --dir is given.",
    )
    p.add_argument("--seed", type=int, default=1, metavar="N", help="market seed (default 1)")
    p.add_argument("--speed", type=float, metavar="X", help="simulated seconds per wall second (default 120)")
    p.add_argument("--dir", metavar="PATH", help="keep the demo's database and log in PATH (cleared at start)")


@command(_add_demo)
def _run_demo(args: argparse.Namespace) -> int:
    from perpbot.cli_tui import run_demo

    return run_demo(args.seed, args.speed, args.dir)


def _sweep_arguments(p: Any) -> None:
    p.add_argument("--param", action="append", required=True, metavar="KEY=SPEC",
                   help="a grid: section.key=START:STOP:STEP (inclusive) or section.key=A,B,C (repeatable)")
    p.add_argument("--symbols", metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first bar, ISO date/time or epoch ms (default: all data)")
    p.add_argument("--to", dest="end", metavar="DATE", help="end (exclusive), ISO date/time or epoch ms")
    p.add_argument("--timeframe", metavar="15m", help="bar interval (default: strategy.timeframe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key (the grid's base)")
    p.add_argument("--metric", default="sharpe", metavar="NAME",
                   help="rank by: sharpe (default), sortino, total_return, cagr, net_pnl, profit_factor, win_rate, "
                   "expectancy, final_equity, max_drawdown (lower is better)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler instead (needs perp-bot[dask])")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE")


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
    from perpbot.cli_sweeps import run_sensitivity_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    return run_sensitivity_command(settings, args.param, split_list(args.symbols), parse_time(args.start),
                                   parse_time(args.end), args.timeframe, args.metric, args.workers, args.dask, args.json)


def _add_walk_forward(sub: Any) -> None:
    p = sub.add_parser(
        "walk-forward",
        help="pick parameters on each train window, trade them on the next test window",
        description="Test windows tile the range after the first train window; on each train window (rolling, or "
        "from the start with --anchored) the best combination of the --param grids by --metric is picked and run "
        "on the test window. Prints every window, the stitched out-of-sample result and the OOS/IS ratio.",
    )
    _sweep_arguments(p)
    p.add_argument("--train-days", type=float, default=60.0, metavar="D", help="train window length (default 60)")
    p.add_argument("--test-days", type=float, default=14.0, metavar="D", help="test window length (default 14)")
    p.add_argument("--anchored", action="store_true", help="train windows all start at the beginning of the range")


@command(_add_walk_forward)
def _run_walk_forward(args: argparse.Namespace) -> int:
    from perpbot.cli_sweeps import run_walk_forward_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=False)
    return run_walk_forward_command(settings, args.param, split_list(args.symbols), parse_time(args.start),
                                    parse_time(args.end), args.timeframe, args.metric, args.train_days,
                                    args.test_days, args.anchored, args.workers, args.dask, args.json)


# --- new commands go above this line -------------------------------------------------------

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
