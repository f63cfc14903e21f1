"""Provides the command router: an authorized command in, a reply and an audit result out.

Reading commands build their reply from the snapshot or the trades; acting commands go through
the engine's own command handler (`EnginePorts.commands`, the path `perpbot control` takes), so
there is one implementation of pause, resume, close and flatten. `/close` and `/flatten` only ask
at first (confirm.py); `run_confirmed` runs them once the asker presses the button.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from perpbot.config import Settings
from perpbot.errors import PerpbotError
from perpbot.ops.telegram.confirm import Confirmations, Pending
from perpbot.ops.telegram.ports import BotStore, EnginePorts
from perpbot.ops.telegram.reports import MAX_DAILY, MAX_DAYS, daily_blocks, profit_blocks, weekly_blocks
from perpbot.ops.telegram.text import BOLD, Block
from perpbot.ops.telegram.updates import Command
from perpbot.ops.telegram.views import help_blocks, num, positions_blocks, signals_blocks, status_blocks
from perpbot.reporting.numbers import price
from perpbot.reporting.weekly import money

_SYMBOL = re.compile(r"^[A-Za-z0-9]{1,20}$")
DAILY_DEFAULT = 7


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command came to: the reply, the audit result and detail, and a question to ask, if any."""

    blocks: list[Block]
    result: str  # ok | error | asked | refused | unknown
    detail: str = ""
    question: Pending | None = None


def _refused(text: str) -> Outcome:
    return Outcome([Block(text)], "refused", text)


class Router:
    """Answers authorized commands.

    Args:
        engine: the hosted engine's ports.
        store: trades for the reports.
        settings: backtest.initial_equity for returns, risk for the halt warning.
        confirmations: where /close and /flatten wait for their button.
    """

    def __init__(self, engine: EnginePorts, store: BotStore, settings: Settings, confirmations: Confirmations) -> None:
        self._engine = engine
        self._store = store
        self._settings = settings
        self._confirmations = confirmations
        self._routes = {
            "start": self._help, "help": self._help, "status": self._status, "positions": self._positions,
            "signals": self._signals, "profit": self._profit, "daily": self._daily, "weekly": self._weekly,
            "pause": self._pause_resume, "resume": self._pause_resume, "close": self._close, "flatten": self._flatten,
        }

    def route(self, cmd: Command) -> Outcome:
        handler = self._routes.get(cmd.name)
        if handler is None:
            return Outcome([Block(f"Unknown command /{cmd.name}. /help lists the commands.")], "unknown")
        return handler(cmd)

    # --- reading ---------------------------------------------------------------------------------

    def _help(self, cmd: Command) -> Outcome:
        return Outcome(help_blocks(), "ok")

    def _status(self, cmd: Command) -> Outcome:
        return Outcome(status_blocks(self._engine.snapshot(), self._engine.now_ms()), "ok")

    def _positions(self, cmd: Command) -> Outcome:
        return Outcome(positions_blocks(self._engine.snapshot(), self._engine.now_ms()), "ok")

    def _signals(self, cmd: Command) -> Outcome:
        return Outcome(signals_blocks(self._engine.snapshot()), "ok")

    def _profit(self, cmd: Command) -> Outcome:
        days = _count(cmd.args, None, MAX_DAYS)
        if days == -1:
            return _refused(f"Usage: /profit [days], days from 1 to {MAX_DAYS} (all time without it).")
        snap = self._engine.snapshot()
        blocks = profit_blocks(self._trades(snap), self._engine.now_ms(), days, self._settings.backtest.initial_equity,
                               snap.get("positions") or [])
        return Outcome(blocks, "ok")

    def _daily(self, cmd: Command) -> Outcome:
        days = _count(cmd.args, DAILY_DEFAULT, MAX_DAILY)
        if days is None or days == -1:
            return _refused(f"Usage: /daily [n], n days from 1 to {MAX_DAILY} ({DAILY_DEFAULT} without it).")
        return Outcome(daily_blocks(self._trades(self._engine.snapshot()), self._engine.now_ms(), days), "ok")

    def _weekly(self, cmd: Command) -> Outcome:
        blocks = weekly_blocks(self._trades(self._engine.snapshot()), self._engine.now_ms(),
                               self._settings.backtest.initial_equity, self._settings.risk)
        return Outcome(blocks, "ok")

    def _trades(self, snap: dict[str, Any]) -> list[Any]:
        """The engine mode's trades, closed and open, as `perpbot review` reads them."""
        mode = str(snap.get("mode") or self._settings.execution.mode)
        return self._store.closed_trades(mode=mode) + self._store.open_trades(mode=mode)

    # --- acting ----------------------------------------------------------------------------------

    def _pause_resume(self, cmd: Command) -> Outcome:
        reply = self._engine_call(cmd.name, {})
        if not reply.get("ok"):
            return _failed(cmd.name, reply)
        if cmd.name == "pause":
            text = "Paused: no new entries. Open positions keep their stops and exits. /resume to trade again."
        else:
            text = "Resumed: new entries are allowed again."
        return Outcome([Block(text)], "ok", _detail(reply))

    def _close(self, cmd: Command) -> Outcome:
        if len(cmd.args) != 1 or not _SYMBOL.match(cmd.args[0]):
            return _refused("Usage: /close SYMBOL, e.g. /close BTC")
        symbol = cmd.args[0]
        position = next((p for p in self._engine.snapshot().get("positions") or []
                         if str(p.get("symbol")).upper() == symbol.upper()), None)  # /close kpepe finds kPEPE
        if position is None:
            return _refused(f"No open position on {symbol}.")
        symbol = str(position.get("symbol"))
        text = (f"Close {symbol} {position.get('side')} {num(position.get('size'))} at market? "
                f"Mark {price(position.get('mark'))}, PnL {money(position.get('unrealized_pnl'))}.")
        return self._ask(cmd, "close", {"symbol": symbol}, text)

    def _flatten(self, cmd: Command) -> Outcome:
        snap = self._engine.snapshot()
        positions, pending = snap.get("positions") or [], snap.get("pending") or []
        resting = snap.get("resting_orders") or []
        if not positions and not pending and not resting:
            return _refused("Nothing to flatten: no open positions and no pending entries.")
        names = ", ".join(f"{p.get('symbol')} {p.get('side')}" for p in positions) or "none"
        text = (f"Flatten: close every position at market ({names}) and cancel {len(pending)} pending "
                f"entr{'y' if len(pending) == 1 else 'ies'}"
                + (f" and {len(resting)} resting order{'' if len(resting) == 1 else 's'}?" if resting else "?"))
        return self._ask(cmd, "flatten", {}, text)

    def _ask(self, cmd: Command, command: str, args: dict[str, Any], text: str) -> Outcome:
        pending = self._confirmations.ask(command, args, cmd.text, cmd.sender)
        pending.prompt = f"{text} The button works for 60 s."
        return Outcome([Block(pending.prompt)], "asked", text, pending)

    def run_confirmed(self, pending: Pending) -> Outcome:
        """Run a confirmed /close or /flatten through the engine."""
        reply = self._engine_call(pending.command, pending.args)
        if not reply.get("ok"):
            return _failed(pending.text, reply)
        data = reply.get("data") or {}
        closed = data.get("closed") or []
        lines = [f"{c.get('symbol')} {c.get('side')} closed at {price(c.get('exit_price'))}, PnL {money(c.get('pnl'))}"
                 for c in closed]
        if pending.command == "flatten":
            lines = lines or ["No position was open."]
            if data.get("still_open"):
                lines.append("STILL OPEN (see the log): " + ", ".join(map(str, data["still_open"])))
            return Outcome([Block("Flatten done" if not data.get("still_open") else "Flatten incomplete", BOLD),
                            Block("\n".join(lines))], "ok" if not data.get("still_open") else "error", _detail(reply))
        return Outcome([Block("\n".join(lines) or "Closed.")], "ok", _detail(reply))

    def _engine_call(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._engine.commands(command, dict(args))
        except PerpbotError as exc:
            return {"ok": False, "error": str(exc)}


def _failed(what: str, reply: dict[str, Any]) -> Outcome:
    error = str(reply.get("error") or "no reason given")
    return Outcome([Block(f"{what} failed: {error}")], "error", error)


def _detail(reply: dict[str, Any]) -> str:
    return json.dumps(reply.get("data") or {}, sort_keys=True, default=str)


def _count(args: tuple[str, ...], default: int | None, maximum: int) -> int | None:
    """The one optional whole-number argument: `default` without it, -1 when it is bad."""
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= maximum:
        return -1
    return int(args[0])
