"""EventBars.at (the event loop's search) gives what EventBars.next (the compiled loops' array) holds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpbot.backtest.executor import EventBars


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=60), st.lists(st.booleans(), max_size=60), st.integers(0, 70))
def test_at_equals_next(holds: list[bool], other: list[bool], first: int) -> None:
    a = np.array(holds, dtype=bool)
    b = np.resize(np.array(other or [False], dtype=bool), len(a))
    for bars in (EventBars(a), EventBars(a, b, first)):
        assert [bars.at(i) for i in range(len(a))] == bars.next.tolist()


def test_at_on_a_year_of_sparse_and_dense_signals() -> None:
    rng = np.random.default_rng(7)
    for density in (0.005, 0.6):
        holds = rng.random(525_600) < density
        bars = EventBars(holds, rng.random(525_600) < density, first=1_000)
        probe = rng.integers(0, 525_600, 2_000)
        assert [bars.at(int(i)) for i in probe] == bars.next[probe].tolist()
        assert bars.at(525_599) == bars.next.item(525_599)
