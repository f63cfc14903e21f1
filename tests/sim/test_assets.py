"""Price rules and wire number formats of the simulated exchange."""

from __future__ import annotations

import numpy as np
import pytest

from perpbot.sim.assets import fmt_fixed, fmt_num, profile, round_px, sz_decimals_for_price, tick_size


@pytest.mark.parametrize(
    ("px", "sz_decimals", "expected"),
    [
        (60123.456, 5, 60123.0),  # 5 significant figures
        (123456.7, 5, 123457.0),  # integers are always allowed
        (3012.345, 4, 3012.3),
        (150.1234, 2, 150.12),
        (0.151234, 0, 0.15123),
        (0.0123456, 1, 0.01235),  # at most 6 - szDecimals decimals
        (0.00012345, 2, 0.0001),
    ],
)
def test_prices_round_to_the_exchange_rules(px, sz_decimals, expected):
    assert round_px(np.array([px]), sz_decimals)[0] == expected


def test_ticks_and_number_formats():
    assert tick_size(60_000.0, 5) == 1.0 and tick_size(3_000.0, 4) == 0.1 and tick_size(150.0, 2) == 0.01
    assert [fmt_num(x) for x in (60123.0, 0.15123, 0.00001)] == ["60123.0", "0.15123", "0.00001"]
    assert [fmt_fixed(x, 10) for x in (0.0000125, -0.0003, 0.0, -0.0, 8906.0)] == ["0.0000125", "-0.0003", "0.0", "0.0", "8906.0"]
    assert [fmt_num(x) for x in (0.0, -0.0, -1.5)] == ["0.0", "0.0", "-1.5"]  # never "-0.0"


def test_profiles_and_replay_lot_sizes():
    assert (profile("BTC").price, profile("ETH").price, profile("SOL").price) == (60_000.0, 3_000.0, 150.0)
    assert profile("ANYTHING").price == 10.0
    assert [sz_decimals_for_price(p) for p in (0.5, 7.0, 150.0, 3_000.0, 60_000.0, 10**7)] == [0, 0, 2, 3, 4, 5]
