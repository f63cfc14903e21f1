"""Optimisation speed: 200 TPE trials on one symbol, a year of 15m bars, on 2 workers and on Dask.

    python bench/optimize.py [--trials 200] [--workers 2] [--skip-dask]

Prints the wall time of `run_optimize` (trials asked in batches of one per worker, each a
backtest, told back in order) on a local process pool of 2 workers, then the same search
submitted to a Dask LocalCluster of 2 single-threaded worker processes. Target: <= 60 s
each on a 2-core machine. The search space mixes an indicator parameter (window, which
forces a fresh indicator pass per trial) and thresholds (entry_z, exit_z, stop).
Needs the optimize extra (Optuna) and, for the second figure, the dask extra.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perpbot.backtest.optimize import SearchSpec  # noqa: E402
from perpbot.backtest.optimize_run import run_optimize  # noqa: E402
from perpbot.backtest.search_space import parse_space  # noqa: E402
from perpbot.config import build_settings  # noqa: E402
from perpbot.data.db import Store  # noqa: E402
from perpbot.models import FundingRate  # noqa: E402

START_MS = 1_704_067_200_000
STEP = 900_000  # 15m
BARS = 365 * 96
SPACE = ("strategy.entry_z=1.5:3.0", "strategy.exit_z=0.0:1.0", "strategy.window=10:60",
         "risk.stop_loss_pct=0.005:0.05")


def generate(store: Store, n: int, seed: int = 1) -> None:
    """A mean-reverting 15m walk with wicks and hourly funding for BTC."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.004, n)
    x = np.empty(n)
    x[0] = 0.0
    for i in range(1, n):
        x[i] = x[i - 1] * 0.97 + shocks[i]
    close = 30_000.0 * np.exp(x + np.cumsum(rng.normal(0, 0.0003, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.001, n)) * close
    high, low = np.maximum(open_, close) + wick, np.minimum(open_, close) - wick
    t = START_MS + np.arange(n, dtype=np.int64) * STEP
    store.insert_candle_rows(list(zip(["BTC"] * n, ["15m"] * n, t.tolist(), open_.tolist(), high.tolist(),
                                      low.tolist(), close.tolist(), [1.0] * n, [1] * n)))
    hours = range(START_MS, int(t[-1]) + STEP, 3_600_000)
    store.insert_funding(FundingRate("BTC", h, 1e-5) for h in hours)


def timed(label: str, run) -> float:
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    best = ", ".join(f"{k.partition('.')[2]}={v:.4g}" for k, v in result.best_params.items())
    stats = result.overfitting or {}
    print(f"{label:<34} {elapsed:7.1f} s   {len(result.trials)} trials, best sharpe {result.best_value:.2f} ({best}); "
          f"DSR {stats.get('dsr') or 0:.3f}, PBO {stats.get('pbo') or 0:.3f}, {stats.get('distinct_trials')} distinct")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = Store(db)
        try:
            store.migrate()
            generate(store, BARS)
            run_all(args, store, db, Path(tmp))
        finally:
            store.close()


def run_all(args: argparse.Namespace, store: Store, db: Path, tmp: Path) -> None:
    settings = build_settings({"data": {"db_path": str(db), "symbols": ["BTC"]},
                               "strategy": {"timeframe": "15m"}, "logging": {"file": False}}, source="bench")
    spec = SearchSpec(tuple(parse_space(s) for s in SPACE), trials=args.trials, seed=1)
    print(f"{args.trials} TPE trials, BTC, {BARS:,} 15m bars (one year), space: {', '.join(SPACE)}")
    print(f"target: <= 60 s on {args.workers} workers")
    local = timed(f"local pool, {args.workers} workers", lambda: run_optimize(
        settings, store, ["BTC"], None, None, None, spec, workers=args.workers,
        study_path=tmp / "local.journal"))
    if args.skip_dask:
        return
    try:
        from distributed import LocalCluster
    except ImportError:
        print("dask: skipped (pip install 'perp-bot[dask]')")
        return
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = timed(f"Dask LocalCluster, {args.workers} workers", lambda: run_optimize(
            settings, store, ["BTC"], None, None, None, spec, dask_address=cluster.scheduler_address,
            study_path=tmp / "dask.journal"))
    print(f"Dask / local: {remote / local:.2f}x")


if __name__ == "__main__":
    main()
