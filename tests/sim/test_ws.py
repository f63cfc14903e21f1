"""The /ws socket with a real client: subscriptions, pushes as the clock runs, ping, posts, drops, stalls."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from perpbot.clock import FakeClock
from perpbot.sim.server import SimOptions, SimServer
from perpbot.sim.ws import GREETING

START_MS = 1_704_067_200_000 + 30_000  # mid-minute
M = 60_000


@pytest.fixture(scope="module")
def clock():
    return FakeClock(START_MS)


@pytest.fixture(scope="module")
def sim(clock):
    with SimServer(SimOptions(seed=4, history_days=1, start_ms=START_MS), port=0, clock=clock) as server:
        yield server


@pytest.fixture
def ws(sim, clock):
    sim.faults.ws_stall = False
    clock.set(START_MS)
    with connect(sim.ws_url, open_timeout=5) as socket:
        assert socket.recv(timeout=5) == GREETING
        yield socket


def _send(ws, msg):
    ws.send(json.dumps(msg))


def _next(ws, channel, timeout=5.0):
    """The next message on `channel` (others are skipped)."""
    while True:
        msg = json.loads(ws.recv(timeout=timeout))
        if msg["channel"] == channel:
            return msg


def test_subscribe_is_acked_then_all_mids_are_pushed(sim, ws, clock):
    sub = {"type": "allMids"}
    _send(ws, {"method": "subscribe", "subscription": sub})
    assert json.loads(ws.recv(timeout=5)) == {"channel": "subscriptionResponse",
                                               "data": {"method": "subscribe", "subscription": sub}}
    first = _next(ws, "allMids")["data"]["mids"]
    assert first == {k: repr(v) for k, v in sim.universe.mids(START_MS).items()}
    clock.set(START_MS + 20_000)  # the mids move: pushed at once
    moved = _next(ws, "allMids")["data"]["mids"]
    assert moved == {k: repr(v) for k, v in sim.universe.mids(START_MS + 20_000).items()}
    _send(ws, {"method": "unsubscribe", "subscription": sub})
    assert _next(ws, "subscriptionResponse")["data"]["method"] == "unsubscribe"


def test_candles_are_pushed_and_closed_bars_released_as_the_clock_runs(ws, clock):
    _send(ws, {"method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "1m"}})
    forming = _next(ws, "candle")["data"]
    assert forming["t"] == START_MS - 30_000 and forming["s"] == "BTC" and forming["i"] == "1m"
    clock.set(START_MS + 3 * M)  # three bars close at once (an accelerated clock)
    pushed = [_next(ws, "candle")["data"] for _ in range(4)]
    assert [c["t"] for c in pushed] == [forming["t"] + k * M for k in range(4)]
    assert all(c["T"] < START_MS + 3 * M for c in pushed[:3]) and pushed[3]["T"] >= START_MS + 3 * M
    assert pushed[0]["o"] == forming["o"] and int(pushed[0]["n"]) >= int(forming["n"])  # the final form


def test_ping_post_book_and_bad_requests(ws):
    _send(ws, {"method": "ping"})
    assert _next(ws, "pong") == {"channel": "pong"}
    _send(ws, {"method": "post", "id": 7, "request": {"type": "info", "payload": {"type": "meta"}}})
    post = _next(ws, "post")["data"]
    assert post["id"] == 7 and post["response"]["type"] == "info"
    assert post["response"]["payload"]["type"] == "meta" and post["response"]["payload"]["data"]["universe"][0]["name"] == "BTC"
    _send(ws, {"method": "post", "id": 8, "request": {"type": "info", "payload": {"type": "nope"}}})
    assert _next(ws, "post")["data"]["response"]["type"] == "error"
    _send(ws, {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}})
    book = _next(ws, "l2Book")["data"]
    assert book["coin"] == "ETH" and len(book["levels"][0]) == 20
    _send(ws, {"method": "subscribe", "subscription": {"type": "candle", "coin": "NOPE", "interval": "1m"}})
    assert "Invalid subscription" in _next(ws, "error")["data"]
    ws.send("not json")
    assert "Error parsing JSON" in _next(ws, "error")["data"]
    ws.send("[" * 50_000 + "]" * 50_000)  # nested past the decoder's recursion limit: an error, the socket lives
    assert "Error parsing JSON" in _next(ws, "error")["data"]


def test_drop_websockets_closes_every_connection(sim):
    with connect(sim.ws_url) as a, connect(sim.ws_url) as b:
        assert a.recv(timeout=5) == GREETING and b.recv(timeout=5) == GREETING
        assert sim.drop_websockets() == 2
        for socket in (a, b):
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    socket.recv(timeout=5)
            assert info.value.rcvd.code == 1012


def test_a_stalled_socket_stays_open_and_says_nothing(sim, ws):
    _send(ws, {"method": "subscribe", "subscription": {"type": "allMids"}})
    _next(ws, "allMids")
    sim.faults.ws_stall = True
    # Whatever was in flight arrives; then silence, though allMids would beat every second.
    with pytest.raises(TimeoutError):
        while True:
            ws.recv(timeout=1.5)
    _send(ws, {"method": "ping"})
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.5)  # not even a pong
    sim.faults.ws_stall = False
    _send(ws, {"method": "ping"})
    assert _next(ws, "pong") == {"channel": "pong"}
