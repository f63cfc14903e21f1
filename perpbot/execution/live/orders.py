"""Provides the order desk: one order per client order id, whatever the network does.

`OrderDesk.submit` sends an order and reports what became of it. An action that certainly
did not run (not sent, rate-limited, nonce refused) is sent again; an action whose answer was
lost is first looked up by its cloid (orderStatus), and sent again only if the exchange has
never seen it; a refusal is final. What a fill cost is read back from the account's fills
(size, average price, fees, realized pnl), not guessed from the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from perpbot.clock import Clock
from perpbot.data.ports import AccountData
from perpbot import crashpoints
from perpbot.data.records import Fill, OrderStatus
from perpbot.errors import MalformedResponseError, OrderRejected, TransientExchangeError
from perpbot.execution.live.exchange_api import (
    ActionNotSent,
    ActionOutcomeUnknown,
    ExchangeTransport,
    statuses,
    user_fills_by_time,
)
from perpbot.execution.live.signing import OrderIntent, cancel_by_cloid_action, modify_action, order_action

log = logging.getLogger(__name__)

FILL_LOOKBACK_MS = 120_000  # fills are searched from this long before the order was sent
WIRE_DECIMALS = 8  # the most decimals a size may carry on the wire (the SDK's float_to_wire)
_DONE = ("filled", "canceled")  # an IOC that filled in part ends "canceled" with its fills kept


@dataclass(frozen=True, slots=True)
class Execution:
    """What became of one order."""

    cloid: str
    state: str  # filled | partial | resting | rejected | none (an IOC that matched nothing)
    oid: int | None = None
    size: float = 0.0
    avg_px: float | None = None
    fees: float = 0.0
    closed_pnl: float = 0.0
    time_ms: int | None = None
    error: str | None = None
    fills: tuple[Fill, ...] = ()
    children: tuple[Any, ...] = ()  # the answer's statuses of grouped TP/SL children (bare strings)

    @property
    def filled(self) -> bool:
        return self.size > 0


class OrderDesk:
    """Sends orders and cancels for one account so that no cloid ever executes twice.

    Args:
        transport: the signed /exchange transport.
        client: the /info client (orderStatus, fills).
        account: the trading account (the agent's owner when an API wallet signs).
        clock: time for waits and fill look-ups.
        attempts: sends per order before giving up on a network that keeps failing.
        retry_delay_s: first wait between attempts (doubles).
    """

    def __init__(self, transport: ExchangeTransport, client: AccountData, account: str, clock: Clock,
                 attempts: int = 4, retry_delay_s: float = 0.5) -> None:
        self.transport, self.client, self.account, self.clock = transport, client, account, clock
        self.attempts, self.retry_delay_s = attempts, retry_delay_s

    def lookup(self, cloid: str) -> OrderStatus | None:
        """The exchange's record of an order by cloid, or None if it has never seen it."""
        found = self.client.order_status(self.account, cloid)
        return found if found.found else None

    def submit(self, intent: OrderIntent, since_ms: int | None = None, children: tuple[OrderIntent, ...] = (),
               ) -> Execution:
        """Send one order (its cloid set) and return what the exchange did with it.

        With `children` (TP/SL triggers) the order goes out grouped `normalTpsl`: the exchange places
        them the moment it fills completely and cancels them with it otherwise. If the exchange
        already knows the cloid (an earlier run sent it), nothing is sent.

        Raises:
            TransientExchangeError: the exchange stayed unreachable for every attempt, or an order
                reported filled whose fills cannot be read yet; the caller must look it up later.
        """
        assert intent.cloid, "every live order carries a client order id"
        since = (since_ms if since_ms is not None else self.clock.now_ms()) - FILL_LOOKBACK_MS
        known = self.lookup(intent.cloid)
        if known is not None:
            log.warning("order_already_known", extra={"cloid": intent.cloid, "status": known.status})
            return self.from_record(intent.cloid, known, since)
        action = order_action([intent, *children], "normalTpsl" if children else "na")
        delay = self.retry_delay_s
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.transport.send(action)
            except ActionNotSent as exc:
                log.warning("order_not_sent", extra={"cloid": intent.cloid, "attempt": attempt, "error": str(exc)})
            except ActionOutcomeUnknown as exc:
                log.warning("order_outcome_unknown", extra={"cloid": intent.cloid, "attempt": attempt, "error": str(exc)})
                known = self._lookup_settled(intent.cloid)
                if known is not None:
                    return self.from_record(intent.cloid, known, since)
            except OrderRejected as exc:
                return Execution(intent.cloid, "rejected", error=exc.message)
            else:
                crashpoints.reached("entry_sent" if children else "order_sent")
                answer = statuses(response)
                execution = self._from_entry(intent.cloid, answer[0], since)
                return replace(execution, children=tuple(answer[1:]))
            self.clock.sleep(delay)
            delay *= 2
        raise TransientExchangeError(f"order {intent.cloid} not placed after {self.attempts} attempts",
                                     "the exchange is unreachable; the next reconciliation looks the order up")

    def _lookup_settled(self, cloid: str) -> OrderStatus | None:
        """Look an order up twice, a moment apart: a request cut off in flight lands within that."""
        for _ in range(2):
            try:
                known = self.lookup(cloid)
            except TransientExchangeError as exc:
                log.warning("order_lookup_failed", extra={"cloid": cloid, "error": str(exc)})
                known = None
            if known is not None:
                return known
            self.clock.sleep(self.retry_delay_s)
        return None

    def _from_entry(self, cloid: str, entry: Any, since_ms: int) -> Execution:
        """An order's status entry in the /exchange answer."""
        if isinstance(entry, dict) and "error" in entry:
            text = str(entry["error"])
            state = "none" if text.startswith("Order could not immediately match") else "rejected"
            return Execution(cloid, state, error=text)
        try:
            if isinstance(entry, dict) and "resting" in entry:
                return Execution(cloid, "resting", oid=int(entry["resting"]["oid"]))
            if isinstance(entry, dict) and "filled" in entry:
                oid = int(entry["filled"]["oid"])
                return self._with_fills(cloid, oid, since_ms, must_fill=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(f"unreadable order status {entry!r}") from exc
        raise MalformedResponseError(f"unexpected order status {entry!r}")

    def from_record(self, cloid: str, record: OrderStatus, since_ms: int) -> Execution:
        """An order as orderStatus reports it (fills searched from since_ms)."""
        status = record.status or ""
        if status == "open":
            return Execution(cloid, "resting", oid=record.oid)
        if status in _DONE or status == "triggered":
            return self._with_fills(cloid, int(record.oid or 0), since_ms, must_fill=status == "filled")
        if status == "iocCancelRejected":
            return Execution(cloid, "none", oid=record.oid, error=status)
        return Execution(cloid, "rejected", oid=record.oid, error=status)

    def _with_fills(self, cloid: str, oid: int, since_ms: int, must_fill: bool = False) -> Execution:
        fills = [f for f in user_fills_by_time(self.client, self.account, since_ms) if f.oid == oid]
        if not fills and must_fill:
            raise TransientExchangeError(f"order {cloid} filled but its fills are not readable yet",
                                         "the bot looks it up again")
        if not fills:
            return Execution(cloid, "none", oid=oid)
        # Fill sizes are decimals on the wire; their float sum drifts (11477.699999999997), which the
        # SDK's float_to_wire refuses when the size is sent again (the stop, the exit): round it back.
        size = round(sum(f.sz for f in fills), WIRE_DECIMALS)
        status = self.client.order_status(self.account, oid)
        remaining = status.sz if status.found and status.sz is not None else 0.0
        return Execution(cloid, "partial" if remaining > 0 else "filled", oid=oid, size=size,
                         avg_px=sum(f.px * f.sz for f in fills) / size, fees=sum(f.fee for f in fills),
                         closed_pnl=sum(f.closed_pnl for f in fills), time_ms=max(f.time for f in fills),
                         fills=tuple(fills))

    def modify(self, cloid: str, intent: OrderIntent) -> bool:
        """Move the open order `cloid` to `intent` (same cloid). True if the exchange accepted it.

        Raises:
            TransientExchangeError: no answer; the caller sees on the exchange what became of it.
        """
        try:
            entry = statuses(self.transport.send(modify_action(cloid, intent)))[0]
        except OrderRejected as exc:
            log.warning("modify_refused", extra={"cloid": cloid, "error": exc.message})
            return False
        crashpoints.reached("stop_sent")
        if isinstance(entry, dict) and "error" in entry:
            log.warning("modify_refused", extra={"cloid": cloid, "error": entry["error"]})
            return False
        return True

    def cancel(self, asset: int, cloid: str) -> bool:
        """Cancel by cloid; True if it was open and is now canceled, False if it was not open."""
        for attempt in range(1, self.attempts + 1):
            try:
                entry = statuses(self.transport.send(cancel_by_cloid_action(asset, cloid)))[0]
            except (ActionNotSent, ActionOutcomeUnknown) as exc:
                log.warning("cancel_retry", extra={"cloid": cloid, "attempt": attempt, "error": str(exc)})
                self.clock.sleep(self.retry_delay_s * attempt)
                continue
            return entry == "success"
        raise TransientExchangeError(f"cancel of {cloid} not confirmed after {self.attempts} attempts")
