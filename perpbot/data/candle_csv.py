"""Provides the candle CSV importer: `t,open,high,low,close,volume`, validated before any write.

The whole file is checked first and written in one transaction, so a bad row on line
400,000 leaves the store exactly as it was. t is a bar open time in epoch ms or ISO form.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from perpbot.clock import interval_ms
from perpbot.data.db import Store
from perpbot.data.records import CandleRow
from perpbot.errors import PerpbotError

COLUMNS = ("t", "open", "high", "low", "close", "volume")
_MIN_EPOCH_MS = 100_000_000_000  # 1973 in ms; anything smaller is almost surely epoch seconds


class CandleFileError(PerpbotError):
    """A candle file cannot be read or has a bad row; nothing was imported."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows_read: int  # valid data rows in the file
    imported: int  # rows new to the store
    ignored: int  # duplicates (within the file or already stored)
    first_ms: int | None  # the file's first and last bar open times
    last_ms: int | None
    gaps: tuple[tuple[int, int], ...]  # gaps of the stored series within the file's range
    conflicts: tuple[int, ...] = ()  # bar times whose duplicate differs (in the file, or from the stored bar)


def _parse_t(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        if value < _MIN_EPOCH_MS:
            raise ValueError(f"t={text} looks like epoch seconds; t must be epoch milliseconds (or an ISO time)")
        return value
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"t={text!r} is neither epoch milliseconds nor an ISO time like 2024-01-01T00:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # the documented default: naive times are UTC
    return int(when.timestamp() * 1000)


def _parse_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}={text!r} is not a finite number")
    return value


def _parse_row(values: dict[str, str], symbol: str, interval: str, step: int) -> CandleRow:
    t = _parse_t(values["t"])
    if t % step:
        raise ValueError(f"t={values['t'].strip()} is not the open time of a {interval} bar (not a multiple of {step} ms)")
    o, h, l, c, v = (_parse_number(name, values[name]) for name in COLUMNS[1:])
    if min(o, h, l, c) <= 0:
        raise ValueError("prices must be > 0")
    if v < 0:
        raise ValueError(f"volume={values['volume'].strip()} must be >= 0")
    if h < max(o, c, l):
        raise ValueError(f"high={h:g} is below open, close or low (OHLC inconsistent)")
    if l > min(o, c):
        raise ValueError(f"low={l:g} is above open or close (OHLC inconsistent)")
    return (symbol, interval, t, o, h, l, c, v, 0)


def read_candle_csv(path: str | Path, symbol: str, interval: str) -> tuple[list[CandleRow], list[CandleRow]]:
    """Validate a candle CSV. Returns (rows sorted by t without in-file duplicates, the duplicates: the
    later rows of a bar time, whose values may differ from the first).

    Raises:
        CandleFileError: naming the file, the line and the problem.
    """
    path = Path(path)
    step = interval_ms(interval)
    hint = "fix that line and run the command again; nothing was imported"
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # -sig: spreadsheets prepend a BOM
    except OSError as exc:
        raise CandleFileError(f"cannot read {path}: {exc.strerror}", "check the file path") from exc
    by_t: dict[int, CandleRow] = {}
    duplicates: list[CandleRow] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise CandleFileError(f"{path} is empty", f"the first line must be the header {','.join(COLUMNS)}") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CandleFileError(f"{path}:1: cannot read the header: {exc}", hint) from exc
        if sorted(header) != sorted(COLUMNS):
            raise CandleFileError(
                f"{path}:1: header must name the columns {','.join(COLUMNS)} (got {','.join(header)})",
                "add or fix the header line; columns may come in any order",
            )
        try:
            for fields in reader:
                if not fields or all(not f.strip() for f in fields):
                    continue  # blank lines (often a trailing newline) carry no data
                line = reader.line_num
                if len(fields) != len(header):
                    raise CandleFileError(f"{path}:{line}: expected {len(header)} values, got {len(fields)}", hint)
                try:
                    row = _parse_row(dict(zip(header, fields)), symbol, interval, step)
                except ValueError as exc:
                    raise CandleFileError(f"{path}:{line}: {exc}", hint) from None
                if row[2] in by_t:
                    duplicates.append(row)
                else:
                    by_t[row[2]] = row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CandleFileError(f"{path}:{reader.line_num}: unreadable CSV: {exc}", hint) from exc
    if not by_t:
        raise CandleFileError(f"{path} has a header but no data rows", "add rows t,open,high,low,close,volume")
    return [by_t[t] for t in sorted(by_t)], duplicates


def import_candles(store: Store, path: str | Path, symbol: str, interval: str = "1m") -> ImportResult:
    """Validate the whole file, then insert it in one transaction. A bar stored already, or given twice,
    keeps its first values (a stored row is never rewritten); one whose values differ is a conflict,
    which the result lists so the command can say so."""
    rows, duplicates = read_candle_csv(path, symbol, interval)
    first, last = rows[0][2], rows[-1][2]
    stored = store.load_candles(symbol, interval, first, last + 1)
    kept = {int(t): (o, h, l, c, v) for t, o, h, l, c, v in zip(stored.t, stored.open, stored.high, stored.low,
                                                                  stored.close, stored.volume)}
    firsts = {row[2]: row[3:8] for row in rows}
    conflicts = {row[2] for row in duplicates if row[3:8] != firsts[row[2]]}
    conflicts |= {row[2] for row in rows if row[2] in kept and tuple(row[3:8]) != kept[row[2]]}
    imported = store.insert_candle_rows(rows)
    gaps = tuple((a, b) for a, b in store.candle_gaps(symbol, interval, interval_ms(interval), start=first) if b < last)
    read = len(rows) + len(duplicates)
    return ImportResult(read, imported, read - imported, first, last, gaps, tuple(sorted(conflicts)))
