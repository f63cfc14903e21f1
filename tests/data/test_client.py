"""The REST client against the simulator on loopback: every request type, pagination, faults, budget."""

from __future__ import annotations

import random

import pytest

from perpbot.clock import FakeClock
from perpbot.config import build_settings
from perpbot.data.client import HyperliquidClient, WeightBudget
from perpbot.errors import (
    ExchangeError,
    MalformedResponseError,
    RateLimitedError,
    TransientExchangeError,
)
from perpbot.models import Side
from perpbot.sim.server import SimOptions, SimServer

USER = "0x" + "ab" * 20
SYMBOLS = ["BTC", "ETH", "SOL"]


@pytest.fixture(scope="module")
def sim():
    # 25 days: > 5000 1m candles and > 500 hourly funding rates; candle_limit=0 serves them all.
    with SimServer(SimOptions(seed=7, symbols=SYMBOLS, history_days=25, candle_limit=0), port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def healthy(sim):
    _heal(sim)
    yield
    _heal(sim)


def _heal(sim):
    sim.faults.error_rate = 0.0
    sim.faults.rate_limit_rate = 0.0
    sim.faults.malformed_rate = 0.0
    sim.faults.latency_ms = 0


class HealingClock(FakeClock):
    """Fake time whose sleeps (the client's backoff) end the simulator's fault burst after `burst` sleeps."""

    def __init__(self, sim, burst: int) -> None:
        super().__init__(sim.now_ms())
        self.sim, self.burst, self.sleeps = sim, burst, []

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.burst:
            _heal(self.sim)


def _client(sim, clock=None, **kw):
    kw.setdefault("max_retries", 3)
    kw.setdefault("weight_per_minute", 10**9)
    return HyperliquidClient(sim.url, timeout_s=5, clock=clock or FakeClock(sim.now_ms()), backoff_base_s=0.01,
                             rng=random.Random(0), **kw)


def test_market_requests_parse_into_typed_records(sim):
    with _client(sim) as client:
        meta = client.meta()
        assert [m.name for m in meta] == SYMBOLS
        assert [m.index for m in meta] == [0, 1, 2]
        assert all(m.sz_decimals >= 0 and m.max_leverage >= 1 for m in meta)
        mids = client.all_mids()
        assert set(SYMBOLS) <= set(mids) and all(isinstance(p, float) and p > 0 for p in mids.values())
        metas, ctxs = client.meta_and_asset_ctxs()
        assert [c.symbol for c in ctxs] == SYMBOLS == [m.name for m in metas]
        assert all(c.oracle_px > 0 and isinstance(c.funding, float) for c in ctxs)
        book = client.l2_book("BTC")
        assert book.symbol == "BTC" and book.bids and book.asks
        assert book.bids[0].px < book.asks[0].px
        assert [lv.px for lv in book.bids] == sorted((lv.px for lv in book.bids), reverse=True)
        assert [lv.px for lv in book.asks] == sorted(lv.px for lv in book.asks)
        raw = client.post_info({"type": "allMids"})
        assert set(raw) == set(mids) and isinstance(next(iter(raw.values())), str)


def test_account_requests_for_a_fresh_user(sim):
    with _client(sim) as client:
        state = client.clearinghouse_state(USER)
        assert state.positions == () and state.account_value >= 0 and state.total_margin_used == 0
        assert client.open_orders(USER) == []
        assert client.user_fills(USER) == []
        assert client.order_status(USER, 123456).found is False
        assert client.order_status(USER, "0x" + "00" * 16).found is False


class OneTraderBook:
    """A simulator account book (the pluggable AccountBook) holding one short position, order and fill."""

    SUMMARY = {"accountValue": "1234.5", "totalNtlPos": "970.0", "totalRawUsd": "2204.5", "totalMarginUsed": "97.0"}
    ORDER = {"coin": "ETH", "limitPx": "2500.5", "oid": 77, "side": "B", "sz": "0.4", "timestamp": 1_700_000_000_000,
             "origSz": "0.5", "cloid": "0x" + "0f" * 16}

    def clearinghouse_state(self, user, now_ms):
        position = {"coin": "BTC", "szi": "-0.01", "entryPx": "97000.0", "leverage": {"type": "isolated", "value": 10,
                    "rawUsd": "1067.0"}, "liquidationPx": "105000.0", "marginUsed": "97.0", "positionValue": "970.0",
                    "unrealizedPnl": "-1.5", "returnOnEquity": "-0.015"}
        return {"marginSummary": self.SUMMARY, "crossMarginSummary": self.SUMMARY, "withdrawable": "1100.25",
                "assetPositions": [{"position": position, "type": "oneWay"}], "time": now_ms}

    def open_orders(self, user):
        return [self.ORDER]

    def frontend_open_orders(self, user):
        return [self.ORDER]

    def user_fills(self, user):
        return [{"coin": "BTC", "px": "97000.0", "sz": "0.01", "side": "A", "time": 1_700_000_000_500,
                 "startPosition": "0.0", "dir": "Open Short", "closedPnl": "0.0", "hash": "0x" + "aa" * 32, "oid": 76,
                 "crossed": True, "fee": "0.4365", "tid": 9}]

    def user_fills_by_time(self, user, start_ms, end_ms):
        return self.user_fills(user)

    def order_status(self, user, oid):
        if oid not in (77, self.ORDER["cloid"]):
            return {"status": "unknownOid"}
        return {"status": "order", "order": {"order": self.ORDER, "status": "open", "statusTimestamp": 1_700_000_000_001}}


def test_account_records_carry_typed_values(sim):
    original = sim.info.accounts
    sim.info.accounts = OneTraderBook()
    try:
        with _client(sim) as client:
            state = client.clearinghouse_state(USER)
            orders = client.open_orders(USER)
            fills = client.user_fills(USER)
            by_oid, by_cloid = client.order_status(USER, 77), client.order_status(USER, OneTraderBook.ORDER["cloid"])
            unknown = client.order_status(USER, 78)
    finally:
        sim.info.accounts = original
    assert (state.account_value, state.total_margin_used, state.withdrawable) == (1234.5, 97.0, 1100.25)
    (pos,) = state.positions
    assert (pos.symbol, pos.size, pos.side, pos.entry_px, pos.leverage_type, pos.leverage) == (
        "BTC", -0.01, Side.SHORT, 97000.0, "isolated", 10.0)
    assert (pos.liquidation_px, pos.unrealized_pnl) == (105000.0, -1.5)
    (order,) = orders
    assert (order.symbol, order.side, order.limit_px, order.sz, order.oid, order.cloid) == (
        "ETH", Side.LONG, 2500.5, 0.4, 77, OneTraderBook.ORDER["cloid"])
    (fill,) = fills
    assert (fill.side, fill.px, fill.fee, fill.crossed, fill.tid, fill.dir) == (Side.SHORT, 97000.0, 0.4365, True, 9, "Open Short")
    assert by_oid == by_cloid and by_oid.found and by_oid.status == "open"
    assert (by_oid.sz, by_oid.orig_sz, by_oid.side, by_oid.status_timestamp) == (0.4, 0.5, Side.LONG, 1_700_000_000_001)
    assert not unknown.found and unknown.status == "unknownOid"


def test_candles_paginate_past_the_5000_cap(sim):
    with _client(sim) as client:
        end = sim.now_ms()
        start = end - 6 * 86_400_000  # 8,640 1m bars: at least two responses
        candles = client.candles("BTC", "1m", start, end)
        assert client.requests_sent >= 2
        t = [c.t for c in candles]
        assert t == sorted(set(t)) and all(b - a == 60_000 for a, b in zip(t, t[1:]))
        assert t[0] - start < 60_000 and end - t[-1] < 60_000
        assert len(candles) in (8640, 8641)
        c = candles[len(candles) // 2]
        assert c.symbol == "BTC" and c.interval == "1m"
        assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high and c.volume >= 0


def test_funding_history_paginates_past_500(sim):
    with _client(sim) as client:
        end = sim.now_ms()
        rates = client.funding_history("ETH", end - 24 * 86_400_000, end)
        assert len(rates) >= 24 * 24 - 1 and client.requests_sent >= 2
        times = [r.time for r in rates]
        assert times == sorted(set(times))
        assert all(r.symbol == "ETH" and abs(r.rate) < 0.04 for r in rates)


@pytest.mark.parametrize(("knob", "error"), [("rate_limit_rate", RateLimitedError), ("error_rate", TransientExchangeError)])
def test_a_burst_of_failures_is_retried_with_growing_backoff(sim, knob, error):
    clock = HealingClock(sim, burst=2)
    setattr(sim.faults, knob, 1.0)
    with _client(sim, clock=clock) as client:
        assert client.all_mids()["BTC"] > 0
        assert client.requests_sent == 3  # two failures, then the answer
    assert len(clock.sleeps) == 2
    # base 0.01 s doubling, jitter within [0.5, 1.5) of the nominal delay
    assert 0.005 <= clock.sleeps[0] < 0.015 and 0.01 <= clock.sleeps[1] < 0.03


@pytest.mark.parametrize(
    ("knob", "error", "text"),
    [
        ("rate_limit_rate", RateLimitedError, "HTTP 429"),
        ("error_rate", TransientExchangeError, "HTTP 5"),
        ("malformed_rate", MalformedResponseError, "malformed allMids response"),
    ],
)
def test_persistent_failure_raises_the_matching_error(sim, knob, error, text):
    setattr(sim.faults, knob, 1.0)
    with _client(sim, max_retries=2) as client:
        with pytest.raises(error, match=text) as info:
            client.all_mids()
        assert client.requests_sent == 3
    if error is not RateLimitedError:
        assert not isinstance(info.value, RateLimitedError)
    assert info.value.hint


def test_malformed_candles_name_the_request_type(sim):
    sim.faults.malformed_rate = 1.0
    with _client(sim, max_retries=0) as client, pytest.raises(MalformedResponseError, match="candleSnapshot"):
        client.candles("BTC", "15m", sim.now_ms() - 86_400_000, sim.now_ms())


def test_unreachable_and_slow_exchanges_are_transient_errors(sim):
    dead = HyperliquidClient("http://127.0.0.1:9", timeout_s=1, max_retries=1, clock=FakeClock(), backoff_base_s=0.01)
    with dead, pytest.raises(TransientExchangeError, match="cannot reach http://127.0.0.1:9"):
        dead.meta()
    sim.faults.latency_ms = 400
    slow = HyperliquidClient(sim.url, timeout_s=0.1, max_retries=0, clock=FakeClock())
    with slow, pytest.raises(TransientExchangeError, match="timed out"):
        slow.all_mids()


def test_refused_request_is_not_retried(sim):
    with _client(sim) as client, pytest.raises(ExchangeError, match="refused the candleSnapshot request") as info:
        client.post_info({"type": "candleSnapshot", "req": {"coin": "BTC"}})
    assert not isinstance(info.value, TransientExchangeError)
    assert client.requests_sent == 1


def test_weight_budget_waits_for_refill():
    clock = FakeClock()
    budget = WeightBudget(per_minute=60, clock=clock)  # one weight per second
    assert budget.acquire(20) == 0 and budget.acquire(20) == 0 and budget.acquire(20) == 0
    start = clock.now_ms()
    assert budget.acquire(20) == pytest.approx(20.0)
    assert clock.now_ms() - start == 20_000
    budget.charge(30)  # a surcharge known only after the answer puts the bucket in debt
    assert budget.acquire(2) == pytest.approx(32.0)
    assert budget.acquire(500) == pytest.approx(60.0)  # heavier than the bucket: waits for a full one


def test_client_charges_per_item_surcharge_and_waits_it_off(sim):
    clock = FakeClock(sim.now_ms())  # fake time moves only when the budget sleeps
    t0 = clock.now_ms()
    with _client(sim, clock=clock, weight_per_minute=120) as client:  # 2 weight per second
        rows, _, _ = client.candle_page("BTC", "1m", t0 - 5000 * 60_000, t0)
        assert 4999 <= len(rows) <= 5001
        assert client.budget.available == pytest.approx(120 - 20 - 83)  # base 20 + 1 per 60 candles
        client.meta()  # weight 20 with 17 left: waits 3 / 2 seconds
        assert clock.now_ms() - t0 == 1500
        assert client.budget.available == pytest.approx(0, abs=0.01)


def test_from_settings_uses_the_exchange_section(sim):
    settings = build_settings({"exchange": {"base_url": sim.url + "/", "max_retries": 1, "retry_backoff_s": 0.2}})
    with HyperliquidClient.from_settings(settings) as client:
        assert client.base_url == sim.url and client.max_retries == 1 and client.backoff_base_s == 0.2
        assert client.budget.capacity == 1200
        assert "BTC" in client.all_mids()
