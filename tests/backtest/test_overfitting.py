"""Deflated Sharpe ratio and PBO (CSCV) against published worked examples and seeded data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perpbot.backtest.overfitting import (
    cscv_pbo,
    deflated_sharpe,
    expected_max_sharpe,
    overfitting_stats,
    probabilistic_sharpe,
)

# Bailey and Lopez de Prado (2014), pp. 9-10, the example also asserted by esvhd/pypbo tests/test_pbo.py:
# annual SR 2.5 over 250 periods a year, annual variance of the trials' SR 0.5, N = 100 trials,
# T = 1250 returns, skewness -3, raw kurtosis 10. The paper prints SR0 = 0.1132 and DSR = 0.9004.
PAPER = {"sr": 2.5 / math.sqrt(250), "var_sr": 0.5 / 250, "n": 100, "t": 1250, "skew": -3.0, "kurt": 10.0}


def test_dsr_reproduces_the_papers_worked_example():
    p = PAPER
    assert expected_max_sharpe(p["n"], p["var_sr"]) == pytest.approx(0.113172, abs=5e-7)
    dsr = deflated_sharpe(p["sr"], p["t"], p["skew"], p["kurt"], p["n"], p["var_sr"])
    assert round(dsr, 3) == 0.900
    assert dsr == pytest.approx(0.90039683444939034, abs=1e-9)  # pypbo's assertion


@pytest.mark.parametrize("n, skew, kurt, expected", [
    (46, -3.0, 10.0, 0.950502),  # the paper: 0.9505
    (88, 0.0, 3.0, 0.950491),  # normal returns survive to N = 88
    (89, 0.0, 3.0, 0.949839),
])
def test_dsr_neighbouring_values(n, skew, kurt, expected):
    assert deflated_sharpe(PAPER["sr"], 1250, skew, kurt, n, PAPER["var_sr"]) == pytest.approx(expected, abs=1e-6)


def test_excess_kurtosis_would_be_wrong():
    p = PAPER
    wrong = deflated_sharpe(p["sr"], p["t"], p["skew"], 7.0, p["n"], p["var_sr"])
    assert wrong == pytest.approx(0.901779, abs=1e-6)


def test_psr_vectors():
    # pypbo test_psr ("The Sharpe Ratio Efficient Frontier") and mlfinlab's PSR test.
    assert probabilistic_sharpe(1.585 / math.sqrt(12), 0.0, 24, -2.448, 10.164) == pytest.approx(0.913234, abs=1e-6)
    assert probabilistic_sharpe(1.14, 1.0, 250, 0.0, 3.0) == pytest.approx(0.957278, abs=1e-6)
    # mlfinlab's DSR: trial SRs [3.5, 1.01, 1.02] with np.std (ddof=0) and N = 3.
    var = float(np.var([3.5, 1.01, 1.02]))
    assert deflated_sharpe(1.14, 250, 0.0, 3.0, 3, var) == pytest.approx(0.958366, abs=1e-6)


def test_one_trial_is_not_deflated():
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert deflated_sharpe(0.1, 100, 0.0, 3.0, 1, 0.0) == probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0)


BASE = [.010, -.004, .003, -.007, .006, .001, -.002, .005, -.003, .008, -.006, .002, .004, -.001, .007, -.005]


def test_pbo_vector_a_all_logits_ln5():
    m = np.column_stack([np.array(BASE) + 0.001 * k for k in range(5)])
    pbo, logits = cscv_pbo(m, 4)
    assert pbo == 0.0 and len(logits) == 6 and np.allclose(logits, math.log(5))


def test_pbo_vector_b_is_one():
    a = [.02, 0, .03, .01, -.01, .01, -.02, 0]
    b = [-.01, 0, -.02, .01, .01, .02, .04, 0]
    pbo, logits = cscv_pbo(np.column_stack([a, b]), 2)
    assert pbo == 1.0 and np.allclose(logits, math.log(0.5))


def test_pbo_vector_c_noise_and_d_planted_edge():
    noise = np.random.RandomState(42).normal(0, 0.01, (1600, 40))
    assert noise[0, :3] == pytest.approx([0.00496714, -0.00138264, 0.00647689], abs=1e-8)
    pbo, logits = cscv_pbo(noise, 16)
    assert len(logits) == 12_870
    assert pbo == pytest.approx(0.833333, abs=1e-6)  # 10,725 of 12,870
    assert float(np.median(logits)) == pytest.approx(-0.767255, abs=1e-6)
    edge = noise.copy()
    edge[:, :4] += 0.002
    assert cscv_pbo(edge, 16)[0] == 0.0


def test_pbo_is_about_half_on_noise_and_near_zero_with_an_edge():
    noise_pbos, edge_pbos = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        m = rng.normal(0.0, 0.01, (800, 30))
        noise_pbos.append(cscv_pbo(m, 10)[0])
        m[:, 7] += 0.003  # one candidate with a real edge
        edge_pbos.append(cscv_pbo(m, 10)[0])
    assert 0.35 <= float(np.mean(noise_pbos)) <= 0.65
    assert max(edge_pbos) <= 0.02


def test_pbo_errors():
    with pytest.raises(ValueError, match="even"):
        cscv_pbo(np.zeros((100, 3)), 5)
    with pytest.raises(ValueError, match="at least 2 distinct"):
        cscv_pbo(np.zeros((100, 1)), 4)
    with pytest.raises(ValueError, match="too few"):
        cscv_pbo(np.zeros((10, 3)), 16)


def test_stats_count_identical_trials_once_and_fit_partitions():
    rng = np.random.default_rng(3)
    m = rng.normal(0.0005, 0.01, (40, 6))
    m[:, 5] = m[:, 4]  # identical trades, identical returns
    ids = ["a", "b", "c", "d", "e", "e"]
    stats = overfitting_stats(m[:, 2], m, ids, partitions=16)
    assert stats.trials == 6 and stats.distinct_trials == 5
    assert stats.partitions == 16 and stats.splits == 12_870
    short = overfitting_stats(m[:20, 2], m[:20], ids, partitions=16)
    assert short.partitions == 10  # 20 periods: 2 per block at most
    assert "PBO over 10 partitions, not the 16 asked: 20 periods" in short.sentence()  # said, not silent
    assert "partitions" not in stats.note
    tiny = overfitting_stats(m[:6, 2], m[:6], ids, partitions=16)  # S = 2 would be two mirrored splits
    assert tiny.pbo is None and tiny.partitions is None
    assert "no PBO: 6 periods are too few for CSCV (8 at least" in tiny.sentence()
    assert stats.returns == 40 and stats.kurtosis is not None and stats.kurtosis > 0
    srs = [m[:, j].mean() / m[:, j].std(ddof=1) for j in range(5)]
    assert stats.sharpe_variance == pytest.approx(float(np.var(srs, ddof=1)))
    assert "distinct trials" in stats.sentence() and "PBO" in stats.sentence()


def test_stats_without_variance_say_why():
    flat = np.zeros((30, 1))
    stats = overfitting_stats(flat[:, 0], flat, None)
    assert stats.dsr is None and stats.pbo is None
    assert stats.sentence().startswith("Overfitting statistics unavailable")
