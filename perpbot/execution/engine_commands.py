"""Provides the engine's commands (the socket's and the dashboard's way in): snapshot, ping, pause,
resume, close SYMBOL and flatten.

Flatten means stop: it closes every position and pauses entries until `resume`, so the next bar
cannot open a new position a moment after the user asked for none. Closing one symbol by hand
starts that symbol's cooldown, as a stop loss does, for the same reason.
"""

from __future__ import annotations

import logging
from typing import Any

from perpbot.ipc.protocol import error, ok
from perpbot.models import Trade

log = logging.getLogger(__name__)

COMMANDS = ("pause", "resume", "close", "flatten")


class EngineCommands:
    """The command half of TradingEngine (it supplies the attributes used here)."""

    clock: Any
    executor: Any
    risk: Any
    pending: Any
    state: Any
    _lock: Any
    _publish: Any  # TradingEngine._publish(now, full)
    _booked: Any  # TradingEngine._booked(trade)

    def handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Answer one command (thread-safe): snapshot, ping, pause, resume, close {symbol}, flatten."""
        if cmd == "snapshot":
            return ok(self.state.snapshot())
        if cmd == "ping":
            return ok({"pong": True, "time": self.clock.now_ms(), "mode": self.executor.mode})
        if cmd not in COMMANDS:
            return error(f"unknown command {cmd!r}; use snapshot, ping, pause, resume, close, flatten")
        with self._lock:
            now = self.clock.now_ms()
            if cmd in ("pause", "resume"):
                self.risk.set_paused(cmd == "pause", now)
                log.info(f"engine_{cmd}d")
                self._publish(now, full=False)
                return ok({"paused": self.risk.paused})
            if cmd == "close":
                return self._close_symbol(args.get("symbol"), now)
            return self._flatten(now)

    def _close_symbol(self, symbol: Any, now: int) -> dict[str, Any]:
        if not isinstance(symbol, str) or not symbol:
            return error('close needs a symbol, e.g. {"cmd": "close", "symbol": "BTC"}')
        symbol = symbol.upper()
        trades = [t for t in self.executor.open_trades() if t.symbol == symbol]
        if not trades:
            return error(f"no open position on {symbol}")
        closed = self._close_all(trades, "manual", now)
        if not closed:
            self._publish(now, full=True)
            return error(f"{symbol} could not be closed now; see the log")
        self.risk.start_cooldown(symbol, now)
        self._publish(now, full=True)
        return ok({"closed": closed, "cooldown_until": self.risk.cooldown_until(symbol, now)})

    def _flatten(self, now: int) -> dict[str, Any]:
        for symbol in list(self.pending.items):
            self.pending.pop(symbol, now)
        self.risk.set_paused(True, now)
        closed = self._close_all(self.executor.open_trades(), "flatten", now)
        left = [t.symbol for t in self.executor.open_trades()]
        log.warning("engine_flattened", extra={"closed": len(closed), "still_open": left})
        self._publish(now, full=True)
        return ok({"closed": closed, "still_open": left, "paused": True,
                   "note": "entries paused until `perpbot control resume`"})

    def _close_all(self, trades: list[Trade], reason: str, now: int) -> list[dict[str, Any]]:
        out = []
        for trade in trades:
            closed = self.executor.close(trade, reason, now)
            if closed is not None:
                self._booked(closed)
                out.append({"symbol": closed.symbol, "side": closed.side.value, "pnl": closed.pnl,
                            "exit_price": closed.exit_price})
        return out
