"""The live chaos test (issue 14): seeded sequences of ticks under /info and /exchange faults, kills at
crash points (mid-migration, between order and DB write, between fill and stop), and the owner
trading by hand with the official SDK between restarts. After every restart and at the end: the
start succeeded, every position has exactly one reduce-only stop of its whole size, the open trades
are the exchange's positions, no decision sent two entries, and the ledger's realized pnl and fees
are the exchange's fills. A handful of seeds by default; `pytest -m slow` runs 300 more."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from live_chaos import run_sequence

DEFAULT_SEEDS = (1, 2, 3)
SLOW_SEEDS = range(1000, 1300)


def _run(seeds, tmp_path_factory) -> list:
    reports, failures = [], []
    started = time.perf_counter()
    for seed in seeds:
        try:
            reports.append(run_sequence(seed, tmp_path_factory.mktemp(f"chaos{seed}")))
        except Exception as exc:  # noqa: BLE001 - every broken seed is reported, with its seed
            failures.append((seed, f"{type(exc).__name__}: {exc}"))
    total = time.perf_counter() - started
    kills = sum((r.kills for r in reports), start=Counter())
    hand = sum((r.hand for r in reports), start=Counter())
    print(f"\nchaos: {len(reports) + len(failures)} sequences in {total:.1f} s, {sum(r.restarts for r in reports)} "
          f"starts, {sum(r.trades for r in reports)} trades, {sum(r.fills for r in reports)} fills, kills {dict(kills)}, "
          f"hand {dict(hand)}")
    assert not failures, "failing seeds: " + "; ".join(f"{seed}: {text[:300]}" for seed, text in failures)
    return reports


def test_chaos_sequences(tmp_path_factory):
    _run(DEFAULT_SEEDS, tmp_path_factory)


@pytest.mark.slow
def test_chaos_sequences_slow(tmp_path_factory):
    _run(SLOW_SEEDS, tmp_path_factory)
