"""Provides the engine's composition: store, clients, clock, price feed, executor, risk, regime, engine.

`build_engine(settings, clock=...)` is the one place a trading engine is assembled (the daemon and
the dashboard reach it through host.py; tests and benchmarks call it directly). It picks the
implementations of the engine's ports: the exchange's market data (data/client.py), the price feed
(the WebSocket feed, whose socket also carries each tick's candle and funding requests, or one a
caller passes in), the executor (paper, or live built by `connect_live`), and the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from perpbot.clock import Clock, WallClock
from perpbot.config import Settings
from perpbot.config_checks import check_stop_distance
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import DataIngestor
from perpbot.data.patience import patiently
from perpbot.data.ports import AccountData, AccountStream, MarketData, PriceFeed
from perpbot.data.rest_feed import RestPriceFeed
from perpbot.data.storage import check_storage
from perpbot.errors import ConfigError, PerpbotError
from perpbot.execution.engine import TradingEngine
from perpbot.execution.engine_parts import KEY_STORAGE_PROBE, RegimeSource
from perpbot.execution.events import EventHook
from perpbot.execution.executor import Executor
from perpbot.execution.paper import PaperExecutor
from perpbot.models import AssetMeta
from perpbot.ops.health import Heartbeat
from perpbot.risk.halt import halt_message, losing_week_streak, startup_halt
from perpbot.risk.manager import RiskManager

if TYPE_CHECKING:  # imported when a live executor is built: paper runs never load the signing stack
    from perpbot.execution.live.executor import LiveExecutor

log = logging.getLogger(__name__)

__all__ = ["build_engine", "check_startup_halt", "connect_live", "make_clock"]


def make_clock(settings: Settings, stack: ExitStack) -> Clock:
    """WallClock, or the exchange-following clock for `execution.clock: exchange` (which samples through
    a client of its own, closed with `stack`)."""
    if settings.execution.clock != "exchange":
        return WallClock()
    from perpbot.execution.exchange_clock import ExchangeClock

    boot = stack.enter_context(HyperliquidClient.from_settings(settings, clock=WallClock()))
    return ExchangeClock(boot, settings.data.symbols[0])


def make_feed(settings: Settings, client: HyperliquidClient, clock: Clock) -> tuple[PriceFeed, MarketData]:
    """The WebSocket feed, and the market data the engine ingests through: the same client, but its
    per-tick requests ride the feed's socket (HTTP whenever the socket cannot answer)."""
    try:
        from perpbot.data.ws_client import WsPriceFeed
    except ImportError:
        log.warning("ws_feed_unavailable: using REST mids")
        return RestPriceFeed(client, clock, settings.data.symbols, max_age_s=1.0), client
    # Ages are clock time: on an accelerated exchange clock, allow ~5 wall seconds of silence.
    feed = WsPriceFeed(settings.exchange.ws_url, settings.data.symbols, clock, rest_mids=client.all_mids,
                       stale_after_s=max(30.0, 5.0 * clock.speed))
    feed.watch_candles(settings.strategy.timeframe)  # each tick stores the bars it streamed (execution/tick_data.py)
    return feed, client.with_socket(feed.post_info)


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


def connect_live(settings: Settings, store: Store, clock: Clock, client: AccountData | None = None,
                 alert: Callable[..., Any] | None = None, adopt_account: bool = False,
                 assets: dict[str, AssetMeta] | None = None) -> LiveExecutor:
    """The live executor for the account HL_PRIVATE_KEY may trade, checked against the exchange.

    `assets` is the exchange's `meta` by coin when the caller fetched it already (build_engine does,
    once per start); else it is fetched here.

    Raises:
        ConfigError: see `execution.live.executor.authorize`; or a symbol the exchange does not list.
    """
    from perpbot.execution.live.exchange_api import ExchangeTransport
    from perpbot.execution.live.executor import authorize
    from perpbot.execution.live.orders import OrderDesk
    from perpbot.execution.live.signing import NonceManager
    from perpbot.execution.live.executor import LiveExecutor
    from perpbot.execution.live.trader import LiveTrader

    client = client or HyperliquidClient.from_settings(settings, clock)
    signer, account = patiently("the key's role (userRole)", lambda: authorize(settings, client), clock)
    if assets is None:
        assets = {meta.name: meta for meta in patiently("meta", client.meta, clock)}
    missing = [s for s in settings.data.symbols if s not in assets]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not listed on {settings.exchange.url}", "fix data.symbols")
    ex = settings.exchange
    transport = ExchangeTransport(ex.url, signer, NonceManager(store, clock, signer.address), ex.is_mainnet,
                                  ex.timeout_s)
    desk = OrderDesk(transport, client, account, clock, retry_delay_s=ex.retry_backoff_s)
    log.info("live_connected", extra={"account": account, "signer": signer.address, "url": ex.url,
                                      "agent": signer.address != account})
    return LiveExecutor(LiveTrader(settings, store, clock, client, desk, assets, alert), transport, signer.address,
                        adopt_account)


def build_engine(settings: Settings, *, clock: Clock | None = None, force: bool = False,
                 events: EventHook | None = None, feed: PriceFeed | None = None,
                 adopt_account: bool = False) -> TradingEngine:
    """Compose and start the engine: recover, reconcile (live), backfill the window missed while stopped,
    judge the losing-weeks halt. On failure everything opened is closed again and the error raised; what
    the start cannot do without (the exchange's time, meta, the key's role) is asked again for about a
    minute while the exchange fails transiently (data/patience.py), and what it can (the account's
    equity, a reconciliation) is retried by the running engine with entries held.

    Args:
        clock: the engine's clock; None picks it from `execution.clock` (wall, or the exchange's).
        force: start despite the losing-weeks halt.
        events: the alert hook (ops/alerts.py through the host); None sends nothing.
        feed: a price feed to use instead of the WebSocket feed (tests on a FakeClock, benchmarks).
        adopt_account: live: take the account over from another perp-bot the user confirmed is gone.
    """
    for warning in check_storage(settings.db_path):  # the folder, a real write, free space, quick_check
        log.warning("storage_warning", extra={"warning": warning})  # the storage watch alerts it
    stack = ExitStack()  # what the engine owns once it runs (closed in reverse), or what a failure closes
    try:
        store = Store(settings.db_path)
        stack.callback(store.close)
        store.set_state(KEY_STORAGE_PROBE, "startup")  # the file itself takes writes (read-only: refuse now)
        if clock is None:
            # The exchange clock samples through its own client; the trading client then runs its
            # retry backoff and weight budget on the engine's clock (an accelerated sim's, too).
            clock = make_clock(settings, stack)
        client = stack.enter_context(HyperliquidClient.from_settings(settings, clock=clock))
        ingestor = DataIngestor(client, store, clock)
        metas = patiently("meta", lambda: ingestor.check_symbols(settings.data.symbols), clock)  # the one meta fetch
        check_stop_distance(settings, metas)  # a stop beyond the liquidation distance would never act
        market: MarketData = client
        if feed is None:
            feed, market = make_feed(settings, client, clock)
        stack.callback(feed.stop)
        risk = RiskManager(settings.risk, store, clock)
        executor = _executor(settings, store, clock, client, feed, risk, events, adopt_account, metas, stack)
        regime = _regime(settings, store, clock)
        stack.callback(regime.close)
        engine = TradingEngine(settings, store, feed, executor, risk, regime, clock,
                               ingestor=DataIngestor(market, store, clock), events=events,
                               sz_decimals={m.name: m.sz_decimals for m in metas}, closers=[stack.close])
        engine.listeners.append(Heartbeat(engine.state, clock.now_ms(), settings.alerts.heartbeat_minutes).on_event)
        feed.start()
        now = clock.now_ms()
        engine.start(now)  # live: reconciliation first, since it may close trades the halt counts
        engine.ingest(now)  # backfill the window missed while stopped
        check_startup_halt(store, settings, risk, executor.mode, now, force, events)
        return engine
    except BaseException:
        stack.close()
        raise


def _executor(settings: Settings, store: Store, clock: Clock, client: HyperliquidClient, feed: PriceFeed,
              risk: RiskManager, events: EventHook | None, adopt_account: bool, metas: list[AssetMeta],
              stack: ExitStack) -> Executor:
    if settings.execution.mode != "live":
        paper = PaperExecutor(settings, store, feed.mid, risk.stop_price)
        paper.sz_decimals = {m.name: m.sz_decimals for m in metas}  # maker orders' price ticks
        return paper

    def alert(event: str, text: str, **fields: Any) -> None:
        assert events is not None
        events(event, {"text": text, **fields})

    live = connect_live(settings, store, clock, client, alert=alert if events is not None else None,
                        adopt_account=adopt_account, assets={m.name: m for m in metas})
    if isinstance(feed, AccountStream):  # the WebSocket feed: fills booked as the exchange streams them
        live.use_stream(feed)
    stack.callback(live.close_connections)
    return live


def _regime(settings: Settings, store: Store, clock: Clock) -> RegimeSource:
    if not settings.prediction.enabled:
        return RegimeSource(settings, store)
    from perpbot.data.prediction_client import PredictionPoller

    return RegimeSource(settings, store, PredictionPoller(settings, store, clock))
