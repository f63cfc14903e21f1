"""Provides the trading engine: the tick loop the headless daemon and the dashboard both run.

One tick per closed `strategy.timeframe` bar, the backtest's order within it (issue 5, "Fill
semantics"): stops first (they happened inside the bar), resting maker orders (execution/resting.py:
fills, then cancels, expiries and re-prices at this close), timeouts and signal exits (they fill now,
at what is the next bar's open), entry decisions on the bar that just closed, delayed entries due
now. Between ticks the loop wakes every `execution.tick_seconds` for stops and feed health. Commands
(`execute`, execution/commands.py) run under the same lock as ticks, so one thread at a time changes
trading state; the snapshot is served from the thread-safe EngineState. The engine sees its parts
only through their ports (data/ports.py, executor.py, the Clock); perpbot/cli/compose.py builds them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from perpbot.clock import DAY_MS, Clock, floor_ms, interval_ms
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.data.ports import BarStream, PriceFeed
from perpbot.errors import StorageError
from perpbot.execution.engine_commands import EngineCommands
from perpbot.execution.engine_upkeep import EngineUpkeep
from perpbot.execution.engine_parts import (
    AccountWatch,
    PassFailures,
    PendingBook,
    PendingEntry,
    RegimeSource,
    StorageFault,
    recover_risk,
    side_of,
)
from perpbot.execution.events import EventHook, Listener, Started
from perpbot.execution.executor import Executor
from perpbot.execution.resting import MakerDesk
from perpbot.execution.state import EngineState
from perpbot.execution.tick_data import TickData
from perpbot.models import Side, Trade
from perpbot.risk.manager import RiskManager
from perpbot.signals.decisions import ENTRIES, NO_DATA, TIMEOUT, DecisionTable, decision_row
from perpbot.signals.engine import Action, BarValues, Decision, decide, required_lookback
from perpbot.signals.prediction import RegimeState

__all__ = ["TradingEngine"]

log = logging.getLogger(__name__)


def _no_events(event: str, fields: dict[str, object]) -> None:
    """No alert hook (a library caller, a test): the event is still a log line."""
    log.info("alert", extra={"alert_event": event, "text": fields.get("text", event)})


class TradingEngine(EngineCommands, EngineUpkeep):
    """Owns the tick loop over one store, price feed, executor and risk manager (built by perpbot/cli/compose.py)."""

    def __init__(self, settings: Settings, store: Store, feed: PriceFeed, executor: Executor, risk: RiskManager,
                 regime: RegimeSource, clock: Clock, *, ingestor: DataIngestor | None = None,
                 events: EventHook | None = None, listeners: Sequence[Listener] = (),
                 sz_decimals: dict[str, int] | None = None, closers: Sequence[Callable[[], None]] = ()) -> None:
        self.settings, self.store, self.feed, self.ingestor = settings, store, feed, ingestor
        self.executor, self.risk, self.regime, self.clock = executor, risk, regime, clock
        self.events: EventHook = events or _no_events
        self.listeners = list(listeners)
        self.sz_decimals = sz_decimals or {}
        self.closers = list(closers)  # what close() releases besides the store, in order
        self.symbols = list(settings.data.symbols)
        self.params = settings.strategy
        self.step_ms = interval_ms(settings.strategy.timeframe)
        self.lookback = required_lookback(settings.strategy)
        self.delay = settings.execution.entry_delay_bars
        self.pending = PendingBook(store)
        self.maker = MakerDesk(settings, executor, self.sz_decimals, self.step_ms)
        self.state = EngineState(mode=executor.mode, timeframe=settings.strategy.timeframe, symbols=self.symbols)
        self.decisions = DecisionTable(self.symbols, lambda rows: self.state.update(signals=rows))
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._started = False
        self._feed_stale = False
        self._stale_looks = 0  # consecutive feed checks that found it stale
        self._capped = False
        self._announced: set[int | None] = set()  # open trades told as trade_open (a maker entry: once it fills)
        self._last_regime: str | None = None
        self.tick_ms: deque[float] = deque(maxlen=1000)  # wall ms of the last ticks (bench/tick.py)
        self._equity: float | None = None
        self.failures = PassFailures()
        self.storage = StorageFault(store, risk, self._emit)
        self.data = TickData(settings, store, ingestor, self.lookback, self.storage, self._emit,
                             bars=feed if isinstance(feed, BarStream) else None)
        self.watch = AccountWatch(self._account_pass)  # live with user streams: fills booked as they arrive

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, now_ms: int | None = None) -> None:
        """Recover from the store and let the executor prepare (idempotent; run() calls it)."""
        with self._lock:
            if self._started:
                return
            now = self.clock.now_ms() if now_ms is None else now_ms
            for resolution in self.executor.start(now) or []:
                self._emit("reconciliation", text=str(resolution))
            if self.executor.listen(self.watch.moved):
                self.watch.start()
            repaired = recover_risk(self.store, self.risk, self.executor.mode, now)
            if repaired:
                self._emit("reconciliation", text="risk ledger repaired from trades: " + ", ".join(repaired))
            self.state.update(started_at=now, paused=self.risk.paused)
            self._note_regime(self.regime.update(now))  # starting in ELEVATED or CRISIS alerts now, not a bar later
            self._tell(Started(now))
            self._started = True
            self._announced = {t.id for t in self.executor.open_trades()}  # told before, or by reconciliation
            self._publish_at_start(now)
            log.info("engine_started", extra={"mode": self.executor.mode, "symbols": self.symbols,
                                              "timeframe": self.params.timeframe, "open": len(self.executor.open_trades())})

    def run(self, stop: threading.Event | None = None) -> None:
        """Tick at every bar close and poll in between until stop() (or `stop` is set)."""
        if stop is not None:
            self._stop = stop
        self.start()
        next_tick = floor_ms(self.clock.now_ms(), self.step_ms) + self.step_ms
        while not self._stop.is_set():
            next_tick, wait_s = self.pass_once(next_tick)
            self.clock.wait(wait_s, self._stop)
        log.info("engine_stopped")

    def pass_once(self, next_tick: int) -> tuple[int, float]:
        """One pass of run(): the tick if `next_tick` has come, else a poll. A failure of any kind is
        logged and alerted (rate-limited) and retried a `tick_seconds` later; it never ends the loop.
        Returns the next tick's time and the seconds to wait."""
        now = self.clock.now_ms()
        try:
            if now >= next_tick:
                self.tick(now)
                next_tick = floor_ms(now, self.step_ms) + self.step_ms
            else:
                self.poll(now)
        except StorageError as exc:  # a full disk, a read-only file: hold entries, retry at the next wake
            self.storage.failed(exc)
            return next_tick, self.settings.execution.tick_seconds
        except Exception as exc:  # noqa: BLE001 - the daemon's boundary: no answer may end the loop
            self.failures.failed(exc, self.clock.now_ms(), self._emit)
            return next_tick, self.settings.execution.tick_seconds
        self.failures.succeeded(self._emit)
        return next_tick, max(min((next_tick - self.clock.now_ms()) / 1000, self.settings.execution.tick_seconds), 0.0)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Cancel resting maker orders (none rests while the bot is down), stop the ingest and stream
        threads, then release what the composition handed over (the feed, prediction clients, exchange
        clients and clock, the store)."""
        with self._lock:
            try:
                self.maker.cancel_all(self.clock.now_ms())
            except Exception:  # noqa: BLE001 - closing goes on; a live order left is found at the next start
                log.exception("maker_cancel_on_close_failed")
        self.watch.stop()
        self.data.close()
        for closer in self.closers:
            closer()

    # --- the tick ---------------------------------------------------------------------------------

    def tick(self, now_ms: int | None = None) -> None:
        """One decision pass on the bar that closed at the latest boundary <= now."""
        with self._lock:
            self.start(now_ms)
            started = time.perf_counter()
            now = self.clock.now_ms() if now_ms is None else now_ms
            boundary = floor_ms(now, self.step_ms)
            self.storage.retry(now)
            self._feed_upkeep(now)
            regime = self.regime.update(now)
            self._note_regime(regime)
            windows = self.data.ingest_and_load(now, boundary)
            for trade in self.executor.sync(now):
                self._booked(trade)
            used = self._manage_resting(windows, boundary, now)
            used |= self._exits(windows, now, boundary)
            self._entries(windows, used, boundary, now, regime)
            self._fill_pending(windows, boundary, now)
            self.state.update(last_tick=now)
            self._publish(now, full=True)
            self.tick_ms.append((time.perf_counter() - started) * 1000)

    def poll(self, now_ms: int | None = None) -> None:
        """Between ticks: stops, feed health, marks."""
        with self._lock:
            self.start(now_ms)
            now = self.clock.now_ms() if now_ms is None else now_ms
            self.storage.retry(now)
            self._feed_upkeep(now)
            for trade in self.executor.sync(now):
                self._booked(trade)
            self._publish(now, full=True)

    def _account_pass(self) -> None:
        """What the account's streams reported (AccountWatch's thread): fills booked, trades closed."""
        with self._lock:
            now = self.clock.now_ms()
            for trade in self.executor.sync(now):
                self._booked(trade)
            self._publish(now, full=False)

    def ingest(self, now: int) -> None:
        """Store the bars closed (and funding paid) since the last update; failures only warn."""
        self.data.ingest(now)

    def _manage_resting(self, windows: dict[str, BarValues | None], boundary: int, now: int) -> set[str]:
        """Resting maker orders at this close; what expired crosses as a taker now (the next open)."""
        used, crossing = self.maker.manage(windows, boundary, now)
        for order, trade in crossing:
            closed = self.executor.close(trade, order.reason, now) if order.kind == "exit" and trade else None
            if closed is not None:
                self._booked(closed)
            elif order.kind == "entry":
                self._enter(PendingEntry(order.symbol, order.side, order.placed_ms, boundary, order.size_factor,
                                         order.reason), now)
        return used

    def _exits(self, windows: dict[str, BarValues | None], now: int, boundary: int) -> set[str]:
        """Timeouts, then signal exits (of the bot's own trades); the symbols whose bar they used up."""
        used = set()
        exiting = self.maker.exiting()
        for trade in self.executor.open_trades():
            values = windows.get(trade.symbol)
            if trade.by_hand or trade.id in exiting:
                continue  # a position opened by hand is the owner's to close (under a stop); an exit rests
            if self.risk.is_timed_out(trade.entry_time, now):
                reason = "timeout"
                self._decided(trade.symbol, boundary, values, TIMEOUT)
            else:
                d = decide(values or NO_DATA, trade.side, self.params)  # no bar stored: NONE (warmup)
                self._decided(trade.symbol, boundary, values, d)
                if d.action is not Action.CLOSE:
                    continue
                self.state.add_signal(now, trade.symbol, d.action.value, d.reason)
                reason = "signal"
            used.add(trade.symbol)
            if self.maker.exits and values is not None:
                self.maker.rest_exit(trade, reason, values.close, boundary, now)
                continue
            closed = self.executor.close(trade, reason, now)
            if closed is not None:
                self._booked(closed)
        return used

    def _entries(self, windows: dict[str, BarValues | None], used: set[str], boundary: int, now: int,
                 regime: RegimeState) -> None:
        held = {t.symbol for t in self.executor.open_trades()}
        # An entry of unknown outcome is a position, and so is a resting maker entry.
        unresolved = set(self.executor.unresolved_symbols()) | self.maker.symbols()
        self._hold_for_executor()
        for symbol in self.symbols:
            values = windows.get(symbol)
            if symbol in used or symbol in held:
                continue  # its row is the exit decision's
            d = decide(values or NO_DATA, None, self.params)
            if symbol in self.pending.items or symbol in unresolved or d.action not in ENTRIES:
                self._decided(symbol, boundary, values, d, "pending_order" if d.action in ENTRIES else None)
                continue
            check = self.risk.check_entry(symbol, self._open_symbols(), regime, now)
            self._decided(symbol, boundary, values, d, None if check.allowed else check.reason)
            self.state.add_signal(now, symbol, d.action.value, d.reason if check.allowed else f"blocked:{check.reason}")
            if not check.allowed:
                log.info("entry_blocked", extra={"symbol": symbol, "reason": check.reason, "signal": d.reason})
                self._note_cap(check.reason)
                continue
            entry = PendingEntry(symbol, side_of(d.action.value).value, boundary,
                                 boundary + self.delay * self.step_ms, regime.size_factor, d.reason)
            if self.delay:
                self.pending.add(entry, now)
            else:
                self._enter(entry, now, values.close if self.maker.entries and values is not None else None)

    def _decided(self, symbol: str, boundary: int, values: BarValues | None, decision: Decision,
                 risk: str | None = None) -> None:
        """The decision-table hook: one row per symbol per bar (status `signals`, a `decision` log line)."""
        self.decisions.record(decision_row(symbol, boundary - self.step_ms, values, decision, risk))

    def _fill_pending(self, windows: dict[str, BarValues | None], boundary: int, now: int) -> None:
        for symbol, entry in list(self.pending.items.items()):
            if entry.fill_ms > boundary:
                continue
            self.pending.pop(symbol, now)
            values = windows.get(symbol)
            still = values is not None and decide(values, None, self.params).action.value == entry.side.upper()
            if entry.fill_ms < boundary or not still:
                log.info("entry_cancelled", extra={"symbol": symbol, "missed": entry.fill_ms < boundary})
                self.state.add_signal(now, symbol, "CANCEL", "signal_gone" if entry.fill_ms == boundary else "missed")
                continue
            self._enter(entry, now)

    def _enter(self, entry: PendingEntry, now: int, close: float | None = None) -> None:
        """Enter now as a taker, or with `close` rest a maker entry at that close."""
        mid = self.feed.mid(entry.symbol) if close is None else self.maker.price(
            1.0 if entry.side == Side.LONG.value else -1.0, entry.symbol, close)
        if mid is None:
            self._emit("error", text=f"{entry.symbol} entry skipped: no price", symbol=entry.symbol)
            return
        size = self.risk.position_size(self.executor.equity(), mid, entry.size_factor,
                                       self.sz_decimals.get(entry.symbol))
        if size <= 0:
            log.info("entry_below_min_order", extra={"symbol": entry.symbol,
                                                    "min_order_usd": self.risk.cfg.min_order_usd})
            self.decisions.amend(entry.symbol, entry.fill_ms - self.step_ms, self.risk.size_check(size).reason)
            return
        if close is not None:
            self.maker.rest_entry(entry.symbol, Side(entry.side), size, close, entry.reason, entry.size_factor,
                                  entry.decided_ms, entry.decided_ms, now)
            return
        trade = self.executor.open(entry.symbol, Side(entry.side), size, entry.reason, entry.decided_ms, now, mid)
        if trade is not None:
            self._announce(trade)

    def _booked(self, trade: Trade) -> None:
        """A closed trade: the risk ledger (daily pnl, cooldowns) and an event."""
        assert trade.exit_time is not None and trade.pnl is not None
        when = trade.exit_time
        if trade.exit_reason == "stop_loss":
            # The ledger books a stop at the open of the bar it happened in, as the backtest does, so a
            # cooldown ends at the same bar close in both drivers (never before the current UTC day).
            when = max(floor_ms(when, self.step_ms), floor_ms(self.clock.now_ms(), DAY_MS))
        self.risk.record_exit(trade.symbol, trade.pnl, trade.exit_reason or "", when)
        event = "stop_loss" if trade.exit_reason == "stop_loss" else "trade_close"
        self._emit(event, text=f"{trade.symbol} {trade.side.value} closed ({trade.exit_reason}) pnl {trade.pnl:+.2f}",
                   symbol=trade.symbol, reason=trade.exit_reason, pnl=trade.pnl, price=trade.exit_price)
        self._note_cap(None)

    def _hold_for_executor(self) -> None:
        """The executor's own reasons to refuse entries (a live reconciliation that has not succeeded,
        another perp-bot on the account) hold entries like a storage fault: risk reason `account`."""
        blocks = self.executor.entry_blocks()
        self.risk.hold("account", "; ".join(blocks) if blocks else None)

    def _open_symbols(self) -> list[str]:
        """Symbols holding a position, a delayed or resting entry, or an entry whose outcome is not known yet."""
        held = [t.symbol for t in self.executor.open_trades()] + list(self.pending.items)
        return held + sorted((set(self.executor.unresolved_symbols()) | self.maker.symbols()) - set(held))
