"""Provides the one-bot-per-account guard: orders and fills of another perp-bot instance on this account.

Every live cloid carries the sending instance's id (signing.derive_cloid). Open orders with the
perp-bot tag and another instance's id, or fills of another instance since this one first traded,
mean a second bot trades this account: two bots double the exposure and cancel each other's stops
as strays. Old fills of a previous instance (this database is fresh or restored) do not count, and
an instance taken over with `--adopt-account` counts only for what it does after the takeover.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from perpbot.data.records import Fill
from perpbot.execution.live.exchange_api import ExchangeOrder
from perpbot.execution.live.book import Instance, LiveBook
from perpbot.execution.cloids import cloid_instance

log = logging.getLogger(__name__)


class AccountGuard:
    """Judges cloids against this instance; `seen` collects what points to another bot."""

    def __init__(self, book: LiveBook, instance: Instance) -> None:
        self.book, self.instance = book, instance
        self.seen: dict[str, str] = {}  # other instance id -> what was seen of it

    def known(self) -> set[str]:
        """Cloids this database sent or tracks (stops of old versions' trades carry no instance id)."""
        return {r.cloid for r in self.book.stops().values()} | set(self.book.intents())

    def is_mine(self, cloid: str | None, known: set[str] | None = None) -> bool:
        """A cloid of this instance (or one this database tracks)."""
        if cloid is None:
            return False
        return cloid_instance(cloid) == self.instance.id or cloid in (known if known is not None else self.known())

    def is_adopted(self, order: ExchangeOrder) -> bool:
        """An order an instance this one took over placed before the takeover (a stray to cancel)."""
        taken = self.instance.adopted.get(cloid_instance(order.cloid) or "")
        return taken is not None and order.timestamp <= taken

    def other(self, cloid: str | None, known: set[str]) -> str | None:
        """The other instance a perp-bot cloid belongs to, or None (not perp-bot's, or ours)."""
        instance = cloid_instance(cloid)
        if instance is None or instance == self.instance.id or cloid in known:
            return None
        return instance

    def check_orders(self, orders: Iterable[ExchangeOrder]) -> None:
        known = self.known()
        for order in orders:
            other = self.other(order.cloid, known)
            if other is not None and not self.is_adopted(order):  # taken over, yet placing orders: still alive
                self._saw(other, f"open {order.order_type or 'order'} on {order.symbol} ({order.cloid})")

    def check_fills(self, fills: Iterable[Fill]) -> None:
        known = self.known()
        for fill in fills:
            other = self.other(fill.cloid, known)
            if other is None or fill.time < self.instance.since:
                continue  # an old fill of a previous instance: this database is fresh or restored
            if fill.time <= self.instance.adopted.get(other, -1):
                continue
            self._saw(other, f"a {fill.dir} fill on {fill.symbol} at {fill.time} ({fill.cloid})")

    def _saw(self, other: str, what: str) -> None:
        if other not in self.seen:
            log.error("another_bot_on_account", extra={"instance": other, "seen": what})
            self.seen[other] = what

    def message(self) -> str | None:
        """What was seen of other bots, in one sentence, or None."""
        if not self.seen:
            return None
        parts = "; ".join(f"instance {i}: {what}" for i, what in sorted(self.seen.items()))
        return f"another perp-bot trades this account (this one is instance {self.instance.id}): {parts}"

    def adopt(self, now_ms: int) -> set[str]:
        """Take the account over from every instance seen; their orders become strays to cancel."""
        others = set(self.seen)
        self.instance = self.book.adopt(self.instance, others, now_ms)
        self.seen.clear()
        return others
