"""results.round_6 gives exactly Python's round(v, 6) (the saved equity curve stays byte for byte the same):
on random equity values and on the hard cases, halves of a millionth and their neighbours, at every scale."""

from __future__ import annotations

import numpy as np
import pytest

from perpbot.backtest.results import round_6

HALVES = (np.arange(100_000) + 0.5) / 1e6


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20)
    return {
        "equity": rng.normal(1e4, 3e3, 100_000),
        "small": rng.uniform(-1, 1, 100_000),
        "huge": rng.normal(0, 1e12, 10_000),
        "billions": rng.normal(0, 3e9, 50_000),
        "halves": HALVES,
        "above halves": np.nextafter(HALVES, 1),
        "below halves": np.nextafter(HALVES, -1),
        "halves at 2**40": HALVES + 2.0**40 / 1e6,
        "halves at 2**45": HALVES + 2.0**45 / 1e6,
        "specials": np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e-300, 5e-7, -5e-7, 2.5e-6, 1.5e-6,
                              1e15 + 0.5, 2.0**53, -(2.0**52) / 1e6 - 0.5e-6]),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_round_6_is_round_bit_for_bit(name):
    values = _cases()[name]
    got = round_6(values)
    want = [round(float(v), 6) for v in values]
    assert len(got) == len(want)
    assert all(type(g) is float for g in got)
    same = np.array(got).view(np.int64) == np.array(want).view(np.int64)  # the bits: -0.0 and NaN included
    assert same.all(), f"first difference at {np.argmin(same)}: {values[np.argmin(same)]!r}"
