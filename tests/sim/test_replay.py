"""Replaying candle and funding CSVs: history up to the clock at once, later bars as the clock reaches them."""

from __future__ import annotations

import httpx
import pytest

from perpbot.clock import HOUR_MS, FakeClock
from perpbot.errors import ConfigError
from perpbot.sim.server import SimOptions, SimServer

T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
M = 60_000


def _write_candles(path, n=120, skip=()):
    lines = ["t,open,high,low,close,volume"]
    px = 100.0
    for i in range(n):
        if i in skip:
            continue
        o, c = px, px + (1 if i % 3 else -2) * 0.25
        lines.append(f"{T0 + i * M},{o},{max(o, c) + 0.5},{min(o, c) - 0.5},{c},{10 + i}")
        px = c
    path.write_text("\n".join(lines) + "\n")
    return path


def _candles(sim, interval="1m", start=T0 - HOUR_MS):
    body = {"type": "candleSnapshot", "req": {"coin": "XYZ", "interval": interval, "startTime": start}}
    r = httpx.post(sim.url + "/info", json=body)
    assert r.status_code == 200
    return r.json()


def test_replay_serves_history_then_releases_bars_as_the_clock_reaches_them(tmp_path):
    csv = _write_candles(tmp_path / "xyz.csv")
    clock = FakeClock(T0 + 60 * M + 30_000)
    opts = SimOptions(symbols=["XYZ"], candles_file=str(csv), start_ms=clock.now_ms())
    with SimServer(opts, port=0, clock=clock) as sim:
        first = _candles(sim)
        assert len(first) == 61 and first[0]["t"] == T0 and first[-1]["t"] == T0 + 60 * M  # the last one forming
        assert first[0] == {"t": T0, "T": T0 + M - 1, "s": "XYZ", "i": "1m", "o": "100.0", "c": "99.5",
                            "h": "100.5", "l": "99.0", "v": "10.0", "n": first[0]["n"]}
        mid = float(httpx.post(sim.url + "/info", json={"type": "allMids"}).json()["XYZ"])
        assert float(first[-1]["l"]) <= mid <= float(first[-1]["h"]) and first[-1]["c"] == repr(mid)
        clock.set(T0 + 90 * M)
        assert len(_candles(sim)) == 91
        quarter = _candles(sim, "15m")
        assert [c["t"] for c in quarter] == [T0 + k * 15 * M for k in range(7)]
        assert quarter[0]["o"] == "100.0" and float(quarter[0]["v"]) == sum(10 + i for i in range(15))
        clock.set(T0 + 500 * M)  # past the file's end: everything, all closed, the mid holds the last close
        final = _candles(sim)
        assert len(final) == 120 and final[-1]["T"] < clock.now_ms()
        assert httpx.post(sim.url + "/info", json={"type": "allMids"}).json()["XYZ"] == final[-1]["c"]


def test_a_replay_started_now_serves_the_whole_file_at_once(tmp_path):
    csv = _write_candles(tmp_path / "xyz.csv", n=30, skip={10, 11})
    with SimServer(SimOptions(symbols=["XYZ"], candles_file=str(csv)), port=0) as sim:
        rows = _candles(sim)
        assert len(rows) == 28 and T0 + 10 * M not in {r["t"] for r in rows}  # the file's gap stays a gap
        funding = httpx.post(sim.url + "/info", json={"type": "fundingHistory", "coin": "XYZ", "startTime": 0}).json()
        assert funding == []  # the file ends before the first hour ends: no funding was due


def test_funding_file_is_served_as_given(tmp_path):
    csv = _write_candles(tmp_path / "xyz.csv", n=300)
    rates = tmp_path / "funding.csv"
    rates.write_text("t,rate\n" + "".join(f"{T0 + h * HOUR_MS},{(-1) ** h * 0.00001 * (h + 1)}\n" for h in range(6)))
    clock = FakeClock(T0 + 3 * HOUR_MS + 5 * M)
    opts = SimOptions(symbols=["XYZ"], candles_file=str(csv), funding_file=str(rates), start_ms=clock.now_ms())
    with SimServer(opts, port=0, clock=clock) as sim:
        got = httpx.post(sim.url + "/info", json={"type": "fundingHistory", "coin": "XYZ", "startTime": 0}).json()
        assert [(r["time"], r["fundingRate"]) for r in got] == [
            (T0, "0.00001"), (T0 + HOUR_MS, "-0.00002"), (T0 + 2 * HOUR_MS, "0.00003"), (T0 + 3 * HOUR_MS, "-0.00004")]


def test_without_a_funding_file_the_replay_derives_hourly_funding(tmp_path):
    csv = _write_candles(tmp_path / "xyz.csv", n=300)
    with SimServer(SimOptions(symbols=["XYZ"], candles_file=str(csv)), port=0) as sim:
        got = httpx.post(sim.url + "/info", json={"type": "fundingHistory", "coin": "XYZ", "startTime": 0}).json()
        hours = [r["time"] // HOUR_MS * HOUR_MS for r in got]  # each a few ms past its hour
        assert hours == [T0 + h * HOUR_MS for h in range(1, 5)]  # each settles the hour before it
        assert all(abs(float(r["fundingRate"])) < 0.001 for r in got)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,open,high,low,close\n", r"xyz.csv:1: the header must be t,open,high,low,close,volume"),
        ("t,open,high,low,close,volume\n", "has no data rows"),
        ("t,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n1704067260000,1,x,0.5,1.5,3\n", r"xyz.csv:3: high='x'"),
        ("t,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n", r"xyz.csv:2: .*epoch seconds"),
        ("t,open,high,low,close,volume\n1704067200001,1,2,0.5,1.5,3\n", r"xyz.csv:2: .*not the open time of a 1m bar"),
        ("t,open,high,low,close,volume\n1704067200000,1,1.2,0.5,1.5,3\n", r"xyz.csv:2: high=1.2 / low=0.5"),
        ("t,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5\n", r"xyz.csv:2: expected 6 values, got 5"),
        ("t,open,high,low,close,volume\n1704067200000,1,2,0.5,1.5,3\n1704067200000,1,2,0.5,1.5,3\n",
         r"xyz.csv:3: a second bar"),
    ],
)
def test_a_bad_candle_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "xyz.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        SimServer(SimOptions(symbols=["XYZ"], candles_file=str(path)), port=0).stop()
    assert info.value.hint


def test_replay_options_are_checked(tmp_path):
    csv = _write_candles(tmp_path / "xyz.csv", n=3)
    with pytest.raises(ConfigError, match="replays one coin but 2 symbols"):
        SimServer(SimOptions(symbols=["XYZ", "BTC"], candles_file=str(csv)), port=0)
    with pytest.raises(ConfigError, match="no such file"):
        SimServer(SimOptions(symbols=["XYZ"], candles_file=str(tmp_path / "missing.csv")), port=0)
    bad = tmp_path / "funding.csv"
    bad.write_text("t,rate\n1704067200000,0.5\n")
    with pytest.raises(ConfigError, match=r"funding.csv:2: rate=0.5 is beyond the exchange's 4% per hour cap"):
        SimServer(SimOptions(symbols=["XYZ"], candles_file=str(csv), funding_file=str(bad)), port=0)
