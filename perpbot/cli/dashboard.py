"""Provides the dashboard commands: `perpbot` (`dashboard`), `perpbot tui` and `perpbot demo`, and the app factory.

commands.py parses the arguments and loads the settings; these pick the session (sessions.py), build
the app with `make_app` (the session and the runner of its backtests), run it and turn its result
into the exit code. Textual is imported only when a command runs, so `perpbot --help` and
`perpbot status` stay fast.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from perpbot.config import Settings
from perpbot.ops.logging import setup_logging
from perpbot.tui.session import Session

if TYPE_CHECKING:  # Textual loads when a dashboard command runs, not with the CLI
    from perpbot.tui.app import PerpBotApp
    from perpbot.tui.runs import Runner

log = logging.getLogger(__name__)


def make_app(session: Session, runner: Runner | None = None, poll_interval_s: float | None = None) -> PerpBotApp:
    """The dashboard on `session`, its runs made by `runner` (default: the real ones over the database).

    The commands, the snapshot tests and scripts/screenshots.py all build the app here.
    """
    from perpbot.cli.runner import Runs
    from perpbot.tui.app import PerpBotApp
    from perpbot.tui.bridge import POLL_INTERVAL_S

    return PerpBotApp(session, runner or Runs(), POLL_INTERVAL_S if poll_interval_s is None else poll_interval_s)


def run_dashboard(settings: Settings, force: bool, adopt_account: bool = False) -> int:
    """`perpbot`: host the engine (paper unless configured live) and show it. Returns the exit code."""
    from perpbot.cli.sessions import EngineSession

    return _run_app(EngineSession(settings, force=force, adopt_account=adopt_account))


def run_tui(settings: Settings) -> int:
    """`perpbot tui`: the dashboard attached to the running headless daemon of these settings."""
    from perpbot.cli.sessions import AttachedSession

    session = AttachedSession(settings)
    session.connect()  # no daemon: one line on stderr and exit 1, as `perpbot status`, not an empty dashboard
    return _run_app(session)


def run_demo(seed: int, speed: float | None, folder: str | None) -> int:
    """`perpbot demo`: the dashboard paper-trading a seeded simulator in-process.

    Args:
        seed: the simulated market's seed.
        speed: simulated seconds per wall second (None: the demo's default).
        folder: keep the demo's database and log here; None uses a temporary folder removed at exit.
    """
    from perpbot.cli.sessions import DemoSession

    keep = folder is not None
    where = Path(folder).expanduser() if keep else Path(tempfile.mkdtemp(prefix="perpbot-demo-"))
    if keep:
        _clear_demo(where)
    # Log to the demo's own file only: the UI owns the terminal, the log screen tails the file.
    setup_logging(level="INFO", file_path=where / "perp-bot.log", stdout=False)
    try:
        return _run_app(DemoSession(where, seed=seed, speed=speed))
    finally:
        logging.shutdown()
        if not keep:
            shutil.rmtree(where, ignore_errors=True)


def _run_app(session: Session) -> int:
    root = logging.getLogger()
    if not root.handlers:
        # `tui` writes no log of its own (the daemon owns the file); never let a warning hit the screen.
        root.addHandler(logging.NullHandler())
    result = make_app(session).run()
    return int(result or 0)


def _clear_demo(folder: Path) -> None:
    """A kept demo folder starts fresh each run: the simulator's market starts at a new time."""
    from perpbot.cli.demo import DB_NAME
    from perpbot.ipc.lock import DbLock

    folder.mkdir(parents=True, exist_ok=True)
    lock = DbLock(folder / DB_NAME)
    lock.acquire()  # a demo still running there keeps its files (DaemonRunning says so)
    try:
        for pattern in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", "perp-bot.log*"):
            for path in folder.glob(pattern):
                path.unlink()
    finally:
        lock.release()
