"""The allMids price feed against the simulator's real WebSocket: mids, drops, stalls, REST fallback."""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from perpbot.clock import FakeClock
from perpbot.config import build_settings
from perpbot.data.client import HyperliquidClient
from perpbot.data.ws_client import WsPriceFeed
from perpbot.data.ws_wire import parse_message
from perpbot.sim.server import SimOptions, SimServer

SYMBOLS = ["BTC", "ETH", "SOL"]
WAIT_S = 5.0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimOptions(seed=11, symbols=SYMBOLS, history_days=1), port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def healthy(sim: SimServer) -> Iterator[None]:
    yield
    sim.faults.ws_stall = False
    sim.faults.error_rate = 0.0


@pytest.fixture
def clock(sim: SimServer) -> FakeClock:
    return FakeClock(sim.now_ms())


@pytest.fixture
def rest(sim: SimServer) -> Iterator[HyperliquidClient]:
    with HyperliquidClient(sim.url, max_retries=0) as client:
        yield client


@pytest.fixture
def make_feed(sim: SimServer, clock: FakeClock, rest: HyperliquidClient) -> Iterator[Callable[..., WsPriceFeed]]:
    feeds: list[WsPriceFeed] = []

    def make(**kw: object) -> WsPriceFeed:
        opts: dict = {"rest_mids": rest.all_mids, "backoff_min_s": 0.05, "backoff_max_s": 0.2,
                      "rng": random.Random(1), **kw}
        feed = WsPriceFeed(sim.ws_url, SYMBOLS, clock, **opts)
        feeds.append(feed)
        feed.start()
        return feed

    yield make
    for feed in feeds:
        feed.stop(timeout_s=2)


def wait_until(cond: Callable[[], bool], timeout_s: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def all_mids(feed: WsPriceFeed) -> bool:
    return set(feed.mids()) == set(SYMBOLS)


def test_mids_arrive_for_the_symbols(make_feed: Callable[..., WsPriceFeed], sim: SimServer) -> None:
    feed = make_feed()
    assert feed.mid("BTC") is None and feed.age_s("BTC") is None and feed.is_stale()  # nothing yet
    wait_until(lambda: all_mids(feed), what="mids")
    assert feed.connected
    rest_mids = HyperliquidClient(sim.url).all_mids()
    for sym, price in feed.mids().items():
        assert price == pytest.approx(rest_mids[sym], rel=0.01)
    assert feed.mid("DOGE") is None
    assert feed.age_s("BTC") == 0.0  # the fake clock has not moved
    assert not feed.is_stale()
    assert feed.health() == {sym: {"healthy": True, "age_s": 0.0, "source": "ws"} for sym in SYMBOLS}


def test_ages_follow_the_injected_clock(make_feed: Callable[..., WsPriceFeed], clock: FakeClock) -> None:
    feed = make_feed(stale_after_s=30.0)
    wait_until(lambda: all_mids(feed), what="mids")
    feed.stop()  # freeze the cache so only the clock moves
    clock.advance(12.5)
    assert feed.age_s("ETH") == 12.5
    assert not feed.is_stale()
    clock.advance(20)
    assert feed.is_stale()
    assert feed.health()["SOL"] == {"healthy": False, "age_s": 32.5, "source": "ws"}


def test_reconnects_after_the_exchange_drops_the_socket(make_feed: Callable[..., WsPriceFeed], sim: SimServer,
                                                        clock: FakeClock) -> None:
    feed = make_feed()
    wait_until(lambda: all_mids(feed), what="mids")
    assert feed.reconnects == 0
    assert sim.drop_websockets() >= 1
    wait_until(lambda: feed.reconnects >= 1, what="a reconnect")
    clock.advance(60)  # everything cached so far is now stale; only new ws mids make it fresh again
    wait_until(lambda: not feed.is_stale(), what="fresh mids after the reconnect")
    assert {h["source"] for h in feed.health().values()} == {"ws"}


def test_reconnect_on_request(make_feed: Callable[..., WsPriceFeed]) -> None:
    feed = make_feed(ping_interval_s=0.3)
    wait_until(lambda: all_mids(feed), what="mids")
    feed.reconnect()  # too young: a connection gets one ping interval to deliver
    assert feed.reconnects == 0 and feed.connected
    wait_until(lambda: (feed.reconnect(), feed.reconnects >= 1)[1], what="a reconnect")


def test_stall_goes_stale_and_rest_fills_in(make_feed: Callable[..., WsPriceFeed], sim: SimServer,
                                            clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    feed = make_feed(ping_interval_s=0.2)
    wait_until(lambda: all_mids(feed), what="mids")
    sim.faults.ws_stall = True

    def stale_after_a_jump() -> bool:
        clock.advance(31)  # a message already in flight may land after one jump; the next makes it old
        return feed.is_stale()

    with caplog.at_level(logging.WARNING, logger="perpbot.data.ws_client"):
        wait_until(stale_after_a_jump, what="the feed to go stale")
        assert all(not h["healthy"] for h in feed.health().values())
        # No pong: the feed itself gives up on the silent socket and dials again.
        wait_until(lambda: any("no message or pong" in str(getattr(r, "error", "")) for r in caplog.records),
                   what="the silent socket to be dropped")
        assert feed.refresh_rest()
    health = feed.health()
    assert health == {sym: {"healthy": True, "age_s": 0.0, "source": "rest"} for sym in SYMBOLS}
    assert not feed.is_stale()
    assert all(p > 0 for p in feed.mids().values())

    sim.faults.ws_stall = False  # the exchange recovers: ws values replace the REST ones
    wait_until(lambda: {h["source"] for h in feed.health().values()} == {"ws"}, what="ws mids again")


def test_rest_never_replaces_a_fresh_ws_mid(make_feed: Callable[..., WsPriceFeed], sim: SimServer) -> None:
    feed = make_feed()
    wait_until(lambda: all_mids(feed), what="mids")
    feed.stop()
    before = feed.mids()
    feed.rest_mids = lambda: {"BTC": 1.0, "ETH": 2.0, "SOL": 3.0}
    assert feed.refresh_rest()
    assert feed.mids() == before
    assert {h["source"] for h in feed.health().values()} == {"ws"}


def test_refresh_rest_failures_return_false(make_feed: Callable[..., WsPriceFeed], sim: SimServer,
                                            clock: FakeClock) -> None:
    feed = make_feed()
    feed.stop()
    sim.faults.error_rate = 1.0  # every /info answer is a 5xx; the client has no retries left
    assert feed.refresh_rest() is False
    assert feed.mids() == {}
    assert WsPriceFeed(sim.ws_url, SYMBOLS, clock).refresh_rest() is False  # no REST source at all


def test_malformed_messages_are_skipped(clock: FakeClock) -> None:
    feed = WsPriceFeed("ws://127.0.0.1:9/ws", SYMBOLS, clock)  # never started: only the message path runs
    for junk in ("Websocket connection established.", "{trunc", b"\xff\xfe", "[1,2]", '{"channel":"allMids"}',
                 '{"channel":"allMids","data":{"mids":[1]}}', '{"channel":"error","data":"bad request"}',
                 '{"channel":"pong"}', '{"channel":"l2Book","data":{}}'):
        assert feed._on_message(junk) is False
    assert feed._on_message('{"channel":"allMids","data":{"mids":{"BTC":"abc","ETH":"2500.5","SOL":"-1",'
                            '"DOGE":"0.1"}}}') is True
    assert feed.mids() == {"ETH": 2500.5}


@pytest.mark.parametrize("frame, kind", [
    ('{"channel":"allMids","data":{"mids":{"BTC":"1"}}}', "allMids"),
    ("Websocket connection established.", "greeting"),
    ('{"channel":"pong"}', "pong"),
    ('{"channel":"subscriptionResponse","data":{}}', "ack"),
    ('{"channel":"error","data":"x"}', "error"),
    ('{"channel":"trades","data":[]}', "other"),
    ("not json", "malformed"),
    ('"a string"', "malformed"),
])
def test_parse_message(frame: str, kind: str) -> None:
    assert parse_message(frame)[0] == kind


def test_stop_joins_cleanly(make_feed: Callable[..., WsPriceFeed]) -> None:
    feed = make_feed()
    wait_until(lambda: feed.connected, what="a connection")
    started = time.monotonic()
    feed.stop(timeout_s=2)
    assert time.monotonic() - started < 1.0
    assert not feed.connected and feed._thread is None
    feed.stop()  # idempotent


def test_stop_does_not_wait_out_a_backoff(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feed = WsPriceFeed(f"ws://127.0.0.1:{port}/ws", SYMBOLS, clock, backoff_min_s=10.0, backoff_max_s=10.0)
    with caplog.at_level(logging.WARNING, logger="perpbot.data.ws_client"):
        feed.start()
        wait_until(lambda: any(r.getMessage() == "price feed connection lost" for r in caplog.records),
                   what="the first refused connect")  # now it is in a 5-10 s backoff
    started = time.monotonic()
    feed.stop(timeout_s=2)
    assert time.monotonic() - started < 0.5
    assert feed.mids() == {}


def test_backoff_doubles_with_jitter_up_to_the_cap(clock: FakeClock) -> None:
    feed = WsPriceFeed("ws://127.0.0.1:9/ws", SYMBOLS, clock, backoff_min_s=0.5, backoff_max_s=4.0,
                     rng=random.Random(3))
    delays = [feed._backoff_s(n) for n in range(6)]
    for n, delay in enumerate(delays):
        base = min(4.0, 0.5 * 2 ** n)
        assert base / 2 <= delay <= base
    assert max(delays) <= 4.0


def test_from_settings(sim: SimServer, rest: HyperliquidClient, clock: FakeClock) -> None:
    settings = build_settings({"exchange": {"base_url": sim.url}, "data": {"symbols": ["eth", "btc"]}}, source="test")
    feed = WsPriceFeed.from_settings(settings, rest, clock)
    assert feed.ws_url == sim.ws_url
    assert feed.symbols == ["ETH", "BTC"]
    assert feed.rest_mids == rest.all_mids


def test_candle_streams_serve_closed_bars_as_rest_gives_them_and_resubscribe() -> None:
    """watch_candles: the bars the streams proved closed equal the candleSnapshot rows; a reconnect forgets
    them and subscribes again; a stalled socket (stale prices) serves nothing."""
    step = 300_000
    start = 1_704_067_200_000 + 2 * 86_400_000
    clock = FakeClock(start + 1_000)
    with SimServer(SimOptions(seed=11, symbols=SYMBOLS, history_days=1, start_ms=start), port=0, clock=clock) as sim, \
            HyperliquidClient(sim.url) as client:
        feed = WsPriceFeed(sim.ws_url, SYMBOLS, clock, backoff_min_s=0.05, backoff_max_s=0.2, rng=random.Random(1))
        feed.watch_candles("5m")
        feed.start()
        try:
            def proven(after: int, upto: int) -> dict[str, list | None]:
                return {sym: feed.closed_bars(sym, "5m", after, upto) for sym in SYMBOLS}

            wait_until(lambda: all(feed._candles[1]._coins[s].forming for s in SYMBOLS), what="the forming bars")
            clock.set(start + 3 * step + 1_000)  # three bars close at once: the simulator sends them final
            wait_until(lambda: all(proven(start - step, start + 2 * step).values()), what="three closed bars")
            for sym, rows in proven(start - step, start + 2 * step).items():
                fetched = [r for page in client.iter_candle_pages(sym, "5m", start, start + 2 * step,
                                                                  closed_before_ms=clock.now_ms()) for r in page]
                assert rows == fetched and len(rows) == 3
            assert feed.closed_bars("BTC", "5m", start - step, start + 3 * step) is None  # still forming
            assert feed.closed_bars("BTC", "15m", start - step, start + 2 * step) is None  # not watched

            assert sim.drop_websockets() >= 1
            wait_until(lambda: feed.reconnects >= 1 and feed.connected, what="the reconnect")
            assert proven(start - step, start + 2 * step) == {sym: None for sym in SYMBOLS}
            wait_until(lambda: all(feed._candles[1]._coins[s].forming for s in SYMBOLS), what="resubscribed")
            clock.set(start + 4 * step + 1_000)
            wait_until(lambda: all(proven(start + 2 * step, start + 3 * step).values()), what="a bar after the reconnect")

            sim.faults.ws_stall = True
            clock.set(start + 5 * step + 1_000)  # the prices go stale: nothing is served, whatever was held
            assert proven(start + 2 * step, start + 3 * step) == {sym: None for sym in SYMBOLS}
        finally:
            feed.stop(timeout_s=2)
