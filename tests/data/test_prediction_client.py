"""Tests for the Polymarket and Kalshi adapters and the poller against loopback fake servers."""

from __future__ import annotations

import pytest
from fakes.prediction_servers import FakeGamma, FakeKalshi

from perpbot.clock import MINUTE_MS, FakeClock
from perpbot.config import PredictionMarket, build_settings
from perpbot.data.db import Store
from perpbot.data.prediction_client import (
    KalshiSource,
    PolymarketSource,
    PredictionPoller,
    parse_gamma_market,
    parse_kalshi_market,
    poll_markets,
)
from perpbot.errors import MalformedResponseError

T0 = 1_704_067_200_000
RECESSION = PredictionMarket(source="polymarket", id="us-recession-in-2025")
FED = PredictionMarket(source="kalshi", id="KXFEDDECISION-25DEC-H0")


@pytest.fixture
def gamma():
    with FakeGamma() as server:
        server.add("us-recession-in-2025", "516710", "US recession in 2025?", 0.045)
        yield server


@pytest.fixture
def kalshi():
    with FakeKalshi() as server:
        server.add("KXFEDDECISION-25DEC-H0", "Fed holds rates in December?", 62, 64, 63)
        yield server


@pytest.fixture
def poly(gamma, clock):
    with PolymarketSource(gamma.url, clock, timeout_s=2, max_retries=2, backoff_s=1.0) as source:
        yield source


@pytest.fixture
def kal(kalshi, clock):
    with KalshiSource(kalshi.url, clock, timeout_s=2, max_retries=2, backoff_s=1.0) as source:
        yield source


# --- Polymarket ----------------------------------------------------------------------------


def test_polymarket_reads_the_yes_price_from_string_encoded_arrays(poly, gamma, clock):
    snap = poly.fetch(RECESSION)
    assert (snap.source, snap.market_id, snap.status) == ("polymarket", "us-recession-in-2025", "ok")
    assert snap.probability == pytest.approx(0.045)
    assert snap.question == "US recession in 2025?"
    assert snap.fetched_at == clock.now_ms()
    assert gamma.requests == ["/markets?slug=us-recession-in-2025"]


def test_polymarket_finds_yes_when_it_is_not_the_first_outcome(poly, gamma):
    gamma.add("flipped", "7", "Flipped?", 0.8, outcomes=("No", "Yes"))
    assert poly.fetch(PredictionMarket(id="flipped")).probability == pytest.approx(0.8)


def test_polymarket_accepts_real_arrays_too(poly, gamma):
    gamma.add("plain", "8", "Plain arrays?", 0.3, encoded=False)
    assert poly.fetch(PredictionMarket(id="plain")).probability == pytest.approx(0.3)


def test_polymarket_falls_back_to_the_numeric_id(poly, gamma):
    snap = poly.fetch(PredictionMarket(id="516710"))
    assert snap.status == "ok" and snap.probability == pytest.approx(0.045)
    assert gamma.requests == ["/markets?slug=516710", "/markets/516710"]


def test_polymarket_closed_market_is_closed_not_a_signal(poly, gamma):
    gamma.add("resolved", "9", "Resolved?", 1.0, closed=True)
    snap = poly.fetch(PredictionMarket(id="resolved"))
    assert snap.status == "closed" and "closed" in snap.detail


def test_polymarket_vanished_market_is_missing(poly, gamma):
    assert poly.fetch(PredictionMarket(id="no-such-slug")).status == "missing"
    snap = poly.fetch(PredictionMarket(id="999"))  # empty list, then 404 on /markets/999
    assert snap.status == "missing" and "id not found" in snap.detail


def test_polymarket_retries_429_then_succeeds(poly, gamma, clock):
    gamma.fail_next(429, {"error": "rate limited"}, headers={"Retry-After": "3"})
    snap = poly.fetch(RECESSION)
    assert snap.status == "ok"
    assert len(gamma.requests) == 2
    assert clock.now_ms() == T0 + 3_000  # honoured Retry-After on the fake clock


def test_polymarket_gives_up_after_bounded_5xx_retries(poly, gamma, clock):
    gamma.fail_next(502, "<html>bad gateway</html>", count=5)
    snap = poly.fetch(RECESSION)
    assert snap.status == "error" and "HTTP 502" in snap.detail
    assert len(gamma.requests) == 3  # 1 try + 2 retries
    assert clock.now_ms() == T0 + 3_000  # backoff 1 s then 2 s


@pytest.mark.parametrize("body", ["<html>cloudflare</html>", '{"not": "a list"}', '[{"slug": "x"}]'])
def test_polymarket_malformed_body_is_an_error_snapshot(poly, gamma, body):
    gamma.raw["us-recession-in-2025"] = body
    snap = poly.fetch(RECESSION)
    assert snap.status == "error" and snap.probability is None and snap.detail


def test_polymarket_other_http_errors_are_error_snapshots(poly, gamma):
    gamma.fail_next(403, "forbidden")
    snap = poly.fetch(RECESSION)
    assert snap.status == "error" and "HTTP 403 forbidden" in snap.detail


@pytest.mark.parametrize(
    "item, message",
    [
        ({"outcomes": '["Yes", "No"]', "outcomePrices": '["0.1"]'}, "1 prices"),
        ({"outcomes": '["Trump", "Harris"]', "outcomePrices": '["0.5", "0.5"]'}, "no Yes outcome"),
        ({"outcomes": '["Yes", "No"]', "outcomePrices": '["1.7", "0"]'}, "outside"),
        ({"outcomes": "[Yes, No]", "outcomePrices": '["0.1", "0.9"]'}, "not a JSON array"),
        ({"outcomes": '["Yes", "No"]', "outcomePrices": '["n/a", "0.9"]'}, "expected a number"),
        ({"outcomePrices": '["0.1", "0.9"]'}, "missing"),
    ],
)
def test_parse_gamma_market_rejects_bad_shapes(item, message):
    with pytest.raises(MalformedResponseError, match=message):
        parse_gamma_market(item)


# --- Kalshi --------------------------------------------------------------------------------


def test_kalshi_uses_the_mid_of_the_dollar_fields(kal, kalshi):
    snap = kal.fetch(FED)
    assert snap.status == "ok" and snap.probability == pytest.approx(0.63)
    assert snap.question == "Fed holds rates in December?"
    assert kalshi.requests == ["/trade-api/v2/markets/KXFEDDECISION-25DEC-H0"]


def test_kalshi_prefers_dollars_over_cents():
    market = {"status": "active", "yes_bid": 10, "yes_ask": 12, "yes_bid_dollars": "0.2000", "yes_ask_dollars": "0.2200"}
    assert parse_kalshi_market(market).probability == pytest.approx(0.21)


def test_kalshi_falls_back_to_cents_and_to_the_last_price(kal, kalshi):
    kalshi.add("OLD", "Cents only?", 40, 44, dollars=False)
    assert kal.fetch(PredictionMarket(source="kalshi", id="OLD")).probability == pytest.approx(0.42)
    kalshi.add("WIDE", "Wide spread?", 10, 60, last_cents=35)
    snap = kal.fetch(PredictionMarket(source="kalshi", id="WIDE"))
    assert snap.probability == pytest.approx(0.35) and snap.detail == "last trade"
    kalshi.add("NOBID", "No bid?", None, 70, last_cents=66)
    assert kal.fetch(PredictionMarket(source="kalshi", id="NOBID")).probability == pytest.approx(0.66)


def test_kalshi_without_any_usable_price_is_an_error(kal, kalshi):
    kalshi.add("NEW", "Brand new?", None, None)
    snap = kal.fetch(PredictionMarket(source="kalshi", id="NEW"))
    assert snap.status == "error" and "no usable price" in snap.detail


@pytest.mark.parametrize("status", ["closed", "settled", "finalized", "determined", "initialized", "paused"])
def test_kalshi_closed_settled_or_not_trading_is_closed(kal, kalshi, status):
    kalshi.add("DONE", "Done?", 99, 100, 100, status=status)
    snap = kal.fetch(PredictionMarket(source="kalshi", id="DONE"))
    assert snap.status == "closed" and status in snap.detail


def test_kalshi_404_is_missing_with_the_error_message(kal):
    snap = kal.fetch(PredictionMarket(source="kalshi", id="GONE-1"))
    assert snap.status == "missing" and "market not found" in snap.detail


def test_kalshi_retries_5xx_and_429(kal, kalshi, clock):
    kalshi.fail_next(503, {"error": {"code": "unavailable", "message": "try later"}})
    kalshi.fail_next(429, {"error": {"code": "too_many_requests", "message": "slow down"}})
    assert kal.fetch(FED).status == "ok"
    assert len(kalshi.requests) == 3
    assert clock.now_ms() == T0 + 3_000


def test_kalshi_persistent_429_is_an_error_snapshot(kal, kalshi):
    kalshi.fail_next(429, {"error": {"code": "too_many_requests", "message": "slow down"}}, count=3)
    snap = kal.fetch(FED)
    assert snap.status == "error" and "429" in snap.detail


@pytest.mark.parametrize("body", ['{"market": ', '{"markets": []}', '{"market": {"status": "active", "yes_bid_dollars": "x"}}',
                                  '{"market": {"status": "weird"}}'])
def test_kalshi_malformed_body_is_an_error_snapshot(kal, kalshi, body):
    kalshi.raw["KXFEDDECISION-25DEC-H0"] = body
    snap = kal.fetch(FED)
    assert snap.status == "error" and snap.probability is None and snap.detail


def test_unreachable_server_is_an_error_snapshot(clock):
    with FakeKalshi() as server:
        url = server.url
    with KalshiSource(url, clock, timeout_s=1, max_retries=1, backoff_s=0.01) as source:
        snap = source.fetch(FED)
    assert snap.status == "error" and "ConnectError" in snap.detail


# --- polling -------------------------------------------------------------------------------


def _settings(tmp_path, gamma, kalshi, markets):
    return build_settings({
        "data": {"db_path": str(tmp_path / "bot.db")},
        "prediction": {"enabled": True, "polymarket_url": gamma.url, "kalshi_url": kalshi.url,
                       "max_retries": 0, "poll_minutes": 15, "markets": markets},
    }, source="test")


def test_poll_markets_stores_one_snapshot_per_market_including_failures(tmp_path, gamma, kalshi, clock):
    markets = [{"source": "polymarket", "id": "us-recession-in-2025"}, {"source": "kalshi", "id": "GONE"},
               {"source": "kalshi", "id": "KXFEDDECISION-25DEC-H0", "direction": "risk_down"}]
    settings = _settings(tmp_path, gamma, kalshi, markets)
    store = Store(settings.db_path)
    snaps = poll_markets(settings, store, clock)
    assert [s.status for s in snaps] == ["ok", "missing", "ok"]
    stored = {(s.source, s.market_id): s for s in store.latest_snapshots(clock.now_ms())}
    assert stored[("kalshi", "GONE")].status == "missing"
    assert stored[("polymarket", "us-recession-in-2025")].probability == pytest.approx(0.045)
    store.close()


def test_poller_polls_on_its_own_schedule_and_respects_a_recent_poll(tmp_path, gamma, kalshi):
    clock = FakeClock(T0)
    settings = _settings(tmp_path, gamma, kalshi, [{"source": "polymarket", "id": "us-recession-in-2025"}])
    store = Store(settings.db_path)
    poller = PredictionPoller(settings, store, clock)
    assert len(poller.poll_if_due()) == 1
    clock.advance(14 * 60)
    assert poller.poll_if_due() is None
    clock.advance(60)
    assert len(poller.poll_if_due()) == 1
    poller.close()
    # A restart 5 minutes later waits for the rest of the interval.
    clock.advance(5 * 60)
    again = PredictionPoller(settings, store, clock)
    assert again.poll_if_due() is None
    assert len(again.poll_if_due(clock.now_ms() + 10 * MINUTE_MS)) == 1
    again.close()
    assert len(store.snapshots_between(T0, T0 + 60 * MINUTE_MS)) == 3
    store.close()
