"""Provides the engine's commands on the wire: a request (cmd, args) in, a reply dict out.

The one place where the engine's command objects (execution/commands.py) meet the socket's
format (protocol.py, docs/interfaces.md): the daemon's socket, the dashboard's in-process link
and Telegram control all answer through `handler(engine)`, so they agree to the byte.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from perpbot.execution.commands import (
    ClosedPosition,
    ClosePosition,
    Closed,
    Command,
    CommandRefused,
    Flatten,
    Flattened,
    Pause,
    Paused,
    Ping,
    Pong,
    Result,
    Resume,
    Snapshot,
)
from perpbot.ipc.protocol import Handler, error, ok

NAMES: dict[str, Callable[[], Command]] = {"snapshot": Snapshot, "ping": Ping, "pause": Pause, "resume": Resume,
                                           "flatten": Flatten}
FLATTEN_NOTE = "entries paused until `perpbot control resume`"


class Executes(Protocol):
    """What answers commands: the trading engine."""

    def execute(self, command: Command) -> Result: ...


class BadRequest(ValueError):
    """A request that names no command, or a command without what it needs; the text is the reply."""


def parse_command(cmd: str, args: dict[str, Any]) -> Command:
    """The command a request names.

    Raises:
        BadRequest: an unknown command, or close without a symbol.
    """
    if cmd == "close":
        symbol = args.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise BadRequest('close needs a symbol, e.g. {"cmd": "close", "symbol": "BTC"}')
        return ClosePosition(symbol)
    make = NAMES.get(cmd)
    if make is None:
        raise BadRequest(f"unknown command {cmd!r}; use snapshot, ping, pause, resume, close, flatten")
    return make()


def reply_data(result: Result) -> dict[str, Any]:
    """A result as the reply's `data` object."""
    if isinstance(result, dict):
        return result
    if isinstance(result, Pong):
        return {"pong": True, "time": result.time_ms, "mode": result.mode}
    if isinstance(result, Paused):
        return {"paused": result.paused}
    if isinstance(result, Closed):
        return {"closed": _closed(result.closed), "cooldown_until": result.cooldown_until}
    if isinstance(result, Flattened):
        return {"closed": _closed(result.closed), "still_open": list(result.still_open), "paused": True,
                "note": FLATTEN_NOTE}
    raise TypeError(f"no reply shape for {type(result).__name__}")


def answer(engine: Executes, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    """One request answered by `engine`: ok(data), or error(why) for a bad request or a refusal."""
    try:
        return ok(reply_data(engine.execute(parse_command(cmd, args))))
    except (BadRequest, CommandRefused) as exc:
        return error(exc.message if isinstance(exc, CommandRefused) else str(exc))


def handler(engine: Executes) -> Handler:
    """`answer` bound to one engine."""
    return partial(answer, engine)


def _closed(closed: tuple[ClosedPosition, ...]) -> list[dict[str, Any]]:
    return [{"symbol": c.symbol, "side": c.side, "pnl": c.pnl, "exit_price": c.exit_price} for c in closed]
