"""The indicator tests run once per path: numpy (vectorised.py) and compiled (kernels.py).

Left to itself a call picks its path by what the process has loaded (`indicators.use_path`),
which in a test session depends on test order; here every test of the modules below runs on
each path explicitly, so each path meets every reference, edge case and property.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from perpbot.signals import indicators

BOTH_PATHS = {"test_indicators", "test_indicator_properties"}  # test_indicator_paths picks its own
# From test_engine.py, the tests whose subject is the indicator values themselves.
BOTH_PATHS_TESTS = {"test_live_window_reproduces_the_full_history", "test_compute_indicators_skips_disabled_filters"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in BOTH_PATHS or metafunc.function.__name__ in BOTH_PATHS_TESTS:
        metafunc.parametrize("indicator_path", ["numpy", "compiled"], indirect=True, scope="module")


@pytest.fixture(autouse=True, scope="module")
def indicator_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The path the module's indicators take ("auto" where a test is not parametrized)."""
    path = getattr(request, "param", "auto")
    with indicators.use_path(path):
        yield path
