"""User and trade streams over a real socket: snapshots, a stop's fill pushed without any REST poll, actions posted."""

from __future__ import annotations

import contextlib
import json

import pytest
from exchange_signer import ASSETS, TRADER, Signer
from websockets.sync.client import connect

from perpbot.clock import HOUR_MS, FakeClock
from perpbot.sim.path import first_touch, path_points
from perpbot.sim.server import SimOptions, SimServer
from perpbot.sim.ws import GREETING

START_MS = 1_704_067_200_000 + 10 * 60_000
USER = TRADER.address.lower()


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    with SimServer(SimOptions(seed=14, history_days=0.2, start_ms=START_MS, funds={TRADER.address: 50_000.0}),
                   port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


@contextlib.contextmanager
def _open(sim):
    with connect(sim.ws_url, open_timeout=5) as socket:
        assert socket.recv(timeout=5) == GREETING
        yield socket


def _sub(socket, sub):
    socket.send(json.dumps({"method": "subscribe", "subscription": sub}))


def _next(socket, channel, timeout=5.0):
    while True:
        raw = socket.recv(timeout=timeout)
        assert ", " not in raw and '": ' not in raw  # compact, as the exchange sends it
        msg = json.loads(raw)
        if msg["channel"] == channel:
            return msg["data"]


def test_a_stop_fill_streams_out_while_nobody_polls(sim):
    signer = Signer(sim)
    market = sim.universe["ETH"]
    assert "filled" in signer.order("ETH", True, f"{round(market.mid(START_MS) * 1.01, 1)}", "2")
    market.ensure(START_MS + 12 * HOUR_MS)
    times, prices = path_points(market, START_MS, START_MS + 12 * HOUR_MS)
    trigger = round(float(prices[0] + (prices.min() - prices[0]) * 0.5), 1)
    crossing = first_touch(times, prices, trigger, from_above=True)
    stop = signer.trigger("ETH", False, f"{trigger}", "2")["resting"]["oid"]
    with _open(sim) as ws:
        _sub(ws, {"type": "userFills", "user": TRADER.address})
        snapshot = _next(ws, "userFills")
        assert snapshot["isSnapshot"] is True and snapshot["user"] == USER and len(snapshot["fills"]) == 1
        _sub(ws, {"type": "orderUpdates", "user": TRADER.address})
        _sub(ws, {"type": "userEvents", "user": TRADER.address})
        sim.fake_clock.set(crossing + 1_000)  # no /info or /exchange request from here on
        fills = _next(ws, "userFills")
        assert "isSnapshot" not in fills and fills["fills"][0]["oid"] == stop and fills["fills"][0]["time"] <= crossing + 1_000
        updates = _next(ws, "orderUpdates")
        assert updates[-1]["order"]["oid"] == stop and updates[-1]["status"] == "filled"
        event = _next(ws, "user")
        assert event["fills"][0]["oid"] == stop


def test_trades_activeassetctx_webdata2_and_fundings(sim):
    signer = Signer(sim)
    with _open(sim) as ws:
        _sub(ws, {"type": "trades", "coin": "SOL"})
        _sub(ws, {"type": "activeAssetCtx", "coin": "SOL"})
        _sub(ws, {"type": "webData2", "user": TRADER.address})
        _sub(ws, {"type": "userFundings", "user": TRADER.address})
        assert _next(ws, "userFundings") == {"isSnapshot": True, "user": USER, "fundings": []}
        ctx = _next(ws, "activeAssetCtx")
        assert ctx["coin"] == "SOL" and set(ctx["ctx"]) >= {"funding", "markPx", "oraclePx", "openInterest"}
        web = _next(ws, "webData2")
        assert web["user"] == USER and web["clearinghouseState"]["marginSummary"]["accountValue"] == "50000.0"
        filled = signer.order("SOL", True, f"{round(sim.universe['SOL'].mid(START_MS) * 1.01, 2)}", "3")["filled"]
        while True:
            trades = _next(ws, "trades")
            mine = [t for t in trades if USER in t["users"]]
            if mine:
                break
        assert mine[0]["side"] == "B" and mine[0]["tid"] > 10**14 and mine[0]["coin"] == "SOL"
        assert filled["oid"] > 10**10
        hour = (START_MS // HOUR_MS + 1) * HOUR_MS
        sim.fake_clock.set(hour + 5_000)
        payment = _next(ws, "userFundings")["fundings"][0]
        assert payment["coin"] == "SOL" and payment["time"] // HOUR_MS * HOUR_MS == hour and payment["time"] > hour


def test_an_action_posted_over_the_socket_is_answered_in_the_exchanges_envelope(sim):
    signer = Signer(sim)
    mid = sim.universe["BTC"].mid(START_MS)
    wire = {"a": ASSETS["BTC"], "b": True, "p": str(int(mid * 0.9)), "s": "0.01", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    body = signer.body({"type": "order", "orders": [wire], "grouping": "na"})
    with _open(sim) as ws:
        ws.send(json.dumps({"method": "post", "id": 256, "request": {"type": "action", "payload": body}}))
        post = _next(ws, "post")
        assert post["id"] == 256 and post["response"]["type"] == "action"
        answer = post["response"]["payload"]
        assert answer["status"] == "ok" and "resting" in answer["response"]["data"]["statuses"][0]
        ws.send(json.dumps({"method": "post", "id": 257, "request": {"type": "action", "payload": {"nonce": 1}}}))
        refused = _next(ws, "post")
        assert refused["response"]["type"] == "error" and "deserialize" in refused["response"]["payload"]
