"""vectorised.py's in-place window sums (Hurst's per-lag pass) against `_rolling_sum`, their reference:
the same additions, so the same bits, on series that stress the rounding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.signals import vectorised


@settings(max_examples=200, deadline=None)
@given(n=st.integers(12, 900), window=st.integers(10, 120), lag=st.sampled_from([1, 2, 4, 8, 16]),
       scale=st.sampled_from([1e-12, 1.0, 1e9]), seed=st.integers(0, 2**32 - 1))
def test_window_sums_are_rolling_sum_bit_for_bit(n: int, window: int, lag: int, scale: float, seed: int) -> None:
    span = window - lag
    if span < 1 or n < window:
        return
    q = np.square(np.random.default_rng(seed).normal(0.0, scale, n))
    q[: min(lag, n)] = 0.0
    q[n // 3 : n // 2] = 0.0  # a flat stretch
    expected = vectorised._rolling_sum(q, span)[window - 1 :]
    padded = np.zeros(-(-n // span) * span)
    padded[:n] = q
    got = vectorised._window_sums(padded, n, span, lag, window)
    assert got.tobytes() == expected.tobytes()


@settings(max_examples=12, deadline=None)
@given(blocks=st.integers(400, 700), window=st.integers(20, 120), lag=st.sampled_from([1, 2, 4, 8, 16]),
       seed=st.integers(0, 2**32 - 1))
def test_many_blocks_take_the_column_sums_with_the_same_bits(blocks: int, window: int, lag: int, seed: int) -> None:
    span = window - lag  # around vectorised._COLUMNS_FROM_BLOCKS blocks: both ways of adding, equal bits
    n = blocks * span - int(np.random.default_rng(seed).integers(0, span))
    q = np.square(np.random.default_rng(seed).normal(0.0, 1e-3, n))
    q[:lag] = 0.0
    expected = vectorised._rolling_sum(q, span)[window - 1 :]
    padded = np.zeros(-(-n // span) * span)
    padded[:n] = q
    assert vectorised._window_sums(padded, n, span, lag, window).tobytes() == expected.tobytes()
