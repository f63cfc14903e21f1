"""Every command, walked with bad arguments as a careless operator types them: exit 2, one line on
stderr naming the problem, never a traceback. The table must cover every command the parser has."""

from __future__ import annotations

from pathlib import Path

import pytest

from perpbot.cli import build_parser, main
from perpbot.data.db import Store

H = 3_600_000
T0 = 1_704_067_200_000
MISSING = "/nonexistent-perpbot-dir/x"

TORN_JOURNAL = ('{"op_code": 0, "worker_id": "w", "study_name": "perpbot", "directions": [2]}\n'
                '{"op_code": 4, "worker_id": "w", "study_id": 0, "dat')  # a write cut off by a kill

# (command words, extra arguments); "{csv}", "{file}" and "{torn}" are filled in by the fixture.
CASES: list[tuple[str, ...]] = [
    ("config-check", "--set", "strategy.entry_z=nan"),
    ("config-check", "--set", "nonsense"),
    ("config-check", "--set", "data.symbols=[BTC, btc]"),
    ("config-check", "--set", "risk.stop_loss_pct=1"),
    ("config-check", "--set", "exchange.timeout_s=.inf"),
    ("config-check", "--bogus"),
    ("backfill", "--days", "nan"),
    ("backfill", "--days", "inf"),
    ("backfill", "--days", "1e9"),
    ("backfill", "--days", "-1"),
    ("backfill", "--days", "x"),
    ("backfill", "--timeframes", "7m"),
    ("backfill", "--symbols", ","),
    ("backfill", "--symbols", "BTC,btc"),
    ("import-candles",),
    ("import-candles", "{csv}"),
    ("import-candles", MISSING + ".csv", "--symbol", "BTC"),
    ("import-candles", "{csv}", "--symbol", ""),
    ("import-candles", "{csv}", "--symbol", "BTC", "--timeframe", "7m"),
    ("regime", "--set", "prediction.timeout_s=inf"),
    ("regime", "extra"),
    ("sim", "--port", "99999"),
    ("sim", "--port", "-1"),
    ("sim", "--speed", "nan"),
    ("sim", "--speed", "0"),
    ("sim", "--seed", "x"),
    ("sim", "--history-days", "inf"),
    ("sim", "--candle-limit", "-1"),
    ("sim", "--error-rate", "2"),
    ("sim", "--latency-ms", "-5"),
    ("sim", "--start", "yesterday"),
    ("sim", "--fund", "bad"),
    ("review", "--weeks", "0"),
    ("review", "--weeks", "1e9"),
    ("review", "--at", "99999999999999999999"),
    ("review", "--at", "yesterday"),
    ("review", "--mode", "real"),
    ("review", "--markdown", MISSING + ".md"),
    ("compare", "--from", "x"),
    ("compare", "--tolerance", "nan"),
    ("compare", "--tolerance", "-1"),
    ("compare", "--from", "2024-02-01", "--to", "2024-01-01"),
    ("backtest", "--from", "99999999999999999999"),
    ("backtest", "--from", "2024-02-01", "--to", "2024-01-01"),
    ("backtest", "--from", "2024-13-45"),
    ("backtest", "--timeframe", "7m"),
    ("backtest", "--symbols", ","),
    ("backtest", "--symbols", "DOGE"),
    ("backtest", "--set", "strategy.window=5000"),
    ("backtest", "--json", MISSING + ".json"),
    ("backtest", "--html", MISSING + ".html"),
    ("backtest", "--decisions", ""),
    ("trade", "--set", "risk.stop_loss_pct=1"),
    ("trade", "--nope"),
    ("status", "--set", "x"),
    ("status", "extra"),
    ("control", "explode"),
    ("control", "close"),
    ("control", "flatten", "BTC"),
    ("control", "pause", "BTC"),
    ("control", "pause", "--set", "data.symbols=[]"),
    ("dashboard", "--set", "risk.leverage=nan"),
    ("dashboard", "--force", "x"),
    ("tui", "--set", "nonsense"),
    ("demo", "--speed", "nan"),
    ("demo", "--speed", "0"),
    ("demo", "--seed", "-1"),
    ("demo", "--dir", "{file}"),
    ("sensitivity",),
    ("sensitivity", "--param", "x"),
    ("sensitivity", "--param", "strategy.entry_z=a:b:c"),
    ("sensitivity", "--param", "strategy.window=10,20", "--workers", "0"),
    ("sensitivity", "--param", "strategy.entry_z=nan:3:0.5"),
    ("sensitivity", "--param", "strategy.entry_z=1:inf:1"),
    ("sensitivity", "--param", "strategy.entry_z=1:3:nan"),
    ("walk-forward", "--param", "strategy.entry_z=nan:3:0.5"),
    ("walk-forward", "--param", "strategy.window=10,20", "--html", MISSING + ".html"),
    ("sensitivity", "--param", "strategy.window=10,20", "--json", MISSING + ".json"),
    ("walk-forward", "--param", "strategy.entry_z=1:inf:1"),
    ("sensitivity", "--param", "strategy.window=10", "--metric", "bogus"),
    ("walk-forward", "--param", "strategy.window=10,20", "--train-days", "nan"),
    ("walk-forward", "--param", "strategy.window=10,20", "--test-days", "0"),
    ("optimize",),
    ("optimize", "--param", "strategy.entry_z=1:2", "--trials", "0"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--objective", "bogus"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--sampler", "grid"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--max-drawdown", "nan"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--partitions", "1"),
    ("optimize", "--param", "strategy.entry_z=1:inf"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--html", MISSING + ".html"),
    ("optimize", "--param", "strategy.entry_z=nan:2"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--trials", "1", "--study", "{file}"),
    ("optimize", "--param", "strategy.entry_z=1:2", "--trials", "1", "--study", "{torn}"),
    ("preflight", "extra"),
    ("preflight", "--set", "exchange.timeout_s=nan"),
    ("db",),
    ("db", "frob"),
    ("db", "backup"),
    ("db", "backup", MISSING + ".db"),
    ("db", "restore", MISSING + ".db"),
    ("db", "restore", "{file}"),
    ("db", "backup", ""),
    ("db", "restore", ""),
    ("db", "check", "--set", "x"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A config over a database holding 200 days of hourly BTC candles, and a few files to point at."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "config.yaml").write_text(f"data:\n  db_path: {folder / 'bot.db'}\n  symbols: [BTC]\n"
                                        "strategy:\n  timeframe: 1h\n")
    store = Store(folder / "bot.db")
    rows = [("BTC", "1h", T0 + i * H, 100.0 + i % 7, 108.0, 95.0, 100.0 + i % 5, 10.0, 1) for i in range(4800)]
    store.insert_candle_rows(rows)
    store.close()
    (folder / "c.csv").write_text("t,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n")
    (folder / "afile").write_text("not a folder")
    (folder / "torn.journal").write_text(TORN_JOURNAL)
    return folder


def _argv(home: Path, case: tuple[str, ...]) -> list[str]:
    fill = {"{csv}": str(home / "c.csv"), "{file}": str(home / "afile"), "{torn}": str(home / "torn.journal")}
    return ["--config", str(home / "config.yaml"), *(fill.get(word, word) for word in case)]


def test_the_table_covers_every_command():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {case[0] for case in CASES} == set(commands)


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c) for c in CASES])
def test_bad_arguments_exit_2_with_one_line(home, case, capsys):
    code = main(_argv(home, case))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("perpbot: error: "), err
    assert "Traceback" not in err
    assert (home / "afile").read_text() == "not a folder"
    assert (home / "torn.journal").read_text() == TORN_JOURNAL


def test_a_missing_config_file_is_one_line(capsys):
    assert main(["--config", MISSING + ".yaml", "config-check"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"perpbot: error: config file {MISSING}.yaml not found (hint: check the --config path)"]


@pytest.mark.parametrize("case, message", [
    (("backtest", "--from", "2024-02-01", "--to", "2024-01-01"),
     "the range is empty: --from 2024-02-01 is not before --to 2024-01-01"),
    (("backtest", "--set", "strategy.window=5000"),
     "BTC has 4800 1h bars up to now (2024-01-01 to 2024-07-18), all used up by the strategy's warm-up of 5000 bars"),
    (("backfill", "--days", "1e9"), "argument --days: must be <= 10000 (got 1e9)"),
    (("backfill", "--days", "nan"), "argument --days: 'nan' is not a finite number"),
    (("backtest", "--from", "99999999999999999999"),
     "argument --from: the time 99999999999999999999 is past the year 9999"),
])
def test_the_messages_say_what_is_actually_wrong(home, case, message, capsys):
    assert main(_argv(home, case)) == 2
    err = capsys.readouterr().err
    assert message in err and "run `perpbot backfill`" not in err.split("hint:")[0]
