"""The data commands end to end: `perpbot backfill` against the simulator, `perpbot import-candles`."""

from __future__ import annotations

import pytest
import yaml

from perpbot.cli import main
from perpbot.clock import floor_ms
from perpbot.data.db import Store
from perpbot.sim.server import SimOptions, SimServer

H = "t,open,high,low,close,volume\n"
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z


def _config(tmp_path, base_url="http://127.0.0.1:9"):
    path = tmp_path / "cfg.yaml"
    cfg = {
        "exchange": {"base_url": base_url, "max_retries": 1, "retry_backoff_s": 0.01, "weight_per_minute": 1_000_000},
        "data": {"db_path": str(tmp_path / "bot.db"), "symbols": ["BTC"], "timeframes": ["1m"]},
        "logging": {"file": False},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _rows(n, start=T0):
    return "".join(f"{start + i * 60_000},{100 + i},{101 + i},{99 + i},{100.5 + i},{i}\n" for i in range(n))


def _count(tmp_path, symbol="BTC", interval="1m"):
    store = Store(tmp_path / "bot.db")
    try:
        return store.count_candles(symbol, interval)
    finally:
        store.close()


# --- import-candles ------------------------------------------------------------------------


def test_import_good_file_then_again_ignores_duplicates(tmp_path, capsys):
    cfg = _config(tmp_path)
    f = tmp_path / "btc.csv"
    f.write_text(H + _rows(10) + _rows(2))  # two in-file duplicates at the end
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "btc"]) == 0
    out = capsys.readouterr().out
    assert "12 rows read, 10 imported, 2 ignored" in out
    assert _count(tmp_path) == 10
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "BTC"]) == 0
    assert "0 imported, 12 ignored" in capsys.readouterr().out
    assert _count(tmp_path) == 10


def test_import_accepts_iso_times_and_reports_gaps(tmp_path, capsys):
    cfg = _config(tmp_path)
    f = tmp_path / "eth.csv"
    f.write_text(
        "T,Open,High,Low,Close,Volume\n"
        "2024-01-01T00:00:00Z,10,11,9,10.5,1\n2024-01-01T00:15,10,11,9,10.5,1\n2024-01-01 01:00:00+00:00,10,11,9,10.5,1\n"
    )
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "ETH", "--timeframe", "15m"]) == 0
    out = capsys.readouterr().out
    assert "3 imported" in out and "1 gap(s)" in out
    store = Store(tmp_path / "bot.db")
    assert list(store.load_candles("ETH", "15m").t) == [T0, T0 + 900_000, T0 + 3_600_000]
    store.close()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("t,open,high,low,close\n" + "1,2,3,4,5\n", ":1: header must name the columns"),
        (H + _rows(3) + f"{T0 + 180_000},100,99,98,100,1\n", ":5: high=99 is below"),
        (H + _rows(2) + f"{T0 + 120_000},100,101,100.2,100,1\n", ":4: low=100.2 is above"),
        (H + f"{T0},abc,101,99,100,1\n", ":2: open='abc' is not a number"),
        (H + f"{T0},100,101,99,nan,1\n", ":2: close='nan' is not a finite number"),
        (H + f"{T0 // 1000},100,101,99,100,1\n", "looks like epoch seconds"),
        (H + f"{T0 + 30_000},100,101,99,100,1\n", "is not the open time of a 1m bar"),
        (H + f"{T0},100,101,99,100\n", ":2: expected 6 values, got 5"),
        (H + f"{T0},100,101,99,100,-1\n", "volume=-1 must be >= 0"),
        (H + "yesterday,100,101,99,100,1\n", "neither epoch milliseconds nor an ISO time"),
        (H, "has a header but no data rows"),
        ("", "is empty"),
    ],
)
def test_import_bad_file_names_the_line_and_writes_nothing(tmp_path, capsys, body, needle):
    cfg = _config(tmp_path)
    f = tmp_path / "bad.csv"
    f.write_text(body)
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "BTC"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "perpbot: error:" in err
    assert _count(tmp_path) == 0


def test_import_missing_file_and_bad_timeframe(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["--config", str(cfg), "import-candles", str(tmp_path / "nope.csv"), "--symbol", "BTC"]) == 2
    assert "cannot read" in capsys.readouterr().err
    f = tmp_path / "ok.csv"
    f.write_text(H + _rows(1))
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "BTC", "--timeframe", "2m"]) == 2
    assert "unknown timeframe 2m" in capsys.readouterr().err


# --- backfill ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    with SimServer(SimOptions(seed=3, symbols=["BTC", "ETH"], history_days=3, candle_limit=5000), port=0) as server:
        yield server


def test_backfill_fills_then_adds_nothing_and_explains_the_limit(tmp_path, capsys, sim):
    cfg = _config(tmp_path, sim.url)
    args = ["--config", str(cfg), "backfill", "--symbols", "BTC", "--timeframes", "1m,15m", "--days", "5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Backfill summary" in out and "BTC" in out and "funding" in out
    n1 = _count(tmp_path, "BTC", "1m")
    # 3 days of 1m history exist; the last bar still forming is not stored.
    assert 3 * 1440 - 5 <= n1 <= 3 * 1440 + 10  # + bars closed since the simulator started
    assert "History was limited" in out and "most recent 5000 candles" in out
    assert "perpbot import-candles FILE --symbol BTC" in out and "keep the bot running" in out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert _count(tmp_path, "BTC", "1m") - n1 <= 2  # at most the bars that closed meanwhile
    assert "new rows in total" in out


def test_backfill_reports_gaps_it_cannot_fill(tmp_path, capsys, sim):
    cfg = _config(tmp_path, sim.url)
    old = floor_ms(sim.now_ms() - 6 * 86_400_000, 60_000)  # long before the exchange's 5000-candle window
    f = tmp_path / "old.csv"
    f.write_text(H + _rows(30, start=old) + _rows(30, start=old + 40 * 60_000))
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "ETH"]) == 0
    assert "60 imported" in capsys.readouterr().out
    assert main(["--config", str(cfg), "backfill", "--symbols", "ETH", "--timeframes", "1m", "--days", "7", "--no-funding"]) == 0
    out = capsys.readouterr().out
    assert "Gaps in ETH 1m: 2 stretch(es)" in out and "perpbot import-candles FILE --symbol ETH --timeframe 1m" in out
    assert "ETH     funding" not in out


def test_backfill_unknown_symbol_and_unreachable_exchange_fail_clearly(tmp_path, capsys, sim):
    cfg = _config(tmp_path, sim.url)
    assert main(["--config", str(cfg), "backfill", "--symbols", "DOGEZ", "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert "does not list DOGEZ" in err and "data.symbols or --symbols" in err
    (tmp_path / "dead").mkdir()
    dead = _config(tmp_path / "dead", "http://127.0.0.1:9")
    assert main(["--config", str(dead), "backfill", "--days", "1"]) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_backfill_ctrl_c_keeps_pages_and_rerun_resumes(tmp_path, capsys, sim, monkeypatch):
    cfg = _config(tmp_path, sim.url)
    import perpbot.cli.data as cli_data

    real = cli_data._ProgressBars.__call__

    def ctrl_c_after_first_funding_page(self, event):
        real(self, event)
        if event.series == "funding" and event.new_rows:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C while funding was downloading

    monkeypatch.setattr(cli_data._ProgressBars, "__call__", ctrl_c_after_first_funding_page)
    args = ["--config", str(cfg), "backfill", "--days", "1"]
    assert main(args) == 130
    out = capsys.readouterr().out
    assert "database is consistent" in out and "run the same command again" in out
    store = Store(tmp_path / "bot.db")
    assert 1438 <= store.count_candles("BTC", "1m") <= 1440
    assert 0 < store.count_funding("BTC")
    monkeypatch.setattr(cli_data._ProgressBars, "__call__", real)
    assert main(args) == 0
    assert "Backfill summary" in capsys.readouterr().out
    assert 23 <= store.count_funding("BTC") <= 25
    assert store.find_gaps("BTC", 60_000, "1m") == []
    assert store.latest_candle_time("BTC", "1m") >= floor_ms(sim.now_ms(), 60_000) - 3 * 60_000
    store.close()


def test_import_says_when_a_duplicate_bar_differs_and_keeps_the_first(tmp_path, capsys):
    cfg = _config(tmp_path)
    f = tmp_path / "btc.csv"
    f.write_text(H + _rows(5))
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "BTC"]) == 0
    assert "differ" not in capsys.readouterr().out
    # the same bars again, one with another close, and a bar given twice in the file with two closes
    changed = _rows(5).replace(f"{T0 + 120_000},102,103,101,102.5,2", f"{T0 + 120_000},102,103,101,102.7,2")
    f.write_text(H + changed + f"{T0 + 300_000},1,2,0.5,1.5,3\n{T0 + 300_000},1,2,0.5,1.6,3\n")
    assert main(["--config", str(cfg), "import-candles", str(f), "--symbol", "BTC"]) == 0
    out = capsys.readouterr().out
    assert "7 rows read, 1 imported, 6 ignored" in out
    assert "2 bar(s) differ from a bar with the same time already stored or earlier in the file, the first at " \
           "2024-01-01 00:02" in out
    store = Store(tmp_path / "bot.db")
    try:
        bars = store.load_candles("BTC", "1m")
        assert float(bars.close[2]) == 102.5 and float(bars.close[5]) == 1.5  # the first values kept
    finally:
        store.close()
