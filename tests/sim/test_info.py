"""POST /info over loopback HTTP: shapes, caps, pagination, the candle limit and refused requests."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpbot.clock import DAY_MS, HOUR_MS, FakeClock
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 10 * HOUR_MS + 7 * 60_000 + 30_000  # 2024-01-01T10:07:30Z
M = 60_000
USER = "0x" + "cd" * 20


@pytest.fixture(scope="module")
def sim():
    opts = SimOptions(seed=21, symbols=["BTC", "ETH", "SOL"], history_days=25, candle_limit=0, start_ms=START_MS)
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        yield server


@pytest.fixture(scope="module")
def limited():
    opts = SimOptions(seed=21, symbols=["BTC"], history_days=10, candle_limit=5000, start_ms=START_MS)
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        yield server


@pytest.fixture(scope="module")
def http(sim):
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client


def _post(client, body):
    r = client.post("/info", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _candles(client, coin, interval, start, end=None):
    req = {"coin": coin, "interval": interval, "startTime": start}
    if end is not None:
        req["endTime"] = end
    return _post(client, {"type": "candleSnapshot", "req": req})


def test_meta_and_asset_contexts_have_the_exchange_shapes(http):
    meta = _post(http, {"type": "meta"})
    assert [(a["name"], a["szDecimals"], a["maxLeverage"]) for a in meta["universe"]] == [
        ("BTC", 5, 40), ("ETH", 4, 25), ("SOL", 2, 20)]
    spot = _post(http, {"type": "spotMeta"})
    assert spot["tokens"][0]["name"] == "USDC" and spot["tokens"][0]["index"] == 0 and spot["universe"][0]["name"] == "PURR/USDC"
    again, ctxs = _post(http, {"type": "metaAndAssetCtxs"})
    assert again == meta and len(ctxs) == 3
    mids = _post(http, {"type": "allMids"})
    for name, ctx in zip(["BTC", "ETH", "SOL"], ctxs):
        assert all(isinstance(ctx[k], str) for k in ("funding", "openInterest", "oraclePx", "markPx", "midPx",
                                                      "premium", "dayNtlVlm", "prevDayPx", "dayBaseVlm"))
        assert ctx["midPx"] == mids[name] and float(ctx["dayNtlVlm"]) > 0 and abs(float(ctx["funding"])) < 0.04
        assert float(ctx["impactPxs"][0]) < float(ctx["midPx"]) < float(ctx["impactPxs"][1])


def test_candle_snapshot_serves_up_to_now_with_the_bar_forming(sim, http):
    rows = _candles(http, "BTC", "1m", START_MS - 30 * M, START_MS + DAY_MS)
    assert len(rows) == 30 and [r["t"] for r in rows] == [START_MS - 30 * M - 30_000 + (i + 1) * M for i in range(30)]
    last = rows[-1]
    assert last["t"] <= START_MS <= last["T"] and last["c"] == _post(http, {"type": "allMids"})["BTC"]
    assert list(last) == ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"] and last["s"] == "BTC" and last["i"] == "1m"
    for r in rows:
        assert float(r["l"]) <= min(float(r["o"]), float(r["c"])) <= max(float(r["o"]), float(r["c"])) <= float(r["h"])
    # Without endTime the answer runs to now, like the exchange.
    assert _candles(http, "BTC", "1m", START_MS - 30 * M) == rows
    hourly = _candles(http, "ETH", "1h", START_MS - DAY_MS)
    assert len(hourly) == 24 and hourly[-1]["t"] == START_MS - START_MS % HOUR_MS and hourly[-1]["T"] >= START_MS


def test_candles_come_5000_per_response_and_paginate_by_start_time(http):
    start = START_MS - 12 * DAY_MS
    got, cursor = [], start
    while True:
        page = _candles(http, "SOL", "1m", cursor, START_MS)
        if not page:
            break
        assert len(page) <= 5000
        got += page
        cursor = page[-1]["t"] + 1
    assert [len(p) for p in (got[:5000], got[5000:10000])] == [5000, 5000]
    t = [r["t"] for r in got]
    assert t == sorted(set(t)) and len(t) == 12 * 1440 and t[0] == start + 30_000 and t[-1] == START_MS - 30_000


def test_the_candle_limit_keeps_only_the_most_recent_5000(limited):
    with httpx.Client(base_url=limited.url) as client:
        newest = _candles(client, "BTC", "1m", START_MS - 10 * DAY_MS)
        assert len(newest) == 5000 and newest[-1]["t"] <= START_MS < newest[-1]["T"] + 1
        assert _candles(client, "BTC", "1m", START_MS - 10 * DAY_MS, newest[0]["t"] - 1) == []
        quarter = _candles(client, "BTC", "15m", START_MS - 10 * DAY_MS)
        assert len(quarter) == 10 * 96  # all of its history (well inside 5000 quarter-hours) from startTime on


def test_funding_history_pages_500_at_a_time(http):
    start = START_MS - START_MS % HOUR_MS - 24 * DAY_MS  # 10:00, 24 days ago
    page = _post(http, {"type": "fundingHistory", "coin": "ETH", "startTime": start})
    assert len(page) == 500 and page[0]["time"] // HOUR_MS * HOUR_MS == start and page[0]["time"] > start  # jitter
    assert list(page[0]) == ["coin", "fundingRate", "premium", "time"] and page[0]["coin"] == "ETH"
    rest = _post(http, {"type": "fundingHistory", "coin": "ETH", "startTime": page[-1]["time"] + 1, "endTime": START_MS})
    assert len(rest) == 24 * 24 + 1 - 500  # hourly up to 10:00 today, nothing from the future
    times = [r["time"] for r in page + rest]
    hours = [t // HOUR_MS for t in times]
    assert all(b - a == 1 for a, b in zip(hours, hours[1:])) and times[-1] <= START_MS
    assert any(float(r["fundingRate"]) < 0 for r in page) and any(float(r["fundingRate"]) > 0 for r in page)


def test_l2_book_is_synthetic_depth_on_the_tick_grid(http):
    book = _post(http, {"type": "l2Book", "coin": "ETH"})
    bids, asks = book["levels"]
    mid = float(_post(http, {"type": "allMids"})["ETH"])
    assert book["coin"] == "ETH" and book["time"] == START_MS and len(bids) == len(asks) == 20
    assert [float(b["px"]) for b in bids] == sorted((float(b["px"]) for b in bids), reverse=True)
    assert float(bids[0]["px"]) < mid < float(asks[0]["px"])
    for level in bids + asks:
        px = float(level["px"])
        assert round(px, 2) == px and isinstance(level["n"], int) and level["n"] >= 1  # ETH ~3000: 0.1 ticks
    near = sum(float(b["sz"]) for b in bids[:5])
    far = sum(float(b["sz"]) for b in bids[-5:])
    assert far > near


def test_account_requests_are_well_formed_and_empty(http):
    state = _post(http, {"type": "clearinghouseState", "user": USER})
    assert state["assetPositions"] == [] and state["marginSummary"]["accountValue"] == "0.0"
    assert state["withdrawable"] == "0.0" and state["time"] == START_MS
    for kind in ("openOrders", "frontendOpenOrders", "userFills"):
        assert _post(http, {"type": kind, "user": USER}) == []
    assert _post(http, {"type": "userFillsByTime", "user": USER, "startTime": 0}) == []
    assert _post(http, {"type": "orderStatus", "user": USER, "oid": 17}) == {"status": "unknownOid"}
    assert _post(http, {"type": "orderStatus", "user": USER, "oid": "0x" + "ab" * 16}) == {"status": "unknownOid"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"type": "candleSnapshot", "req": {"coin": "BTC", "startTime": 0}}, "missing field `interval`"),
        ({"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "2m", "startTime": 0}}, "unknown variant `2m`"),
        ({"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": "0"}}, "expected u64"),
        ({"type": "fundingHistory", "coin": "BTC", "startTime": -5}, "expected u64"),
        ({"type": "fundingHistory", "coin": "BTC", "startTime": 1.5}, "expected u64"),
        ({"type": "fundingHistory", "coin": "BTC", "startTime": 2**64}, "expected u64"),
        ({"type": "clearinghouseState", "user": "0x12"}, "invalid address"),
        ({"type": "orderStatus", "user": USER, "oid": "nope"}, "oid"),
        ({"type": "l2Book"}, "missing field `coin`"),
        ({"type": "perpetualMotion"}, "unknown variant `perpetualMotion`"),
        ({"kind": "meta"}, "missing field `type`"),
        ([1, 2], "invalid type"),
    ],
)
def test_bodies_the_exchange_cannot_deserialize_get_422(http, body, detail):
    r = http.post("/info", json=body)
    assert r.status_code == 422
    assert r.text.startswith("Failed to deserialize the JSON body into the target type: ") and detail in r.text


def test_broken_json_wrong_content_type_and_unknown_coins(http):
    r = http.post("/info", content=b'{"type": "meta"', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Failed to parse the request body as JSON" in r.text
    r = http.post("/info", content=b'{"type": "meta"}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.text
    assert _candles(http, "NOPE", "1m", 0) == []
    r = http.post("/info", json={"type": "fundingHistory", "coin": "NOPE", "startTime": 0})
    assert (r.status_code, r.text) == (500, "null")  # the exchange's own answer for a coin it does not list
    assert _post(http, {"type": "l2Book", "coin": "NOPE"}) is None
    assert http.get("/info").status_code == 405


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
_types = st.sampled_from(["meta", "allMids", "candleSnapshot", "fundingHistory", "l2Book", "clearinghouseState",
                          "orderStatus", "userFillsByTime", "metaAndAssetCtxs", "x"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=_types, fields=st.dictionaries(st.sampled_from(["coin", "req", "startTime", "endTime", "user", "oid",
                                                            "interval", "dex"]), _json, max_size=4))
def test_arbitrary_bodies_never_break_the_server(http, kind, fields):
    r = http.post("/info", content=json.dumps({"type": kind, **fields}), headers={"content-type": "application/json"})
    assert r.status_code in (200, 422) or (r.status_code, r.text) == (500, "null")
    if r.status_code == 200:
        r.json()
