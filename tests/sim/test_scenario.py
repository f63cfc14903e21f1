"""The scenario controller: each kind of event in effect at its simulated time, the file format, /sim/ on loopback only."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from exchange_signer import TRADER, Signer
from starlette.requests import Request
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from perpbot.clock import HOUR_MS, MINUTE_MS, FakeClock
from perpbot.errors import ConfigError
from perpbot.sim.control import control_routes
from perpbot.sim.scenario import load_scenario, parse_duration
from perpbot.sim.server import SimOptions, SimServer
from perpbot.sim.ws import GREETING

START_MS = 1_704_067_200_000 + 7 * MINUTE_MS
SCENARIO = """
events:
  - {kind: price_move, at: 10m, coin: BTC, pct: -10, over: 2m, hold: 5m, recover: 3m}
  - {kind: funding, at: 2h, coin: ETH, rate: 0.0005, for: 3h}
  - {kind: halt, at: 30m, coin: SOL, for: 10m}
  - {kind: ws_drop, at: 50m}
  - {kind: ws_stall, at: 55m, for: 2m}
  - {kind: outage, at: 70m, for: 5m}
  - {kind: rate_limit, at: 80m, for: 1m}
"""


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "crash.yaml"
    path.write_text(SCENARIO)
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=17, history_days=0.2, start_ms=START_MS, scenario_file=str(path),
                      funds={TRADER.address: 100_000.0})
    with SimServer(opts, port=0, clock=clock) as sim:
        sim.fake_clock = clock
        yield sim


@pytest.fixture(scope="module")
def plain():
    with SimServer(SimOptions(seed=17, history_days=0.2, start_ms=START_MS), port=0, clock=FakeClock(START_MS)) as sim:
        yield sim


def _at(sim, minutes: float) -> int:
    t = START_MS + int(minutes * MINUTE_MS)
    sim.fake_clock.set(t)
    return t


def test_a_flash_crash_moves_the_price_path_and_recovers(moved, plain):
    def ratio(minutes):
        t = START_MS + int(minutes * MINUTE_MS)
        return moved.universe["BTC"].mid(t) / plain.universe["BTC"].mid(t)

    assert ratio(9) == pytest.approx(1.0, abs=1e-4)
    assert ratio(11) == pytest.approx(0.95, abs=0.002)  # half way down
    assert ratio(15) == pytest.approx(0.90, abs=0.001)  # held
    assert ratio(22) == pytest.approx(1.0, abs=1e-4)  # recovered over 3 minutes after the 5 minute hold
    _at(moved, 16)
    candles = Signer(moved).info({"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m",
                                                                     "startTime": START_MS + 9 * MINUTE_MS}})
    assert float(candles[4]["c"]) < float(candles[0]["o"]) * 0.92  # the crash shows in the candles


def test_a_set_funding_rate_is_published_and_paid(moved):
    rows = moved.universe["ETH"]
    hours = rows.funding_t // HOUR_MS * HOUR_MS
    start = START_MS - START_MS % HOUR_MS
    chosen = rows.funding_rate[(hours >= start + 2 * HOUR_MS + 7 * MINUTE_MS) & (hours < start + 5 * HOUR_MS)]
    assert list(chosen) == [0.0005, 0.0005] and rows.funding_rate[hours == start + HOUR_MS][0] != 0.0005


def test_a_halted_coin_refuses_orders_for_its_window(moved):
    signer = Signer(moved)
    _at(moved, 35)
    mid = moved.universe["SOL"].mid(moved.now_ms())
    halted = signer.order("SOL", True, f"{round(mid * 1.02, 2)}", "1")
    assert halted == {"error": "Trading is halted for SOL. asset=2"}
    assert "filled" in signer.order("ETH", True, f"{round(moved.universe['ETH'].mid(moved.now_ms()) * 1.02, 1)}", "0.1")
    _at(moved, 41)
    assert "filled" in signer.order("SOL", True, f"{round(moved.universe['SOL'].mid(moved.now_ms()) * 1.02, 2)}", "1")


def test_websocket_drop_and_stall_at_their_times(moved):
    _at(moved, 49)
    with connect(moved.ws_url, open_timeout=5) as ws:
        assert ws.recv(timeout=5) == GREETING
        ws.send(json.dumps({"method": "subscribe", "subscription": {"type": "allMids"}}))
        _at(moved, 50.5)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1012
    _at(moved, 55.5)
    with connect(moved.ws_url, open_timeout=5) as ws:
        ws.send(json.dumps({"method": "ping"}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)  # stalled: not even the greeting's pong
        _at(moved, 58)
        ws.send(json.dumps({"method": "ping"}))
        assert ws.recv(timeout=5) == '{"channel":"pong"}'  # the greeting and the first pong were swallowed


def test_an_outage_and_a_429_storm_answer_at_their_times(moved):
    signer = Signer(moved)
    with httpx.Client(base_url=moved.url, timeout=5) as http:
        _at(moved, 72)
        assert http.post("/info", json={"type": "meta"}).status_code == 502
        assert http.post("/exchange", json=signer.body({"type": "noop"})).status_code == 502
        with pytest.raises(InvalidStatus):
            connect(moved.ws_url, open_timeout=5)
        _at(moved, 80.5)
        assert http.post("/info", json={"type": "meta"}).status_code == 429
        _at(moved, 82)
        assert http.post("/info", json={"type": "meta"}).status_code == 200


def test_the_controller_lists_and_adds_events_relative_to_now(moved):
    now = _at(moved, 90)
    with httpx.Client(base_url=moved.url, timeout=5) as http:
        listed = http.get("/sim/scenario").json()
        assert listed["now"] == now and [e["kind"] for e in listed["events"]][:2] == ["price_move", "halt"]
        added = http.post("/sim/scenario", json={"kind": "halt", "coin": "ETH", "at": "1m", "for": "1m"})
        assert added.status_code == 200 and {"kind": "halt", "coin": "ETH", "at_ms": now + MINUTE_MS} .items() <= \
            [e for e in added.json()["events"] if e["kind"] == "halt" and e["coin"] == "ETH"][0].items()
        bad = http.post("/sim/scenario", json={"kind": "earthquake"})
        assert bad.status_code == 422 and "unknown kind" in bad.json()["error"]
        past = http.post("/sim/scenario", json={"kind": "price_move", "coin": "BTC", "pct": 5,
                                                "at": "2024-01-01T00:00:00Z"})
        assert past.status_code == 422 and "past" in past.json()["error"]


def test_the_controller_refuses_clients_off_loopback(moved):
    [route] = control_routes(moved.scenarios, ["BTC"], moved.now_ms)
    scope = {"type": "http", "method": "GET", "path": "/sim/scenario", "headers": [], "query_string": b"",
             "client": ("192.0.2.7", 40000), "server": ("192.0.2.1", 8765)}
    response = asyncio.run(route.endpoint(Request(scope)))
    assert response.status_code == 403 and b"loopback" in response.body


@pytest.mark.parametrize("text, message", [
    ("events: [{kind: meteor}]", "unknown kind"),
    ("events: [{kind: halt, coin: SOL}]", "halt needs for"),
    ("events: [{kind: halt, coin: DOGE, for: 1m}]", "does not list 'DOGE'"),
    ("events: [{kind: outage, for: soon}]", "cannot read the duration"),
    ("events: [{kind: price_move, coin: BTC, pct: -99}]", "outside -95..1000"),
    ("events: [{kind: ws_drop, when: 5m}]", "unknown field(s) when"),
    ("events: {{", "cannot be read"),
])
def test_bad_scenario_files_name_the_event_and_the_fix(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(str(path), START_MS, ["BTC", "ETH", "SOL"])
    assert message in info.value.message and info.value.hint


def test_durations():
    assert [parse_duration(x, "t") for x in ("90s", "+10m", "1h30m", "250ms", 1500)] == [
        90_000, 600_000, 5_400_000, 250, 1500]
