"""Provides the indicator benchmark: each indicator and the signal pass on a year of 1m candles.

Times (best of --runs) zscore, bollinger, rsi, adx and hurst one by one, the five in one
`compute_indicators` call, and the vectorised `signal_arrays` pass, on 525,600 seeded bars,
then the peak memory of computing everything (tracemalloc, plus the process's max RSS).
Targets: all five <= 0.5 s, rolling Hurst <= 0.3 s, signal pass <= 50 ms, peak <= 300 MB.
Run: python bench/indicators.py [--rows 525600] [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from perpbot.config import StrategyConfig
from perpbot.signals import indicators as ind
from perpbot.signals.engine import compute_indicators, signal_arrays

TARGET_ALL_S = 0.5
TARGET_HURST_S = 0.3
TARGET_PASS_S = 0.050
TARGET_PEAK_MB = 300.0


def candles(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded geometric random walk (1m-like volatility) with wicks."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, rows)))
    wick = np.abs(rng.normal(0.0, 3e-4, (2, rows)))
    return close * (1 + wick[0]), close * (1 - wick[1]), close


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def line(label: str, seconds: float, target: float | None = None) -> str:
    text = f"{label:<34} {seconds * 1000:9.1f} ms"
    if target is not None:
        verdict = "ok" if seconds <= target else "OVER TARGET"
        text += f"   target <= {target * 1000:.0f} ms: {verdict}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600, help="bars (default: a year of 1m candles)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (the best is shown)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    p = StrategyConfig()
    high, low, close = candles(args.rows, args.seed)
    print(f"{args.rows:,} rows, best of {args.runs} runs, default strategy parameters")

    single = {
        f"zscore(window={p.window})": lambda: ind.zscore(close, p.window),
        f"bollinger(window={p.window}, {p.bb_std})": lambda: ind.bollinger(close, p.window, p.bb_std),
        f"rsi(period={p.rsi_period})": lambda: ind.rsi(close, p.rsi_period),
        f"adx(period={p.adx_period})": lambda: ind.adx(high, low, close, p.adx_period),
    }
    total = 0.0
    for label, fn in single.items():
        seconds = best_of(args.runs, fn)
        total += seconds
        print(line(label, seconds))
    hurst_s = best_of(args.runs, lambda: ind.hurst(close, p.hurst_window))
    total += hurst_s
    print(line(f"hurst(window={p.hurst_window})", hurst_s, TARGET_HURST_S))
    print(line("all five, one call each", total, TARGET_ALL_S))
    together = best_of(args.runs, lambda: compute_indicators(high, low, close, p))
    print(line("compute_indicators (z+bands shared)", together, TARGET_ALL_S))
    indicators = compute_indicators(high, low, close, p)
    pass_s = best_of(args.runs, lambda: signal_arrays(indicators, close, p))
    print(line("signal_arrays (vectorised pass)", pass_s, TARGET_PASS_S))

    del indicators
    tracemalloc.start()
    signal_arrays(compute_indicators(high, low, close, p), close, p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 1e6
    # ru_maxrss is KiB on Linux, bytes on macOS
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)
    verdict = "ok" if peak_mb <= TARGET_PEAK_MB else "OVER TARGET"
    print(f"{'peak traced memory (indicators+pass)':<34} {peak_mb:9.1f} MB   target <= {TARGET_PEAK_MB:.0f} MB: {verdict}")
    print(f"{'process max RSS (incl. inputs)':<34} {rss_mb:9.1f} MB")


if __name__ == "__main__":
    main()
