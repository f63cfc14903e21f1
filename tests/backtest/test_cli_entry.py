"""The `perpbot` console script (cli.entry) exits with main's code and leaves the same files, after
freezing the run's objects out of the collector for a quicker exit."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

from bt_data import insert_walk

from perpbot.cli import backtest, main
from perpbot.cli.research import _collector_paused
from perpbot.data.db import Store

ENTRY = "from perpbot.cli import entry; entry()"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def _config(tmp_path: Path) -> Path:
    store = Store(tmp_path / "e.db")
    store.migrate()
    insert_walk(store, "BTC", 2_000, seed=3)
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text("data:\n  db_path: e.db\n  symbols: [BTC]\n")
    return config


def test_a_backtest_through_the_console_script_saves_what_main_saves(tmp_path):
    _config(tmp_path)
    done = _run(tmp_path, "backtest", "--json", "entry.json")
    assert done.returncode == 0, done.stderr
    assert "trades in" in done.stdout
    assert main(["--config", str(tmp_path / "config.yaml"), "backtest", "--json", str(tmp_path / "main.json")]) == 0
    assert json.loads((tmp_path / "entry.json").read_text()) == json.loads((tmp_path / "main.json").read_text())


def test_an_error_keeps_its_exit_code_and_one_line(tmp_path):
    done = _run(tmp_path, "--config", str(tmp_path / "missing.yaml"), "backtest")
    assert done.returncode == 2
    assert done.stderr.startswith("perpbot: error: ") and done.stderr.count("\n") == 1


def test_a_backtest_pauses_the_collector_and_turns_it_back_on(tmp_path, monkeypatch):
    seen = []
    real = backtest.run_backtest
    monkeypatch.setattr(backtest, "run_backtest", lambda *a, **k: seen.append(gc.isenabled()) or real(*a, **k))
    config = _config(tmp_path)
    assert gc.isenabled()
    assert main(["--config", str(config), "backtest", "--json", str(tmp_path / "r.json")]) == 0
    assert seen == [False] and gc.isenabled()
    assert main(["--config", str(tmp_path / "missing.yaml"), "backtest"]) == 2  # an error turns it back on too
    assert gc.isenabled()


def test_cycles_made_while_paused_are_still_collected_after():
    class Node:
        pass

    with _collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle only the collector can free
        gone = weakref.ref(a)
        del a, b
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None
