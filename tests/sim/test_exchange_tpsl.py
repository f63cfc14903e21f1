"""TP/SL grouping the exchange's way (research doc A1) and the /exchange fault knobs.

normalTpsl: the children answer as bare strings, show in frontendOpenOrders under the parent's
`children` and at top level, cannot trigger until the parent fills completely, and are canceled with
a parent that does not (an IOC's unfilled rest included). positionTpsl: size "0" follows the
position (`isPositionTpsl`).
"""

from __future__ import annotations

import httpx
import pytest
from exchange_signer import ASSETS, TRADER, Signer
from test_exchange_matching import _level_reached

from perpbot.clock import FakeClock
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 20 * 60_000 + 1_234


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=9, history_days=0.2, start_ms=START_MS, funds={TRADER.address: 50_000_000.0})
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def _limit(coin: str, is_buy: bool, px: str, sz: str, tif: str, cloid: str | None = None) -> dict:
    wire = {"a": ASSETS[coin], "b": is_buy, "p": px, "s": sz, "r": False, "t": {"limit": {"tif": tif}}}
    return wire | ({"c": cloid} if cloid else {})


def _stop(coin: str, is_buy: bool, trigger: str, sz: str, cloid: str | None = None) -> dict:
    wire = {"a": ASSETS[coin], "b": is_buy, "p": trigger, "s": sz, "r": True,
            "t": {"trigger": {"isMarket": True, "triggerPx": trigger, "tpsl": "sl"}}}
    return wire | ({"c": cloid} if cloid else {})


def _send(signer: Signer, orders: list[dict], grouping: str) -> list:
    answer = signer.post(signer.body({"type": "order", "orders": orders, "grouping": grouping}))
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"]


def _orders(signer: Signer) -> list[dict]:
    return signer.info({"type": "frontendOpenOrders", "user": TRADER.address})


def _status(signer: Signer, cloid: str) -> str:
    return signer.info({"type": "orderStatus", "user": TRADER.address, "oid": cloid})["order"]["status"]


def _szi(signer: Signer, coin: str) -> float:
    state = signer.info({"type": "clearinghouseState", "user": TRADER.address})
    return sum(float(p["position"]["szi"]) for p in state["assetPositions"] if p["position"]["coin"] == coin)


SL = "0x" + "51" * 16


def test_a_filled_parent_places_its_stop_at_once(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    statuses = _send(signer, [_limit("ETH", True, f"{round(mid * 1.01, 1)}", "2", "Ioc"),
                              _stop("ETH", False, f"{round(mid * 0.97, 1)}", "2", SL)], "normalTpsl")
    assert "filled" in statuses[0] and statuses[1] == "waitingForTrigger"  # a bare string, no oid
    [stop] = _orders(signer)
    assert stop["cloid"] == SL and stop["isTrigger"] and stop["reduceOnly"] and stop["orderType"] == "Stop Market"
    assert stop["children"] == [] and float(stop["sz"]) == 2 and stop["isPositionTpsl"] is False


def test_a_resting_parents_children_wait_show_under_it_and_go_with_it(sim):
    signer = Signer(sim)
    level, crossing, before = _level_reached(sim, "ETH", 6, below=True)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    low = f"{round(mid * 0.5, 1)}"  # never reached: the parent rests
    statuses = _send(signer, [_limit("ETH", True, low, "2", "Gtc"), _stop("ETH", False, f"{level}", "2", SL)],
                     "normalTpsl")
    assert "resting" in statuses[0] and statuses[1] == "waitingForFill"
    parent_oid = statuses[0]["resting"]["oid"]
    top = {o["oid"]: o for o in _orders(signer)}
    [child] = top[parent_oid]["children"]
    assert child["cloid"] == SL and child["oid"] == parent_oid + 1 and child["oid"] in top  # at top level too
    sim.fake_clock.set(crossing + 60_000)  # the path crosses the stop's trigger: a waiting child cannot fire
    assert _status(signer, SL) == "open" and _szi(signer, "ETH") == 0
    signer.post(signer.body({"type": "cancel", "cancels": [{"a": ASSETS["ETH"], "o": parent_oid}]}))
    assert _status(signer, SL) == "canceled" and _orders(signer) == []


def test_a_partly_filled_ioc_parent_cancels_its_children(sim):
    signer = Signer(sim)
    book = signer.info({"type": "l2Book", "coin": "SOL"})
    depth = sum(float(level["sz"]) for level in book["levels"][1])
    mid = sim.universe["SOL"].mid(sim.now_ms())
    statuses = _send(signer, [_limit("SOL", True, f"{round(mid * 1.005, 2)}", f"{round(depth * 3, 2)}", "Ioc"),
                              _stop("SOL", False, f"{round(mid * 0.97, 2)}", f"{round(depth * 3, 2)}", SL)],
                     "normalTpsl")
    assert "filled" in statuses[0] and float(statuses[0]["filled"]["totalSz"]) < depth * 3
    assert statuses[1] == "waitingForFill" and _status(signer, SL) == "canceled"
    assert _orders(signer) == [] and _szi(signer, "SOL") > 0  # a position without its stop: the client's job now


def test_a_position_tpsl_of_size_zero_follows_the_position(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    signer.order("ETH", True, f"{round(mid * 1.01, 1)}", "1")
    level, crossing, before = _level_reached(sim, "ETH", 6, below=True)
    assert "resting" in _send(signer, [_stop("ETH", False, f"{level}", "0", SL)], "positionTpsl")[0]
    [stop] = _orders(signer)
    assert stop["isPositionTpsl"] is True and float(stop["sz"]) == 1
    signer.order("ETH", True, f"{round(mid * 1.01, 1)}", "2")
    [stop] = _orders(signer)
    assert float(stop["sz"]) == 3  # the whole position, whatever it is now
    sim.fake_clock.set(crossing + 60_000)
    assert _szi(signer, "ETH") == 0 and _status(signer, SL) == "filled"


def test_a_child_that_is_not_reduce_only_refuses_the_whole_batch(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    child = _stop("ETH", False, f"{round(mid * 0.97, 1)}", "2") | {"r": False}
    answer = signer.post(signer.body({"type": "order", "grouping": "normalTpsl",
                                      "orders": [_limit("ETH", True, f"{round(mid * 1.01, 1)}", "2", "Ioc"), child]}))
    assert answer["status"] == "err" and _szi(signer, "ETH") == 0


def test_exchange_faults_before_and_after_the_action_runs(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    body = signer.body({"type": "order", "grouping": "na",
                        "orders": [_limit("ETH", True, f"{round(mid * 1.01, 1)}", "1", "Ioc", SL)]})
    sim.faults.exchange_error_rate = 1.0
    assert httpx.post(sim.url + "/exchange", json=body).status_code == 502
    assert _szi(signer, "ETH") == 0  # refused before the exchange saw it
    sim.faults.exchange_error_rate, sim.faults.exchange_lost_rate = 0.0, 1.0
    assert httpx.post(sim.url + "/exchange", json=body).status_code == 502
    assert _szi(signer, "ETH") == 1 and _status(signer, SL) == "filled"  # it ran; only the answer was lost
