"""The simulator on loopback, driven by the official SDK's Info client and plain HTTP."""

from __future__ import annotations

import threading

import httpx
import pytest
from hyperliquid.info import Info

from perpbot.clock import FakeClock
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 37 * 60_000 + 12_345  # 2024-01-01T00:37:12.345Z, mid-bar on purpose
M = 60_000


@pytest.fixture(scope="module")
def sim():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=3, history_days=5, start_ms=START_MS), port=0, clock=clock) as server:
        yield server


def test_official_sdk_info_works_unchanged(sim):
    info = Info(base_url=sim.url, skip_ws=False)
    try:
        assert [a["name"] for a in info.meta()["universe"]] == ["BTC", "ETH", "SOL"]
        now = sim.now_ms()
        candles = info.candles_snapshot("BTC", "15m", now - 86_400_000, now)
        assert len(candles) == 96  # 95 closed quarter-hours since now - 1 day, plus the one forming
        last = candles[-1]
        assert last["t"] == now - now % (15 * M) and last["T"] == last["t"] + 15 * M - 1 and last["T"] >= now
        assert {k: type(v) for k, v in last.items()} == {
            "t": int, "T": int, "s": str, "i": str, "o": str, "c": str, "h": str, "l": str, "v": str, "n": int}
        rates = info.funding_history("ETH", now - 2 * 86_400_000)
        assert len(rates) == 48 and {r["coin"] for r in rates} == {"ETH"}
        mids = info.all_mids()
        assert set(mids) == {"BTC", "ETH", "SOL"} and float(mids["BTC"]) > 1000
        book = info.l2_snapshot("SOL")
        bids, asks = book["levels"]
        assert len(bids) == len(asks) == 20 and float(bids[0]["px"]) < float(mids["SOL"]) < float(asks[0]["px"])
        received: list[dict] = []
        got = threading.Event()
        info.subscribe({"type": "allMids"}, lambda msg: (received.append(msg), got.set()))
        assert got.wait(5)
        assert received[0]["channel"] == "allMids" and set(received[0]["data"]["mids"]) == {"BTC", "ETH", "SOL"}
    finally:
        info.disconnect_websocket()


def test_unknown_request_type_is_a_422(sim):
    r = httpx.post(sim.url + "/info", json={"type": "nope"})
    assert r.status_code == 422 and r.text.startswith("Failed to deserialize the JSON body into the target type")
