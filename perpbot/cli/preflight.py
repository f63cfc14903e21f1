"""Provides `perpbot preflight`: the checks to pass before going live, against the configured exchange.

Reaches the exchange, parses every answer the bot relies on with the bot's own parsers, checks
the symbols' size decimals, tick and minimum-order rules, the leverage limit, that funding
arrives hourly (jitter and all), the key's role and the account; on any network but mainnet it
then places one order far from the market with a client order id and cancels it. Prints a
checklist; the command exits 0 only if every check passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perpbot.clock import HOUR_MS, Clock, WallClock
from perpbot.config import Settings, resolve_symbols
from perpbot.config_checks import EXCHANGE_MIN_ORDER_USD as MIN_ORDER_USD
from perpbot.data.client import HyperliquidClient
from perpbot.errors import PerpbotError
from perpbot.execution.live.exchange_api import ExchangeTransport, statuses, user_role
from perpbot.execution.cloids import derive_cloid
from perpbot.execution.live.signing import (NonceManager, OrderIntent, Signer, cancel_by_cloid_action, check_address,
                                            order_action, resolve_account, round_price, round_size)
from perpbot.risk.state import MemoryState

FAR_FROM_MARKET = 0.5  # the test order bids half the mid: it cannot fill


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


class Preflight:
    """Runs the checks in order; a check that raises is a failed check with the error's message and hint."""

    def __init__(self, settings: Settings, client: HyperliquidClient, clock: Clock | None = None) -> None:
        self.settings, self.client, self.clock = settings, client, clock or WallClock()
        self.checks: list[Check] = []
        self.assets: dict[str, Any] = {}
        self.mids: dict[str, float] = {}
        self.account: str | None = None
        self.signer: Signer | None = None

    def run(self) -> list[Check]:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("exchange reachable", self._reach), ("symbols listed", self._symbols),
            ("price and size rules", self._rules), ("leverage limit", self._leverage),
            ("funding hourly", self._funding), ("market answers parse", self._market_shapes),
            ("key and role", self._key), ("account", self._account),
        ]
        if not self.settings.exchange.is_mainnet:
            steps.append(("place and cancel a far order", self._round_trip))
        for name, step in steps:
            try:
                self.checks.append(Check(name, True, step()))
            except PerpbotError as exc:
                hint = f" ({exc.hint})" if exc.hint else ""
                self.checks.append(Check(name, False, exc.message + hint))
            if not self.checks[-1].ok and name == "exchange reachable":
                break  # nothing else can be asked
        return self.checks

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def _reach(self) -> str:
        self.assets = {meta.name: meta for meta in self.client.meta()}
        return f"{self.settings.exchange.url}: {len(self.assets)} perps listed"

    def _symbols(self) -> str:
        symbols = self.settings.data.symbols
        symbols[:] = resolve_symbols(symbols, self.assets)  # the exchange's spelling from here on (kPEPE)
        missing = [s for s in symbols if s not in self.assets]
        if missing:
            raise PerpbotError(f"{', '.join(missing)} not listed", "fix data.symbols")
        return ", ".join(f"{s} szDecimals {self.assets[s].sz_decimals}" for s in symbols)

    def _rules(self) -> str:
        self.mids = self.client.all_mids()
        notes = []
        for symbol in self.settings.data.symbols:
            sz_dec = self.assets[symbol].sz_decimals
            px = round_price(self.mids[symbol], sz_dec)
            text = format(Decimal(repr(px)).normalize(), "f")
            digits = len(Decimal(text).as_tuple().digits)
            decimals = max(0, -int(Decimal(text).as_tuple().exponent))
            if Decimal(text) != Decimal(text).to_integral_value() and (digits > 5 or decimals > 6 - sz_dec):
                raise PerpbotError(f"{symbol}: our rounding gives {text}, which breaks the tick rule",
                                   "a bug in perp-bot's rounding; please report it")
            notes.append(f"{symbol} {text}")
        if self.settings.risk.min_order_usd < MIN_ORDER_USD:
            raise PerpbotError(f"risk.min_order_usd is {self.settings.risk.min_order_usd:g}, below the exchange's "
                               f"${MIN_ORDER_USD:g} minimum", "set risk.min_order_usd: 10 or more")
        return "mids round to valid prices: " + ", ".join(notes) + f"; min order ${MIN_ORDER_USD:g}"

    def _leverage(self) -> str:
        want = self.settings.risk.leverage
        over = [s for s in self.settings.data.symbols if want > self.assets[s].max_leverage]
        if over:
            raise PerpbotError(f"risk.leverage {want:g} is above {', '.join(over)}'s limit", "lower risk.leverage")
        return f"{want:g}x within every symbol's limit"

    def _funding(self) -> str:
        now = self.clock.now_ms()
        symbol = self.settings.data.symbols[0]
        rates = self.client.funding_history(symbol, now - 24 * HOUR_MS)
        hours = sorted({r.time // HOUR_MS for r in rates})
        if len(hours) < 20 or any(b - a > 2 for a, b in zip(hours, hours[1:])):
            raise PerpbotError(f"{symbol}: {len(rates)} funding rates in the last 24 h, expected one an hour",
                               "the exchange's funding history looks incomplete")
        late = max(r.time - r.time // HOUR_MS * HOUR_MS for r in rates)
        return f"{symbol}: {len(rates)} rates in 24 h, up to {late} ms past the hour"

    def _market_shapes(self) -> str:
        symbol = self.settings.data.symbols[0]
        now = self.clock.now_ms()
        self.client.meta_and_asset_ctxs()
        self.client.l2_book(symbol)
        candles = self.client.candles(symbol, "1h", now - 6 * HOUR_MS, now)
        return f"metaAndAssetCtxs, allMids, l2Book, candleSnapshot ({len(candles)} candles), fundingHistory"

    def _key(self) -> str:
        secrets = self.settings.secrets
        if not secrets.hl_private_key:
            raise PerpbotError("HL_PRIVATE_KEY is not set", "put an API wallet's private key in .env next to config.yaml")
        self.signer = Signer(secrets.hl_private_key)
        network = self.settings.exchange.network if not self.settings.exchange.base_url else self.settings.exchange.url
        role = user_role(self.client, self.signer.address)
        self.account = resolve_account(self.signer.address, check_address(secrets.hl_account_address), role, network)
        kind = "the account's own key" if self.account == self.signer.address else f"an API wallet of {self.account}"
        return f"{self.signer.address} is {kind}"

    def _account(self) -> str:
        if self.account is None:
            raise PerpbotError("no account to check", "fix the key first")
        state = self.client.clearinghouse_state(self.account)
        self.client.open_orders(self.account)
        self.client.user_fills(self.account)
        if state.account_value <= 0:
            raise PerpbotError(f"{self.account} holds no funds on {self.settings.exchange.url}", "deposit USDC first")
        return f"value ${state.account_value:,.2f}; clearinghouseState, openOrders, userFills parse"

    def _round_trip(self) -> str:
        if self.signer is None or self.account is None:
            raise PerpbotError("no key to trade with", "fix the key first")
        symbol = self.settings.data.symbols[0]
        meta = self.assets[symbol]
        px = round_price(self.mids[symbol] * FAR_FROM_MARKET, meta.sz_decimals)
        lot = 10.0 ** -meta.sz_decimals
        sz = round_size(MIN_ORDER_USD * 1.2 / px + lot, meta.sz_decimals)
        cloid = derive_cloid("preflight", self.account, self.clock.now_ms())
        intent = OrderIntent(meta.index, True, sz, px, {"limit": {"tif": "Gtc"}}, False, cloid)
        nonces = NonceManager(MemoryState(), self.clock, self.signer.address)
        with ExchangeTransport(self.settings.exchange.url, self.signer, nonces, self.settings.exchange.is_mainnet,
                               self.settings.exchange.timeout_s) as transport:
            placed = statuses(transport.send(order_action([intent])))[0]
            if not isinstance(placed, dict) or "resting" not in placed:
                raise PerpbotError(f"the test order was not left resting: {placed}", "see the exchange's answer")
            canceled = statuses(transport.send(cancel_by_cloid_action(meta.index, cloid)))[0]
        if canceled != "success":
            raise PerpbotError(f"the test order {cloid} could not be canceled: {canceled}",
                               "cancel it in the app; it bids half the market and cannot fill")
        status = self.client.order_status(self.account, cloid)
        return f"{symbol} {sz:g} @ {px:g} rested (oid {placed['resting']['oid']}) and was canceled ({status.status})"


def render(checks: list[Check]) -> str:
    lines = [f"  {'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append("preflight: all checks passed" if not failed else f"preflight: {failed} check(s) failed")
    return "\n".join(lines)
