"""Provides the engine's small parts: the closed-bar window, the regime source, pending entries,
risk recovery after a crash, the count of failed passes, the positions view of the snapshot, and the
storage-fault hold."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from perpbot.clock import DAY_MS, MINUTE_MS, floor_ms
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.data.frames import CandleArrays
from perpbot.errors import PerpbotError, StorageError
from perpbot.models import Side, Trade
from perpbot.risk.manager import RiskManager
from perpbot.signals.engine import BarValues, bar_values, compute_indicators
from perpbot.signals.prediction import RegimeClassifier, RegimeState, fixed_regime

log = logging.getLogger(__name__)

KEY_PENDING = "engine:pending"
KEY_STORAGE_PROBE = "engine:storage_probe"


def closed_window(store: Store, settings: Settings, symbol: str, boundary_ms: int, step_ms: int,
                  lookback: int, cache: WindowCache | None = None) -> BarValues | None:
    """The decision values of the bar that closed at `boundary_ms`, or None if it is not stored.

    Takes the last `lookback` closed bars (a forming bar is never stored; from `cache` when
    given, else from the store), computes the indicators over them and returns the last bar's
    values, as the backtest sees that bar.
    """
    before = boundary_ms - step_ms + 1
    if cache is not None:
        bars = cache.latest(symbol, before)
    else:
        bars = store.latest_candles(symbol, settings.strategy.timeframe, lookback, before=before)
    if len(bars) == 0 or int(bars.t[-1]) != boundary_ms - step_ms:
        return None
    ind = compute_indicators(bars.high, bars.low, bars.close, settings.strategy)
    return bar_values(ind, bars.close, -1)


class WindowCache:
    """The last `lookback` stored bars per symbol, kept in memory and extended from the store.

    Each call reads only the bars newer than the cached last one, then checks the cached range
    with one index count: a row inserted inside it (a gap filled by a backfill) or a short
    window (history still missing) reloads the whole window, so the result always equals
    `store.latest_candles(symbol, timeframe, lookback, before)`. Candle rows are never
    rewritten (INSERT OR IGNORE), so equal counts mean equal rows. One thread per symbol at a
    time (the engine's tick).
    """

    def __init__(self, store: Store, timeframe: str, lookback: int) -> None:
        self.store, self.timeframe, self.lookback = store, timeframe, lookback
        self._bars: dict[str, CandleArrays] = {}

    def latest(self, symbol: str, before: int) -> CandleArrays:
        cached = self._bars.get(symbol)
        bars = None
        if cached is not None and len(cached) == self.lookback and int(cached.t[-1]) < before:
            new = self.store.load_candles(symbol, self.timeframe, int(cached.t[-1]) + 1, before)
            stored = self.store.count_candles_between(symbol, self.timeframe, int(cached.t[0]), before)
            if stored == len(cached) + len(new):
                bars = _tail(cached, new, self.lookback) if len(new) else cached
        if bars is None:
            bars = self.store.latest_candles(symbol, self.timeframe, self.lookback, before=before)
        self._bars[symbol] = bars
        return bars


def _tail(old: CandleArrays, new: CandleArrays, n: int) -> CandleArrays:
    """The last n bars of old followed by new (fresh, contiguous arrays)."""
    cols = [np.concatenate((getattr(old, f), getattr(new, f)))[-n:].copy() for f in _COLUMNS]
    return CandleArrays(*cols)


_COLUMNS = ("t", "open", "high", "low", "close", "volume")


class MarketPoller(Protocol):
    """Polls the prediction markets when due and stores their snapshots (data/prediction_client.py)."""

    def poll_if_due(self, now_ms: int) -> object: ...

    def close(self) -> None: ...


class RegimeSource:
    """The regime each tick: fixed (prediction disabled) or polled and classified with hysteresis."""

    def __init__(self, settings: Settings, store: Store, poller: MarketPoller | None = None) -> None:
        self.settings = settings
        self.store = store
        self.poller = poller
        cfg = settings.prediction
        self.classifier = RegimeClassifier(cfg) if cfg.enabled else None
        self.fixed = None if cfg.enabled else fixed_regime(cfg.default_regime, cfg)
        self.state: RegimeState = self.fixed or fixed_regime(cfg.default_regime, cfg)

    def update(self, now_ms: int) -> RegimeState:
        if self.classifier is None:
            return self.state
        if self.poller is not None:
            self.poller.poll_if_due(now_ms)  # stamps what it fetched with now_ms: this tick uses it
        snapshots = list(self.store.latest_snapshots(now_ms))
        self.state = self.classifier.update(snapshots, now_ms)
        return self.state

    def close(self) -> None:
        if self.poller is not None:
            self.poller.close()


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry decided at `decided_ms` (a bar close) that fills at the tick `fill_ms`."""

    symbol: str
    side: str
    decided_ms: int
    fill_ms: int
    size_factor: float
    reason: str


class PendingBook:
    """Delayed entries (execution.entry_delay_bars), persisted so a restart keeps them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        raw = store.get_state(KEY_PENDING) or {}
        self.items: dict[str, PendingEntry] = {s: PendingEntry(**v) for s, v in raw.items()}

    def add(self, entry: PendingEntry, now_ms: int) -> None:
        self.items[entry.symbol] = entry
        self._save(now_ms)

    def pop(self, symbol: str, now_ms: int) -> PendingEntry | None:
        entry = self.items.pop(symbol, None)
        if entry is not None:
            self._save(now_ms)
        return entry

    def _save(self, now_ms: int) -> None:
        self.store.set_state(KEY_PENDING, {s: asdict(e) for s, e in self.items.items()}, now_ms)


def recover_risk(store: Store, risk: RiskManager, mode: str, now_ms: int) -> list[str]:
    """Book exits a crash kept from the risk ledger (a kill between the trade row and the ledger).

    The trades table is the truth: today's realized pnl is the sum of today's exits, and a stop
    loss within the cooldown window must have its cooldown. Returns what was repaired.
    """
    day = floor_ms(now_ms, DAY_MS)
    today = store.closed_trades(start=day, mode=mode)
    repaired = []
    gap = sum(t.pnl or 0.0 for t in today) - risk.pnl_today(now_ms)
    if abs(gap) > 1e-6:
        risk.record_exit("*", gap, "reconcile", now_ms)
        repaired.append(f"pnl_today {gap:+.4f}")
    window_ms = int(risk.cfg.cooldown_minutes * MINUTE_MS)
    for t in today:
        if t.exit_reason != "stop_loss" or t.exit_time is None or t.exit_time + window_ms <= now_ms:
            continue
        until = risk.cooldown_until(t.symbol, now_ms) or 0
        if until < t.exit_time + window_ms:
            risk.record_exit(t.symbol, 0.0, "stop_loss", t.exit_time)
            repaired.append(f"cooldown {t.symbol}")
    if repaired:
        log.warning("risk_recovered", extra={"repaired": repaired})
    return repaired


class PassFailures:
    """Failed passes of the tick loop in a row, logged and alerted.

    The first failure of a streak alerts, later ones at most every `every_ms`; the `loud_after`-th
    in a row alerts loudly once (the loop and the exchange-side stops stay either way).
    """

    def __init__(self, loud_after: int = 5, every_ms: int = 10 * MINUTE_MS) -> None:
        self.loud_after, self.every_ms = loud_after, every_ms
        self.streak = 0
        self.last: Exception | None = None  # the latest failure (tests and the log)
        self._alerted_ms: int | None = None

    def failed(self, exc: Exception, now_ms: int, emit: Callable[..., None]) -> None:
        """One failed tick or poll: logged, alerted (rate-limited); the next pass retries."""
        self.streak += 1
        self.last = exc
        text = exc.message if isinstance(exc, PerpbotError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, PerpbotError):
            log.warning("engine_pass_failed", extra={"error": str(exc), "streak": self.streak})
        else:  # an answer nobody knew how to read: keep the traceback for the bug report
            log.exception("engine_pass_failed", extra={"error": text, "streak": self.streak})
        if self.streak == self.loud_after:
            self._alerted_ms = now_ms
            emit("error", text=f"ENGINE FAILING: {self.streak} passes in a row failed ({text}); "
                               "the loop keeps trying and the exchange-side stops stay")
        elif self._alerted_ms is None or now_ms - self._alerted_ms >= self.every_ms:
            self._alerted_ms = now_ms
            emit("error", text=f"engine pass failed, retrying: {text}")

    def succeeded(self, emit: Callable[..., None]) -> None:
        """End a streak (a long one says so)."""
        if self.streak >= self.loud_after:
            emit("error", text=f"engine recovered after {self.streak} failed passes")
        self.streak, self._alerted_ms = 0, None


def position_view(trade: Trade, mark: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
    """One entry of the snapshot's `positions`; `mark` holds mark, unrealized_pnl and, live, the
    exchange's liquidation_px and margin_used."""
    return {
        "symbol": trade.symbol, "side": trade.side.value, "size": trade.size, "entry_price": trade.entry_price,
        "mark": mark.get("mark"), "unrealized_pnl": finite_or_none(mark.get("unrealized_pnl")),
        "liquidation_px": mark.get("liquidation_px"), "margin_used": mark.get("margin_used"),
        "stop": trade.stop_price, "opened_at": trade.entry_time,
        # a position opened by hand is the owner's: the bot never times it out
        "timeout_at": None if trade.by_hand else trade.entry_time + timeout_ms,
    }


def side_of(action_value: str) -> Side:
    return Side.LONG if action_value == "LONG" else Side.SHORT


def finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def regime_effect(state: RegimeState) -> str:
    """What a regime does to entries, for its alert ("no new entries", "sizes x0.5")."""
    if state.regime.value == "CRISIS" or state.size_factor <= 0:
        return "no new entries"
    return "normal sizes" if state.size_factor >= 1 else f"sizes x{state.size_factor:g}"


class StorageFault:
    """A failing database while trading: hold new entries, alert once, probe a write on every pass.

    Exits and stops go on as far as the store allows (a live stop rests on the exchange whatever
    happens here); once a probe write succeeds the hold lifts and the all-clear is alerted.

    Args:
        store: the engine's store (the probe writes `KEY_STORAGE_PROBE`).
        risk: holds entries under the name "storage".
        emit: the engine's event hook wrapper, `emit(event, **fields)`.
    """

    def __init__(self, store: Store, risk: RiskManager, emit: Callable[..., None]) -> None:
        self.store, self.risk, self.emit = store, risk, emit
        self.error: str | None = None
        self._lock = threading.Lock()

    def failed(self, exc: StorageError) -> None:
        """A write failed (from any thread): hold entries; the first failure of a spell alerts."""
        with self._lock:
            first = self.error is None
            self.error = exc.message
        self.risk.hold("storage", f"storage fault: {exc.message}; retrying")
        # Every pass fails the same way until the disk is fixed: the first says so, the rest only at debug.
        log.log(logging.ERROR if first else logging.DEBUG, "storage_write_failed", extra={"error": str(exc)})
        if first:
            self.emit("error", text=f"cannot write the database: {exc.message}. New entries are stopped, open "
                      "positions keep their stops; retrying every pass", hint=exc.hint)

    def retry(self, now_ms: int) -> None:
        """While failing: one probe write; on success lift the hold and say so."""
        if self.error is None:
            return
        try:
            self.store.set_state(KEY_STORAGE_PROBE, now_ms, now_ms)
        except StorageError as exc:
            log.debug("storage_probe_failed", extra={"error": str(exc)})
            return
        with self._lock:
            was, self.error = self.error, None
        self.risk.hold("storage", None)
        log.warning("storage_recovered", extra={"was": was})
        self.emit("error", text="the database takes writes again: entries resume")


class AccountWatch:
    """Runs the engine's account pass on a thread of its own each time `moved()` is called (from the live
    executor's stream thread, which must never wait for the engine's lock): a stop's fill is booked as it
    arrives. A pass that fails is logged; the engine's next poll syncs anyway (polling stays the fallback).
    """

    def __init__(self, react: Callable[[], None]) -> None:
        self.react = react
        self._moved = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    def moved(self) -> None:
        self._moved.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="perpbot-account-watch", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._closing = True
        self._moved.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._moved.wait()
            if self._closing:
                return
            self._moved.clear()
            try:
                self.react()
            except Exception as exc:  # noqa: BLE001 - thread boundary: the poll books it instead
                log.warning("account_pass_failed", extra={"error": str(exc)}, exc_info=not isinstance(exc, PerpbotError))
