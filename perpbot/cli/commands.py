"""Provides the data, trading and dashboard commands' arguments and dispatch: `config-check`, `backfill`,
`import-candles`, `regime`, `sim`, `trade`, `status`, `control`, `dashboard`, `tui`, `demo`, `preflight`.

Each `_run_` loads the settings and hands over to its command group's module (data.py, trading.py,
dashboard.py, preflight.py), imported only then.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from perpbot.cli.args import (
    MAX_SPEED,
    SEED,
    command,
    days_arg,
    load_config,
    number_arg,
    port_arg,
    setup_command_logging,
    split_list,
    symbol_arg,
    symbols_arg,
    time_arg,
    timeframe_arg,
    timeframes_arg,
)

if TYPE_CHECKING:
    from perpbot.config import Settings

log = logging.getLogger(__name__)



def _add_config_check(sub: Any) -> None:
    p = sub.add_parser("config-check", help="validate the config and print the effective settings")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_config_check)
def _run_config_check(args: argparse.Namespace) -> int:
    import json

    from perpbot.config import settings_to_dict

    from perpbot.config_checks import config_warnings

    settings = load_config(args)
    _check_telegram_commands(settings)
    out = settings_to_dict(settings)
    out["paths"] = {"db": str(settings.db_path), "socket": str(settings.socket_path), "log": str(settings.log_path),
                    "backups": str(settings.db_path.parent / "backups")}
    warnings = config_warnings(settings)
    out["warnings"] = warnings
    print(json.dumps(out, indent=2, allow_nan=False))
    for warning in warnings:
        print(f"perpbot: warning: {warning}", file=sys.stderr)
    return 0


def _check_telegram_commands(settings: Settings) -> None:
    """What `trade` would refuse at start about Telegram commands, refused here too."""
    cfg, secrets = settings.alerts, settings.secrets
    if cfg.telegram_commands and secrets.telegram_bot_token and secrets.telegram_chat_id:
        from perpbot.ops.telegram.auth import check_command_chat

        check_command_chat(secrets.telegram_chat_id, cfg.telegram_allowed_users)


def _add_backfill(sub: Any) -> None:
    p = sub.add_parser(
        "backfill",
        help="download candles and funding history into the database",
        description="Fetch the candles (every symbol x timeframe) and hourly funding not yet stored. "
        "Re-running adds only what is missing; after Ctrl-C, run it again to resume.",
    )
    p.add_argument("--symbols", type=symbols_arg, metavar="BTC,ETH", help="coins (default: data.symbols)")
    p.add_argument("--timeframes", type=timeframes_arg, metavar="1m,15m", help="intervals (default: data.timeframes)")
    p.add_argument("--days", type=days_arg, metavar="N", help="how far back (default: data.history_days)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--no-funding", action="store_true", help="skip the funding history")


@command(_add_backfill)
def _run_backfill(args: argparse.Namespace) -> int:
    from perpbot.cli.data import run_backfill

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
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
    p.add_argument("--symbol", required=True, type=symbol_arg, metavar="BTC", help="the coin the candles belong to")
    p.add_argument("--timeframe", default="1m", type=timeframe_arg, metavar="1m",
                   help="the bar interval of the file (default: 1m)")


@command(_add_import_candles)
def _run_import_candles(args: argparse.Namespace) -> int:
    from perpbot.cli.data import run_import

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
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
    from perpbot.cli.data import run_regime

    settings = load_config(args)
    setup_command_logging(settings, to_file=True)
    return run_regime(settings, args.json)


def _add_sim(sub: Any) -> None:
    p = sub.add_parser(
        "sim",
        help="run the local Hyperliquid exchange simulator",
        description="Serve a Hyperliquid-compatible exchange (POST /info, WebSocket /ws) on loopback with a "
        "deterministic synthetic market, or replay a candle CSV. Point exchange.base_url at the URL it prints. "
        "Like mainnet it serves only the most recent 5000 candles per coin and interval (see --candle-limit), "
        "including the bar still forming (close time T >= now: drop it before storing). Runs until Ctrl-C.",
    )
    p.add_argument("--port", type=port_arg, default=8765, metavar="PORT",
                   help="port to listen on (default 8765; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--seed", type=SEED, default=1, metavar="N", help="market seed (default 1)")
    p.add_argument("--history-days", type=number_arg(), default=7.0, metavar="D",
                   help="history before the start (default 7)")
    p.add_argument("--symbols", default="BTC,ETH,SOL", metavar="BTC,ETH,SOL", help="coins listed (default BTC,ETH,SOL)")
    p.add_argument("--speed", type=number_arg(high=MAX_SPEED), default=1.0, metavar="X",
                   help="clock speed vs wall time (default 1)")
    p.add_argument("--candles", metavar="FILE", help="replay a 1m CSV t,open,high,low,close,volume for the one symbol")
    p.add_argument("--funding", metavar="FILE", help="replay an hourly funding CSV t,rate")
    p.add_argument("--candle-limit", type=number_arg(whole=True), default=5000, metavar="N",
                   help="most recent candles available per coin and interval (default 5000; 0 = all)")
    p.add_argument("--start", type=time_arg, metavar="TIME", help="the clock's start, ISO or epoch ms (default: now)")
    p.add_argument("--fund", action="append", default=[], metavar="ADDRESS=USD",
                   help="create an account holding USD (repeatable); only funded accounts and their agents can trade")
    p.add_argument("--agent", action="append", default=[], metavar="ACCOUNT=AGENT",
                   help="approve an API wallet for a funded account from the start (repeatable)")
    p.add_argument("--network", choices=("testnet", "mainnet"), default="testnet",
                   help="verify signatures as this chain (default testnet, as the SDK signs for any non-mainnet URL)")
    p.add_argument("--scenario", metavar="FILE", help="timed price moves, funding, halts and faults (YAML; see README)")
    p.add_argument("--maker-fill-ticks", type=number_arg(whole=True), default=1, metavar="N",
                   help="resting limits fill once the price trades through them by N ticks (default 1; 0 = on touch)")
    faults = p.add_argument_group("fault injection")
    faults.add_argument("--error-rate", type=number_arg(), default=0.0, metavar="P", help="share of /info answered 5xx")
    faults.add_argument("--rate-limit-rate", type=number_arg(), default=0.0, metavar="P",
                        help="share of /info answered 429")
    faults.add_argument("--latency-ms", type=number_arg(high=600_000, whole=True), default=0, metavar="MS",
                        help="delay added to every /info answer")
    faults.add_argument("--malformed-rate", type=number_arg(), default=0.0, metavar="P",
                        help="share of /info with broken bodies")
    faults.add_argument("--ws-stall", action="store_true", help="websockets stay open but send nothing")
    faults.add_argument("--exchange-error-rate", type=float, default=0.0, metavar="P",
                        help="share of /exchange answered 502 before the action runs")
    faults.add_argument("--exchange-lost-rate", type=float, default=0.0, metavar="P",
                        help="share of /exchange actions that run and then lose their answer (502)")


@command(_add_sim)
def _run_sim(args: argparse.Namespace) -> int:
    from perpbot.cli.sim import run_sim

    return run_sim(args, args.start)


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
    return _host_engine(args, args.headless)


def _host_engine(args: argparse.Namespace, headless: bool) -> int:
    """The engine as a daemon (logs also to stdout, per logging.stdout) or in the dashboard (logs to the file only)."""
    from perpbot.cli.trading import host_command

    settings = load_config(args)
    setup_command_logging(settings, to_file=True, stdout=headless)
    return host_command(settings, headless, args.force, args.adopt_account)


def _add_status(sub: Any) -> None:
    p = sub.add_parser("status", help="print the running daemon's state as JSON (exit 1 if none runs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (e.g. data.db_path)")


@command(_add_status)
def _run_status(args: argparse.Namespace) -> int:
    from perpbot.cli.trading import run_status

    return run_status(load_config(args))


def _add_control(sub: Any) -> None:
    p = sub.add_parser("control", help="pause, resume, close SYMBOL or flatten in the running daemon")
    p.add_argument("action", choices=("pause", "resume", "close", "flatten"), help="what to do")
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="the coin for close")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (e.g. data.db_path)")


@command(_add_control)
def _run_control(args: argparse.Namespace) -> int:
    from perpbot.cli.trading import run_control

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
    return _host_engine(args, args.headless)


def _add_tui(sub: Any) -> None:
    p = sub.add_parser("tui", help="open the dashboard attached to the running headless daemon")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (e.g. data.db_path)")


@command(_add_tui)
def _run_tui(args: argparse.Namespace) -> int:
    from perpbot.cli.dashboard import run_tui

    return run_tui(load_config(args))


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="paper-trade a simulated exchange in the dashboard (offline, no keys, no config)",
        description="Starts the exchange simulator in-process on a free loopback port with an accelerated clock "
        "and opens the dashboard paper-trading against it. Ignores config.yaml; its database and log live in a "
        "temporary folder (removed at exit) unless --dir is given.",
    )
    p.add_argument("--seed", type=SEED, default=1, metavar="N", help="market seed (default 1)")
    p.add_argument("--speed", type=number_arg(0, MAX_SPEED, low_open=True), metavar="X",
                   help="simulated seconds per wall second (default 120)")
    p.add_argument("--dir", metavar="PATH", help="keep the demo's database and log in PATH (cleared at start)")


@command(_add_demo)
def _run_demo(args: argparse.Namespace) -> int:
    from perpbot.cli.dashboard import run_demo

    return run_demo(args.seed, args.speed, args.dir)


def _add_preflight(sub: Any) -> None:
    p = sub.add_parser("preflight", help="check the exchange, key, account and symbol rules before going live",
                   description="Reaches the configured exchange, checks the key's role and the account, each symbol's "
                   "szDecimals, tick and minimum-order rules, the leverage limit, hourly funding and that every answer "
                   "parses; on testnet (any network but mainnet) places and cancels one order far from the market. "
                   "Exit 0 only if every check passes.")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")


@command(_add_preflight)
def _run_preflight(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from perpbot.cli.compose import make_clock
    from perpbot.cli.preflight import Preflight, render
    from perpbot.data.client import HyperliquidClient

    settings = load_config(args)
    with ExitStack() as stack:
        clock = make_clock(settings, stack)  # the daemon's clock: its nonces are the ones the exchange takes
        client = stack.enter_context(HyperliquidClient.from_settings(settings, clock=clock))
        check = Preflight(settings, client, clock)
        print(render(check.run()))
    return 0 if check.passed else 1
