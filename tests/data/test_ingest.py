"""Ingest against the simulator: backfill, idempotency, resume after Ctrl-C, gaps, the 5000 limit, updates."""

from __future__ import annotations

import pytest

from perpbot.clock import DAY_MS, FakeClock, floor_ms
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.data.ingest import FUNDING, DataIngestor, Progress
from perpbot.errors import ConfigError
from perpbot.sim.server import SimOptions, SimServer

M = 60_000


@pytest.fixture(scope="module")
def sim():
    # 8 days of 1m = 11,520 bars: three pages; candle_limit=0 serves all of it.
    with SimServer(SimOptions(seed=11, symbols=["BTC", "ETH"], history_days=8, candle_limit=0), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def limited_sim():
    with SimServer(SimOptions(seed=12, symbols=["BTC"], history_days=5, candle_limit=5000), port=0) as server:
        yield server


def _ingestor(sim, store, now_ms=None):
    # A frozen "now" (the exchange's time when the test starts) makes every count exact.
    clock = FakeClock(now_ms if now_ms is not None else sim.now_ms())
    client = HyperliquidClient(sim.url, timeout_s=10, weight_per_minute=10**9, clock=clock, backoff_base_s=0.01)
    return DataIngestor(client, store, clock), clock


def _closed_bars(start_ms, now_ms, step):
    """Bars opening at or after start_ms whose close time is before now_ms."""
    first = start_ms + (-start_ms) % step
    return (floor_ms(now_ms, step) - first) // step


def test_backfill_stores_closed_bars_and_a_rerun_adds_nothing(sim, store):
    ingestor, clock = _ingestor(sim, store)
    now = clock.now_ms()
    events: list[Progress] = []
    report = ingestor.backfill(["BTC", "ETH"], ["1m", "15m"], days=2, progress=events.append)
    start = now - 2 * DAY_MS
    by_key = {(s.symbol, s.interval): s for s in report.candles}
    for (symbol, interval), step in (
        (("BTC", "1m"), M), (("ETH", "1m"), M), (("BTC", "15m"), 15 * M), (("ETH", "15m"), 15 * M)
    ):
        s = by_key[(symbol, interval)]
        assert s.new_rows == s.total_rows == _closed_bars(start, now, step)
        assert s.gaps == () and not s.limited
        assert s.last_ms + step <= now  # the forming bar was left out
        assert s.last_ms + 2 * step > now  # ... and only that one
    assert [f.symbol for f in report.funding] == ["BTC", "ETH"]
    assert all(47 <= f.new_rows <= 49 for f in report.funding)
    finished = [e for e in events if e.finished]
    assert len(finished) == 6 and all(e.done == e.total for e in finished)
    assert {e.series for e in events} == {"1m", "15m", FUNDING}

    again = ingestor.backfill(["BTC", "ETH"], ["1m", "15m"], days=2)
    assert again.new_rows == 0
    assert [s.total_rows for s in again.candles] == [s.total_rows for s in report.candles]


def test_interrupted_backfill_keeps_whole_pages_and_resumes(sim, store):
    ingestor, clock = _ingestor(sim, store)
    now = clock.now_ms()
    pages = []

    def interrupt_on_second_page(event: Progress) -> None:
        if event.new_rows:
            pages.append(event.new_rows)
        if len(pages) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingestor.backfill(["BTC"], ["1m"], days=7.5, progress=interrupt_on_second_page)
    expected = _closed_bars(now - int(7.5 * DAY_MS), now, M)
    stored = store.count_candles("BTC", "1m")
    assert stored == pages[-1] and 0 < stored < expected
    assert store.find_gaps("BTC", M, "1m") == []  # committed pages are contiguous

    report = ingestor.backfill(["BTC"], ["1m"], days=7.5, funding=False)
    (series,) = report.candles
    assert series.new_rows == expected - stored
    assert series.total_rows == expected and series.gaps == ()


def test_gaps_are_refilled_or_reported(sim, store):
    ingestor, clock = _ingestor(sim, store)
    now = clock.now_ms()
    ingestor.backfill(["ETH"], ["1m"], days=1, funding=False)
    hole = (floor_ms(now, M) - 300 * M, floor_ms(now, M) - 291 * M)
    with store.conn:
        store.conn.execute("DELETE FROM candles WHERE symbol='ETH' AND interval='1m' AND t BETWEEN ? AND ?", hole)
    before = ingestor.series_report("ETH", "1m", now - DAY_MS)
    assert before.gaps == (hole,) and before.missing_bars == 10
    after = ingestor.backfill(["ETH"], ["1m"], days=1, funding=False).candles[0]
    assert after.new_rows == 10 and after.gaps == ()


def test_history_beyond_the_5000_candle_window_is_reported_as_limited(limited_sim, store):
    ingestor, clock = _ingestor(limited_sim, store)
    now = clock.now_ms()
    report = ingestor.backfill(["BTC"], ["1m", "15m"], days=4.5, funding=False)
    one_min, quarter = report.candles
    assert one_min.limited and report.limited == (one_min,)
    assert 4998 <= one_min.total_rows <= 5000  # the exchange's most recent 5000, minus the forming bar
    assert one_min.first_ms > one_min.requested_start_ms + DAY_MS
    assert not quarter.limited and quarter.total_rows == _closed_bars(now - int(4.5 * DAY_MS), now, 15 * M)

    # Older bars with a hole, as an import would bring them: the hole cannot be fetched, so it stays reported.
    old = one_min.first_ms - 1000 * M  # inside the requested range, before what the exchange serves
    rows = [("BTC", "1m", old + i * M, 1.0, 2.0, 0.5, 1.5, 1.0, 0) for i in range(100) if not 40 <= i < 45]
    store.insert_candle_rows(rows)
    again = ingestor.backfill(["BTC"], ["1m"], days=4.5, funding=False).candles[0]
    assert again.new_rows == 0 and again.limited
    assert again.gaps[0] == (old + 40 * M, old + 44 * M)
    assert again.gaps[1] == (old + 100 * M, one_min.first_ms - M)


def test_incremental_update_fetches_only_new_closed_bars(sim, store):
    t_now = sim.now_ms()
    ingestor, clock = _ingestor(sim, store, now_ms=t_now - 30 * M)
    ingestor.backfill(["BTC"], ["1m", "15m"], days=1)
    last = store.latest_candle_time("BTC", "1m")
    funding_before = store.count_funding("BTC")
    clock.set(t_now)
    added = ingestor.update_all(["BTC"], ["1m", "15m"])
    assert added["BTC 1m"] == (floor_ms(t_now, M) - M - last) // M
    assert added["BTC 15m"] in (1, 2, 3)
    assert store.count_funding("BTC") == funding_before + added[f"BTC {FUNDING}"]
    assert store.latest_candle_time("BTC", "1m") == floor_ms(t_now, M) - M
    assert ingestor.update("BTC", "1m") == 0
    assert store.find_gaps("BTC", M, "1m") == []


def test_update_of_an_empty_series_fetches_a_recent_window(sim, store):
    ingestor, clock = _ingestor(sim, store)
    added = ingestor.update("ETH", "15m")
    # Up to 5000 bars back, limited by the simulator's 8 days of history.
    assert 8 * 96 - 2 <= added <= 8 * 96 + 2
    assert store.latest_candle_time("ETH", "15m") == floor_ms(clock.now_ms(), 15 * M) - 15 * M
    assert store.find_gaps("ETH", 15 * M, "15m") == []
    assert ingestor.update_funding("ETH") >= 7 * 24 - 1


def test_unknown_symbols_are_a_config_error(sim, store):
    ingestor, _ = _ingestor(sim, store)
    with pytest.raises(ConfigError, match="does not list XYZ") as info:
        ingestor.backfill(["BTC", "XYZ"], ["1m"], days=1)
    assert "data.symbols" in info.value.hint
    assert store.count_candles("BTC", "1m") == 0
