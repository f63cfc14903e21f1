"""Tests for the regime classifier (weights, hysteresis, staleness) and the `perpbot regime` command."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import yaml
from fakes.prediction_servers import FakeGamma, FakeKalshi

from perpbot.clock import MINUTE_MS
from perpbot.config import PredictionConfig, PredictionMarket
from perpbot.data.db import Store
from perpbot.models import PredictionSnapshot
from perpbot.errors import ConfigError
from perpbot.signals.prediction import (
    Regime,
    RegimeClassifier,
    apply_hysteresis,
    fixed_regime,
    regime_report,
)

T0 = 1_704_067_200_000
UP = PredictionMarket(source="polymarket", id="recession", weight=3.0, direction="risk_up")
DOWN = PredictionMarket(source="kalshi", id="BTC-ABOVE", weight=1.0, direction="risk_down")


def cfg(*markets: PredictionMarket, **kw) -> PredictionConfig:
    return PredictionConfig(markets=list(markets) or [UP], **kw)


def snap(p: float | None, at: int = T0, market: PredictionMarket = UP, status: str = "ok") -> PredictionSnapshot:
    return PredictionSnapshot(market.source, market.id, f"{market.id}?", p, status, at, "")


def test_weighted_score_turns_risk_down_markets_around():
    c = RegimeClassifier(cfg(UP, DOWN))
    state = c.update([snap(0.2), snap(0.4, market=DOWN)], T0)
    assert state.score == pytest.approx((3 * 0.2 + 1 * 0.6) / 4)
    assert state.regime is Regime.NORMAL and not state.stale and state.size_factor == 1.0
    contributions = {r.market_id: r.contribution for r in c.readings}
    assert contributions == pytest.approx({"recession": 0.15, "BTC-ABOVE": 0.15})
    assert sum(contributions.values()) == pytest.approx(state.score)


def test_thresholds_map_to_regimes_and_size_factors():
    c = RegimeClassifier(cfg(elevated_size_factor=0.5, crisis_size_factor=0.1))
    state = c.update([snap(0.45)], T0)
    assert (state.regime, state.size_factor) == (Regime.ELEVATED, 0.5)
    assert c.state is state
    state = c.update([snap(0.75, T0 + 1)], T0 + 1)
    assert (state.regime, state.size_factor) == (Regime.CRISIS, 0.1)


def test_hysteresis_holds_a_regime_until_the_score_is_well_back():
    c = RegimeClassifier(cfg(hysteresis=0.05))  # elevated 0.4, crisis 0.7
    path = [(0.72, "CRISIS"), (0.68, "CRISIS"), (0.66, "CRISIS"), (0.64, "ELEVATED"), (0.38, "ELEVATED"),
            (0.36, "ELEVATED"), (0.34, "NORMAL"), (0.39, "NORMAL"), (0.41, "ELEVATED")]
    seen = [c.update([snap(p, T0 + i)], T0 + i).regime.value for i, (p, _) in enumerate(path)]
    assert seen == [want for _, want in path]


def test_hysteresis_can_drop_two_levels_at_once():
    c = cfg(hysteresis=0.05)
    assert apply_hysteresis(Regime.CRISIS, 0.1, c) is Regime.NORMAL
    assert apply_hysteresis(Regime.CRISIS, 0.37, c) is Regime.ELEVATED  # within elevated's band
    assert apply_hysteresis(Regime.NORMAL, 0.9, c) is Regime.CRISIS


def test_stale_snapshot_falls_back_to_the_default_regime(caplog):
    c = RegimeClassifier(cfg(max_age_minutes=120, default_regime="ELEVATED"))
    assert c.update([snap(0.9)], T0).regime is Regime.CRISIS
    fresh = c.update([snap(0.9)], T0 + 120 * MINUTE_MS)
    assert fresh.regime is Regime.CRISIS and not fresh.stale
    with caplog.at_level(logging.INFO, logger="perpbot.signals.prediction"):
        state = c.update([snap(0.9)], T0 + 121 * MINUTE_MS)
    assert state.regime is Regime.ELEVATED and state.stale and state.score is None
    assert "no fresh prediction data" in state.reason and "stale" in state.reason
    assert {"regime_change", "regime_stale"} <= {r.getMessage() for r in caplog.records}


def test_a_failing_source_holds_the_last_good_value_then_the_default():
    c = RegimeClassifier(cfg(max_age_minutes=60))
    assert c.update([snap(0.8)], T0).regime is Regime.CRISIS
    failing = [snap(0.8), snap(None, T0 + 15 * MINUTE_MS, status="error")]
    held = c.update(failing, T0 + 15 * MINUTE_MS)
    assert held.regime is Regime.CRISIS and held.stale and held.score == pytest.approx(0.8)
    assert c.readings[0].status == "held" and "error" in held.reason
    gone = c.update(failing + [snap(None, T0 + 61 * MINUTE_MS, status="error")], T0 + 61 * MINUTE_MS)
    assert gone.regime is Regime.NORMAL and gone.stale  # default_regime NORMAL


def test_a_closed_market_is_never_read_as_a_signal():
    c = RegimeClassifier(cfg(max_age_minutes=60))
    c.update([snap(0.1)], T0)
    state = c.update([snap(1.0, T0 + MINUTE_MS, status="closed")], T0 + MINUTE_MS)
    assert state.score == pytest.approx(0.1) and state.regime is Regime.NORMAL and state.stale


def test_one_dead_market_leaves_the_score_to_the_live_ones():
    c = RegimeClassifier(cfg(UP, DOWN))
    state = c.update([snap(0.5), snap(None, market=DOWN, status="missing")], T0)
    assert state.score == pytest.approx(0.5) and state.regime is Regime.ELEVATED
    assert state.stale and "kalshi:BTC-ABOVE missing" in state.reason
    assert [r.status for r in c.readings] == ["ok", "missing"]


def test_recovery_clears_the_stale_flag(caplog):
    c = RegimeClassifier(cfg())
    c.update([], T0)
    with caplog.at_level(logging.INFO, logger="perpbot.signals.prediction"):
        state = c.update([snap(0.1, T0 + 1)], T0 + 1)
    assert not state.stale
    assert "regime_fresh" in [r.getMessage() for r in caplog.records]


def test_snapshots_from_the_future_are_ignored():
    c = RegimeClassifier(cfg())
    state = c.update([snap(0.1, T0), snap(0.95, T0 + MINUTE_MS)], T0)
    assert state.score == pytest.approx(0.1)


def test_no_markets_configured_is_the_default_and_not_stale():
    state = RegimeClassifier(PredictionConfig(default_regime="ELEVATED", elevated_size_factor=0.25)).update([], T0)
    assert (state.regime, state.size_factor, state.stale) == (Regime.ELEVATED, 0.25, False)
    assert "no prediction markets configured" in state.reason


def test_fixed_regime_and_bad_names():
    state = fixed_regime("crisis", PredictionConfig(crisis_size_factor=0.0))
    assert (state.regime, state.score, state.size_factor, state.stale) == (Regime.CRISIS, None, 0.0, False)
    with pytest.raises(ConfigError, match="unknown regime"):
        fixed_regime("PANIC", PredictionConfig())


def test_regime_report_is_plain_json():
    c = RegimeClassifier(cfg(UP, DOWN))
    state = c.update([snap(0.3, T0 - 90_000)], T0)
    report = json.loads(json.dumps(regime_report(state, c.readings, c.cfg)))
    assert report["regime"] == "NORMAL" and report["score"] == pytest.approx(0.3)
    assert report["markets"][0]["age_s"] == 90.0 and report["markets"][1]["status"] == "none"
    assert report["thresholds"] == {"elevated": 0.4, "crisis": 0.7, "hysteresis": 0.05}


# --- perpbot regime ------------------------------------------------------------------------


def run_cli(tmp_path, prediction: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"db_path": "bot.db"}, "prediction": prediction}))
    return subprocess.run([sys.executable, "-m", "perpbot.cli", "--config", str(config), "regime", *extra],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "200"})  # a wide table: no wrapped headers


@pytest.fixture
def servers():
    with FakeGamma() as gamma, FakeKalshi() as kalshi:
        gamma.add("us-recession-in-2025", "516710", "US recession in 2025?", 0.8)
        kalshi.add("KXBTC-ABOVE", "BTC above 100k?", 18, 22)  # risk_down: risk 0.8
        yield gamma, kalshi


def test_regime_json_polls_stores_and_classifies(tmp_path, servers):
    gamma, kalshi = servers
    prediction = {"enabled": True, "polymarket_url": gamma.url, "kalshi_url": kalshi.url, "max_retries": 0,
                  "markets": [{"source": "polymarket", "id": "us-recession-in-2025", "weight": 1.0},
                              {"source": "kalshi", "id": "KXBTC-ABOVE", "direction": "risk_down"},
                              {"source": "kalshi", "id": "KXGONE"}]}
    proc = run_cli(tmp_path, prediction, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["regime"] == "CRISIS" and report["score"] == pytest.approx(0.8) and report["stale"]
    assert [m["status"] for m in report["markets"]] == ["ok", "ok", "missing"]
    store = Store(tmp_path / "bot.db")
    assert len(store.latest_snapshots()) == 3
    store.close()


def test_regime_table_names_every_column(tmp_path, servers):
    gamma, kalshi = servers
    prediction = {"polymarket_url": gamma.url, "kalshi_url": kalshi.url,
                  "markets": [{"source": "polymarket", "id": "us-recession-in-2025"}]}
    proc = run_cli(tmp_path, prediction)
    assert proc.returncode == 0, proc.stderr
    for word in ("source", "market", "question", "probability", "age", "contribution", "0.800",
                 "US recession in 2025?", "regime CRISIS", "prediction.enabled is false"):
        assert word in proc.stdout


def test_regime_without_markets_says_so_and_exits_zero(tmp_path):
    proc = run_cli(tmp_path, {"default_regime": "NORMAL"})
    assert proc.returncode == 0
    assert "No prediction markets configured" in proc.stdout and "NORMAL" in proc.stdout
    as_json = json.loads(run_cli(tmp_path, {}, "--json").stdout)
    assert as_json["markets"] == [] and as_json["regime"] == "NORMAL"
