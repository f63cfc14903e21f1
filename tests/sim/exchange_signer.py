"""Provides a test helper that signs /exchange actions with the SDK's sign_l1_action and posts them over HTTP."""

from __future__ import annotations

import eth_account
import httpx
from hyperliquid.utils.signing import sign_l1_action

from perpbot.sim.server import SimServer

TRADER = eth_account.Account.from_key("0x" + "33" * 32)
ASSETS = {"BTC": 0, "ETH": 1, "SOL": 2}


class Signer:
    """Signs actions with the SDK's sign_l1_action and posts them; nonces count up from the sim's clock."""

    def __init__(self, sim: SimServer, wallet=TRADER, is_mainnet: bool = False) -> None:
        self.sim, self.wallet, self.is_mainnet = sim, wallet, is_mainnet
        self.http = httpx.Client(base_url=sim.url, timeout=10)

    def body(self, action: dict, nonce: int | None = None) -> dict:
        nonce = nonce if nonce is not None else self.sim.now_ms() + self.sim.exchange.actions_received
        signature = sign_l1_action(self.wallet, action, None, nonce, None, self.is_mainnet)
        return {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None, "expiresAfter": None}

    def post(self, body: dict) -> dict:
        response = self.http.post("/exchange", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def order(self, coin: str, is_buy: bool, px: str, sz: str, tif: str = "Ioc", reduce_only: bool = False) -> dict:
        wire = {"a": ASSETS[coin], "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}
        answer = self.post(self.body({"type": "order", "orders": [wire], "grouping": "na"}))
        assert answer["status"] == "ok", answer
        return answer["response"]["data"]["statuses"][0]

    def trigger(self, coin: str, is_buy: bool, trigger_px: str, sz: str, tpsl: str = "sl") -> dict:
        """A reduce-only market trigger order (a stop loss or take profit)."""
        limit = trigger_px  # market triggers fill up to 10% past the trigger whatever the limit says
        wire = {"a": ASSETS[coin], "b": is_buy, "p": limit, "s": sz, "r": True,
                "t": {"trigger": {"isMarket": True, "triggerPx": trigger_px, "tpsl": tpsl}}}
        answer = self.post(self.body({"type": "order", "orders": [wire], "grouping": "na"}))
        assert answer["status"] == "ok", answer
        return answer["response"]["data"]["statuses"][0]

    def info(self, body: dict):
        response = self.http.post("/info", json=body)
        assert response.status_code == 200, response.text
        return response.json()
