"""The vectorised candle JSON writer matches per-value formatting byte for byte."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.sim.info import candle_rows_json
from perpbot.sim.wire import candles_json, float_field

# One coin's column: whole numbers ("60123.0"), exchange-like decimals, or tiny values ("0.00001", never "1e-05").
_columns = st.one_of(
    st.lists(st.integers(1, 10**9).map(float), min_size=1, max_size=40),
    st.lists(st.builds(lambda m, d: m / 10.0**d, st.integers(1, 10**6), st.integers(1, 5)), min_size=1, max_size=40),
    st.lists(st.builds(lambda m: m / 1e8, st.integers(1, 10**4)), min_size=1, max_size=40),
)


def _cols(values: list[float], n0: int = 0) -> list[np.ndarray]:
    k = len(values)
    t = 1_704_067_200_000 + 60_000 * np.arange(k, dtype=np.int64)
    arr = np.array(values, dtype=np.float64)
    return [t, t + 59_999, arr, arr * 2, arr / 2, arr, np.round(arr * 3, 8), np.arange(n0, n0 + k, dtype=np.int64)]


@settings(max_examples=200, deadline=None)
@given(values=_columns, n0=st.integers(0, 10**6))
def test_fast_rows_equal_the_per_value_rows(values, n0):
    cols = _cols(values, n0)
    fast = candles_json("BTC", "15m", cols)
    assert fast is not None
    assert fast.decode() == ",".join(candle_rows_json("BTC", "15m", cols))
    rows = json.loads("[" + fast.decode() + "]")
    assert [float(r["o"]) for r in rows] == values


def test_values_it_cannot_write_exactly_fall_back():
    assert float_field(np.array([0.1 + 0.2])) is None  # 0.30000000000000004 needs 17 digits
    assert float_field(np.array([1e20])) is None
    assert float_field(np.array([-1.0])) is None and float_field(np.array([np.nan])) is None
    assert candles_json("BTC", "1m", _cols([0.1 + 0.2])) is None
    assert candles_json("BTC", "1m", _cols([])) == b""


def test_formats_match_the_exchange():
    field = float_field(np.array([60123.0, 0.15123, 0.00001, 3000.5, 12.0]))
    assert [bytes(r).replace(b"\x00", b"").decode() for r in field] == ["60123.0", "0.15123", "0.00001", "3000.5", "12.0"]
