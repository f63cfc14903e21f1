"""`perpbot sensitivity` and `perpbot walk-forward` end to end: tables, JSON, error messages."""

from __future__ import annotations

import pytest
from sweep_data import fill_store, write_config

from perpbot.backtest.sensitivity import SweepResult
from perpbot.backtest.walk_forward import WalkForwardResult
from perpbot.cli import main


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    fill_store(folder / "bt.db")
    return write_config(folder, folder / "bt.db")


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "140")


def run(config, *argv):
    return main(["--config", str(config), *argv])


def test_sensitivity_two_parameters_prints_a_table_and_writes_json(config, tmp_path, capsys):
    out_file = tmp_path / "s.json"
    code = run(config, "sensitivity", "--param", "strategy.entry_z=1.5:2.5:0.5", "--param", "strategy.exit_z=0,0.5",
               "--symbols", "btc", "--json", str(out_file))
    out = capsys.readouterr().out
    assert code == 0
    assert "sharpe by entry_z (across) and exit_z (down)" in out
    assert "exit_z \\ entry_z" in out and "best: entry_z=" in out
    result = SweepResult.load(out_file)
    assert len(result.rows) == 6 and result.symbols == ["BTC"] and result.timeframe == "1h"


def test_sensitivity_one_parameter_lists_values(config, capsys):
    code = run(config, "sensitivity", "--param", "strategy.window=10,20,30", "--metric", "total_return",
               "--from", "2024-01-20", "--to", "2024-04-01")
    out = capsys.readouterr().out
    assert code == 0
    assert "total_return by window" in out
    assert "2024-01-20 00:00 to 2024-04-01 00:00" in out


def test_walk_forward_prints_windows_stitched_summary_and_ratio(config, tmp_path, capsys):
    out_file = tmp_path / "wf.json"
    code = run(config, "walk-forward", "--param", "strategy.entry_z=1.5,2.0", "--train-days", "30", "--test-days",
               "20", "--json", str(out_file))
    out = capsys.readouterr().out
    assert code == 0
    assert "Walk-forward (rolling)" in out and "windows (sharpe on train and test" in out
    assert "stitched out-of-sample" in out and "OOS/IS" in out and "picked: entry_z=" in out
    assert WalkForwardResult.load(out_file).windows


@pytest.mark.parametrize("argv, message", [
    (["sensitivity", "--param", "strategy.entry_zz=1:2:0.5"], "unknown parameter 'strategy.entry_zz'"),
    (["sensitivity", "--param", "strategy.entry_zz=1:2:0.5"], "did you mean 'strategy.entry_z'?"),
    (["sensitivity", "--param", "strategy.window=30:10:5"], "the grid is empty"),
    (["sensitivity", "--param", "strategy.window=10,20", "--symbols", "DOGE"], "unknown symbol 'DOGE'"),
    (["sensitivity", "--param", "strategy.window=10,20", "--from", "2030-01-01"],
     "stored 1h candles end 2024-05-04, before --from 2030-01-01"),
    (["sensitivity", "--param", "strategy.window=10,20", "--metric", "sharp"], "did you mean 'sharpe'?"),
    (["sensitivity", "--param", "strategy.window=10,20", "--workers", "0"], "argument --workers: must be >= 1"),
    (["walk-forward", "--param", "strategy.window=10,20", "--train-days", "200"], "does not fit in the"),
    (["walk-forward", "--param", "strategy.window=10,20", "--test-days", "-1"], "argument --test-days: must be > 0"),
])
def test_errors_are_clear_and_exit_2(config, capsys, argv, message):
    code = run(config, *argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("perpbot: error:") and message in err


def test_param_is_required(config, capsys):
    assert run(config, "walk-forward") == 2
    assert "--param" in capsys.readouterr().err


def test_missing_database_is_explained(tmp_path, capsys):
    cfg = write_config(tmp_path, tmp_path / "absent.db")
    assert main(["--config", str(cfg), "sensitivity", "--param", "strategy.window=10"]) == 2
    assert "no database at" in capsys.readouterr().err


def test_sensitivity_names_identical_trades_and_prints_the_overfitting_figures(config, tmp_path, capsys):
    code = run(config, "sensitivity", "--param", "strategy.entry_z=1.5:3.0:0.5", "--symbols", "BTC",
               "--partitions", "8", "--json", str(tmp_path / "s.json"))
    out = capsys.readouterr().out
    assert code == 0
    assert "identical trades (a): entry_z=1.5, 2 give identical trades" in out
    assert "the bollinger filter binds first" in out
    assert "deflated Sharpe" in out and "PBO (CSCV)" in out and "8 (70 splits)" in out
    assert "distinct trial" in out and "kurtosis (raw)" in out
    saved = SweepResult.load(tmp_path / "s.json")
    assert saved.identical[0]["binding"] == "bollinger" and saved.overfitting["partitions"] == 8


def test_walk_forward_prints_overfitting_and_writes_html(config, tmp_path, capsys):
    pytest.importorskip("plotly", reason="the optional html extra is not installed")
    page = tmp_path / "wf.html"
    code = run(config, "walk-forward", "--param", "strategy.entry_z=1.5,2.0,2.5", "--train-days", "30",
               "--test-days", "20", "--symbols", "BTC", "--html", str(page))
    out = capsys.readouterr().out
    assert code == 0 and "deflated Sharpe" in out and "report written to" in out
    text = page.read_text()
    assert "<h2>Windows</h2>" in text and "Overfitting (per-day figures)" in text
