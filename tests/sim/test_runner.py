"""`perpbot sim`: serves until Ctrl-C (exit 0), maps flags to options, and fails clearly on bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from perpbot.cli import build_parser, main
from perpbot.cli.sim import options_from_args


def test_sim_command_prints_its_url_serves_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "perpbot.cli", "sim", "--port", "0", "--history-days", "0.5", "--symbols", "BTC,DOGE",
         "--seed", "3", "--start", "2024-03-01T12:00"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("perpbot sim: serving http://127.0.0.1:") and "BTC,DOGE" in line
        assert "clock 2024-03-01T12:00:00Z" in line
        url = line.split()[3]
        meta = httpx.post(url + "/info", json={"type": "meta"}, timeout=5).json()
        assert [a["name"] for a in meta["universe"]] == ["BTC", "DOGE"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


@pytest.mark.e2e
def test_sim_command_runs_a_scenario_file(tmp_path):
    scenario = tmp_path / "crash.yaml"
    scenario.write_text("events:\n  - {kind: price_move, at: 1h, coin: BTC, pct: -8, over: 2m}\n"
                        "  - {kind: rate_limit, at: 2h, for: 1m}\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "perpbot.cli", "sim", "--port", "0", "--history-days", "0.2", "--symbols", "BTC",
         "--start", "2024-03-01T12:00", "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = proc.stdout.readline().split()[3]
        lines = [proc.stdout.readline() for _ in range(3)]
        assert any("scenario" in line and "2 events (price_move, rate_limit)" in line for line in lines)
        events = httpx.get(url + "/sim/scenario", timeout=5).json()["events"]
        assert [(e["kind"], e["at_ms"]) for e in events] == [("price_move", 1_709_298_000_000), ("rate_limit", 1_709_301_600_000)]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_flags_become_options_and_faults():
    args = build_parser().parse_args(
        ["sim", "--seed", "9", "--symbols", "eth, SOL", "--speed", "60", "--candle-limit", "0", "--history-days", "2",
         "--error-rate", "0.1", "--rate-limit-rate", "0.05", "--latency-ms", "200", "--malformed-rate", "0.02",
         "--ws-stall"])
    opts = options_from_args(args, 1_704_067_200_000)
    assert (opts.seed, opts.symbols, opts.speed, opts.candle_limit, opts.history_days, opts.start_ms) == (
        9, ["eth", "SOL"], 60.0, 0, 2.0, 1_704_067_200_000)
    f = opts.faults
    assert (f.error_rate, f.rate_limit_rate, f.latency_ms, f.malformed_rate, f.ws_stall) == (0.1, 0.05, 200, 0.02, True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--port", "0", "--speed", "0"], "speed must be > 0"),
        (["sim", "--port", "0", "--error-rate", "2"], "--error-rate must be a probability"),
        (["sim", "--port", "0", "--start", "yesterday"], "cannot read the time 'yesterday'"),
        (["sim", "--port", "0", "--candles", "/nonexistent/x.csv", "--symbols", "BTC"], "no such file"),
        (["sim", "--port", "0", "--scenario", "/nonexistent/crash.yaml"], "--scenario /nonexistent/crash.yaml: no such file"),
    ],
)
def test_bad_flags_fail_with_one_clear_error(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err and "Traceback" not in err


def test_a_bad_candle_row_is_named_by_line(tmp_path, capsys):
    path = tmp_path / "btc.csv"
    path.write_text("t,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n1704067260000,1,2,0.5,1.5,-3\n")
    assert main(["sim", "--port", "0", "--candles", str(path), "--symbols", "BTC"]) == 2
    assert f"{path}:3: prices must be > 0 and volume >= 0" in capsys.readouterr().err
