"""Provides the indicator benchmark: each indicator next to TA-Lib and to the code before issue 20.

On 525,600 seeded 1m-like bars (a year), best of --runs with every variant timed in turn:
* ours: the compiled kernels (numba, perpbot/signals/kernels.py, loaded beforehand);
* numpy: our numpy path (perpbot/signals/vectorised.py), which small inputs take in a process
  that has not loaded numba;
* before: perpbot/signals/indicators.py as it was at --before (default: the last commit before
  this work), exported with `git archive` and imported on its own (it needs only numpy);
* TA-Lib (bench-only peer, in the test extra; skipped with a note when missing).
Then the costs in fresh processes (`python -c`, import included), now and before: importing
the signal engine, the first `compute_indicators` on the live window and on a year, and
loading numba with the cached kernels. Then the peak memory of indicators + signal pass.
Targets (issue 20): rsi, adx and bollinger each <= 2x TA-Lib, Hurst <= 50 ms, all five <= 80 ms.
Run: python bench/indicators.py [--rows 525600] [--runs 7] [--before REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perpbot.config import StrategyConfig  # noqa: E402
from perpbot.signals import indicators as ind  # noqa: E402
from perpbot.signals.engine import compute_indicators, required_lookback, signal_arrays  # noqa: E402

BEFORE_REV = "0cf377f"  # the last commit before issue 20's indicator work
TALIB_RATIO = 2.0
TARGET_HURST_S = 0.050
TARGET_ALL_S = 0.080
TARGET_PASS_S = 0.050
TARGET_PEAK_MB = 300.0
FRESH_RUNS = 5


def candles(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded geometric random walk (1m-like volatility) with wicks."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, rows)))
    wick = np.abs(rng.normal(0.0, 3e-4, (2, rows)))
    return close * (1 + wick[0]), close * (1 - wick[1]), close


def best_of_each(runs: int, fns: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Seconds per variant, the best of `runs`, the variants timed in turn (load spikes hit all)."""
    best = {name: float("inf") for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def export_before(rev: str, into: Path) -> Path | str:
    """perpbot/ at `rev`, extracted under `into`; or why not."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "perpbot"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"before: skipped (git archive {rev} failed: {exc})"
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def warm_figures(args: argparse.Namespace, before: ModuleType | None, talib: ModuleType | None) -> None:
    p = StrategyConfig()
    high, low, close = candles(args.rows, args.seed)
    ind.preload_compiled()
    ours: dict[str, Callable[[], Any]] = {
        f"zscore(window={p.window})": lambda: ind.zscore(close, p.window),
        f"bollinger(window={p.window}, {p.bb_std})": lambda: ind.bollinger(close, p.window, p.bb_std),
        f"rsi(period={p.rsi_period})": lambda: ind.rsi(close, p.rsi_period),
        f"adx(period={p.adx_period})": lambda: ind.adx(high, low, close, p.adx_period),
        f"hurst(window={p.hurst_window})": lambda: ind.hurst(close, p.hurst_window),
    }
    old: list[Callable[[], Any] | None] = [None] * 5
    if before is not None:
        old = [lambda: before.zscore(close, p.window), lambda: before.bollinger(close, p.window, p.bb_std),
               lambda: before.rsi(close, p.rsi_period), lambda: before.adx(high, low, close, p.adx_period),
               lambda: before.hurst(close, p.hurst_window)]
    peer: list[Callable[[], Any] | None] = [None] * 5
    if talib is not None:
        peer = [None, lambda: talib.BBANDS(close, p.window, p.bb_std, p.bb_std), lambda: talib.RSI(close, p.rsi_period),
                lambda: talib.ADX(high, low, close, p.adx_period), None]

    def numpy_path(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with ind.use_path("numpy"):
                return fn()
        return run

    print(f"{'':<30} {'ours':>10} {'numpy':>10} {'before':>10} {'TA-Lib':>10}")
    totals = {"ours": 0.0, "numpy": 0.0, "before": 0.0}
    for (label, fn), old_fn, peer_fn in zip(ours.items(), old, peer):
        variants = {"ours": fn, "numpy": numpy_path(fn)}
        variants |= {"before": old_fn} if old_fn else {}
        variants |= {"talib": peer_fn} if peer_fn else {}
        t = best_of_each(args.runs, variants)
        for key in totals:
            totals[key] += t.get(key, 0.0)
        verdict = ""
        if "talib" in t:
            ratio = t["ours"] / t["talib"]
            verdict = f"<= {TALIB_RATIO:.0f}x TA-Lib: {'ok' if ratio <= TALIB_RATIO else 'OVER TARGET'} ({ratio:.2f}x)"
        elif label.startswith("hurst"):
            verdict = f"<= {TARGET_HURST_S * 1000:.0f} ms: {'ok' if t['ours'] <= TARGET_HURST_S else 'OVER TARGET'}"
        print(f"{label:<30} {ms(t['ours']):>10} {ms(t['numpy']):>10} {ms(t.get('before')):>10} "
              f"{ms(t.get('talib')):>10}   {verdict}")
    all_ok = "ok" if totals["ours"] <= TARGET_ALL_S else "OVER TARGET"
    print(f"{'all five, one call each':<30} {ms(totals['ours']):>10} {ms(totals['numpy']):>10} "
          f"{ms(totals['before'] if before else None):>10} {'':>10}   <= {TARGET_ALL_S * 1000:.0f} ms: {all_ok}")
    together = {"ours": lambda: compute_indicators(high, low, close, p),
                "numpy": numpy_path(lambda: compute_indicators(high, low, close, p))}
    if before is not None:  # the old compute_indicators: one z/bands pass, then rsi, adx, hurst
        together["before"] = lambda: (before.zscore_bands(close, p.window, p.bb_std), before.rsi(close, p.rsi_period),
                                      before.adx(high, low, close, p.adx_period), before.hurst(close, p.hurst_window))
    t = best_of_each(args.runs, together)
    print(f"{'compute_indicators':<30} {ms(t['ours']):>10} {ms(t['numpy']):>10} {ms(t.get('before')):>10}")
    indicators = compute_indicators(high, low, close, p)
    pass_s = best_of_each(args.runs, {"ours": lambda: signal_arrays(indicators, close, p)})["ours"]
    verdict = "ok" if pass_s <= TARGET_PASS_S else "OVER TARGET"
    print(f"{'signal_arrays (vectorised pass)':<30} {ms(pass_s):>10}   <= {TARGET_PASS_S * 1000:.0f} ms: {verdict}")
    memory(high, low, close, p)


def memory(high: np.ndarray, low: np.ndarray, close: np.ndarray, p: StrategyConfig) -> None:
    tracemalloc.start()
    signal_arrays(compute_indicators(high, low, close, p), close, p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 1e6
    # ru_maxrss is KiB on Linux, bytes on macOS
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)
    verdict = "ok" if peak_mb <= TARGET_PEAK_MB else "OVER TARGET"
    print(f"{'peak traced memory (ind.+pass)':<30} {peak_mb:7.1f} MB   target <= {TARGET_PEAK_MB:.0f} MB: {verdict}")
    print(f"{'process max RSS (incl. inputs)':<30} {rss_mb:7.1f} MB")


FRESH = r'''
import sys, time
t0 = time.perf_counter()
import numpy as np
from perpbot.config import StrategyConfig
from perpbot.signals import indicators as ind
from perpbot.signals.engine import compute_indicators
t1 = time.perf_counter()
rows, preload = int(sys.argv[1]), sys.argv[2] == "preload"
rng = np.random.default_rng(1)
c = 30000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, rows)))
t2 = time.perf_counter()
if preload:
    ind.preload_compiled()
t3 = time.perf_counter()
compute_indicators(c * 1.0003, c * 0.9997, c, StrategyConfig())
t4 = time.perf_counter()
print(t1 - t0, t3 - t2, t4 - t3, "numba" in sys.modules)
'''


def fresh(roots: dict[str, Path | None], rows: int, preload: bool) -> dict[str, tuple[float, float, float, bool]]:
    """Per package root (None: this checkout): (import s, preload s, first compute_indicators s,
    numba loaded) in a new process, the best of FRESH_RUNS, the roots run in turn."""
    best: dict[str, tuple[float, float, float, bool]] = {}
    for _ in range(FRESH_RUNS):
        for name, root in roots.items():
            env = {**os.environ, "PYTHONPATH": str(root)} if root else dict(os.environ)
            out = subprocess.run([sys.executable, "-c", FRESH, str(rows), "preload" if preload else "auto"],
                                 capture_output=True, text=True, check=True, env=env, cwd=tempfile.gettempdir())
            a, b, c, loaded = out.stdout.split()
            run = (float(a), float(b), float(c), loaded == "True")
            if name not in best or sum(run[:3]) < sum(best[name][:3]):
                best[name] = run
    return best


def fresh_figures(args: argparse.Namespace, before_root: Path | None) -> None:
    live = required_lookback(StrategyConfig())
    roots: dict[str, Path | None] = {"now": None} | ({"before": before_root} if before_root else {})
    print(f"\nfresh process, first call after the imports (best of {FRESH_RUNS}):{'now':>12} {'before':>10}")
    for n in (live, args.rows):
        t = fresh(roots, n, False)
        old = t.get("before")
        if n == live:
            print(f"  {'import perpbot.signals.engine':<50} {ms(t['now'][0]):>10} {ms(old[0] if old else None):>10}"
                  f"   numba loaded after the call: {'yes' if t['now'][3] else 'no'}")
        label = f"compute_indicators, live window ({live} bars)" if n == live else f"compute_indicators, {n:,} bars"
        print(f"  {label:<50} {ms(t['now'][2]):>10} {ms(old[2] if old else None):>10}"
              f"   ({'compiled' if t['now'][3] else 'numpy'} path)")
    now = fresh({"now": None}, args.rows, True)["now"]
    print(f"  {'preload_compiled (numba + cached kernels)':<50} {ms(now[1]):>10} {'-':>10}")
    print(f"  {f'compute_indicators, {args.rows:,} bars, after it':<50} {ms(now[2]):>10} {'-':>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600, help="bars (default: a year of 1m candles)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (the best is shown)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", default=BEFORE_REV, help=f"git revision of the 'before' figures ({BEFORE_REV})")
    args = parser.parse_args()
    try:
        import talib
    except ImportError:
        talib = None
        print("TA-Lib: not installed (pip install TA-Lib, in the test extra): peer figures skipped")
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_before(args.before, Path(tmp))
        before = None
        if isinstance(exported, str):
            print(exported)
        else:
            before = load_module(exported / "perpbot" / "signals" / "indicators.py", "indicators_before")
        peer = f", TA-Lib {talib.__version__}" if talib else ""
        print(f"{args.rows:,} rows, best of {args.runs} runs; ours = compiled kernels, numpy = our numpy path, "
              f"before = {args.before}{peer}")
        warm_figures(args, before, talib)
        fresh_figures(args, exported if before is not None else None)


if __name__ == "__main__":
    main()
