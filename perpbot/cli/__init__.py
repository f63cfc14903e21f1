"""Provides the `perpbot` command, the composition root: parse, compose, run, map errors to exit codes.

Each command is a pair of functions, `_add_<name>(subparsers)` and `_run_<name>(args)`,
registered with `args.command`: the data, trading and dashboard commands in commands.py, the
database commands in db.py, the research commands in research.py (imported below in that order,
which is --help's). Their `_run_` functions import the heavy modules (one per command group:
data.py, trading.py, dashboard.py, preflight.py, reports.py, backtest.py, sweeps.py, optimize.py)
only when they run, so `--help` and `status` start fast. Objects are assembled here and nowhere
else: compose.py builds the engine, host.py hosts it (daemon and dashboard alike), sessions.py,
dashboard.py (its app factory), runner.py and demo.py give the dashboard what it shows; sim.py
serves the simulator.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable

from perpbot import __version__
from perpbot.cli import commands, db, research  # noqa: F401 - they register the commands, in --help's order
from perpbot.cli.args import COMMANDS, OneLineParser
from perpbot.errors import PerpbotError

log = logging.getLogger(__name__)


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for a program whose reader went away


# --- parser and main ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="perpbot",
        description="Mean-reversion trading bot for Hyperliquid perpetual futures.",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: ./config.yaml if present)")
    parser.add_argument("--headless", action="store_true", help="run without the dashboard (daemon mode)")
    parser.add_argument("--set", dest="global_set", action="append", metavar="KEY=VALUE",
                        help="override a config key for any command, e.g. `perpbot --set data.db_path=x.db status`")
    parser.add_argument("--version", action="version", version=f"perpbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, run in COMMANDS:
        add(sub)
        # The last parser added is this command's; remember what runs it.
        list(sub.choices.values())[-1].set_defaults(_run=run)
    return parser


def entry() -> None:
    """The `perpbot` console script: `main`, then exit.

    Before exiting, everything the command built is frozen out of the cyclic garbage collector:
    it all dies with the process, and Python's last collection at exit would otherwise walk it
    (a year of 1m backtest: ~40 ms of the run). Only the console script does this; `main`, which
    tests call in one process, leaves the collector alone.
    """
    code = main(sys.argv[1:])
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `perpbot regime --json | head`: the reader left. Say nothing, and keep Python's final
        # flush of stdout from failing again at exit.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    import sqlite3

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        run = getattr(args, "_run", None) or _default_command()
        if run is None:
            parser.print_help()
            return 0
        return int(run(args) or 0)
    except PerpbotError as exc:
        return _fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        print("perpbot: interrupted", file=sys.stderr)
        return 130
    except sqlite3.DatabaseError as exc:  # a damaged page met while reading rows (writes raise StorageError)
        log.info("database error", exc_info=True)
        return _fail(f"database error: {exc}", "run `perpbot db check`")
    except BrokenPipeError:
        raise
    except OSError as exc:  # a disk, folder or file fault outside the store (a result file, a log)
        from perpbot.data.storage import os_reason

        log.info("os error", exc_info=True)
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"{os_reason(exc)}{where}")


def _fail(message: str, hint: str = "", code: int = 2) -> int:
    """Print one line on stderr (newlines in a message become spaces) and return the exit code."""
    text = f"perpbot: error: {message}" + (f" (hint: {hint})" if hint else "")
    print(" ".join(text.split()), file=sys.stderr)
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a captured stdout in tests has no descriptor
        pass


def _default_command() -> Callable[[argparse.Namespace], int | None] | None:
    """What plain `perpbot` runs: the dashboard, once it exists."""
    for add, run in COMMANDS:
        if run.__name__ == "_run_dashboard":
            return run
    return None
