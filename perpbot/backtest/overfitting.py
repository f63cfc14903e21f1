"""Provides the overfitting statistics of a parameter search: deflated Sharpe ratio and PBO by CSCV.

Deflated Sharpe ratio (Bailey and Lopez de Prado, 2014): the probability that the selected
result's true Sharpe ratio is above what the best of N independent unskilled trials would show
by luck. Every input is per period (here: per UTC day), never annualised; kurtosis is raw
(Pearson, 3 for a normal distribution); skewness and kurtosis are the population moments
(bias=True, as scipy's defaults); the trials' Sharpe variance uses ddof=1 (as pypbo).

Probability of backtest overfitting (Bailey, Borwein, Lopez de Prado and Zhu, 2015): split the
T x N matrix of the trials' per-period returns into S contiguous blocks, and for every way of
taking S/2 blocks as in-sample (the rest out-of-sample) see where the in-sample best trial ranks
out of sample; PBO is the share of splits where it lands at or below the median. The metric is
the per-period Sharpe ratio (a column with no variance scores 0). See
/work/shared/research/overfitting.md for the worked examples the tests reproduce.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["DEFAULT_PARTITIONS", "Overfitting", "cscv_pbo", "deflated_sharpe", "expected_max_sharpe",
           "overfitting_stats", "pooled_overfitting", "probabilistic_sharpe", "sharpe_ratio"]

DEFAULT_PARTITIONS = 16  # the paper's "reasonable value to use in most cases": C(16, 8) = 12,870 splits
DSR_BAR = 0.95  # the usual 5 % bar for the deflated Sharpe ratio
PBO_BAR = 0.05  # the paper's own rejection rule: reject when PBO > 0.05
_N = NormalDist()


def sharpe_ratio(returns: np.ndarray) -> float:
    """Per-period Sharpe ratio mean/std (ddof=1); 0.0 for fewer than 2 returns or no variance."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else 0.0


def probabilistic_sharpe(sr: float, sr_star: float, t: int, skew: float, kurt: float) -> float:
    """P(true SR > sr_star) given an observed per-period SR over t returns with that skew and raw kurtosis."""
    denominator = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if t < 2 or denominator <= 0:
        return math.nan
    return _N.cdf((sr - sr_star) * math.sqrt(t - 1) / math.sqrt(denominator))


def expected_max_sharpe(n_trials: float, var_sr: float) -> float:
    """SR0: the expected best per-period Sharpe of n unskilled trials whose Sharpe variance is var_sr.

    n = 1 gives 0 (no search, nothing to deflate), where the formula's Phi^-1(0) would be -inf.
    """
    if n_trials <= 1 or var_sr <= 0:
        return 0.0
    g = 0.5772156649015329  # Euler-Mascheroni
    return math.sqrt(var_sr) * ((1 - g) * _N.inv_cdf(1 - 1 / n_trials) + g * _N.inv_cdf(1 - 1 / (n_trials * math.e)))


def deflated_sharpe(sr: float, t: int, skew: float, kurt: float, n_trials: float, var_sr: float) -> float:
    """The deflated Sharpe ratio: PSR against SR0 of the search (all per period, kurt raw)."""
    return probabilistic_sharpe(sr, expected_max_sharpe(n_trials, var_sr), t, skew, kurt)


def _block_sharpes(stats: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Per-column Sharpe (ddof=1) of the rows in the chosen blocks; stats = (count, sum, sum sq) per block."""
    n, s, q = (chosen @ stats[k] for k in range(3))  # (splits, N) each
    mean = s / n
    var = (q - n * mean * mean) / (n - 1)
    sd = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 1e-15 * np.maximum(np.abs(mean), 1e-300), mean / sd, 0.0)
    return out


def cscv_pbo(matrix: np.ndarray, partitions: int = DEFAULT_PARTITIONS) -> tuple[float, np.ndarray]:
    """PBO of a T x N matrix of per-period returns (rows in time order, one column per trial).

    The first T % S rows are dropped (as pypbo does); each of the C(S, S/2) splits gives one logit
    ln(w / (1 - w)), w = rank / (N + 1) of the in-sample best column's out-of-sample Sharpe
    (average ranks on ties, first column on an in-sample tie).

    Returns:
        (PBO, the logits).

    Raises:
        ValueError: S odd or below 2, fewer than 2 columns, or fewer than 2 rows per block.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if partitions < 2 or partitions % 2:
        raise ValueError(f"the number of partitions must be even and at least 2 (got {partitions})")
    t, n = m.shape
    if n < 2:
        raise ValueError("PBO needs at least 2 distinct trials")
    rows = t // partitions
    if rows < 2:
        raise ValueError(f"{t} periods are too few for {partitions} partitions (2 per partition at least)")
    blocks = m[t - rows * partitions:].reshape(partitions, rows, n)
    stats = np.stack([np.full((partitions, n), float(rows)), blocks.sum(axis=1), (blocks * blocks).sum(axis=1)])
    combos = list(itertools.combinations(range(partitions), partitions // 2))
    chosen = np.zeros((len(combos), partitions))
    for i, c in enumerate(combos):
        chosen[i, list(c)] = 1.0
    in_sample = _block_sharpes(stats, chosen)
    out_sample = _block_sharpes(stats, 1.0 - chosen)
    best = np.argmax(in_sample, axis=1)
    picked = out_sample[np.arange(len(combos)), best][:, None]
    rank = (out_sample < picked).sum(axis=1) + ((out_sample == picked).sum(axis=1) + 1) / 2.0
    w = rank / (n + 1)
    logits = np.log(w / (1 - w))
    return float(np.mean(logits <= 0)), logits


@dataclass(frozen=True, slots=True)
class Overfitting:
    """The overfitting figures of one search, as the CLI, the JSON and the dashboard show them."""

    dsr: float | None  # deflated Sharpe ratio of the selected result (a probability)
    sharpe: float | None  # its per-period (daily) Sharpe ratio, not annualised
    returns: int  # the number of per-period returns it was measured on
    skewness: float | None
    kurtosis: float | None  # raw (Pearson): 3 for normal returns
    trials: int  # every combination or trial that ran
    distinct_trials: int  # combinations with identical trades count once
    sharpe_variance: float | None  # variance (ddof=1) of the distinct trials' per-period Sharpe ratios
    expected_max_sharpe: float | None  # SR0, the best per-period Sharpe luck alone would give
    pbo: float | None  # probability of backtest overfitting (CSCV)
    partitions: int | None  # S used for CSCV
    splits: int  # C(S, S/2) combinations evaluated
    period: str = "day"
    note: str = ""  # why a figure is missing

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Overfitting":
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw})  # type: ignore[arg-type]

    def sentence(self) -> str:
        """One plain sentence on what the figures mean."""
        parts = []
        if self.dsr is not None:
            verdict = "clears" if self.dsr >= DSR_BAR else "falls short of"
            parts.append(f"after {self.distinct_trials} distinct trial{'s' if self.distinct_trials != 1 else ''}, "
                         f"the chosen result has a {self.dsr:.1%} probability of a real edge (deflated Sharpe ratio; "
                         f"it {verdict} the usual {DSR_BAR:.2f} bar)")
        if self.pbo is not None:
            judged = "the search probably picks noise" if self.pbo >= 0.5 else (
                "the choice looks robust" if self.pbo <= PBO_BAR else "some of the choice is luck")
            parts.append(f"the in-sample winner did worse than the median out of sample in {self.pbo:.1%} of "
                         f"{self.splits:,} splits (PBO: {judged})")
        if not parts:
            return f"Overfitting statistics unavailable: {self.note or 'not enough data'}."
        if self.note:
            parts.append(self.note if self.pbo is not None else f"no PBO: {self.note}")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."


def _moments(r: np.ndarray) -> tuple[float, float]:
    """Population skewness and raw kurtosis (bias=True); NaN without variance."""
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 <= 0:
        return math.nan, math.nan
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def overfitting_stats(selected: np.ndarray, trials: np.ndarray, trial_ids: list[Any] | None = None,
                      partitions: int = DEFAULT_PARTITIONS) -> Overfitting:
    """The figures of a search whose trials' per-period returns are the columns of `trials`.

    Args:
        selected: the chosen result's per-period returns (a trial's column, or an out-of-sample series).
        trials: T x M per-period returns of every trial that ran, rows aligned in time.
        trial_ids: one key per column; columns with equal keys (identical trades) count once.
        partitions: S for CSCV; lowered to the largest even S that leaves 2 periods per block.
    """
    sel = np.asarray(selected, dtype=np.float64)
    m = np.asarray(trials, dtype=np.float64).reshape(len(trials), -1) if len(trials) else np.empty((0, 0))
    keep = _distinct(m.shape[1], trial_ids)
    distinct = m[:, keep]
    srs = np.array([sharpe_ratio(distinct[:, j]) for j in range(distinct.shape[1])])
    var = float(srs.var(ddof=1)) if len(srs) > 1 else 0.0
    sr = sharpe_ratio(sel)
    skew, kurt = _moments(sel) if len(sel) > 1 else (math.nan, math.nan)
    notes = []
    dsr = None
    if len(sel) < 2 or not math.isfinite(skew):
        notes.append("the chosen result's returns have no variance (no trades?)")
    else:
        dsr = deflated_sharpe(sr, len(sel), skew, kurt, len(keep), var)
    pbo, used, splits = None, None, 0
    if len(keep) < 2:
        notes.append("PBO needs at least 2 distinct trials")
    else:
        used = _fit_partitions(partitions, distinct.shape[0])
        if used is None:
            notes.append(f"{distinct.shape[0]} periods are too few for CSCV ({2 * MIN_PARTITIONS} at least: "
                         f"{MIN_PARTITIONS} partitions of 2)")
        else:
            pbo, logits = cscv_pbo(distinct, used)
            splits = len(logits)
            if used < partitions:
                notes.append(f"PBO over {used} partitions, not the {partitions} asked: {distinct.shape[0]} periods "
                             "leave at least 2 per partition only so")
    return Overfitting(dsr=_finite(dsr), sharpe=_finite(sr) if len(sel) > 1 else None, returns=len(sel),
                       skewness=_finite(skew), kurtosis=_finite(kurt), trials=m.shape[1], distinct_trials=len(keep),
                       sharpe_variance=var if len(srs) > 1 else None,
                       expected_max_sharpe=expected_max_sharpe(len(keep), var), pbo=pbo, partitions=used,
                       splits=splits, note="; ".join(notes))


def _distinct(n: int, ids: list[Any] | None) -> list[int]:
    if ids is None:
        return list(range(n))
    seen: dict[Any, int] = {}
    for j, key in enumerate(ids[:n]):
        seen.setdefault(key, j)
    return sorted(seen.values())


MIN_PARTITIONS = 4
"""Below this CSCV has too few splits to mean anything (S = 2 is two splits, each the other's mirror)."""


def _fit_partitions(wanted: int, periods: int) -> int | None:
    """The largest even S <= wanted that leaves 2 periods per block; None below MIN_PARTITIONS."""
    s = wanted - wanted % 2
    while s >= MIN_PARTITIONS and periods // s < 2:
        s -= 2
    return s if s >= MIN_PARTITIONS else None


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def pooled_overfitting(selected: np.ndarray, trial_sharpes: list[float], trials: int, pbos: list[float],
                       partitions: int | None, splits: int) -> Overfitting:
    """The figures of several searches on different ranges (a walk-forward optimisation's windows).

    The trials' Sharpe ratios cannot share one return matrix, so N is every window's distinct
    trials, V their pooled variance, and PBO the mean of the windows' own CSCV estimates.
    """
    sel = np.asarray(selected, dtype=np.float64)
    srs = np.asarray(trial_sharpes, dtype=np.float64)
    var = float(srs.var(ddof=1)) if len(srs) > 1 else 0.0
    sr = sharpe_ratio(sel)
    skew, kurt = _moments(sel) if len(sel) > 1 else (math.nan, math.nan)
    dsr = deflated_sharpe(sr, len(sel), skew, kurt, len(srs), var) if math.isfinite(skew) else None
    pbo = float(np.mean(pbos)) if pbos else None
    note = "" if dsr is not None else "the chosen result's returns have no variance (no trades?)"
    return Overfitting(dsr=_finite(dsr), sharpe=_finite(sr) if len(sel) > 1 else None, returns=len(sel),
                       skewness=_finite(skew), kurtosis=_finite(kurt), trials=trials, distinct_trials=len(srs),
                       sharpe_variance=var if len(srs) > 1 else None,
                       expected_max_sharpe=expected_max_sharpe(len(srs), var), pbo=pbo,
                       partitions=partitions if pbos else None, splits=splits, note=note)
