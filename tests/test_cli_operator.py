"""The CLI's output edges: a reader that goes away (`| head`), tables that stay whole when piped,
--set on the commands that reach a daemon, and a Dask scheduler without workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perpbot.backtest import sensitivity
from perpbot.cli import main
from perpbot.data.db import Store

PY = sys.executable
H = 3_600_000
T0 = 1_704_067_200_000


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("out")
    (folder / "config.yaml").write_text(f"data:\n  db_path: {folder / 'bot.db'}\n  symbols: [BTC]\n"
                                        "strategy:\n  timeframe: 1h\n")
    store = Store(folder / "bot.db")
    store.insert_candle_rows([("BTC", "1h", T0 + i * H, 100.0 + i % 7, 108.0, 95.0, 100.0 + i % 5, 10.0, 1)
                              for i in range(2000)])
    store.close()
    return folder


def _cli(home: Path, *args: str) -> list[str]:
    return [PY, "-m", "perpbot.cli", "--config", str(home / "config.yaml"), *args]


@pytest.mark.parametrize("args", [("review", "--json", "--weeks", "520"), ("review", "--weeks", "520")],
                         ids=["print", "rich"])
def test_a_reader_that_goes_away_ends_the_command_quietly(home, args):
    proc = subprocess.Popen(_cli(home, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)  # `| head -c 10`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(30) == 141 and err == ""


def test_piped_tables_keep_every_cell_whole(home):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}  # no COLUMNS: rich alone would lay out 80 columns
    done = subprocess.run(_cli(home, "review", "--weeks", "3", "--at", "2024-03-20"), capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert "Avg loss" in done.stdout and "2024-W12*" in done.stdout and "Funding" in done.stdout
    done = subprocess.run(_cli(home, "backtest", "--json", str(home / "r.json")), capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout and "drawdown length" in done.stdout


@pytest.mark.parametrize("command", [["status"], ["control", "pause"], ["tui"]])
def test_status_control_and_tui_take_set(tmp_path, command, capsys):
    code = main([*command, "--set", f"data.db_path={tmp_path / 'x' / 'bot.db'}"])
    assert code == 1
    assert str(tmp_path / "x" / "perp-bot.sock") in capsys.readouterr().err


def test_a_dask_scheduler_without_workers_is_one_line(home, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    connect = sensitivity._connect_dask
    monkeypatch.setattr(sensitivity, "_connect_dask", lambda address, payload: connect(address, payload, "2s"))
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        code = main(["--config", str(home / "config.yaml"), "sensitivity", "--param", "strategy.window=10,20",
                     "--dask", cluster.scheduler_address])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"perpbot: error: the Dask scheduler at {cluster.scheduler_address} took no data")
    assert "dask worker" in err[0]
