"""Provides the account's owner trading by hand, with the official SDK (hyperliquid-python-sdk), on the
account a live bot trades: open, add, reduce, close and flip positions, cancel and move stops.

The SDK signs with wall-clock nonces; against a simulator on a FakeClock its nonce source follows
the simulator's clock instead (while a HandTrader is open), so the exchange admits them.
"""

from __future__ import annotations

import itertools
from typing import Any

import eth_account
import hyperliquid.exchange as sdk_exchange
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from perpbot.sim.server import SimServer


class HandTrader:
    """The owner's key, through the SDK's Exchange and Info clients."""

    def __init__(self, sim: SimServer, key: str) -> None:
        self.sim = sim
        self.wallet = eth_account.Account.from_key(key)
        self.address = self.wallet.address.lower()
        self._counter = itertools.count()
        self._saved = sdk_exchange.get_timestamp_ms
        sdk_exchange.get_timestamp_ms = lambda: sim.now_ms() + next(self._counter) % 1000
        self.exchange = Exchange(self.wallet, sim.url)
        self.info = Info(sim.url, skip_ws=True)

    def close(self) -> None:
        sdk_exchange.get_timestamp_ms = self._saved

    def __enter__(self) -> HandTrader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- positions ------------------------------------------------------------------------------

    def size(self, coin: str) -> float:
        for item in self.info.user_state(self.address)["assetPositions"]:
            if item["position"]["coin"] == coin:
                return float(item["position"]["szi"])
        return 0.0

    def market(self, coin: str, is_buy: bool, sz: float) -> dict[str, Any]:
        """A market order (the SDK's IOC 5% past the mid); returns its status entry."""
        return self._status(self.exchange.market_open(coin, is_buy, self._round(coin, sz)))

    def close_all(self, coin: str) -> dict[str, Any]:
        return self._status(self.exchange.market_close(coin))

    def flip(self, coin: str) -> dict[str, Any]:
        """Sell twice the long (or buy twice the short): the position turns around."""
        szi = self.size(coin)
        return self.market(coin, szi < 0, 2 * abs(szi))

    # --- stops ------------------------------------------------------------------------------------

    def stops(self, coin: str) -> list[dict[str, Any]]:
        return [o for o in self.info.frontend_open_orders(self.address)
                if o["coin"] == coin and o["isTrigger"] and o["reduceOnly"]]

    def cancel_stops(self, coin: str) -> int:
        stops = self.stops(coin)
        for order in stops:
            self.exchange.cancel(coin, order["oid"])
        return len(stops)

    def move_stop(self, coin: str, factor: float, keep_cloid: bool = True) -> float:
        """Move the (first) stop's trigger by `factor`, keeping its size and side, and its cloid as an app
        would (or, `keep_cloid` False, as the SDK's modify_order does by default: the order loses it)."""
        [order] = self.stops(coin)[:1]
        trigger = self._round_px(coin, float(order["triggerPx"]) * factor)
        kind = {"trigger": {"triggerPx": trigger, "isMarket": True, "tpsl": "sl"}}
        cloid = Cloid.from_str(order["cloid"]) if order.get("cloid") and keep_cloid else None
        answer = self.exchange.modify_order(order["oid"], coin, order["side"] == "B", float(order["sz"]), trigger, kind,
                                            reduce_only=True, cloid=cloid)
        assert answer["status"] == "ok", answer
        return trigger

    def place_stop(self, coin: str, factor: float) -> float:
        """A reduce-only stop-market of the whole position, `factor` times the mid, without a cloid."""
        szi = self.size(coin)
        trigger = self._round_px(coin, float(self.info.all_mids()[coin]) * factor)
        kind = {"trigger": {"triggerPx": trigger, "isMarket": True, "tpsl": "sl"}}
        self._status(self.exchange.order(coin, szi < 0, abs(szi), trigger, kind, reduce_only=True))
        return trigger

    # --- internals --------------------------------------------------------------------------------

    def _decimals(self, coin: str) -> int:
        return self.exchange.info.asset_to_sz_decimals[self.exchange.info.name_to_asset(coin)]

    def _round(self, coin: str, sz: float) -> float:
        return round(sz, self._decimals(coin))

    def _round_px(self, coin: str, px: float) -> float:
        return round(float(f"{px:.5g}"), 6 - self._decimals(coin))

    @staticmethod
    def _status(answer: Any) -> dict[str, Any]:
        assert answer["status"] == "ok", answer
        return answer["response"]["data"]["statuses"][0]
