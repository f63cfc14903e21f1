"""Coin names keep the exchange's spelling (kPEPE): config and flags match them without regard to case,
against the exchange's asset list online and the database offline, and every part built after uses it."""

from __future__ import annotations

import json

import pytest
import yaml

from perpbot.cli import main
from perpbot.clock import MINUTE_MS, FakeClock, ScaledClock, WallClock, floor_ms
from perpbot.config import build_settings, resolve_symbols
from perpbot.data.db import Store
from perpbot.sim.server import SimOptions, SimServer

T0 = 1_704_067_200_000


def test_resolve_symbols_prefers_an_exact_name_then_the_one_case_insensitive_match():
    listed = ["BTC", "kPEPE", "kBONK", "Xy", "XY"]
    assert resolve_symbols(["BTC", "KPEPE", "kbonk", "XY", "xy", "NOPE"], listed) == \
        ["BTC", "kPEPE", "kBONK", "XY", "xy", "NOPE"]  # xy matches two names: left for the caller to refuse
    assert build_settings({"data": {"symbols": ["kPEPE"]}}).data.symbols == ["KPEPE"]  # until resolved


@pytest.fixture(scope="module")
def sim():
    clock = FakeClock(T0)
    with SimServer(SimOptions(seed=5, history_days=4, start_ms=T0, symbols=["BTC", "kPEPE"]), port=0,
                   clock=clock) as server:
        server.fake_clock = clock
        yield server


@pytest.fixture(scope="module")
def wall_sim():
    """For the commands, which run on the wall clock."""
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    with SimServer(SimOptions(seed=5, history_days=4, start_ms=start, symbols=["BTC", "kPEPE"]), port=0,
                   clock=ScaledClock(start, 1.0)) as server:
        yield server


def _config(tmp_path, sim) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "exchange": {"base_url": sim.url, "max_retries": 1, "retry_backoff_s": 0.01},
        "data": {"db_path": str(tmp_path / "bot.db"), "symbols": ["BTC", "kpepe"], "timeframes": ["5m"]},
        "strategy": {"timeframe": "5m", "use_hurst": False, "use_adx": False}, "logging": {"file": False}}))
    return str(path)


def test_backfill_backtest_and_import_use_the_exchanges_spelling(tmp_path, wall_sim, capsys):
    config = _config(tmp_path, wall_sim)
    assert main(["--config", config, "backfill", "--days", "3", "--no-funding"]) == 0, capsys.readouterr().err
    store = Store(tmp_path / "bot.db")
    try:
        assert store.stored_symbols() == ["BTC", "kPEPE"]
        assert "kPEPE" in store.get_state("exchange_symbols")
    finally:
        store.close()
    capsys.readouterr()
    # offline: the stored spelling, whatever the case typed
    assert main(["--config", config, "backtest", "--symbols", "KPEPE", "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["symbols"] == ["kPEPE"]
    assert main(["--config", config, "backtest", "--json", str(tmp_path / "all.json")]) == 0  # data.symbols too
    assert json.loads((tmp_path / "all.json").read_text())["symbols"] == ["BTC", "kPEPE"]
    capsys.readouterr()
    csv = tmp_path / "k.csv"
    csv.write_text("t,open,high,low,close,volume\n1600002000000,1,2,0.5,1.5,3\n")
    assert main(["--config", config, "import-candles", str(csv), "--symbol", "kpepe", "--timeframe", "1h"]) == 0
    assert capsys.readouterr().out.startswith("kPEPE 1h: 1 rows read, 1 imported")


def test_the_engine_trades_the_coin_as_the_exchange_spells_it(tmp_path, sim):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "execution"))
    from engine_harness import engine_settings, make_engine

    settings = engine_settings(sim.url, tmp_path / "e.db", data={"symbols": ["btc", "KPEPE"]})
    assert settings.data.symbols == ["BTC", "KPEPE"]
    engine = make_engine(settings, sim.fake_clock)
    try:
        assert settings.data.symbols == ["BTC", "kPEPE"]
        sim.fake_clock.advance(300)
        engine.tick(sim.fake_clock.now_ms())
        rows = {r["symbol"]: r for r in engine.state.snapshot()["signals"]}
        assert set(rows) == {"BTC", "kPEPE"} and rows["kPEPE"]["close"] is not None
    finally:
        engine.close()
