"""The official SDK's Exchange client, unchanged, trading on the simulator: the proof it checks what the exchange checks.

The SDK signs with wall-clock nonces, so the simulator's clock here starts at today's UTC
midnight (inside the exchange's nonce window) and is moved by hand.
"""

from __future__ import annotations

import eth_account
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from perpbot.clock import DAY_MS, FakeClock, WallClock, floor_ms
from perpbot.sim.server import SimOptions, SimServer

MAIN = eth_account.Account.from_key("0x" + "11" * 32)
STRANGER = eth_account.Account.from_key("0x" + "22" * 32)


@pytest.fixture(scope="module")
def sim():
    start = floor_ms(WallClock().now_ms(), DAY_MS)
    opts = SimOptions(seed=5, history_days=0.5, start_ms=start, funds={MAIN.address.lower(): 50_000.0})
    with SimServer(opts, port=0, clock=FakeClock(start)) as server:
        yield server


def _status(result: dict) -> dict:
    assert result["status"] == "ok", result
    return result["response"]["data"]["statuses"][0]


def test_sdk_sets_leverage_places_modifies_and_cancels(sim):
    ex = Exchange(MAIN, sim.url)
    info = Info(sim.url, skip_ws=True)
    assert ex.update_leverage(5, "ETH", is_cross=False) == {"status": "ok", "response": {"type": "default"}}
    cloid = Cloid.from_int(41)
    filled = _status(ex.market_open("ETH", True, 0.2, cloid=cloid))["filled"]
    assert float(filled["totalSz"]) == 0.2 and filled["cloid"] == cloid.to_raw()
    position = info.user_state(MAIN.address)["assetPositions"][0]["position"]
    assert position["coin"] == "ETH" and float(position["szi"]) == 0.2
    assert position["leverage"]["type"] == "isolated" and position["leverage"]["value"] == 5
    assert info.query_order_by_cloid(MAIN.address, cloid)["order"]["status"] == "filled"

    mid = float(info.all_mids()["ETH"])
    low = round(float(f"{mid * 0.8:.5g}"), 2)
    oid = _status(ex.order("ETH", True, 0.1, low, {"limit": {"tif": "Gtc"}}))["resting"]["oid"]
    new_px = round(float(f"{mid * 0.75:.5g}"), 2)
    assert ex.modify_order(oid, "ETH", True, 0.1, new_px, {"limit": {"tif": "Gtc"}})["status"] == "ok"
    [order] = info.frontend_open_orders(MAIN.address)
    assert float(order["limitPx"]) == new_px and order["orderType"] == "Limit" and order["tif"] == "Gtc"
    assert ex.cancel("ETH", order["oid"]) == {"status": "ok", "response": {"type": "cancel", "data": {"statuses": ["success"]}}}
    again = _status(ex.cancel("ETH", order["oid"]))
    assert again == {"error": "Order was never placed, already canceled, or filled. asset=1"}

    stop = Cloid.from_int(42)
    trigger = round(float(f"{mid * 0.9:.5g}"), 2)
    sl = {"trigger": {"triggerPx": trigger, "isMarket": True, "tpsl": "sl"}}
    assert "resting" in _status(ex.order("ETH", False, 0.2, round(trigger * 0.9, 1), sl, reduce_only=True, cloid=stop))
    assert info.open_orders(MAIN.address)[0]["cloid"] == stop.to_raw()
    assert _status(ex.cancel_by_cloid("ETH", stop)) == "success"
    closed = _status(ex.market_close("ETH"))["filled"]
    assert float(closed["totalSz"]) == 0.2 and info.user_state(MAIN.address)["assetPositions"] == []
    fills = info.user_fills(MAIN.address)
    assert [f["dir"] for f in fills[:2]] == ["Close Long", "Open Long"] and all(f["crossed"] for f in fills)


def test_an_approved_agent_wallet_trades_for_its_account(sim):
    ex = Exchange(MAIN, sim.url)
    approved, agent_key = ex.approve_agent("perpbot")
    assert approved == {"status": "ok", "response": {"type": "default"}}
    agent = eth_account.Account.from_key(agent_key)
    info = Info(sim.url, skip_ws=True)
    assert info.post("/info", {"type": "userRole", "user": agent.address}) == {
        "role": "agent", "data": {"user": MAIN.address.lower()}}
    as_agent = Exchange(agent, sim.url, account_address=MAIN.address)
    assert "filled" in _status(as_agent.market_open("SOL", False, 1.0))
    positions = info.user_state(MAIN.address)["assetPositions"]
    assert [(p["position"]["coin"], float(p["position"]["szi"])) for p in positions] == [("SOL", -1.0)]
    assert "filled" in _status(as_agent.market_close("SOL"))


def test_a_signer_that_is_neither_account_nor_agent_cannot_trade(sim):
    refused = Exchange(STRANGER, sim.url).market_open("BTC", True, 0.001)
    assert refused == {"status": "err", "response": f"User or API Wallet {STRANGER.address.lower()} does not exist."}
    # Nor can it make itself an agent: approving needs a funded account's signature.
    approved, _ = Exchange(STRANGER, sim.url).approve_agent()
    assert approved == {"status": "err", "response": f"Must deposit before performing actions. User: {STRANGER.address.lower()}"}
