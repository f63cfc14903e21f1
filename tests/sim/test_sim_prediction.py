"""The simulator's prediction markets: our Gamma and Kalshi clients read them; the walk is seeded and moves."""

from __future__ import annotations

import httpx
import pytest

from perpbot.clock import HOUR_MS, MINUTE_MS, FakeClock
from perpbot.config import PredictionMarket
from perpbot.data.prediction_client import KalshiSource, PolymarketSource
from perpbot.sim.prediction import DEMO_MARKETS, SimMarket, scare_level, yes_probability
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z


@pytest.fixture(scope="module")
def sim():
    with SimServer(SimOptions(seed=7, history_days=0.05, start_ms=START_MS), port=0,
                   clock=FakeClock(START_MS)) as server:
        yield server


def _market(market_id: str) -> SimMarket:
    return next(m for m in DEMO_MARKETS if m.market_id == market_id)


def test_our_clients_parse_every_demo_market(sim):
    clock = sim.clock
    assert sim.polymarket_url == sim.url + "/polymarket" and sim.kalshi_url == sim.url + "/kalshi"
    with PolymarketSource(sim.polymarket_url, clock) as gamma, KalshiSource(sim.kalshi_url, clock) as kalshi:
        sources = {"polymarket": gamma, "kalshi": kalshi}
        assert {m.source for m in DEMO_MARKETS} == set(sources)
        for m in DEMO_MARKETS:
            snap = sources[m.source].fetch(PredictionMarket(m.source, m.market_id, 1.0, m.direction))
            assert snap.status == "ok", snap.detail
            assert snap.question == m.question and snap.fetched_at == clock.now_ms()
            expected = sim.prediction.probability(m, clock.now_ms())
            # Gamma sends four decimals; Kalshi a one-cent bid/ask around it, read at the mid.
            assert snap.probability == pytest.approx(expected, abs=0.006 if m.source == "kalshi" else 5e-5)


def test_numeric_gamma_id_and_unknown_markets(sim):
    m = _market("sim-btc-dip-20pct")
    with PolymarketSource(sim.polymarket_url, sim.clock) as gamma, KalshiSource(sim.kalshi_url, sim.clock) as kalshi:
        by_id = gamma.fetch(PredictionMarket("polymarket", m.numeric_id))
        assert by_id.status == "ok" and by_id.question == m.question
        assert gamma.fetch(PredictionMarket("polymarket", "no-such-slug")).status == "missing"
        assert gamma.fetch(PredictionMarket("polymarket", "424242")).status == "missing"
        assert kalshi.fetch(PredictionMarket("kalshi", "KXNOPE-1")).status == "missing"


def test_wire_shapes_keep_the_quirks(sim):
    with httpx.Client() as http:
        _check_wire_shapes(sim, http)


def _check_wire_shapes(sim, http: httpx.Client) -> None:
    gamma = http.get(sim.polymarket_url + "/markets", params={"slug": "sim-us-recession"}).json()
    assert isinstance(gamma, list) and len(gamma) == 1
    item = gamma[0]
    assert item["outcomes"] == '["Yes", "No"]' and isinstance(item["outcomePrices"], str)
    assert isinstance(item["volume"], str) and item["active"] is True and item["closed"] is False
    assert http.get(sim.polymarket_url + "/markets", params={"closed": "true"}).json() == []
    assert len(http.get(sim.polymarket_url + "/markets").json()) == 2
    market = http.get(sim.kalshi_url + "/markets/KXFEDCUT-SIM-NEXT").json()["market"]
    assert isinstance(market["yes_bid"], int) and market["yes_ask"] == market["yes_bid"] + 1
    assert market["yes_bid_dollars"] == f"{market['yes_bid'] / 100:.4f}" and market["status"] == "active"
    missing = http.get(sim.kalshi_url + "/markets/KXNOPE-1")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    listed = http.get(sim.kalshi_url + "/markets").json()
    assert [r["ticker"] for r in listed["markets"]] == ["KXFEDCUT-SIM-NEXT"] and listed["cursor"] == ""


def test_the_quote_follows_the_simulator_clock(sim):
    m = _market("KXFEDCUT-SIM-NEXT")
    with KalshiSource(sim.kalshi_url, sim.clock) as kalshi:
        seen = []
        for _ in range(12):
            seen.append(kalshi.fetch(PredictionMarket("kalshi", m.market_id)).probability)
            sim.clock.advance(30 * 60)  # half a simulated hour
    assert len(set(seen)) > 3


def test_same_seed_same_path_other_seed_other_path():
    times = range(0, 12 * HOUR_MS, 7 * MINUTE_MS)
    for m in DEMO_MARKETS:
        path = [yes_probability(1, m, t) for t in times]
        assert path == [yes_probability(1, m, t) for t in times]
        assert path != [yes_probability(2, m, t) for t in times]
    recession, dip = DEMO_MARKETS[0], DEMO_MARKETS[2]
    assert [yes_probability(1, recession, t) for t in times] != [yes_probability(1, dip, t) for t in times]


def test_probabilities_stay_in_range_and_before_the_start_too():
    for seed in (1, 2, 3):
        for m in DEMO_MARKETS:
            for t in range(-6 * HOUR_MS, 48 * HOUR_MS, 13 * MINUTE_MS):
                assert 0.01 <= yes_probability(seed, m, t) <= 0.99


def _score(seed: int, t_ms: int) -> float:
    risks = [p if m.direction == "risk_up" else 1.0 - p
             for m, p in ((m, yes_probability(seed, m, t_ms)) for m in DEMO_MARKETS)]
    return sum(risks) / len(risks)


def test_the_walk_moves_and_scares_come_and_go():
    # Two simulated days at the demo's 5-minute polls (24 wall minutes at 120x).
    scores = [_score(1, t) for t in range(0, 48 * HOUR_MS, 5 * MINUTE_MS)]
    assert max(scores) - min(scores) > 0.2
    assert sum(s >= 0.4 for s in scores) > 10 and sum(s < 0.35 for s in scores) > len(scores) / 2
    assert sum(s >= 0.7 for s in scores) < len(scores) / 20  # CRISIS is rare
    # It walks (a scare ramps up over several polls) rather than jumps.
    assert max(abs(a - b) for a, b in zip(scores, scores[1:])) < 0.15
    scares = [scare_level(1, t) for t in range(0, 48 * HOUR_MS, 5 * MINUTE_MS)]
    assert min(scares) < 0.01 and max(scares) > 0.9


def test_a_step_sees_one_value_per_simulated_minute():
    m = DEMO_MARKETS[0]
    assert yes_probability(5, m, 10 * MINUTE_MS) == yes_probability(5, m, 10 * MINUTE_MS + 59_999)
