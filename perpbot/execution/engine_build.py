"""Provides the engine's composition from settings: store, client, clock, feed, executor, risk, regime.

`perpbot.execution.engine.build_engine` is the public entry; it hands its class in, so this
module needs no import of engine.py.
"""

from __future__ import annotations

import logging
from typing import Any

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.config_checks import check_stop_distance
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.data.storage import check_storage
from perpbot.errors import PerpbotError
from perpbot.execution.engine_parts import KEY_STORAGE_PROBE, EventHook, RegimeSource
from perpbot.execution.paper import PaperExecutor
from perpbot.execution.rest_feed import RestPriceFeed
from perpbot.risk.halt import halt_message, losing_week_streak, startup_halt
from perpbot.risk.manager import RiskManager

log = logging.getLogger(__name__)


def make_clock(settings: Settings, client: HyperliquidClient) -> Clock:
    """WallClock, or the exchange-following clock for `execution.clock: exchange`."""
    if settings.execution.clock == "exchange":
        from perpbot.execution.exchange_clock import ExchangeClock

        return ExchangeClock(client, settings.data.symbols[0])
    return WallClock()


def make_feed(settings: Settings, client: HyperliquidClient, clock: Clock) -> Any:
    """The WebSocket feed when available, else REST polling (both speak the same interface)."""
    try:
        from perpbot.data.ws_client import PriceFeed
    except ImportError:
        log.warning("ws_feed_unavailable: using REST mids")
        return RestPriceFeed(client, clock, settings.data.symbols, max_age_s=1.0)
    # Ages are clock time: on an accelerated exchange clock, allow ~5 wall seconds of silence.
    speed = float(getattr(clock, "speed", 1.0) or 1.0)
    return PriceFeed(settings.exchange.ws_url, settings.data.symbols, clock, rest_mids=client.all_mids,
                     stale_after_s=max(30.0, 5.0 * speed))


def check_startup_halt(store: Store, settings: Settings, risk: RiskManager, mode: str, now_ms: int,
                       force: bool, events: EventHook | None) -> None:
    """Refuse to start after `risk.losing_weeks_halt` losing weeks unless forced.

    Raises:
        PerpbotError: the streak reached the limit and force is off.
    """
    closed = [(t.exit_time, t.pnl or 0.0) for t in store.closed_trades(mode=mode) if t.exit_time is not None]
    streak = losing_week_streak(closed, now_ms)
    check = startup_halt(streak, settings.risk, force)
    if not check.allowed:
        message = halt_message(streak, settings.risk)
        if events is not None:
            events("halt", {"text": message})
        raise PerpbotError(message, "run `perpbot review`, then `perpbot --headless trade --force` to override")
    if check.reason == "forced":
        log.warning("startup_halt_forced", extra={"streak": streak})
        risk.set_halt(None, now_ms)


def compose(engine_cls: Any, settings: Settings, *, clock: Clock | None, force: bool, events: EventHook | None,
            feed: Any, adopt_account: bool = False) -> Any:
    """Build every part and the engine; on failure, close what was opened and re-raise."""
    for warning in check_storage(settings.db_path):  # the folder, a real write, free space, quick_check
        log.warning("storage_warning", extra={"warning": warning})  # the storage watch alerts it
    store = Store(settings.db_path)
    opened: list[Any] = []
    try:
        store.set_state(KEY_STORAGE_PROBE, "startup")  # the file itself takes writes (read-only: refuse now)
        if clock is None:
            # The exchange clock samples through its own client; the trading client then runs its
            # retry backoff and weight budget on the engine's clock (an accelerated sim's, too).
            boot = HyperliquidClient.from_settings(settings, clock=WallClock())
            opened.append(boot)
            clock = make_clock(settings, boot)
            if not hasattr(clock, "client"):
                boot.close()
        client = HyperliquidClient.from_settings(settings, clock=clock)
        opened.append(client)
        metas = DataIngestor(client, store, clock).check_symbols(settings.data.symbols)  # the one meta fetch
        check_stop_distance(settings, metas)  # a stop beyond the liquidation distance would never act
        sz_decimals = {m.name: m.sz_decimals for m in metas}
        feed = feed if feed is not None else make_feed(settings, client, clock)
        opened.append(feed)
        if hasattr(feed, "post_info"):
            client.socket_post = feed.post_info  # each tick's candle and funding requests ride the feed's socket
        risk = RiskManager(settings.risk, store, clock)
        if settings.execution.mode == "live":
            from perpbot.execution.live_executor import LiveExecutor

            def alert(event: str, text: str, **fields: Any) -> None:
                if events is not None:
                    events(event, {"text": text, **fields})

            executor: Any = LiveExecutor.connect(settings, store, clock, client, alert=alert, adopt_account=adopt_account,
                                                 assets={m.name: m for m in metas})
        else:
            executor = PaperExecutor(settings, store, feed.mid, risk.stop_price)
        poller = None
        if settings.prediction.enabled:
            from perpbot.data.prediction_client import PredictionPoller

            poller = PredictionPoller(settings, store, clock)
        regime = RegimeSource(settings, store, poller)
        engine = engine_cls(settings, store, client, feed, executor, risk, regime, clock, events, sz_decimals)
        feed.start()
        now = clock.now_ms()
        engine.start(now)  # live: reconciliation first, since it may close trades the halt counts
        engine.ingest(now)  # backfill the window missed while stopped
        check_startup_halt(store, settings, risk, executor.mode, now, force, events)
        return engine
    except BaseException:
        for part in reversed(opened):
            stopper = getattr(part, "stop", None) or getattr(part, "close", None)
            if stopper is not None:
                stopper()
        store.close()
        raise
