"""Provides BacktestResult: trades, the equity curve and metrics, saved to and loaded from JSON.

The JSON file is read by external tools, so its shape is stable (issue 5, "Result file"):
`metrics` (object), `equity` ([[epoch ms, equity], ...], bar closes, thinned to at most
MAX_EQUITY_POINTS evenly spaced points plus the last one), and `trades` (objects with symbol,
side long|short, entry_time, exit_time, entry_price, exit_price, size, fees, funding, slippage,
pnl, exit_reason, entry_reason, stop_price). Plus `symbols`, `timeframe`, `start_ms`,
`end_ms` and `version`.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perpbot.backtest.columns import TradeColumns
from perpbot.errors import PerpbotError
from perpbot.models import Side, Trade

if TYPE_CHECKING:
    from perpbot.backtest.executor import SymbolSignals
    from perpbot.backtest.market import MarketData

FORMAT_VERSION = 1
MAX_EQUITY_POINTS = 20_000


@dataclass
class BacktestResult:
    trades: list[Trade]
    times: np.ndarray  # int64 bar closes, epoch ms
    values: np.ndarray  # equity at each close
    metrics: dict[str, Any]
    symbols: list[str]
    timeframe: str
    start_ms: int
    end_ms: int
    extra: dict[str, Any] = field(default_factory=dict)
    columns: TradeColumns | None = field(default=None, repr=False, compare=False)  # the run's own, not saved

    @property
    def equity(self) -> list[tuple[int, float]]:
        return [(int(t), float(v)) for t, v in zip(self.times, self.values)]

    def to_dict(self) -> dict[str, Any]:
        idx = _thin(len(self.times))
        times, values = self.times[idx].tolist(), round_6(self.values[idx])  # ints and floats, as int() and round() give
        return {
            "version": FORMAT_VERSION,
            "symbols": self.symbols,
            "timeframe": self.timeframe,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "metrics": _jsonable(self.metrics),
            "equity": [[t, v] for t, v in zip(times, values)],
            "trades": [trade_dict(t) for t in self.trades],
            **({"extra": _jsonable(self.extra)} if self.extra else {}),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write atomically (a temp file renamed into place), so a killed run never leaves half a file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
            tmp.replace(target)
        except OSError as exc:
            raise PerpbotError(f"cannot write {target}: {exc.strerror}", "pick a writable path for --json") from exc
        return target

    @classmethod
    def load(cls, path: str | Path) -> "BacktestResult":
        p = Path(path)
        try:
            raw = json.loads(p.read_text())
            eq = np.asarray(raw["equity"], dtype=np.float64).reshape(-1, 2)
            return cls(
                trades=[trade_from_dict(t) for t in raw["trades"]],
                times=eq[:, 0].astype(np.int64), values=eq[:, 1].copy(), metrics=raw["metrics"],
                symbols=list(raw.get("symbols", [])), timeframe=str(raw.get("timeframe", "")),
                start_ms=int(raw.get("start_ms", 0)), end_ms=int(raw.get("end_ms", 0)), extra=raw.get("extra", {}),
            )
        except OSError as exc:
            raise PerpbotError(f"cannot read {p}: {exc.strerror}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise PerpbotError(f"{p} is not a perp-bot backtest result ({type(exc).__name__}: {exc})",
                               "pass a file written by `perpbot backtest --json`") from exc


def trade_dict(t: Trade) -> dict[str, Any]:
    slip = 0.0
    if t.expected_entry_price is not None:
        slip += abs(t.entry_price - t.expected_entry_price) * t.size
    if t.expected_exit_price is not None and t.exit_price is not None:
        slip += abs(t.exit_price - t.expected_exit_price) * t.size
    return {
        "symbol": t.symbol, "side": t.side.value, "entry_time": t.entry_time, "exit_time": t.exit_time,
        "entry_price": t.entry_price, "exit_price": t.exit_price, "size": t.size, "fees": t.fees,
        "funding": t.funding, "slippage": slip, "pnl": t.pnl, "exit_reason": t.exit_reason,
        "entry_reason": t.entry_reason, "stop_price": t.stop_price,
    }


def trade_from_dict(d: dict[str, Any]) -> Trade:
    return Trade(
        symbol=d["symbol"], side=Side(str(d["side"]).lower()), size=float(d["size"]), entry_time=int(d["entry_time"]),
        entry_price=float(d["entry_price"]), mode="backtest", exit_time=d.get("exit_time"),
        exit_price=d.get("exit_price"), stop_price=d.get("stop_price"), fees=float(d.get("fees", 0.0)),
        funding=float(d.get("funding", 0.0)), pnl=d.get("pnl"), exit_reason=d.get("exit_reason"),
        entry_reason=d.get("entry_reason", ""),
    )


def build_equity(data: "MarketData", signals: dict[str, "SymbolSignals"], trades: list[Trade],
                 initial: float, cols: TradeColumns | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Equity at every bar close of the trading range: realized pnl plus open positions marked.

    A position is marked (less its entry fee and the funding paid so far) at the closes
    before its exit; from the first close at or after the exit its net pnl is realized.
    Vectorised per symbol: every (trade, bar) pair of the open stretches in one array; once numba is
    loaded, fastarrays.py computes the same floats in one pass for the realized part and one over the
    marked bars.
    `cols` are the trades' columns when the caller has them already (the metrics share them).
    """
    times = _union([sig.close_time[_after(sig.close_time, data.start_ms):] for sig in signals.values()])
    if not trades or not len(times):
        return times, np.full(len(times), float(initial))
    cols = cols if cols is not None else TradeColumns(trades)
    fast = compiled_arrays()  # fastarrays.py once numba is loaded: one pass each, the same floats
    if fast is not None:
        values = fast.realized(times, initial, cols, signals)
    else:
        values = np.full(len(times), float(initial))
        values += _realized(times, cols.exit_time, cols.pnl)
    names, codes = cols.by_symbol
    for sym, sig in signals.items():  # in this order: the sums are compared bit for bit
        if sym not in names:
            continue
        mine = np.flatnonzero(codes == names.index(sym)) if len(names) > 1 else slice(None)
        if fast is not None:
            fast.add_marks(values, times, sig, cols, mine)
        else:
            _add_marks(values, times, sig.close_time, *_open_marks(sig, cols, mine))
    return times, values


def compiled_arrays() -> Any:
    """fastarrays.py once a compiled run or `preload_compiled` has loaded it (numba loaded), else None:
    the numpy here (and in executor.bar_arrays)."""
    module = sys.modules.get("perpbot.backtest.fastarrays")
    return module if module is not None and module.loaded() else None


def _realized(times: np.ndarray, exit_time: np.ndarray, pnl: np.ndarray) -> np.ndarray:
    """Realized pnl at each close: a trade's pnl counts from the first close at or after its exit.

    Summed over the closes that have exits only (thousands, not half a million), then spread out
    by repeating each running total until the next: the same additions in the same order as a
    cumulative sum over every close (the closes in between would only add 0.0).
    """
    at = np.searchsorted(times, exit_time, side="left")  # len(times): after the last close
    closes, which = np.unique(at, return_inverse=True)
    running = np.cumsum(np.bincount(which, weights=pnl))  # per close: its trades in list order
    inside = int(np.searchsorted(closes, len(times)))
    levels = np.r_[0.0, running[:inside]]
    return np.repeat(levels, np.diff(np.r_[0, closes[:inside], len(times)]))


def _after(close_time: np.ndarray, start_ms: int) -> int:
    """The first close strictly after start_ms (closes are sorted: a search, not a mask and a copy)."""
    return int(np.searchsorted(close_time, start_ms, side="right"))


def _add_marks(values: np.ndarray, times: np.ndarray, close_time: np.ndarray, bar: np.ndarray,
               marks: np.ndarray, distinct: bool) -> None:
    """values[close of bar] += mark for one symbol's marks (distinct: no bar twice)."""
    lead = len(close_time) - len(times)
    if lead >= 0 and np.array_equal(close_time[lead:], times):
        # The usual case: the timeline is this symbol's own closes from the start on, so the
        # position is an offset (searching half a million marks took a quarter of the time here).
        gi = bar - lead
        ok = gi >= 0
    else:
        at = close_time[bar]
        gi = np.searchsorted(times, at)
        ok = (gi < len(times)) & (times[np.minimum(gi, len(times) - 1)] == at)
    if distinct and bool(ok.all()):
        # One position at a time per symbol: a scatter adds each mark once (a bincount over the
        # whole timeline cost more than the marks themselves).
        values[gi] += marks
    else:
        values += np.bincount(gi[ok], weights=marks[ok], minlength=len(times))[:len(times)]


def _open_marks(sig: "SymbolSignals", cols: TradeColumns,
                mine: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, bool]:
    """(bar, unrealized value at its close, no bar twice) for every bar close `mine` trades were open at.

    The arithmetic (operands and order) is the reference's: the curve is compared bit for bit.
    """
    e = np.searchsorted(sig.frame.time, cols.entry_time[mine])
    x = np.searchsorted(sig.close_time, cols.exit_time[mine], side="left")  # closes strictly before the exit
    lengths = np.maximum(x - e, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), True
    # Each trade starting where the one before it ended (the engine's one position per symbol).
    distinct = bool(np.all(e[1:] >= (e + lengths)[:-1]))
    # Bars e, e+1, ... of each trade, laid end to end: a running count plus a per-trade offset.
    bar = np.arange(total, dtype=np.int64)
    bar += np.repeat(e - (np.cumsum(lengths) - lengths), lengths)
    entry = cols.entry_price[mine]
    ss = cols.sign[mine] * cols.size[mine]
    fee_in = cols.fees[mine] * entry / (entry + cols.exit_price[mine])
    # marks = ss * (close - entry) - fee_in - ss * (funding_cum[bar] - funding_cum[e]), in place.
    marks = sig.frame.close[bar].astype(np.float64, copy=False)  # (a copy already: the in-place ops are safe)
    marks -= np.repeat(entry, lengths)
    ss = np.repeat(ss, lengths)
    marks *= ss
    marks -= np.repeat(fee_in, lengths)
    paid = sig.funding_cum[bar].astype(np.float64, copy=False)
    paid -= np.repeat(sig.funding_cum[e], lengths)
    paid *= ss
    marks -= paid
    return bar, marks, distinct


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """Sorted distinct times of already sorted arrays (usually all equal: no work)."""
    if not arrays:
        return np.empty(0, dtype=np.int64)
    if all(len(a) == len(arrays[0]) and np.array_equal(a, arrays[0]) for a in arrays[1:]):
        return arrays[0]
    merged = np.sort(np.concatenate(arrays), kind="stable")
    return merged[np.r_[True, merged[1:] != merged[:-1]]]


def round_6(values: np.ndarray) -> list[float]:
    """[round(float(v), 6) for v in values], the same floats, mostly vectorised (20,000 points: ~16 -> ~1 ms).

    Python's round is the double nearest the decimal N / 10**6 nearest v. Where v * 10**6, itself
    rounded, lies clearly off a half (further than its own rounding error can reach), rint finds that
    N exactly, and N / 1e6, an exact integer below 2**53 divided by an exact 1e6, is correctly rounded
    by IEEE division: that same double. The few values near a half, huge or not finite take round itself.
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = v * 1e6
        n = np.rint(scaled)
        # scaled is off the exact v * 10**6 by at most half its spacing: a half further than a whole spacing
        # away cannot be crossed
        fast = (np.abs(scaled) < 2.0**52) & (np.abs(np.abs(scaled - n) - 0.5) > np.spacing(np.abs(scaled)))
        out = n / 1e6
    rounded = out.tolist()
    for i in np.flatnonzero(~fast).tolist():
        rounded[i] = round(float(v[i]), 6)
    return rounded


def _thin(n: int) -> np.ndarray:
    if n <= MAX_EQUITY_POINTS:
        return np.arange(n)
    idx = np.r_[np.linspace(0, n - 1, MAX_EQUITY_POINTS).astype(np.int64), n - 1]
    # np.unique of an ascending array, without it: np.unique imports numpy.ma (~30 ms of a fresh process)
    return idx[np.r_[True, idx[1:] != idx[:-1]]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
