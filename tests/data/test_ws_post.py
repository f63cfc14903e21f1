"""Info requests over the price feed's WebSocket ("post"), against the simulator's real socket.

The engine sends each tick's candle and funding requests this way; every failure (not
connected, an error answer, a stalled socket, a cut connection) must fall back to HTTP with the
same answer, and a stalled socket must cost at most one timeout per connection.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import pytest

from perpbot.clock import FakeClock
from perpbot.data.client import HyperliquidClient
from perpbot.data.ws_client import WsPostUnavailable, WsPriceFeed
from perpbot.data.ws_wire import parse_message
from perpbot.sim.server import SimOptions, SimServer

SYMBOLS = ["BTC", "ETH"]
STEP = 900_000


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(SimOptions(seed=5, symbols=SYMBOLS, history_days=1), port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def healthy(sim: SimServer) -> Iterator[None]:
    yield
    sim.faults.ws_stall = False


@pytest.fixture
def feed(sim: SimServer) -> Iterator[WsPriceFeed]:
    f = WsPriceFeed(sim.ws_url, SYMBOLS, FakeClock(sim.now_ms()), backoff_min_s=0.05, backoff_max_s=0.2,
                  rng=random.Random(1))
    f.start()
    wait_until(lambda: f.connected, "the feed to connect")
    yield f
    f.stop(timeout_s=2)


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def candles_body(sim: SimServer, coin: str = "BTC") -> dict:
    end = sim.now_ms() // STEP * STEP
    return {"type": "candleSnapshot", "req": {"coin": coin, "interval": "15m", "startTime": end - 8 * STEP,
                                              "endTime": end - 1}}  # closed bars only


def test_a_post_answers_what_rest_answers(sim: SimServer, feed: WsPriceFeed) -> None:
    body = candles_body(sim)
    with HyperliquidClient(sim.url, max_retries=0) as rest:
        assert feed.post_info(body, 2.0) == rest.post_info(body)
        funding = {"type": "fundingHistory", "coin": "ETH", "startTime": sim.now_ms() - 6 * 3_600_000}
        assert feed.post_info(funding, 2.0) == rest.post_info(funding)


def test_an_error_answer_and_no_connection_are_unavailable(sim: SimServer, feed: WsPriceFeed) -> None:
    with pytest.raises(WsPostUnavailable, match="refused"):
        feed.post_info({"type": "noSuchRequest"}, 2.0)
    idle = WsPriceFeed(sim.ws_url, SYMBOLS, FakeClock(0))  # never started
    with pytest.raises(WsPostUnavailable, match="not connected"):
        idle.post_info(candles_body(sim), 2.0)


def test_a_stalled_socket_costs_one_timeout_per_connection(sim: SimServer, feed: WsPriceFeed) -> None:
    sim.faults.ws_stall = True
    start = time.monotonic()
    with pytest.raises(WsPostUnavailable, match="no answer"):
        feed.post_info(candles_body(sim), 0.3)
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    with pytest.raises(WsPostUnavailable, match="left a post unanswered"):  # not asked again on this connection
        feed.post_info(candles_body(sim), 0.3)
    assert time.monotonic() - start < 0.2
    sim.faults.ws_stall = False
    sessions = feed._sessions
    feed._abort_connection()  # what the engine's stale-feed check does, through reconnect()
    wait_until(lambda: feed._sessions > sessions and feed.connected, "a new connection")
    assert feed.post_info(candles_body(sim), 2.0)  # the new connection answers posts again


def test_the_client_routes_candles_over_the_socket_and_falls_back_to_http(sim: SimServer, feed: WsPriceFeed) -> None:
    body = candles_body(sim)
    start, end = body["req"]["startTime"], body["req"]["endTime"]
    with HyperliquidClient(sim.url, max_retries=0) as plain, HyperliquidClient(sim.url, max_retries=0) as http:
        expected = plain.candle_page("BTC", "15m", start, end, closed_before_ms=end)
        client = http.with_socket(feed.post_info)
        assert client.candle_page("BTC", "15m", start, end, closed_before_ms=end) == expected
        assert (client.socket_posts, client.requests_sent) == (1, 0)
        client.all_mids()  # not a per-tick request: always HTTP
        assert (client.socket_posts, client.requests_sent) == (1, 1)
        sim.faults.ws_stall = True
        client.socket_timeout_s = 0.3
        assert client.candle_page("BTC", "15m", start, end, closed_before_ms=end) == expected  # same call, over HTTP
        assert (client.socket_posts, client.requests_sent) == (1, 2)


@pytest.mark.parametrize("frame, answer", [
    ('{"channel":"post","data":{"id":7,"response":{"type":"info","payload":{"type":"allMids","data":{"BTC":"1"}}}}}',
     (7, {"BTC": "1"}, None)),
    ('{"channel":"post","data":{"id":8,"response":{"type":"error","payload":"bad"}}}',
     (8, None, "the exchange refused the post: bad")),
    ('{"channel":"post","data":{"id":9,"response":{"type":"info","payload":{"type":"allMids"}}}}',
     (9, None, "a malformed post answer")),
    ('{"channel":"post","data":[]}', (None, None, "a malformed post answer")),
])
def test_post_answers_parse(frame: str, answer: tuple) -> None:
    assert parse_message(frame) == ("post", answer)
