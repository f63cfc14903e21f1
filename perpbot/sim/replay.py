"""Provides the replay inputs of the simulator: a 1m candle CSV and an hourly funding CSV.

Times in the files are kept as they are: a replayed file is history on the simulator's own
clock, served up to now and released bar by bar as the clock passes later ones.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from perpbot.clock import MINUTE_MS
from perpbot.errors import ConfigError
from perpbot.sim.model import Bars, coin_key, path_shape

CANDLE_COLUMNS = ("t", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("t", "rate")
_MIN_EPOCH_MS = 100_000_000_000  # 1973 in ms: smaller values are almost surely epoch seconds


def _rows(path: Path, columns: tuple[str, ...], flag: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, values by column) for each data row; header and shape checked."""
    hint = f"fix that line of the {flag} file"
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror})", "check the file path") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
            if sorted(header) != sorted(columns):
                raise ConfigError(f"{flag} {path}:1: the header must be {','.join(columns)} (got {','.join(header) or 'nothing'})",
                                  "put the column names on the first line")
            for fields in reader:
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) != len(header):
                    raise ConfigError(f"{flag} {path}:{reader.line_num}: expected {len(header)} values, got {len(fields)}", hint)
                yield reader.line_num, dict(zip(header, (f.strip() for f in fields)))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{flag} {path}:{reader.line_num}: unreadable CSV ({exc})", hint) from exc


def _number(values: dict[str, str], name: str) -> float:
    try:
        x = float(values[name])
    except ValueError:
        raise ValueError(f"{name}={values[name]!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{name}={values[name]!r} is not a finite number")
    return x


def _time(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"t={text!r} is not epoch milliseconds")
    t = int(text)
    if t < _MIN_EPOCH_MS:
        raise ValueError(f"t={text} looks like epoch seconds; t must be epoch milliseconds")
    return t


def _candle(values: dict[str, str]) -> tuple[int, float, float, float, float, float]:
    t = _time(values["t"])
    if t % MINUTE_MS:
        raise ValueError(f"t={t} is not the open time of a 1m bar (not a multiple of 60000)")
    o, h, lo, c, v = (_number(values, k) for k in CANDLE_COLUMNS[1:])
    if min(o, h, lo, c) <= 0 or v < 0:
        raise ValueError("prices must be > 0 and volume >= 0")
    if h < max(o, c, lo) or lo > min(o, c):
        raise ValueError(f"high={h:g} / low={lo:g} do not contain open={o:g} and close={c:g}")
    return t, o, h, lo, c, v


def load_candles(path: str | Path, seed: int, coin: str) -> Bars:
    """Read a 1m candle CSV (t,open,high,low,close,volume) into bars, sorted by t.

    Raises:
        ConfigError: naming the file, the line and the problem.
    """
    path = Path(path)
    rows: dict[int, tuple[int, float, float, float, float, float]] = {}
    for line, values in _rows(path, CANDLE_COLUMNS, "--candles"):
        try:
            row = _candle(values)
        except ValueError as exc:
            raise ConfigError(f"--candles {path}:{line}: {exc}", "fix that line of the candle file") from None
        if row[0] in rows:
            raise ConfigError(f"--candles {path}:{line}: a second bar at t={row[0]}", "keep one row per minute")
        rows[row[0]] = row
    if not rows:
        raise ConfigError(f"--candles {path} has no data rows", "add rows t,open,high,low,close,volume")
    data = np.array([rows[t] for t in sorted(rows)], dtype=np.float64)
    t = data[:, 0].astype(np.int64)
    o, h, lo, c, v = (data[:, k] for k in range(1, 6))
    # Replayed files carry no intra-bar path or trade count: derive both deterministically.
    u = np.random.default_rng([seed, coin_key(coin), 2]).random((3, len(t)))
    low_first, f1, f2 = path_shape(o, c, u[0], u[1], u[2])
    n = np.maximum(1, np.round(v * c / 2_500.0)).astype(np.int64)
    return Bars(t, o, h, lo, c, v, n, low_first, f1, f2)


def load_funding(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read an hourly funding CSV (t,rate) as (times, rates, premiums); premium = 8 x rate.

    Raises:
        ConfigError: naming the file, the line and the problem.
    """
    path = Path(path)
    rows: dict[int, float] = {}
    for line, values in _rows(path, FUNDING_COLUMNS, "--funding"):
        try:
            t, rate = _time(values["t"]), _number(values, "rate")
            if abs(rate) > 0.04:
                raise ValueError(f"rate={rate:g} is beyond the exchange's 4% per hour cap (use fractions: 0.0001 = 0.01%)")
        except ValueError as exc:
            raise ConfigError(f"--funding {path}:{line}: {exc}", "fix that line of the funding file") from None
        rows[t] = rate
    if not rows:
        raise ConfigError(f"--funding {path} has no data rows", "add rows t,rate")
    times = np.array(sorted(rows), dtype=np.int64)
    rates = np.array([rows[t] for t in times.tolist()], dtype=np.float64)
    return times, rates, np.round(rates * 8, 10)
