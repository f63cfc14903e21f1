"""Provides what every CLI command module shares: the command registry, config loading and
logging for a command, the argument types, and the parser class whose errors are one line.

argparse calls a type function on the raw text; raising `argparse.ArgumentTypeError` there
makes argparse report "argument --days: <our message>". The parser's `error()` raises
`UsageError` instead of printing the usage block, so `cli.main` prints one line for it like any
other `PerpbotError`. Command modules (commands.py, db.py, research.py) register pairs of
`_add_<name>(subparsers)` and `_run_<name>(args)` with `@command`; heavy imports stay inside the
run functions so `--help` and `status` start fast.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from perpbot.config import INTERVALS, Settings, load_settings, normalize_symbols
from perpbot.errors import ConfigError, PerpbotError

MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last time datetime can show
MAX_DAYS = 10_000.0  # ~27 years back: before any perpetual exchange existed, never before 1970


# --- the command registry ------------------------------------------------------------------

COMMANDS: list[tuple[Callable[[Any], None], Callable[[argparse.Namespace], int | None]]] = []


def command(add: Callable[[Any], None]) -> Callable[[Callable[[argparse.Namespace], int | None]], Any]:
    """Register a command: `@command(_add_x)` above `def _run_x(args)`."""

    def register(run: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int | None]:
        COMMANDS.append((add, run))
        return run

    return register


# --- config and logging for a command --------------------------------------------------------


def load_config(args: argparse.Namespace, overrides: list[str] | None = None) -> Settings:
    """Settings from --config (or ./config.yaml) plus --set overrides (before the command, then after it)."""
    given = overrides or [*(getattr(args, "global_set", None) or []), *(getattr(args, "set", None) or [])]
    return load_settings(getattr(args, "config", None), overrides=given or None)


def setup_command_logging(settings: Settings, to_file: bool = False, stdout: bool = False) -> None:
    """Logging for a command: the rotating file (if `to_file` and logging.file), and stdout for the daemon.

    Args:
        stdout: True for the headless daemon, which follows logging.stdout; other commands own stdout.

    Raises:
        StorageError: the log file cannot be created.
    """
    from perpbot.errors import StorageError
    from perpbot.ops.logging import setup_logging

    file_path = settings.log_path if (to_file and settings.logging.file) else None
    options = dict(level=settings.logging.level, stdout=settings.logging.stdout if stdout else "off",
                   secrets=settings.secrets.values(), max_bytes=settings.logging.max_bytes,
                   backups=settings.logging.backups)
    try:
        setup_logging(file_path=file_path, **options)  # type: ignore[arg-type]
    except StorageError as exc:
        if file_path is None or not file_path.parent.is_dir():
            raise  # no folder for the database either: nothing this command does can work
        # A report or backtest on a read-only disk still runs; a command that must write says why itself.
        print(f"perpbot: warning: {exc.message}; running without the log file", file=sys.stderr)
        setup_logging(file_path=None, **options)  # type: ignore[arg-type]


def split_list(text: str | list[str] | None) -> list[str] | None:
    """'BTC, eth' -> ['BTC', 'eth']; a list (already parsed by an argument type) or None stays as is."""
    if text is None or isinstance(text, list):
        return text
    return [part.strip() for part in text.split(",") if part.strip()]


PIPE_WIDTH = 1000
"""Columns a piped console lays tables out in: wide enough that no cell is ever cut."""


def make_console() -> Any:
    """A rich Console for a command's output. Piped (no terminal, no COLUMNS), it is PIPE_WIDTH wide
    instead of rich's 80, so tables keep whole cells for grep and files instead of `2026…`."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPE_WIDTH)
    console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]  # cli.main ends it quietly, as for print()
    return console


def _broken_pipe() -> None:
    raise BrokenPipeError


# --- the parser and the argument types ---------------------------------------------------------


class UsageError(PerpbotError):
    """A flag or argument the parser refused (unknown, missing, or a bad value)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (raised, not printed), naming the command's help."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]  # "perpbot backtest" -> "backtest"
        raise UsageError(f"{command}: {message}" if command else message, f"see `{self.prog} --help`")


def parse_time(text: str | None) -> int | None:
    """An ISO date/time (UTC unless it says otherwise) or epoch ms, as epoch ms (None stays None).

    Raises:
        PerpbotError: not a date, or outside 1970..9999.
    """
    if text is None:
        return None
    hint = "use a date like 2024-03-01 or 2024-03-01T12:00, or epoch ms"
    text = text.strip()
    if text.isdigit():
        value = int(text)
        if value > MAX_EPOCH_MS:
            raise PerpbotError(f"the time {text} is past the year 9999 (as epoch ms)", hint)
        return value
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PerpbotError(f"cannot read the time {text!r}", hint) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        value = int(when.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise PerpbotError(f"the time {text!r} is out of range", hint) from None
    if value < 0:
        raise PerpbotError(f"the time {text!r} is before 1970", hint)
    return value


def _typed(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a converter that raises PerpbotError."""

    def arg(text: str) -> Any:
        try:
            return convert(text)
        except PerpbotError as exc:
            raise argparse.ArgumentTypeError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None

    return arg


time_arg = _typed(parse_time)


def number_arg(low: float | None = None, high: float | None = None, *, low_open: bool = False,
               whole: bool = False) -> Callable[[str], Any]:
    """A finite number (an int if `whole`) with low <= x <= high (low < x when `low_open`)."""
    kind = "a whole number" if whole else "a number"

    def convert(text: str) -> Any:
        try:
            value: float | int = int(text) if whole else float(text)
        except ValueError:
            raise PerpbotError(f"{text!r} is not {kind}") from None
        if not math.isfinite(value):
            raise PerpbotError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise PerpbotError(f"must be {'>' if low_open else '>='} {low:g} (got {text})")
        if high is not None and value > high:
            raise PerpbotError(f"must be <= {high:g} (got {text})")
        return value

    return _typed(convert)


def _symbols(text: str) -> list[str]:
    return normalize_symbols(text.split(","), "--symbols")


def _timeframes(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise ConfigError("no timeframe given", "e.g. --timeframes 1m,15m")
    for item in items:
        _timeframe(item)
    return list(dict.fromkeys(items))


def _timeframe(text: str) -> str:
    if text.strip() not in INTERVALS:
        raise ConfigError(f"unknown timeframe {text.strip() or repr(text)}", f"use one of {', '.join(INTERVALS)}")
    return text.strip()


def _symbol(text: str) -> str:
    return normalize_symbols([text], "--symbol")[0]


def _output_file(text: str) -> str:
    """A file a command will write when it ends: checked now, so a long run never ends in a path error."""
    if not text.strip():
        raise PerpbotError("an empty file name", "name the file to write")
    path = Path(text).expanduser()
    if path.is_dir():
        raise PerpbotError(f"{text} is a folder", "name a file to write in it")
    folder = path.parent
    if not folder.is_dir():
        raise PerpbotError(f"the folder {folder} does not exist", "create it first, or pick another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PerpbotError(f"{text} cannot be written (permission denied)", "pick a path you can write")
    return text


symbols_arg = _typed(_symbols)
output_file_arg = _typed(_output_file)
timeframes_arg = _typed(_timeframes)
timeframe_arg = _typed(_timeframe)
symbol_arg = _typed(_symbol)
days_arg = number_arg(0, MAX_DAYS, low_open=True)
port_arg = number_arg(0, 65535, whole=True)
SEED = number_arg(0, 2**32 - 1, whole=True)
MAX_SPEED = 1_000_000.0
"""The fastest clock `sim --speed` and `demo --speed` accept."""
