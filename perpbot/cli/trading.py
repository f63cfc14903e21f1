"""Provides the trading commands: `perpbot --headless trade`, `perpbot status`, `perpbot control`.

`trade` hosts the engine (host.py: the lock, the engine, the control socket, alerts, watchdog,
storage watch, Telegram) and runs the tick loop until SIGINT/SIGTERM, which stop it after the
current tick and release everything; without --headless the dashboard hosts it (dashboard.py).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import datetime, timezone
from typing import Any

from perpbot.cli.args import UsageError
from perpbot.config import Settings
from perpbot.errors import PerpbotError
from perpbot.ipc.client import DaemonUnavailable, request

log = logging.getLogger(__name__)



def confirm_adoption(stdin: Any = None, out: Any = None) -> bool:
    """Ask before `--adopt-account` takes the account over (a terminal must answer "yes"; without a
    terminal, as under systemd, the flag itself is the confirmation)."""
    stdin, out = stdin or sys.stdin, out or sys.stderr
    if not stdin.isatty():
        log.warning("adopt_account_unconfirmed", extra={"reason": "no terminal: the flag is the confirmation"})
        return True
    print("perpbot: --adopt-account takes this account over from any other perp-bot that traded it: its orders are\n"
          "  canceled and its positions adopted. Two bots on one account double every position and cancel each\n"
          "  other's stops. Is the other bot stopped for good? Type yes to continue: ", end="", file=out, flush=True)
    answer = stdin.readline().strip().lower()
    if answer != "yes":
        print("perpbot: not taking the account over", file=out)
        return False
    return True


def host_command(settings: Settings, headless: bool, force: bool, adopt_account: bool) -> int:
    """`perpbot --headless trade` (the daemon) or `perpbot` (the dashboard hosting the engine), after
    the config's warnings and, with --adopt-account, the user's yes. Returns the exit code."""
    from perpbot.config_checks import config_warnings

    for warning in config_warnings(settings):
        log.warning("config_warning", extra={"warning": warning})
        if headless:
            print(f"perpbot: warning: {warning}", file=sys.stderr)
    if adopt_account and not confirm_adoption():
        return 1
    if headless:
        return run_trade(settings, force, adopt_account)
    from perpbot.cli.dashboard import run_dashboard

    return run_dashboard(settings, force, adopt_account)


def run_trade(settings: Settings, force: bool, adopt_account: bool = False) -> int:
    """Run the headless daemon until a signal stops it. Returns the exit code.

    Raises:
        DaemonRunning: another daemon holds the database.
        PerpbotError: composition failed (exchange unreachable, losing-week halt, bad key, ...).
    """
    from perpbot.cli.host import hosted_engine

    with hosted_engine(settings, force=force, adopt_account=adopt_account) as hosted:
        engine = hosted.engine
        _on_signals(engine.stop)
        now = engine.clock.now_ms()
        log_file = settings.log_path if settings.logging.file else "off"
        _announce(settings, f"trading {engine.executor.mode} {','.join(engine.symbols)} on "
                  f"{settings.strategy.timeframe} against {settings.exchange.url}, clock {_utc(now)} "
                  f"({settings.execution.clock}); socket {settings.socket_path}, log {log_file}")
        engine.run()
    _announce(settings, "stopped")
    return 0


def _announce(settings: Settings, text: str) -> None:
    """A line for whoever started the daemon: a log event when stdout carries JSON lines (so the stream
    stays parseable), else a plain `perpbot: ...` line."""
    from perpbot.ops.logging import stdout_format

    if stdout_format(settings.logging.stdout) == "json":
        log.info(text.partition(" ")[0], extra={"detail": text})
    else:
        print(f"perpbot: {text}", flush=True)


def _on_signals(stop: Any) -> None:
    def handler(signum: int, frame: Any) -> None:
        log.info("signal_received", extra={"signal": signal.Signals(signum).name})
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_status(settings: Settings) -> int:
    """Print the daemon's snapshot as JSON; 1 with a one-line explanation when none answers."""
    try:
        reply = request(settings.socket_path, "snapshot")
    except DaemonUnavailable as exc:
        print(f"perpbot: {exc.message}; {exc.hint}", file=sys.stderr)
        return 1
    if not reply.get("ok"):
        print(f"perpbot: the daemon answered an error: {reply.get('error')}", file=sys.stderr)
        return 1
    print(json.dumps(reply.get("data"), indent=2, sort_keys=True))
    return 0


def run_control(settings: Settings, action: str, symbol: str | None) -> int:
    """Send pause | resume | close SYMBOL | flatten; print the reply's data, 1 on an error reply."""
    if action == "close" and not symbol:
        raise UsageError("control close needs a SYMBOL", "e.g. `perpbot control close BTC`")
    if action != "close" and symbol:
        # `flatten BTC` closing every coin (or `pause BTC` pausing all) would do more than was asked
        raise UsageError(f"control {action} takes no SYMBOL (got {symbol!r}): it acts on every coin",
                         "to close one coin use `perpbot control close SYMBOL`")
    args: dict[str, Any] = {"symbol": symbol} if symbol else {}
    try:
        reply = request(settings.socket_path, action, 5.0, **args)
    except DaemonUnavailable as exc:
        print(f"perpbot: {exc.message}; {exc.hint}", file=sys.stderr)
        return 1
    if not reply.get("ok"):
        print(f"perpbot: {action} failed: {reply.get('error')}", file=sys.stderr)
        return 1
    data = reply.get("data")
    print(json.dumps(data, sort_keys=True))
    still_open = data.get("still_open") if isinstance(data, dict) else None
    if still_open:
        print(f"perpbot: flatten left {', '.join(map(str, still_open))} open; see the log, and retry "
              "`perpbot control flatten`", file=sys.stderr)
        return 1
    return 0
