"""The simulator on loopback, driven by the official SDK's Info client and plain HTTP."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from hyperliquid.info import Info

from perpbot.clock import FakeClock
from perpbot.errors import ConfigError
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


def _body(sim, body):
    r = httpx.post(sim.url + "/info", json=body)
    assert r.status_code == 200
    return r.text


def test_same_seed_and_start_serve_the_same_market_and_another_seed_does_not():
    req = {"type": "candleSnapshot", "req": {"coin": "ETH", "interval": "5m", "startTime": START_MS - 86_400_000}}
    answers = []
    for seed in (11, 11, 12):
        with SimServer(SimOptions(seed=seed, history_days=2, start_ms=START_MS), port=0, clock=FakeClock(START_MS)) as sim:
            answers.append((_body(sim, req), _body(sim, {"type": "fundingHistory", "coin": "ETH", "startTime": 0})))
    assert answers[0] == answers[1] and answers[0][0] != answers[2][0]


def test_an_accelerated_clock_releases_new_candles():
    with SimServer(SimOptions(seed=5, history_days=1, speed=3600, start_ms=START_MS), port=0) as sim:
        before = json.loads(_body(sim, {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": START_MS}}))
        time.sleep(0.5)  # half a wall second at 3600x: half an hour of exchange time
        after = json.loads(_body(sim, {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": START_MS}}))
        assert sim.now_ms() - START_MS >= 30 * M
        assert len(after) >= len(before) + 29 and after[: len(before) - 1] == before[:-1]


def test_the_market_keeps_growing_for_a_month_of_fast_time():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=6, symbols=["SOL"], history_days=1, start_ms=START_MS), port=0, clock=clock) as sim:
        clock.set(START_MS + 30 * 86_400_000 + 5 * M)
        rows = json.loads(_body(sim, {"type": "candleSnapshot",
                                      "req": {"coin": "SOL", "interval": "1d", "startTime": START_MS - 86_400_000}}))
        day0 = START_MS - START_MS % 86_400_000
        assert [r["t"] for r in rows] == [day0 + k * 86_400_000 for k in range(31)]  # Jan 1 .. Jan 31 (forming)


def test_start_and_stop_are_quick_and_a_busy_port_is_a_clear_error():
    began = time.monotonic()
    sim = SimServer(SimOptions(seed=1, history_days=0.5), port=0).start()
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{sim.port}") as info:
        SimServer(SimOptions(seed=1, history_days=0.5), port=sim.port)
    assert "--port" in info.value.hint
    with httpx.Client(base_url=sim.url) as client:  # a kept-alive connection must not hold up the stop
        assert client.post("/info", json={"type": "meta"}).status_code == 200
        stopping = time.monotonic()
        sim.stop()
        assert time.monotonic() - stopping < 1.5
    assert time.monotonic() - began < 5
    with pytest.raises(httpx.ConnectError):
        httpx.post(sim.url + "/info", json={"type": "meta"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SimOptions(symbols=[]), "at least one symbol"),
        (SimOptions(symbols=["BTC", "BTC"]), "repeat a coin"),
        (SimOptions(history_days=-1), "history days"),
        (SimOptions(speed=0), "speed must be > 0"),
        (SimOptions(candle_limit=-5), "candle limit"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message) as info:
        SimServer(options, port=0)
    assert info.value.hint
