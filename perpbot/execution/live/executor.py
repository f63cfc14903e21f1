"""Provides the live executor: real orders on Hyperliquid (or the simulator), chosen by `execution.mode: live`.

It implements the executor port (execution/executor.py) from this folder's parts: the trader
(trader.py: entries with their stops attached, exits, booking fills once) and what it is made of
(orders.py, book.py, stops.py, fill_book.py, account_guard.py, signing.py, exchange_api.py), and
reconciliation (reconcile.py). The composition root builds it (perpbot/cli/compose.py) after
`authorize`, the startup gate: HL_PRIVATE_KEY must be a key (format), its address is derived, and
the exchange's userRole must show it is the trading account (HL_ACCOUNT_ADDRESS or its own) or an
API wallet that account approved. `start` then sets leverage per symbol, and a reconciliation pass
brings the DB in line with the exchange before the first decision (and so before the losing-weeks
halt is judged). The key itself never leaves `Signer`.

Only two things stop a start: a key that may not trade, and another perp-bot trading the account
(account_guard.py; `--adopt-account` takes it over once the user confirms the other is gone). A
reconciliation that fails at startup (the exchange answering badly) is not fatal: the bot alerts,
leaves every stop where it is, refuses new entries, and tries again with backoff until it succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from perpbot.config import Settings
from perpbot.data.ports import AccountData, AccountStream
from perpbot.data.records import AccountState
from perpbot.errors import ConfigError, ExchangeError
from perpbot.execution.live.exchange_api import ExchangeTransport, user_role
from perpbot.execution.live.reconcile import Reconciler, Resolution
from perpbot.execution.live.inbox import StreamInbox
from perpbot.execution.live.signing import Signer, check_address, resolve_account, update_leverage_action
from perpbot.execution.live.trader import LiveTrader
from perpbot.execution.resting import MakerOrder
from perpbot.models import Side, Trade

log = logging.getLogger(__name__)

RETRY_FIRST_MS = 1_000  # the first look-up again of an unknown outcome (then doubling)


class LiveExecutor:
    """Opens, protects, closes and reconciles live positions for one account.

    Built by the composition root (perpbot/cli/compose.py `connect_live`); call `start` once before trading.
    """

    mode = "live"

    def __init__(self, trader: LiveTrader, transport: ExchangeTransport, signer_address: str,
                 adopt_account: bool = False) -> None:
        self.trader = trader
        self.transport = transport
        self.signer_address = signer_address
        self.adopt_account = adopt_account
        self.reconciler = Reconciler(trader)
        self.last_reconcile_ms: int | None = None
        self.failed: str | None = None  # why the last reconciliation failed (entries wait for one to succeed)
        self._retry: tuple[int, int] | None = None  # (next look-up time, current delay) while something is unknown
        self._account: AccountState | None = None
        self._conflict: str | None = None  # another bot seen (alerted once per change)
        self.stream = StreamInbox()  # what the account's user streams reported, for the next sync
        self._streaming = False

    @property
    def account(self) -> str:
        return self.trader.account

    def close_connections(self) -> None:
        self.transport.close()
        self.trader.client.close()

    # --- startup and upkeep --------------------------------------------------------------------

    def start(self, now_ms: int) -> list[Resolution]:
        """Set each symbol's leverage, then reconcile. Returns what reconciliation changed.

        Raises:
            ConfigError: another perp-bot trades this account (and adopt_account is off).
        """
        t = self.trader
        for symbol in t.settings.data.symbols:
            asset = t.assets[symbol]
            leverage = max(1, min(int(round(t.settings.risk.leverage)), asset.max_leverage))
            try:
                t.desk.transport.send(update_leverage_action(asset.index, leverage, is_cross=True))
            except ExchangeError as exc:
                # E.g. an open isolated position: trading goes on at the exchange's current setting.
                t.alert("error", f"{symbol} leverage not set to {leverage}x: {exc.message}")
        out = self._reconcile_safely(now_ms, startup=True)
        other = t.guard.message()
        if other is not None and not self.adopt_account:
            raise ConfigError(f"refusing to start: {other}",
                              "stop the other bot (two bots on one account double every position and cancel each "
                              "other's stops); if it is gone for good, start with --adopt-account")
        if other is not None:
            taken = t.guard.adopt(now_ms)
            t.alert("reconciliation", f"account taken over from instance(s) {', '.join(sorted(taken))}: "
                                      "their orders are canceled, their positions adopted", rule="adopt")
            out += self._reconcile_safely(now_ms)
        # What closed while the bot was down is in the trades table, which the engine's risk recovery
        # (engine_parts.recover_risk) books into the day's ledger: handing it to the engine's sync as
        # well would count it twice.
        self.trader.closed = []
        return out

    def reconcile(self, now_ms: int, startup: bool = False) -> list[Resolution]:
        """Reconcile now (at startup, periodically, and after every feed reconnect)."""
        self.last_reconcile_ms = now_ms
        out = self.reconciler.run(now_ms, startup)
        if self.reconciler.account is not None:
            self._account = self.reconciler.account
        return out

    def _reconcile_safely(self, now_ms: int, startup: bool = False) -> list[Resolution]:
        """Reconcile; a failure is alerted and blocks new entries until a pass succeeds."""
        try:
            out = self.reconcile(now_ms, startup)
        except Exception as exc:  # noqa: BLE001 - any failure here must leave the bot running with its stops
            text = exc.message if isinstance(exc, ExchangeError) else f"{type(exc).__name__}: {exc}"
            log.warning("reconcile_failed", extra={"error": text}, exc_info=not isinstance(exc, ExchangeError))
            if self.failed is None:
                self.trader.alert("error", f"reconciliation failed ({text}): no new entries until it succeeds; "
                                           "stops stay on the exchange")
            self.failed = text
            return []
        if self.failed is not None:
            self.trader.alert("reconciliation", "reconciliation succeeded again: entries allowed", rule="recovered")
        self.failed = None
        if not startup:
            self._note_conflict()
        return out

    def _note_conflict(self) -> None:
        """Another perp-bot seen (by its orders or fills): alert loudly, once per change; the trader enters
        nothing more from that moment (LiveTrader.open), and its positions keep their stops."""
        other = self.trader.guard.message()
        if other is not None and other != self._conflict:
            self.trader.alert("error", f"STANDING DOWN: {other}. No new entries from now on; open positions keep "
                                       "one stop each. Stop the other bot, then restart this one (or take the "
                                       "account over with --adopt-account)")
        self._conflict = other

    def use_stream(self, stream: AccountStream) -> None:
        """Book the account's fills as the exchange streams them (orderUpdates, userFills on the feed's
        socket) instead of at the next poll; the composition root calls it before the feed starts."""
        stream.watch_account(self.account, self.stream.receive)
        self._streaming = True

    def listen(self, wake: Callable[[], None]) -> bool:
        """Call `wake` (from the feed's thread) when the streams report something; False: no streams."""
        self.stream.wake = wake
        return self._streaming

    def reconcile_due(self, now_ms: int, every_ms: int) -> bool:
        return self.last_reconcile_ms is None or now_ms - self.last_reconcile_ms >= every_ms

    # --- trading ----------------------------------------------------------------------------------

    def open_trades(self) -> list[Trade]:
        return self.trader.store.open_trades(mode="live")

    def open(self, symbol: str, side: Side, size: float, reason: str, key: object, now_ms: int,
             mid: float | None = None) -> Trade | None:
        """Enter (IOC within the slippage cap, its stop attached); None if nothing filled."""
        try:
            return self.trader.open(symbol, side, size, reason, key, now_ms, mid)
        finally:
            self._note_conflict()  # the entry's fills may be the first sight of another bot

    def close(self, trade: Trade, reason: str, now_ms: int, mid: float | None = None) -> Trade | None:
        """Exit (reduce-only IOC), book the trade; None if still (partly) open.

        If nothing could be closed (the stop got there first, or someone closed it by hand),
        reconciliation books the trade as the exchange has it, and that trade is returned.
        """
        closed = self.trader.close(trade, reason, now_ms, mid)
        if closed is not None or trade.id is None:
            return closed
        self._reconcile_safely(now_ms)
        fresh = self.trader.store.trade_by_id(trade.id)
        if fresh is None or fresh.is_open:
            return None
        self.trader.closed = [t for t in self.trader.closed if t.id != fresh.id]
        return fresh

    def sync(self, now_ms: int, force: bool = False) -> list[Trade]:
        """Book the fills the streams brought; reconcile if due (every execution.reconcile_minutes), forced,
        after the streams (re)subscribed or reported an order canceled, or while an order's outcome or the
        ledger is uncertain (then with backoff); the trades closed since the last call."""
        fills, due = self.stream.take()
        try:
            self.trader.book_fills(fills, now_ms)  # a stop's fill, streamed: booked now, not at the next poll
        except Exception:
            self.stream.again()  # the next sync reconciles: REST reads the same fills from the cursor
            raise
        every_ms = int(self.trader.settings.execution.reconcile_minutes * 60_000)
        self.trader.maker.check(now_ms)  # resting orders' fills, each protected from the first
        if force or due or self.reconcile_due(now_ms, every_ms) or self._retry_due(now_ms, every_ms):
            self._reconcile_safely(now_ms)
        closed, self.trader.closed = self.trader.closed, []
        return closed

    def _retry_due(self, now_ms: int, every_ms: int) -> bool:
        """While intents are unresolved or the last pass failed: again at 1 s, 2 s, 4 s, ... up to every_ms."""
        if not self.trader.book.intents() and self.failed is None:
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

    # --- maker orders (execution/resting.py, live/maker.py) ---------------------------------------

    def entry_cloid(self, symbol: str, side: Side, key: object) -> str:
        return self.trader.entry_cloid(symbol, side, key)

    def exit_cloid(self, trade: Trade, placed_ms: int = 0) -> str:
        return self.trader.cloid("maker-exit", self.trader.key(trade), placed_ms)

    def rest(self, order: MakerOrder, now_ms: int) -> MakerOrder | None:
        return self.trader.maker.rest(order, now_ms)

    def reprice(self, order: MakerOrder, limit: float, now_ms: int) -> MakerOrder | None:
        return self.trader.maker.reprice(order, limit, now_ms)

    def cancel_resting(self, order: MakerOrder, now_ms: int, outcome: str = "cancelled") -> bool:
        return self.trader.maker.cancel(order, now_ms, outcome)

    def resting(self) -> list[MakerOrder]:
        return self.trader.maker.resting()

    def unresolved_symbols(self) -> set[str]:
        """Symbols with an entry sent whose outcome is not known yet (counted as open positions)."""
        return {i.symbol for i in self.trader.book.intents().values() if i.kind == "entry"}

    def entry_blocks(self) -> list[str]:
        """Why no entry may go out now: a failed reconciliation, another bot on the account."""
        out = [f"reconciliation failed: {self.failed}"] if self.failed else []
        other = self.trader.guard.message()
        return out + ([other] if other else [])

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
                "url": self.trader.settings.exchange.url, "instance": self.trader.guard.instance.id}


def authorize(settings: Settings, client: AccountData) -> tuple[Signer, str]:
    """The startup gate: HL_PRIVATE_KEY is a key, and the exchange's userRole shows it may trade for the
    account (HL_ACCOUNT_ADDRESS or its own). Returns the signer and the account it trades.

    Raises:
        ConfigError: no or a malformed HL_PRIVATE_KEY or HL_ACCOUNT_ADDRESS, a key that may not trade for
            the account, or an account that does not exist.
    """
    secrets = settings.secrets
    if not secrets.hl_private_key:
        raise ConfigError("execution.mode is live but HL_PRIVATE_KEY is not set",
                          "put an API wallet's private key in .env next to config.yaml (see README, Live trading)")
    signer = Signer(secrets.hl_private_key)
    configured = check_address(secrets.hl_account_address)
    network = settings.exchange.network if not settings.exchange.base_url else settings.exchange.url
    return signer, resolve_account(signer.address, configured, user_role(client, signer.address), network)
