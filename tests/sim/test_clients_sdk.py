"""The official SDK's Info and Exchange, stock, against the simulator: every trading and account-data method.

Each method either works with the exchange's answer shape or is refused with the exchange's
error shape ({"status": "err", ...}) where docs/simulator.md says the simulator does not model it.
The SDK signs with wall-clock nonces, so the simulator's clock starts at the current minute.
"""

from __future__ import annotations

import threading

import eth_account
import pytest
import hyperliquid.exchange as sdk_exchange
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.signing import OrderType
from hyperliquid.utils.types import Cloid

from perpbot.clock import HOUR_MS, MINUTE_MS, FakeClock, WallClock, floor_ms
from perpbot.sim.server import SimOptions, SimServer

MAIN = eth_account.Account.from_key("0x" + "61" * 32)
ADDR = MAIN.address
GTC: OrderType = {"limit": {"tif": "Gtc"}}


@pytest.fixture(scope="module", autouse=True)
def distinct_nonces():
    """The SDK takes the wall-clock millisecond as each action's nonce, so two actions sent within one
    millisecond collide (on the real exchange too: "duplicate nonce"); these tests send them back to back."""
    last = [0]

    def next_ms() -> int:
        last[0] = max(last[0] + 1, WallClock().now_ms())
        return last[0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdk_exchange, "get_timestamp_ms", next_ms)
        yield


@pytest.fixture(scope="module")
def sim():
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    opts = SimOptions(seed=8, history_days=1, start_ms=start, funds={ADDR.lower(): 100_000.0},
                      schedule_cancel_min_volume=0)
    clock = FakeClock(start)
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


@pytest.fixture(scope="module")
def ex(sim):
    return Exchange(MAIN, sim.url)


@pytest.fixture(scope="module")
def info(sim):
    return Info(sim.url, skip_ws=True)


def _status(answer: dict) -> dict:
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"][0]


def _px(info: Info, coin: str, factor: float, decimals: int) -> float:
    return round(float(f"{float(info.all_mids()[coin]) * factor:.5g}"), decimals)


def test_market_data_methods(sim, info):
    now = sim.now_ms()
    assert [a["name"] for a in info.meta()["universe"]] == ["BTC", "ETH", "SOL"]
    meta, ctxs = info.meta_and_asset_ctxs()
    assert len(ctxs) == 3 and meta["marginTables"]
    assert info.perp_dexs() == [None]
    spot = info.spot_meta()
    assert spot["tokens"][0]["name"] == "USDC" and info.spot_meta_and_asset_ctxs()[1][0]["coin"] == "PURR/USDC"
    assert len(info.candles_snapshot("ETH", "1h", now - 6 * HOUR_MS, now)) in (6, 7)  # the one forming included
    assert len(info.funding_history("BTC", now - 6 * HOUR_MS)) == 6  # hourly, a few ms past each hour
    assert len(info.l2_snapshot("SOL")["levels"][0]) == 20
    assert info.query_perp_deploy_auction_status()["durationSeconds"] > 0


def test_trading_methods(sim, ex, info):
    assert ex.update_leverage(10, "ETH", is_cross=False)["status"] == "ok"
    cloid = Cloid.from_int(7)
    filled = _status(ex.market_open("ETH", True, 0.5, cloid=cloid))["filled"]
    assert filled["oid"] > 10**10 and info.query_order_by_cloid(ADDR, cloid)["order"]["status"] == "filled"
    assert info.query_order_by_oid(ADDR, filled["oid"])["order"]["order"]["cloid"] == cloid.to_raw()
    assert ex.update_isolated_margin(25.0, "ETH")["status"] == "ok"
    [position] = info.user_state(ADDR)["assetPositions"]
    assert position["position"]["leverage"]["type"] == "isolated" and position["position"]["liquidationPx"] is not None
    low, lower = _px(info, "ETH", 0.8, 2), _px(info, "ETH", 0.75, 2)
    orders = ex.bulk_orders([{"coin": "ETH", "is_buy": True, "sz": 0.1, "limit_px": low, "order_type": GTC,
                              "reduce_only": False},
                             {"coin": "ETH", "is_buy": True, "sz": 0.1, "limit_px": lower, "order_type": GTC,
                              "reduce_only": False, "cloid": Cloid.from_int(8)}])
    oids = [s["resting"]["oid"] for s in orders["response"]["data"]["statuses"]]
    assert oids[1] == oids[0] + 1  # a batch gets consecutive oids
    assert ex.modify_order(oids[0], "ETH", True, 0.1, lower, GTC)["status"] == "ok"
    moved = ex.bulk_modify_orders_new([{"oid": Cloid.from_int(8), "order": {
        "coin": "ETH", "is_buy": True, "sz": 0.2, "limit_px": low, "order_type": GTC, "reduce_only": False,
        "cloid": Cloid.from_int(8)}}])
    assert "resting" in _status(moved)
    assert len(info.open_orders(ADDR)) == len(info.frontend_open_orders(ADDR)) == 2
    open_oids = [o["oid"] for o in info.open_orders(ADDR) if "cloid" not in o]
    assert ex.bulk_cancel([{"coin": "ETH", "oid": open_oids[0]}])["status"] == "ok"
    assert _status(ex.cancel_by_cloid("ETH", Cloid.from_int(8))) == "success"
    assert info.open_orders(ADDR) == []
    assert "filled" in _status(ex.market_close("ETH"))
    fills = info.user_fills(ADDR)
    assert all(f["twapId"] is None and f["tid"] > 10**14 for f in fills)
    assert info.user_fills_by_time(ADDR, 0) == list(reversed(fills))
    assert {h["status"] for h in info.historical_orders(ADDR)} >= {"filled", "canceled"}


def test_account_data_methods(sim, ex, info):
    assert ex.usd_class_transfer(100.0, to_perp=False)["status"] == "ok"
    assert info.spot_user_state(ADDR)["balances"][0]["total"] == "100.0"
    assert ex.usd_class_transfer(40.0, to_perp=True)["status"] == "ok"
    updates = info.user_non_funding_ledger_updates(ADDR, 0)
    assert [u["delta"]["type"] for u in updates] == ["deposit", "accountClassTransfer", "accountClassTransfer"]
    assert info.user_fees(ADDR)["userCrossRate"] == "0.00045"
    limits = info.user_rate_limit(ADDR)
    assert limits["nRequestsCap"] >= 10_000 and isinstance(limits["nRequestsUsed"], int)
    assert [p[0] for p in info.portfolio(ADDR)] == ["day", "week", "month", "allTime", "perpDay", "perpWeek",
                                                   "perpMonth", "perpAllTime"]
    assert info.query_sub_accounts(ADDR) is None and info.user_role(ADDR) == {"role": "user"}
    assert info.query_user_abstraction_state(ADDR) == "default" and info.query_user_dex_abstraction_state(ADDR) is False
    assert info.user_funding_history(ADDR, 0) == [] and info.extra_agents(ADDR) == []
    assert info.query_referral_state(ADDR)["referredBy"] is None
    assert ex.set_referrer("SIMCODE")["status"] == "ok"
    assert info.query_referral_state(ADDR)["referredBy"]["code"] == "SIMCODE"
    for empty in (info.user_twap_slice_fills, info.user_vault_equities, info.user_staking_delegations,
                  info.user_staking_rewards, info.delegator_history):
        assert empty(ADDR) == []
    assert info.user_staking_summary(ADDR)["delegated"] == "0.0" and info.query_user_to_multi_sig_signers(ADDR) is None
    assert info.query_spot_deploy_auction_status(ADDR)["states"] == []
    assert ex.approve_builder_fee("0x" + "ab" * 20, "0.01%")["status"] == "ok"
    assert info.post("/info", {"type": "maxBuilderFee", "user": ADDR, "builder": "0x" + "ab" * 20}) == 10
    # The nonce from the SDK's own (patched, strictly increasing) clock: a wall-clock nonce a few ms ahead
    # was taken again by the next test's first action when it came within those ms (duplicate nonce).
    assert ex.noop(sdk_exchange.get_timestamp_ms())["status"] == "ok"


def test_schedule_cancel_cancels_everything_at_its_time(sim, ex, info):
    clock = sim.fake_clock
    low = _px(info, "SOL", 0.7, 2)
    _status(ex.order("SOL", True, 1.0, low, GTC))
    now = sim.now_ms()
    early = ex.schedule_cancel(now + 4_000)
    assert early["status"] == "err" and "at least 5 seconds" in early["response"]
    assert ex.schedule_cancel(now + 10_000)["status"] == "ok"
    assert ex.schedule_cancel(None)["status"] == "ok"  # no time clears it
    clock.set(now + 11_000)
    assert len(info.open_orders(ADDR)) == 1
    assert ex.schedule_cancel(now + 20_000)["status"] == "ok"
    clock.set(now + 21_000)
    assert info.open_orders(ADDR) == []
    [order] = [h for h in info.historical_orders(ADDR) if h["order"]["coin"] == "SOL"]
    assert (order["status"], order["statusTimestamp"]) == ("scheduledCancel", now + 20_000)


@pytest.mark.parametrize("call", [
    lambda ex: ex.create_sub_account("sub"),
    lambda ex: ex.usd_transfer(1.0, "0x" + "12" * 20),
    lambda ex: ex.spot_transfer(1.0, "0x" + "12" * 20, "PURR:0xc1fb593aeffbeb02f85e0308e9956a90"),
    lambda ex: ex.withdraw_from_bridge(1.0, "0x" + "12" * 20),
    lambda ex: ex.send_asset("0x" + "12" * 20, "", "spot", "USDC", 1.0),
    lambda ex: ex.sub_account_transfer("0x" + "12" * 20, True, 1_000_000),
    lambda ex: ex.sub_account_spot_transfer("0x" + "12" * 20, True, "USDC", 1.0),
    lambda ex: ex.vault_usd_transfer("0x" + "12" * 20, True, 1_000_000),
    lambda ex: ex.token_delegate("0x" + "12" * 20, 1, False),
    lambda ex: ex.convert_to_multi_sig_user(["0x" + "12" * 20], 1),
    lambda ex: ex.spot_deploy_register_token("TKN", 2, 8, 100, "Token"),
    lambda ex: ex.perp_deploy_set_oracle("dex", {"X": "1.0"}, [{"X": "1.0"}], {}),
    lambda ex: ex.c_signer_unjail_self(),
    lambda ex: ex.c_validator_unregister(),
    lambda ex: ex.user_dex_abstraction(ADDR, True),
    lambda ex: ex.agent_enable_dex_abstraction(),
], ids=["createSubAccount", "usdSend", "spotSend", "withdraw3", "sendAsset", "subAccountTransfer",
        "subAccountSpotTransfer", "vaultTransfer", "tokenDelegate", "convertToMultiSigUser", "spotDeploy", "perpDeploy",
        "CSignerAction", "CValidatorAction", "userDexAbstraction", "agentEnableDexAbstraction"])
def test_what_the_simulator_does_not_model_is_refused_in_the_exchanges_shape(ex, call):
    answer = call(ex)
    assert answer["status"] == "err" and isinstance(answer["response"], str) and answer["response"]


def test_every_websocket_subscription_of_the_sdk(sim, ex, info):
    ws_info = Info(sim.url, skip_ws=False)
    got: dict[str, threading.Event] = {}
    seen: dict[str, dict] = {}

    def on(name):
        got[name] = threading.Event()

        def callback(msg):
            seen.setdefault(name, msg)
            got[name].set()
        return callback

    subs = [{"type": "allMids"}, {"type": "l2Book", "coin": "ETH"}, {"type": "trades", "coin": "ETH"},
            {"type": "candle", "coin": "ETH", "interval": "1m"}, {"type": "bbo", "coin": "ETH"},
            {"type": "activeAssetCtx", "coin": "ETH"}, {"type": "activeAssetData", "coin": "ETH", "user": ADDR},
            {"type": "userFills", "user": ADDR}, {"type": "orderUpdates", "user": ADDR},
            {"type": "userEvents", "user": ADDR}, {"type": "userFundings", "user": ADDR},
            {"type": "webData2", "user": ADDR}]
    try:
        for sub in subs:
            ws_info.subscribe(sub, on(sub["type"]))
        for name in ("allMids", "l2Book", "trades", "candle", "bbo", "activeAssetCtx", "activeAssetData", "userFills",
                     "webData2"):
            assert got[name].wait(10), name
        assert seen["userFills"]["data"]["isSnapshot"] is True
        _status(ex.market_open("SOL", True, 1.0))
        for name in ("orderUpdates", "userEvents"):
            assert got[name].wait(10), name
        assert seen["orderUpdates"]["data"][0]["order"]["coin"] == "SOL" and "fills" in seen["userEvents"]["data"]
        assert seen["webData2"]["data"]["user"] == ADDR.lower()
        _status(ex.market_close("SOL"))
    finally:
        ws_info.disconnect_websocket()
