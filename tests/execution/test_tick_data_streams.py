"""TickData with a feed that streams bars: what the stream serves is stored in one write and not fetched,
the rest is fetched as before, and a store fault on that write is the engine's storage fault."""

from __future__ import annotations

from pathlib import Path

from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.errors import StorageError
from perpbot.execution.tick_data import TickData

STEP = 300_000
T0 = 1_704_067_200_000
SYMBOLS = ["BTC", "ETH", "SOL", "DOGE"]


def row(symbol: str, t: int) -> tuple:
    return (symbol, "5m", t, 100.0, 101.0, 99.0, 100.5, 3.0, 4)


class Ingestor:
    def __init__(self) -> None:
        self.updated: list[str] = []

    def update(self, symbol: str, interval: str) -> int:
        self.updated.append(symbol)
        return 0

    def update_funding(self, symbol: str) -> int:
        return 0


class Stream:
    """Serves BTC's and ETH's bars; SOL's it cannot vouch for."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def closed_bars(self, symbol: str, interval: str, after_t: int, upto_t: int) -> list | None:
        self.asked.append((symbol, interval, after_t, upto_t))
        if symbol == "SOL":
            return None
        return [row(symbol, t) for t in range(after_t + STEP, upto_t + 1, STEP)]


class Fault:
    def __init__(self) -> None:
        self.errors: list[StorageError] = []

    def failed(self, exc: StorageError) -> None:
        self.errors.append(exc)


def tick_data(tmp_path: Path, stream: Stream, ingestor: Ingestor, fault: Fault) -> tuple[TickData, Store]:
    settings = build_settings({"data": {"db_path": str(tmp_path / "t.db"), "symbols": SYMBOLS, "timeframes": ["5m"]},
                               "strategy": {"timeframe": "5m"}, "logging": {"file": False}}, source="test")
    store = Store(settings.db_path)
    store.insert_candle_rows([row(s, T0) for s in ("BTC", "ETH", "SOL")] + [row("DOGE", T0 + 2 * STEP)])
    data = TickData(settings, store, ingestor, 10, fault, lambda *a, **k: None, bars=stream)  # type: ignore[arg-type]
    return data, store


def test_streamed_symbols_are_stored_and_only_the_rest_fetched(tmp_path: Path) -> None:
    stream, ingestor, fault = Stream(), Ingestor(), Fault()
    data, store = tick_data(tmp_path, stream, ingestor, fault)
    now = T0 + 3 * STEP + 500  # bars T0 + STEP and T0 + 2 STEP have closed since T0
    data.ingest_and_load(now, T0 + 3 * STEP)
    assert sorted(ingestor.updated) == ["SOL"]  # DOGE had nothing new, BTC and ETH were streamed
    assert {a[0] for a in stream.asked} == {"BTC", "ETH", "SOL"}
    assert all(a[1:] == ("5m", T0, T0 + 2 * STEP) for a in stream.asked)
    assert store.latest_candle_time("BTC", "5m") == store.latest_candle_time("ETH", "5m") == T0 + 2 * STEP
    assert data.served == {"stream": 2, "fetch": 1}
    assert not fault.errors
    data.close()
    store.close()


def test_a_store_fault_on_the_streamed_write_holds_entries_and_fetches(tmp_path: Path) -> None:
    stream, ingestor, fault = Stream(), Ingestor(), Fault()
    data, store = tick_data(tmp_path, stream, ingestor, fault)

    def broken(rows: list) -> int:
        raise StorageError("disk I/O error")

    store.insert_candle_rows = broken  # type: ignore[method-assign]
    data.ingest_and_load(T0 + 3 * STEP + 500, T0 + 3 * STEP)
    assert len(fault.errors) == 1
    assert sorted(ingestor.updated) == sorted(SYMBOLS)  # every symbol's fetch runs (and meets the fault itself)
    data.close()
    store.close()
