"""`review` and `compare` read "now" from the clock the daemon trades by: the wall clock, or with
`execution.clock: exchange` the running daemon's time (its ping), else the exchange's own."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from perpbot.cli import main
from perpbot.cli.reports import report_now
from perpbot.clock import FakeClock, WallClock
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.ipc.protocol import ok
from perpbot.ipc.server import StateServer
from perpbot.models import Side, Trade
from perpbot.sim.server import SimOptions, SimServer

H = 3_600_000
T0 = 1_704_067_200_000
AHEAD = T0 + 3000 * 86_400_000  # 2032: where an accelerated exchange's clock has got to


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="pb-now-", dir="/tmp"))  # short: the socket path limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _daemon_at(folder: Path, time_ms: int) -> StateServer:
    """A control socket answering ping as a daemon on that clock would."""
    return StateServer(folder / "perp-bot.sock", lambda cmd, args: ok({"pong": True, "time": time_ms}))


def _settings(folder: Path, clock: str, url: str = "http://127.0.0.1:9"):
    return build_settings({"data": {"db_path": str(folder / "bot.db"), "symbols": ["BTC"]},
                           "exchange": {"base_url": url}, "execution": {"clock": clock}})


def test_the_wall_clock_by_default(folder):
    with _daemon_at(folder, AHEAD):
        assert abs(report_now(_settings(folder, "wall")) - WallClock().now_ms()) < 5_000


def test_the_daemons_time_then_the_exchanges_then_none(folder):
    with _daemon_at(folder, AHEAD):
        assert report_now(_settings(folder, "exchange")) == AHEAD
    clock = FakeClock(AHEAD + H)
    with SimServer(SimOptions(seed=1, symbols=["BTC"], history_days=1, start_ms=AHEAD + H), port=0,
                   clock=clock) as sim:
        assert report_now(_settings(folder, "exchange", sim.url)) == AHEAD + H
    assert report_now(_settings(folder, "exchange")) is None


def test_review_and_compare_follow_the_daemons_clock(folder, capsys):
    (folder / "config.yaml").write_text(f"data:\n  db_path: {folder / 'bot.db'}\n  symbols: [BTC]\n"
                                        "strategy:\n  timeframe: 1h\nexecution:\n  clock: exchange\n"
                                        "exchange:\n  base_url: http://127.0.0.1:9\n  max_retries: 0\n")
    store = Store(folder / "bot.db")
    store.insert_candle_rows([("BTC", "1h", AHEAD - 600 * H + i * H, 100.0 + i % 7, 108.0, 95.0, 100.0 + i % 5,
                               10.0, 1) for i in range(600)])
    opened = AHEAD - 50 * H
    store.insert_trade(Trade("BTC", Side.LONG, 1.0, opened, 100.0, mode="paper", entry_cloid="0x01"))
    store.close()
    config = str(folder / "config.yaml")
    with _daemon_at(folder, AHEAD):
        assert main(["--config", config, "review", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["now_ms"] == AHEAD
        assert main(["--config", config, "compare", "--json"]) == 0
        compared = json.loads(capsys.readouterr().out)
        assert compared["end_ms"] == AHEAD  # the open position is compared up to the daemon's now
    assert main(["--config", config, "review", "--json"]) == 2  # no daemon, no exchange: no "now"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot tell the time" in err[0] and "--at TIME" in err[0]
    assert main(["--config", config, "compare", "--json"]) == 0  # compare falls back to the trades' span
    assert json.loads(capsys.readouterr().out)["end_ms"] == opened + 1
