"""Provides the live executor: real orders on Hyperliquid (or the simulator), chosen by `execution.mode: live`.

`LiveExecutor.connect` is the startup gate: HL_PRIVATE_KEY must be a key (format), its address
is derived, and the exchange's userRole must show it is the trading account (HL_ACCOUNT_ADDRESS
or its own) or an API wallet that account approved. Then leverage is set per symbol, and a
reconciliation pass brings the DB in line with the exchange before the first decision (and so
before the losing-weeks halt is judged). The key itself never leaves `Signer`.
"""

from __future__ import annotations

import logging
from typing import Any

from perpbot.clock import Clock
from perpbot.config import Settings
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.records import AccountState
from perpbot.errors import ConfigError, OrderRejected
from perpbot.execution.exchange_api import ExchangeTransport, user_role
from perpbot.execution.live_orders import OrderDesk
from perpbot.execution.live_trader import Alert, LiveTrader
from perpbot.execution.reconcile import Reconciler, Resolution
from perpbot.execution.signing import NonceManager, Signer, check_address, resolve_account, update_leverage_action
from perpbot.models import Side, Trade

log = logging.getLogger(__name__)

RETRY_FIRST_MS = 1_000


class LiveExecutor:
    """Opens, protects, closes and reconciles live positions for one account.

    Build it with `connect`; call `start` once before trading.
    """

    mode = "live"

    def __init__(self, trader: LiveTrader, transport: ExchangeTransport, signer_address: str) -> None:
        self.trader = trader
        self.transport = transport
        self.signer_address = signer_address
        self.reconciler = Reconciler(trader)
        self.last_reconcile_ms: int | None = None
        self._retry: tuple[int, int] | None = None  # (next look-up time, current delay) of unresolved intents
        self._account: AccountState | None = None

    @classmethod
    def connect(cls, settings: Settings, store: Store, clock: Clock, client: HyperliquidClient | None = None,
                alert: Alert | None = None) -> LiveExecutor:
        """Validate the key and account against the exchange and build the executor.

        Raises:
            ConfigError: no or a malformed HL_PRIVATE_KEY or HL_ACCOUNT_ADDRESS, a key that may not
                trade for the account, an account that does not exist, or a symbol not listed.
        """
        secrets = settings.secrets
        if not secrets.hl_private_key:
            raise ConfigError("execution.mode is live but HL_PRIVATE_KEY is not set",
                              "put an API wallet's private key in .env next to config.yaml (see README, Live trading)")
        signer = Signer(secrets.hl_private_key)
        configured = check_address(secrets.hl_account_address)
        client = client or HyperliquidClient.from_settings(settings, clock)
        account = resolve_account(signer.address, configured, user_role(client, signer.address),
                                  settings.exchange.network if not settings.exchange.base_url else settings.exchange.url)
        assets = {meta.name: meta for meta in client.meta()}
        missing = [s for s in settings.data.symbols if s not in assets]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not listed on {settings.exchange.url}", "fix data.symbols")
        transport = ExchangeTransport(settings.exchange.url, signer, NonceManager(store, clock, signer.address),
                                      settings.exchange.is_mainnet, settings.exchange.timeout_s)
        desk = OrderDesk(transport, client, account, clock, retry_delay_s=settings.exchange.retry_backoff_s)
        log.info("live_connected", extra={"account": account, "signer": signer.address, "url": settings.exchange.url,
                                          "agent": signer.address != account})
        return cls(LiveTrader(settings, store, clock, client, desk, assets, alert), transport, signer.address)

    @property
    def account(self) -> str:
        return self.trader.account

    def close_connections(self) -> None:
        self.transport.close()
        self.trader.client.close()

    # --- startup and upkeep --------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Resolution]:
        """Set each symbol's leverage, then reconcile. Returns what reconciliation changed."""
        t = self.trader
        for symbol in t.settings.data.symbols:
            asset = t.assets[symbol]
            leverage = max(1, min(int(round(t.settings.risk.leverage)), asset.max_leverage))
            try:
                t.desk.transport.send(update_leverage_action(asset.index, leverage, is_cross=True))
            except OrderRejected as exc:
                # E.g. an open isolated position: trading goes on at the exchange's current setting.
                t.alert("error", f"{symbol} leverage not set to {leverage}x: {exc.message}")
        return self.reconcile(now_ms)

    def reconcile(self, now_ms: int) -> list[Resolution]:
        """Reconcile now (at startup, periodically, and after every feed reconnect)."""
        self.last_reconcile_ms = now_ms
        return self.reconciler.run(now_ms)

    def reconcile_due(self, now_ms: int, every_ms: int) -> bool:
        return self.last_reconcile_ms is None or now_ms - self.last_reconcile_ms >= every_ms

    # --- trading ----------------------------------------------------------------------------------

    def open_trades(self) -> list[Trade]:
        return self.trader.store.open_trades(mode="live")

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Enter (IOC within the slippage cap) and attach the stop; None if nothing filled."""
        return self.trader.open(symbol, side, size, reason, key, now_ms, mid)

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Exit (reduce-only IOC), cancel the stop, book the trade; None if still (partly) open.

        If nothing could be closed (the stop got there first, or someone closed it by hand),
        reconciliation books the trade as the exchange has it, and that trade is returned.
        """
        closed = self.trader.close(trade, reason, now_ms, mid)
        if closed is not None or trade.entry_cloid is None:
            return closed
        self.reconcile(now_ms)
        fresh = self.trader.store.trade_by_cloid(trade.entry_cloid)
        return fresh if fresh is not None and not fresh.is_open else None

    def sync(self, now_ms: int, force: bool = False) -> list[Trade]:
        """Reconcile if due (every execution.reconcile_minutes), forced, or while an order's outcome is
        unknown (then with backoff: its cloid is looked up again soon); the trades it closed."""
        every_ms = int(self.trader.settings.execution.reconcile_minutes * 60_000)
        due = force or self.reconcile_due(now_ms, every_ms) or self._retry_due(now_ms, every_ms)
        if not due:
            return []
        return [r.closed for r in self.reconcile(now_ms) if r.closed is not None]

    def _retry_due(self, now_ms: int, every_ms: int) -> bool:
        """Unresolved intents are looked up at growing intervals (1 s, 2 s, 4 s, ... up to every_ms)."""
        if not self.trader.book.intents():
            self._retry = None
            return False
        if self._retry is None:
            self._retry = (now_ms + RETRY_FIRST_MS, RETRY_FIRST_MS)
            return False
        at, delay = self._retry
        if now_ms < at:
            return False
        delay = min(delay * 2, every_ms)
        self._retry = (now_ms + delay, delay)
        return True

    def unresolved_symbols(self) -> set[str]:
        """Symbols with an entry sent whose outcome is not known yet (counted as open positions)."""
        return {i.symbol for i in self.trader.book.intents().values() if i.kind == "entry"}

    def entry_blocks(self) -> list[str]:
        return []

    def equity(self) -> float:
        """The account value the exchange reports (margin plus unrealized pnl); keeps the account state
        for the positions' marks."""
        self._account = self.trader.client.clearinghouse_state(self.account)
        return self._account.account_value

    def position_marks(self, trades: list[Trade], now_ms: int) -> dict[str, dict[str, Any]]:
        """The exchange's mark, unrealized pnl, liquidation price and margin of each position."""
        if self._account is None:
            return {}
        return {p.symbol: {"mark": p.mark_px, "unrealized_pnl": p.unrealized_pnl, "liquidation_px": p.liquidation_px,
                           "margin_used": p.margin_used} for p in self._account.positions if p.size}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "account": self.account, "signer": self.signer_address,
                "url": self.trader.settings.exchange.url}
