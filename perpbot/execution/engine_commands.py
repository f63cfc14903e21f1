"""Provides the engine's command half: `execute` runs snapshot, ping, pause, resume, close and flatten.

Flatten means stop: it closes every position and pauses entries until `resume`, so the next bar
cannot open a new position a moment after the user asked for none. Closing one symbol by hand
starts that symbol's cooldown, as a stop loss does, for the same reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from perpbot.clock import Clock
from perpbot.execution import commands
from perpbot.execution.engine_parts import PendingBook
from perpbot.execution.executor import Executor
from perpbot.execution.resting import ENTRY, MakerDesk
from perpbot.execution.state import EngineState
from perpbot.models import Trade
from perpbot.risk.manager import RiskManager

log = logging.getLogger(__name__)


class EngineCommands:
    """The command half of TradingEngine (which sets these attributes)."""

    clock: Clock
    executor: Executor
    risk: RiskManager
    pending: PendingBook
    maker: MakerDesk
    state: EngineState
    _lock: threading.RLock
    _publish: Callable[[int, bool], None]  # TradingEngine._publish(now, full)
    _booked: Callable[[Trade], None]  # TradingEngine._booked(trade)

    def execute(self, command: commands.Command) -> commands.Result:
        """Run one command (thread-safe; trading commands take the tick's lock).

        Raises:
            commands.CommandRefused: nothing to close, or the exchange did not close it now.
        """
        if isinstance(command, commands.Snapshot):
            return self.state.snapshot()
        if isinstance(command, commands.Ping):
            return commands.Pong(self.clock.now_ms(), self.executor.mode)
        with self._lock:
            now = self.clock.now_ms()
            if isinstance(command, (commands.Pause, commands.Resume)):
                self.risk.set_paused(isinstance(command, commands.Pause), now)
                if self.risk.paused:
                    self.maker.cancel_all(now, kind=ENTRY)  # paused: no entry rests
                log.info("engine_paused" if isinstance(command, commands.Pause) else "engine_resumed")
                self._publish(now, False)
                return commands.Paused(self.risk.paused)
            if isinstance(command, commands.ClosePosition):
                return self._close_symbol(command.symbol, now)
            return self._flatten(now)

    def _close_symbol(self, symbol: str, now: int) -> commands.Closed:
        # typed by a person: `close kpepe` finds kPEPE (the exchange's spelling, which the trades keep)
        trades = [t for t in self.executor.open_trades() if t.symbol.upper() == symbol.upper()]
        if not trades:
            raise commands.CommandRefused(f"no open position on {symbol}")
        symbol = trades[0].symbol
        self.maker.cancel_all(now, trade_ids={t.id for t in trades if t.id is not None})
        closed = self._close_all(trades, "manual", now)
        if not closed:
            self._publish(now, True)
            raise commands.CommandRefused(f"{symbol} could not be closed now; see the log")
        self.risk.start_cooldown(symbol, now)
        self._publish(now, True)
        return commands.Closed(closed, self.risk.cooldown_until(symbol, now))

    def _flatten(self, now: int) -> commands.Flattened:
        for symbol in list(self.pending.items):
            self.pending.pop(symbol, now)
        self.risk.set_paused(True, now)
        self.maker.cancel_all(now)  # resting entries and exits first: nothing may fill after the flatten
        closed = self._close_all(self.executor.open_trades(), "flatten", now)
        left = tuple(t.symbol for t in self.executor.open_trades())
        log.warning("engine_flattened", extra={"closed": len(closed), "still_open": list(left)})
        self._publish(now, True)
        return commands.Flattened(closed, left)

    def _close_all(self, trades: list[Trade], reason: str, now: int) -> tuple[commands.ClosedPosition, ...]:
        out = []
        for trade in trades:
            closed = self.executor.close(trade, reason, now)
            if closed is not None:
                self._booked(closed)
                out.append(commands.ClosedPosition(closed.symbol, closed.side.value, closed.pnl, closed.exit_price))
        return tuple(out)
