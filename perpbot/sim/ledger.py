"""Provides the simulator's account ledger: balances, positions, leverage, agents, orders and fills.

One-way positions with cross or isolated leverage per asset, as Hyperliquid keeps them.
Accounts exist only once funded (`perpbot sim --fund ADDRESS=USD`); an account may approve
agent (API) wallets that then sign for it. The ledger only books: order matching and price
paths live in `perpbot.sim.matching`, the /info answers in `perpbot.sim.account_views`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perpbot.sim.assets import fmt_num
from perpbot.sim.universe import Universe

TAKER_FEE = 0.00045  # base-tier perp fees
MAKER_FEE = 0.00015
DEFAULT_LEVERAGE = 20  # a fresh account trades each asset at 20x cross (or the asset's cap)
MAX_FILLS_KEPT = 10_000  # the exchange keeps only the most recent 10,000 fills per user
OID_START = 100_000_000_001  # live oids are past 10^11 (2025): a client keeping them in 32 bits breaks here
TID_MIN, TID_SPAN = 10**14, 2**53 - 10**14  # trade ids are unordered hashes in [10^14, 2^53)
Listener = Callable[[str, str, Any], None]  # (event kind, user, payload): see Ledger.emit


@dataclass(slots=True)
class SimOrder:
    """An order as the exchange tracks it (sz is what remains)."""

    oid: int
    user: str
    coin: str
    is_buy: bool
    limit_px: float
    sz: float
    orig_sz: float
    reduce_only: bool
    timestamp: int
    tif: str | None = None  # Gtc | Ioc | Alo; None for trigger orders
    trigger_px: float | None = None
    is_market: bool = False
    tpsl: str | None = None  # tp | sl
    cloid: str | None = None
    position_tpsl: bool = False  # grouping positionTpsl: a size of 0 follows the whole position
    status: str = "open"
    status_ts: int = 0
    parent_oid: int | None = None  # a normalTpsl child waiting for its parent to fill completely

    @property
    def waiting(self) -> bool:
        """A TP/SL child whose parent has not filled completely yet: shown, but it cannot trigger."""
        return self.parent_oid is not None

    @property
    def is_trigger(self) -> bool:
        return self.trigger_px is not None

    @property
    def fires_on_fall(self) -> bool:
        """A sell stop and a buy take-profit fire when the price falls to the trigger."""
        return (self.tpsl == "sl") != self.is_buy

    @property
    def order_type(self) -> str:
        if not self.is_trigger:
            return "Limit"
        kind = "Stop" if self.tpsl == "sl" else "Take Profit"
        return f"{kind} {'Market' if self.is_market else 'Limit'}"


@dataclass(slots=True)
class Position:
    szi: float = 0.0  # signed size: negative is short
    entry_px: float = 0.0
    funding: float = 0.0  # funding paid since the position opened (negative: received)


@dataclass
class Account:
    address: str
    balance: float  # USDC: deposits + realized pnl - fees - funding
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, tuple[bool, int]] = field(default_factory=dict)  # coin -> (is_cross, leverage)
    fills: list[dict] = field(default_factory=list)  # wire-shaped, oldest first
    iso_margin: dict[str, float] = field(default_factory=dict)  # coin -> margin held by its isolated position
    spot_usdc: float = 0.0  # USDC on the spot side (usdClassTransfer moves it to and from `balance`)


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


class Ledger:
    """Every account, agent, order and fill of the simulated exchange (guard with `lock`)."""

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        self.coins = list(universe.coins)  # meta order: the index is the asset id
        self.accounts: dict[str, Account] = {}
        self.agents: dict[str, tuple[str, str]] = {}  # agent address -> (user, name)
        self.orders: dict[int, SimOrder] = {}
        self.cloids: dict[tuple[str, str], int] = {}  # (user, cloid) -> latest oid with it
        self.children: dict[int, list[int]] = {}  # parent oid -> its normalTpsl children's oids
        self.lock = threading.RLock()
        self.listeners: list[Listener] = []  # streams, history and margin bookkeeping subscribe here
        self.timers: list[Any] = []  # things due at a time (scheduleCancel): next_due(start, end), fire(at)
        self._next_oid = OID_START
        self._tids: set[int] = set()

    def emit(self, kind: str, user: str, payload: Any) -> None:
        """Tell every listener: "order" (a SimOrder placed or closed), "fill", "funding", "ledger", "liquidation"."""
        for listener in self.listeners:
            listener(kind, user, payload)

    def _new_tid(self, fill_no: int) -> int:
        """A trade id in the exchange's range, unordered like its hashes, never repeated."""
        n = fill_no
        while True:
            digest = hashlib.sha256(f"tid:{n}".encode()).digest()
            tid = TID_MIN + int.from_bytes(digest[:8], "big") % TID_SPAN
            if tid not in self._tids:
                self._tids.add(tid)
                return tid
            n += 1_000_003

    # --- accounts and agents ---------------------------------------------------------------

    def fund(self, address: str, usd: float) -> Account:
        """Credit `usd` to an account, creating it (only funded accounts exist)."""
        user = address.lower()
        with self.lock:
            account = self.accounts.setdefault(user, Account(user, 0.0))
            account.balance += float(usd)
            return account

    def approve_agent(self, user: str, agent: str, name: str = "") -> None:
        """Let `agent` sign actions for `user` (an agent serves one account at a time)."""
        with self.lock:
            self.agents[agent.lower()] = (user.lower(), name)

    def owner_of(self, signer: str) -> str | None:
        """The account a recovered signer acts for: itself if funded, else the account that approved it."""
        signer = signer.lower()
        if signer in self.accounts:
            return signer
        entry = self.agents.get(signer)
        return entry[0] if entry and entry[0] in self.accounts else None

    def role(self, address: str) -> dict:
        """The userRole answer for an address."""
        address = address.lower()
        if address in self.accounts:
            return {"role": "user"}
        if address in self.agents:
            return {"role": "agent", "data": {"user": self.agents[address][0]}}
        return {"role": "missing"}

    # --- assets --------------------------------------------------------------------------------

    def sz_decimals(self, coin: str) -> int:
        return self.universe[coin].meta.sz_decimals

    def max_leverage(self, coin: str) -> int:
        return self.universe[coin].meta.max_leverage

    def mark(self, coin: str, now_ms: int) -> float:
        return self.universe[coin].mid(now_ms)

    def leverage(self, user: str, coin: str) -> tuple[bool, int]:
        account = self.accounts[user]
        return account.leverage.get(coin, (True, min(DEFAULT_LEVERAGE, self.max_leverage(coin))))

    def position(self, user: str, coin: str) -> Position:
        return self.accounts[user].positions.setdefault(coin, Position())

    # --- orders --------------------------------------------------------------------------------

    def add_order(self, order: SimOrder) -> SimOrder:
        """Give an order the next oid and remember its cloid.

        A reused cloid is accepted and then names the newest order: the simulator does not
        deduplicate, so a client that sends an order twice is caught by the tests, not hidden.
        """
        order.oid = self._next_oid
        self._next_oid += 1
        order.status_ts = order.timestamp
        self.orders[order.oid] = order
        if order.cloid:
            self.cloids[(order.user, order.cloid)] = order.oid
        self.emit("order", order.user, order)
        return order

    def find(self, user: str, oid: int | str) -> SimOrder | None:
        """A user's order by oid or by "0x" cloid."""
        if isinstance(oid, str):
            found = self.cloids.get((user, oid.lower()))
            return None if found is None else self.orders.get(found)
        order = self.orders.get(oid)
        return order if order is not None and order.user == user else None

    def open_orders(self, user: str | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.status == "open" and (user is None or o.user == user)]

    def add_child(self, parent: SimOrder, child: SimOrder) -> SimOrder:
        """A normalTpsl child of `parent` (added after it): it waits until the parent fills completely."""
        child.parent_oid = parent.oid
        self.add_order(child)
        self.children.setdefault(parent.oid, []).append(child.oid)
        return child

    def children_of(self, order: SimOrder) -> list[SimOrder]:
        return [self.orders[oid] for oid in self.children.get(order.oid, [])]

    def close_order(self, order: SimOrder, status: str, now_ms: int) -> None:
        """End an order. A parent's children are placed if it filled completely, else canceled with it
        (also when it filled in part: an IOC's unfilled rest cancels them)."""
        order.status, order.status_ts = status, now_ms
        self.emit("order", order.user, order)
        for child in self.children.pop(order.oid, []):
            waiting = self.orders[child]
            if waiting.status != "open":
                continue
            if status == "filled":
                waiting.parent_oid = None
            else:
                waiting.status, waiting.status_ts = "canceled", now_ms
                self.emit("order", waiting.user, waiting)

    # --- fills and funding -----------------------------------------------------------------------

    def book_fill(self, order: SimOrder, px: float, sz: float, now_ms: int, crossed: bool,
                  extra: dict | None = None) -> dict:
        """Apply one fill to the position and balance; returns the fill as userFills shows it (plus `extra` keys)."""
        account = self.accounts[order.user]
        pos = self.position(order.user, order.coin)
        sz_dec = self.sz_decimals(order.coin)
        signed = sz if order.is_buy else -sz
        start, closed_pnl = pos.szi, 0.0
        if start == 0 or (start > 0) == (signed > 0):
            pos.entry_px = (abs(start) * pos.entry_px + sz * px) / (abs(start) + sz)
        else:
            closing = min(sz, abs(start))
            closed_pnl = closing * (px - pos.entry_px) * (1 if start > 0 else -1)
            if sz > abs(start):
                pos.entry_px = px  # flipped: the rest opens at this price
        pos.szi = round(start + signed, sz_dec)
        if pos.szi == 0:
            pos.entry_px, pos.funding = 0.0, 0.0
        fee = round(px * sz * (TAKER_FEE if crossed else MAKER_FEE), 6)
        account.balance += closed_pnl - fee
        order.sz = round(order.sz - sz, sz_dec)
        tid = self._new_tid(len(self._tids))
        fill = {
            "coin": order.coin, "px": _num(px), "sz": _num(round(sz, sz_dec)), "side": "B" if order.is_buy else "A",
            "time": now_ms, "startPosition": _num(start), "dir": _direction(start, signed),
            "closedPnl": _num(round(closed_pnl, 6)), "hash": _hash("fill", tid), "oid": order.oid,
            "crossed": crossed, "fee": _num(fee), "tid": tid, "feeToken": "USDC", "twapId": None,
        }
        if order.cloid:
            fill["cloid"] = order.cloid
        fill.update(extra or {})
        account.fills.append(fill)
        del account.fills[:-MAX_FILLS_KEPT]
        self.emit("fill", order.user, fill)
        return fill

    def pay_funding(self, coin: str, oracle_px: float, rate_1h: float, time_ms: int = 0) -> None:
        """Settle one hour of funding on every open position in `coin` (positive rate: longs pay)."""
        for account in self.accounts.values():
            pos = account.positions.get(coin)
            if pos is not None and pos.szi != 0:
                payment = pos.szi * oracle_px * rate_1h
                account.balance -= payment
                pos.funding += payment
                self.emit("funding", account.address, {"time": time_ms, "coin": coin, "usdc": _num(round(-payment, 6)),
                                                       "szi": _num(pos.szi), "fundingRate": fmt_num(rate_1h)})

    # --- margin --------------------------------------------------------------------------------

    def unrealized(self, user: str, coin: str, now_ms: int) -> float:
        pos = self.accounts[user].positions.get(coin)
        if pos is None or pos.szi == 0:
            return 0.0
        return pos.szi * (self.mark(coin, now_ms) - pos.entry_px)

    def account_value(self, user: str, now_ms: int) -> float:
        account = self.accounts[user]
        return account.balance + sum(self.unrealized(user, c, now_ms) for c in account.positions)

    def position_margin(self, user: str, coin: str, now_ms: int) -> float:
        account = self.accounts[user]
        pos = account.positions.get(coin)
        if pos is None or pos.szi == 0:
            return 0.0
        is_cross, lev = self.leverage(user, coin)
        if not is_cross:
            return account.iso_margin.get(coin, 0.0)  # what was put in, not what the mark says
        return abs(pos.szi) * self.mark(coin, now_ms) / lev

    def margin_used(self, user: str, now_ms: int) -> float:
        return sum(self.position_margin(user, c, now_ms) for c in self.accounts[user].positions)

    def order_margin(self, user: str) -> float:
        """Margin held by resting orders that would open or grow a position."""
        return sum(o.sz * o.limit_px / self.leverage(user, o.coin)[1]
                   for o in self.open_orders(user) if not o.reduce_only and not o.is_trigger)

    def free_margin(self, user: str, now_ms: int) -> float:
        return self.account_value(user, now_ms) - self.margin_used(user, now_ms) - self.order_margin(user)


def _num(x: float) -> str:
    """A number as the exchange writes it: shortest repr, no exponent, no negative zero."""
    return fmt_num(x)


def _direction(start: float, signed: float) -> str:
    end = start + signed
    if start == 0 or (start > 0) == (signed > 0):
        return "Open Long" if signed > 0 else "Open Short"
    if start > 0:
        return "Close Long" if end >= 0 else "Long > Short"
    return "Close Short" if end <= 0 else "Short > Long"
