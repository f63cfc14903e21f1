"""ccxt's hyperliquid client, in its stock configuration, against the simulator: every unified method it supports.

Stock means only what the README tells a user: sandbox mode (testnet signing) and `urls['api']`
pointed at the simulator. Methods the simulator does not model answer in the exchange's error
shape, which ccxt raises as ExchangeError with the exchange's text.
"""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.pro as ccxtpro
import eth_account
import pytest

from perpbot.clock import HOUR_MS, MINUTE_MS, FakeClock, ScaledClock, WallClock, floor_ms
from perpbot.sim.server import SimOptions, SimServer

KEY = "0x" + "71" * 32
WALLET = eth_account.Account.from_key(KEY).address
ETH = "ETH/USDC:USDC"
CCXT_BUILDER = "0x6530512a6c89c7cfcebc3ba7fcd9ada5f30827a6"  # the builder ccxt approves and attaches by default


def _client(cls, sim: SimServer):
    # enableRateLimit off: ccxt's client-side throttle (up to a second per call here) changes no byte on the wire.
    ex = cls({"walletAddress": WALLET, "privateKey": KEY, "enableRateLimit": False})
    ex.set_sandbox_mode(True)
    ex.urls["api"] = {"public": sim.url, "private": sim.url, "ws": {"public": sim.ws_url}}
    return ex


@pytest.fixture(scope="module")
def sim():
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    opts = SimOptions(seed=12, history_days=1, start_ms=start, funds={WALLET.lower(): 100_000.0},
                      schedule_cancel_min_volume=0)
    with SimServer(opts, port=0, clock=FakeClock(start)) as server:
        yield server


@pytest.fixture(scope="module")
def ex(sim):
    client = _client(ccxt.hyperliquid, sim)
    client.load_markets()
    return client


def test_stock_load_markets_lists_spot_and_swaps(ex):
    assert {ETH, "BTC/USDC:USDC", "SOL/USDC:USDC", "PURR/USDC"} <= set(ex.markets)
    assert ex.markets[ETH]["limits"]["leverage"]["max"] == 25


def test_public_methods(sim, ex):
    now = sim.now_ms()
    assert ex.fetch_status()["status"] == "ok" and ex.fetch_time() == now
    assert "USDC" in ex.fetch_currencies()
    ticker = ex.fetch_ticker(ETH)
    assert ticker["bid"] < ticker["ask"] and ETH in ex.fetch_tickers()
    assert len(ex.fetch_order_book(ETH)["bids"]) == 20
    assert len(ex.fetch_ohlcv(ETH, "1m", since=now - 30 * MINUTE_MS)) == 31
    assert ex.fetch_funding_rate(ETH)["fundingRate"] is not None and ETH in ex.fetch_funding_rates()
    history = ex.fetch_funding_rate_history(ETH, since=now - 5 * HOUR_MS)
    assert len(history) == 5 and all(h["timestamp"] % HOUR_MS > 0 for h in history)  # the exchange's ms jitter
    assert ex.fetch_open_interest(ETH)["openInterestAmount"] > 0 and ETH in ex.fetch_open_interests()


def test_trading_and_account_methods(sim, ex):
    px = ex.fetch_ticker(ETH)["last"]
    assert ex.set_leverage(5, ETH)["status"] == "ok"  # cross unless told otherwise
    assert ex.set_margin_mode("isolated", ETH, {"leverage": 5})["status"] == "ok"
    bought = ex.create_order(ETH, "market", "buy", 1, px)
    assert int(bought["id"]) > 10**10
    assert ex.add_margin(ETH, 10)["info"]["status"] == "ok" and ex.reduce_margin(ETH, 5)["info"]["status"] == "ok"
    [position] = ex.fetch_positions([ETH])
    assert position["contracts"] == 1 and position["marginMode"] == "isolated" and position["liquidationPrice"] > 0
    assert ex.fetch_position(ETH)["contracts"] == 1
    resting = ex.create_order(ETH, "limit", "buy", 0.5, round(px * 0.8, 1), {"clientOrderId": "0x" + "0a" * 16})
    edited = ex.edit_order(resting["id"], ETH, "limit", "buy", 0.5, round(px * 0.79, 1))
    [open_order] = ex.fetch_open_orders(ETH)
    assert open_order["id"] == edited["id"] and ex.fetch_order(edited["id"], ETH)["status"] == "open"
    assert ex.cancel_order(edited["id"], ETH)["status"] == "success"
    sl = ex.create_order(ETH, "market", "sell", 1, px, {"stopLossPrice": round(px * 0.9, 1), "reduceOnly": True})
    assert ex.fetch_order(sl["id"], ETH)["status"] == "open"
    batch = ex.create_orders([{"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.1, "price": round(px * 0.7, 1),
                               "params": {"clientOrderId": "0x" + "0b" * 16}}])
    assert batch[0]["clientOrderId"] == "0x" + "0b" * 16
    assert ex.cancel_orders([], ETH, {"clientOrderId": ["0x" + "0b" * 16]})[0]["status"] == "success"
    ex.cancel_orders_for_symbols([{"id": sl["id"], "symbol": ETH}])
    assert ex.fetch_open_orders(ETH) == []
    assert ex.cancel_all_orders_after(60_000)["status"] == "ok"
    assert {o["status"] for o in ex.fetch_orders(ETH)} >= {"closed", "canceled"}
    assert ex.fetch_closed_orders(ETH) and ex.fetch_canceled_orders(ETH)
    trades = ex.fetch_my_trades(ETH)
    assert trades and trades[0]["fee"]["currency"] == "USDC"
    assert trades[0]["info"]["builderFee"]  # ccxt attaches its builder (approved at load_markets)
    assert ex.fetch_trades(ETH) and ex.fetch_my_liquidations(ETH) == []
    assert ex.fetch_trading_fee(ETH)["taker"] == 0.00045
    assert ex.fetch_balance()["USDC"]["total"] > 99_000
    assert ex.transfer("USDC", 10, "swap", "spot")["status"] == "ok"
    assert ex.fetch_balance({"type": "spot"})["USDC"]["total"] == 10
    assert [d["amount"] for d in ex.fetch_deposits()] == [100_000.0]
    assert ex.fetch_withdrawals() == [] and len(ex.fetch_ledger()) >= 2
    assert ex.fetch_funding_history(ETH) == []
    assert ex.create_order(ETH, "market", "sell", 1, px, {"reduceOnly": True})["id"]


@pytest.mark.parametrize("method, args", [
    ("withdraw", ("USDC", 5, "0x" + "12" * 20)), ("create_twap_order", (ETH, "buy", 1, 300)),
    ("create_vault", ("v", "d", 100)), ("create_sub_account", ("sub",))])
def test_unmodelled_methods_raise_the_exchanges_error(ex, method, args):
    with pytest.raises(ccxt.ExchangeError, match='"status":"err"'):
        getattr(ex, method)(*args)


def test_attached_stop_loss_and_take_profit_rest_waiting_for_their_parent(ex):
    px = ex.fetch_ticker(ETH)["last"]
    parent = ex.create_order(ETH, "limit", "buy", 0.1, round(px * 0.8, 1),
                             {"stopLoss": {"triggerPrice": round(px * 0.7, 1)}, "takeProfit": {"triggerPrice": round(px, 1)}})
    assert "resting" in parent["info"]
    orders = {o["id"]: o["info"] for o in ex.fetch_open_orders(ETH)}
    children = orders[parent["id"]]["children"]
    assert sorted(c["orderType"] for c in children) == ["Stop Limit", "Take Profit Limit"]  # ccxt makes them limits at the trigger
    assert all(c["reduceOnly"] and c["isTrigger"] and str(c["oid"]) in orders for c in children)
    ex.cancel_order(parent["id"], ETH)  # canceling an unfilled parent cancels its children
    assert ex.fetch_open_orders(ETH) == []


def test_websocket_client_watches_and_trades_over_the_socket():
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    opts = SimOptions(seed=13, history_days=0.5, start_ms=start, funds={WALLET.lower(): 50_000.0})

    async def scenario(sim: SimServer) -> None:
        ex = _client(ccxtpro.hyperliquid, sim)
        try:
            await ex.load_markets()
            ticker = await asyncio.wait_for(ex.watch_ticker(ETH), 10)
            trades = await asyncio.wait_for(ex.watch_trades(ETH), 10)
            assert ticker["last"] > 0 and trades[-1]["price"] > 0
            orders = asyncio.ensure_future(ex.watch_orders(ETH))
            mine = asyncio.ensure_future(ex.watch_my_trades(ETH))
            await asyncio.sleep(0.3)
            placed = await asyncio.wait_for(ex.create_order_ws(ETH, "market", "buy", 0.5, ticker["last"]), 10)
            assert int(placed["id"]) > 10**10
            assert [o["id"] for o in await asyncio.wait_for(orders, 10)] == [placed["id"]]
            assert (await asyncio.wait_for(mine, 10))[0]["order"] == placed["id"]
            assert (await asyncio.wait_for(ex.watch_positions(), 10))[0]["contracts"] == 0.5
            assert (await asyncio.wait_for(ex.watch_balance(), 10))["USDC"]["total"] > 0
            with pytest.raises(ccxt.OrderNotFound):
                await asyncio.wait_for(ex.cancel_order_ws("1", ETH), 10)
        finally:
            await ex.close()

    with SimServer(opts, port=0, clock=ScaledClock(start, 1.0)) as sim:
        asyncio.run(scenario(sim))
