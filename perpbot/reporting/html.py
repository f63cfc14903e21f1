"""Provides the HTML report of a backtest, walk-forward or optimisation: one self-contained file.

Price with the Bollinger bands and the entries and exits, equity and drawdown are one plotly
figure with plotly.js inlined (no network needed to open the file, nothing loaded from
elsewhere); the metrics, the trades and any search figures are plain HTML tables under it.
plotly is the optional `html` extra. Long series are thinned to MAX_POINTS per line (every
k-th bar, the last kept): a year of 1m bars would make a file a browser struggles with.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from perpbot.errors import PerpbotError
from perpbot.reporting.numbers import metric_cells, money

__all__ = ["Section", "backtest_report", "optimize_report", "overfitting_section", "require_plotly",
           "walk_forward_report", "write_report"]
MAX_TRIAL_ROWS = 50

MAX_POINTS = 20_000
MAX_PRICE_PANELS = 4  # symbols drawn with their bands; the rest are in the tables only
MAX_TRADE_ROWS = 2_000
HINT = "pip install 'perp-bot[html]' (plotly)"
Section = tuple[str, list[str], list[list[Any]]]  # (title, column names, rows)
_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.pos { color: #17703a; } .neg { color: #b0281a; } .note { color: #555; max-width: 60em; }
"""


def require_plotly() -> Any:
    """plotly, or a clear error saying how to install it."""
    try:
        import plotly
    except ImportError:
        raise PerpbotError("--html needs the optional plotting dependency (plotly)", HINT) from None
    return plotly


def backtest_report(result: Any, settings: Any, store: Any, path: str | Path, title: str | None = None,
                    sections: Sequence[Section] = (), note: str = "") -> Path:
    """Write the report of `result` (a BacktestResult), reading its candles back from `store`."""
    from perpbot.backtest.market import load_market
    from perpbot.signals.engine import compute_indicators

    prices = {}
    for symbol in result.symbols[:MAX_PRICE_PANELS]:
        data = load_market(settings, store, [symbol], result.start_ms, result.end_ms, result.timeframe)
        (frame,) = data.frames.values()  # keyed by the stored spelling of the coin
        ind = compute_indicators(frame.high, frame.low, frame.close, settings.strategy)
        first = int(np.searchsorted(frame.time, result.start_ms))
        prices[symbol] = (frame.time[first:], frame.close[first:], ind.lower[first:], ind.middle[first:],
                          ind.upper[first:])
    heading = title or f"Backtest {', '.join(result.symbols)} {result.timeframe}"
    return write_report(path, heading, result, prices, sections, note)


def overfitting_section(raw: dict[str, Any] | None) -> tuple[list[Section], str]:
    """The search's overfitting figures as a table, and the plain sentence on what they mean."""
    if not raw:
        return [], ""
    from perpbot.backtest.overfitting import Overfitting

    stats = Overfitting.from_dict(raw)
    names = ("dsr", "pbo", "sharpe", "expected_max_sharpe", "returns", "skewness", "kurtosis", "trials",
             "distinct_trials", "sharpe_variance", "partitions", "splits")
    rows = [[name.replace("_", " "), raw.get(name)] for name in names]
    return [("Overfitting (per-day figures)", ["figure", "value"], rows)], stats.sentence()


def walk_forward_report(result: Any, settings: Any, store: Any, path: str | Path) -> Path:
    """The stitched out-of-sample result, its windows and the search's overfitting figures."""
    columns = ["train from", "test from", "test to", "picked", f"train {result.metric}", f"test {result.metric}",
               "trades"]
    rows = [[_day(w.train_start), _day(w.test_start), _day(w.test_end),
             " ".join(f"{k.rpartition('.')[2]}={v}" for k, v in w.params.items()), w.train_metric,
             w.test_metrics.get(result.metric), w.test_trades] for w in result.windows]
    extra, note = overfitting_section(result.overfitting)
    title = f"Walk-forward {', '.join(result.stitched.symbols)} {result.stitched.timeframe} (out of sample)"
    return backtest_report(result.stitched, settings, store, path, title,
                           [("Windows", columns, rows), *extra], note)


def optimize_report(result: Any, settings: Any, store: Any, path: str | Path) -> Path:
    """The best trial's backtest, the best trials and the search's overfitting figures."""
    ranked = sorted((t for t in result.trials if t.get("feasible") and t.get("value") is not None),
                    key=lambda t: (-t["value"], t["number"]))[:MAX_TRIAL_ROWS]
    columns = ["#", *(p.rpartition(".")[2] for p in result.params), result.objective, "total return",
               "max drawdown", "trades"]
    rows = [[t["number"], *(t[p] for p in result.params), t["value"], t.get("total_return"), t.get("max_drawdown"),
             t.get("trades")] for t in ranked]
    extra, note = overfitting_section(result.overfitting)
    best = ", ".join(f"{k.rpartition('.')[2]}={v}" for k, v in result.best_params.items())
    title = f"Optimisation {', '.join(result.best.symbols)} {result.best.timeframe}: best trial {best}"
    return backtest_report(result.best, settings, store, path, title,
                           [(f"Best trials by {result.objective} (of {len(result.trials)})", columns, rows), *extra],
                           note)


def write_report(path: str | Path, heading: str, result: Any, prices: dict[str, tuple[np.ndarray, ...]],
                 sections: Sequence[Section] = (), note: str = "") -> Path:
    """The page: the figure, then metrics, extra sections and trades."""
    require_plotly()
    figure = _figure(result, prices).to_html(full_html=False, include_plotlyjs=True,
                                             config={"displaylogo": False, "responsive": True})
    span = f"{_day(result.start_ms)} to {_day(result.end_ms)} UTC"
    body = [f"<h1>{_e(heading)}</h1>", f"<p class='note'>{_e(span)}. {_e(note)}</p>", figure,
            _table("Metrics", ["metric", "value"], _metric_rows(result.metrics))]
    body += [_table(t, cols, rows) for t, cols, rows in sections]
    trades = sorted(result.trades, key=lambda t: t.entry_time)[-MAX_TRADE_ROWS:]
    shown = f" (the last {len(trades)} of {len(result.trades)})" if len(trades) < len(result.trades) else ""
    body.append(_table(f"Trades{shown}", list(_TRADE_COLUMNS), [_trade_row(t) for t in trades]))
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(heading)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    target = Path(path).expanduser()
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise PerpbotError(f"cannot write {target}: {exc.strerror}", "pick a writable path for --html") from exc
    return target


def _figure(result: Any, prices: dict[str, tuple[np.ndarray, ...]]) -> Any:
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    n = len(prices)
    titles = [f"{s} close, Bollinger bands, entries and exits" for s in prices] + ["equity", "drawdown"]
    fig = make_subplots(rows=n + 2, cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=titles,
                        row_heights=[3.0] * n + [2.0, 1.2])
    for row, (symbol, (t, close, lower, middle, upper)) in enumerate(prices.items(), 1):
        x = _dates(t)
        for name, y, style in (("upper band", upper, {"color": "#9db8d9", "width": 1}),
                               ("lower band", lower, {"color": "#9db8d9", "width": 1}),
                               ("middle", middle, {"color": "#c0c0c0", "width": 1, "dash": "dot"}),
                               ("close", close, {"color": "#1f3b63", "width": 1.2})):
            fill = "tonexty" if name == "lower band" else None
            fig.add_trace(go.Scatter(x=_thin(x), y=_thin(y), name=f"{symbol} {name}", line=style, fill=fill,
                                     fillcolor="rgba(157,184,217,0.15)", showlegend=row == 1), row=row, col=1)
        _markers(fig, go, [t for t in result.trades if t.symbol == symbol], row)
    times = _dates(np.asarray(result.times))
    values = np.asarray(result.values, dtype=np.float64)
    fig.add_trace(go.Scatter(x=_thin(times), y=_thin(values), name="equity", line={"color": "#17703a"}),
                  row=n + 1, col=1)
    peak = np.maximum.accumulate(values) if len(values) else values
    dd = np.where(peak > 0, values / np.where(peak > 0, peak, 1.0) - 1.0, 0.0) * 100
    fig.add_trace(go.Scatter(x=_thin(times), y=_thin(dd), name="drawdown %", fill="tozeroy",
                             line={"color": "#b0281a", "width": 1}), row=n + 2, col=1)
    fig.update_layout(height=320 * n + 420, template="plotly_white", margin={"l": 50, "r": 20, "t": 40, "b": 30},
                      legend={"orientation": "h", "y": -0.04}, hovermode="x unified")
    return fig


def _markers(fig: Any, go: Any, trades: list[Any], row: int) -> None:
    for side, symbol, colour in (("long", "triangle-up", "#17703a"), ("short", "triangle-down", "#b0281a")):
        mine = [t for t in trades if t.side.value == side]
        if mine:
            fig.add_trace(go.Scatter(
                x=_dates(np.array([t.entry_time for t in mine])), y=[t.entry_price for t in mine], mode="markers",
                name=f"{side} entry", marker={"symbol": symbol, "size": 9, "color": colour},
                text=[t.entry_reason for t in mine], showlegend=row == 1), row=row, col=1)
    closed = [t for t in trades if t.exit_time is not None]
    if closed:
        fig.add_trace(go.Scatter(
            x=_dates(np.array([t.exit_time for t in closed])), y=[t.exit_price for t in closed], mode="markers",
            name="exit", marker={"symbol": "x", "size": 8, "color": "#333"},
            text=[f"{t.exit_reason} {t.pnl:+.2f}" for t in closed], showlegend=row == 1), row=row, col=1)


_TRADE_COLUMNS = ("symbol", "side", "entry (UTC)", "entry price", "exit (UTC)", "exit price", "size", "pnl",
                  "fees", "funding", "exit reason")


def _trade_row(t: Any) -> list[Any]:
    return [t.symbol, t.side.value, _when(t.entry_time), f"{t.entry_price:.6g}", _when(t.exit_time),
            "-" if t.exit_price is None else f"{t.exit_price:.6g}", f"{t.size:g}", _signed(t.pnl),
            f"{t.fees:.2f}", f"{t.funding:.2f}", t.exit_reason or "open"]


def _metric_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    """The metrics as `perpbot backtest` prints them (signed figures coloured), after the initial equity."""
    rows: list[list[Any]] = [["initial equity", money(metrics.get("initial_equity"), signed=False)]]
    for label, text, sign in metric_cells(metrics):
        rows.append([label, text if sign is None else (text, "pos" if sign > 0 else "neg" if sign < 0 else "")])
    return rows


def _table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<h2>{_e(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, tuple):  # (text, css class)
        return f"<td class='{value[1]}'>{_e(value[0])}</td>"
    return f"<td>{_e(_fmt(value))}</td>"


def _signed(v: float | None) -> Any:
    if v is None:
        return "-"
    return (f"{v:+,.2f}", "pos" if v > 0 else "neg" if v < 0 else "")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.2f}"
    return str(v)


def _dates(ms: np.ndarray) -> np.ndarray:
    return np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")


def _thin(a: np.ndarray) -> np.ndarray:
    if len(a) <= MAX_POINTS:
        return a
    idx = np.unique(np.r_[np.arange(0, len(a), math.ceil(len(a) / MAX_POINTS)), len(a) - 1])
    return a[idx]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _when(ms: int | None) -> str:
    return "-" if ms is None else _day(ms)
