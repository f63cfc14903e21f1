"""Provides the rich renderers the search commands share: sweeps, walk-forward, the overfitting figures
and identical trades.

`perpbot sensitivity`, `walk-forward` and `optimize` print the same tables and sentence, so a
user learns to read them once.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from perpbot.backtest.overfitting import DSR_BAR, PBO_BAR, Overfitting
from perpbot.backtest.sensitivity import METRICS, SweepResult
from perpbot.backtest.trials import describe_group
from perpbot.backtest.walk_forward import WalkForwardResult
from perpbot.reporting.cells import signed

MARKS = "abcdefghijklmnopqrstuvwxyz"


def overfitting_table(stats: Overfitting) -> Table:
    """DSR, PBO and their inputs in two columns of name/value pairs."""
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="overfitting (per-day figures)", title_justify="left")
    for _ in range(2):
        table.add_column("figure")
        table.add_column("value", justify="right")
    dsr = Text("-" if stats.dsr is None else f"{stats.dsr:.3f}",
               style="" if stats.dsr is None else "green" if stats.dsr >= DSR_BAR else "red")
    pbo = Text("-" if stats.pbo is None else f"{stats.pbo:.3f}",
               style="" if stats.pbo is None else "green" if stats.pbo <= PBO_BAR else
               "red" if stats.pbo >= 0.5 else "yellow")
    cells: list[tuple[str, Any]] = [
        ("deflated Sharpe", dsr), ("PBO (CSCV)", pbo),
        ("daily Sharpe", _num(stats.sharpe)), ("luck's best (SR0)", _num(stats.expected_max_sharpe)),
        ("trials", f"{stats.trials} ({stats.distinct_trials} distinct)"),
        ("Sharpe variance", _num(stats.sharpe_variance, 5)),
        ("returns (days)", str(stats.returns)), ("partitions", "-" if stats.partitions is None else
                                                 f"{stats.partitions} ({stats.splits:,} splits)"),
        ("skewness", _num(stats.skewness)), ("kurtosis (raw)", _num(stats.kurtosis)),
    ]
    for i in range(0, len(cells), 2):
        table.add_row(*cells[i], *cells[i + 1])
    return table


def print_overfitting(raw: dict[str, Any] | None, console: Console) -> None:
    if not raw:
        return
    stats = Overfitting.from_dict(raw)
    console.print(overfitting_table(stats))
    console.print(stats.sentence())


def print_identical(groups: list[dict[str, Any]], console: Console) -> None:
    """One line per group of combinations with identical trades, lettered as the 2-D table marks them."""
    for mark, group in zip(MARKS, groups):
        console.print(f"[yellow]identical trades ({mark})[/]: {describe_group(group)}")


def identical_marks(groups: list[dict[str, Any]]) -> dict[int, str]:
    """Row index -> the letter of its identical-trades group."""
    return {i: mark for mark, g in zip(MARKS, groups) for i in g["rows"]}


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


TOP_ROWS = 20  # rows of the ranked table when a sweep has more than two parameters


PERCENT = ("total_return", "cagr", "max_drawdown", "win_rate", "exposure")


MONEY = ("net_pnl", "expectancy", "final_equity", "fees", "funding")


# Cell styles from worst to best (the 2-D table colours each cell by its place in the range).
SCALE = ("red", "dark_orange", "yellow", "green_yellow", "green")


SIGNED = ("sharpe", "sortino", "total_return", "cagr", "net_pnl", "expectancy")  # coloured by sign


def print_sweep(result: SweepResult, console: Console) -> None:
    valid = [r for r in result.rows if "error" not in r]
    console.print(f"[bold]Sensitivity[/] {', '.join(result.symbols)} {result.timeframe}, "
                  f"{_day(result.start_ms)} to {_day(result.end_ms)} UTC: {len(valid)} combinations, "
                  f"ranked by {result.metric}")
    if len(result.params) == 2:
        px, py = (_short(p) for p in result.params)
        console.print(f"{result.metric} by {px} (across) and {py} (down); the best cell is highlighted")
        console.print(heatmap_table(result))
    else:
        console.print(ranked_table(result))
    skipped = [r for r in result.rows if "error" in r]
    if skipped:
        console.print(f"[yellow]{len(skipped)} combination{'s' if len(skipped) > 1 else ''} skipped[/] "
                      f"(invalid config), e.g. {skipped[0]['error']}")
    best = result.best()
    shown = (("return", "total_return"), ("max DD", "max_drawdown"))
    extra = [f"{label} {fmt(key, best.get(key))}" for label, key in shown if key != result.metric]
    console.print(f"best: [bold]{_combo(best, result.params)}[/] -> {result.metric} "
                  f"{fmt(result.metric, best.get(result.metric))}, {', '.join(extra)}, {best['trades']} trades")
    print_identical(result.identical, console)
    print_overfitting(result.overfitting, console)


def heatmap_table(result: SweepResult) -> Table:
    """The metric over two parameters: first parameter across, second down; the best cell bold."""
    xs, ys, matrix = result.heatmap()
    px, py = (_short(p) for p in result.params)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column(f"{py} \\ {px}", justify="right", style="bold")
    for x in xs:
        table.add_column(_value(x), justify="right")
    flat = [v for row in matrix for v in row if not math.isnan(v)]
    best = result.best()
    marks = {(r[result.params[0]], r[result.params[1]]): m
             for i, m in identical_marks(result.identical).items() for r in [result.rows[i]]}
    for y, row in zip(ys, matrix):
        cells = []
        for x, v in zip(xs, row):
            style = _scale(result.metric, v, flat)
            if best[result.params[0]] == x and best[result.params[1]] == y:
                style += " bold reverse"
            mark = f" {marks[(x, y)]}" if (x, y) in marks else ""
            cells.append(Text(fmt(result.metric, None if math.isnan(v) else v) + mark, style=style))
        table.add_row(_value(y), *cells)
    return table


def ranked_table(result: SweepResult) -> Table:
    """One row per combination (one parameter: grid order; more: the TOP_ROWS best)."""
    rows = [r for r in result.rows if "error" not in r] if len(result.params) <= 1 else result.ranked()[:TOP_ROWS]
    title = f"{result.metric} by {_short(result.params[0])}" if len(result.params) == 1 else (
        f"top {len(rows)} by {result.metric}")
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    columns = [result.metric] + [m for m in ("sharpe", "total_return", "max_drawdown", "win_rate") if m != result.metric]
    for p in result.params:
        table.add_column(_short(p), justify="right")
    for m in columns:
        table.add_column(m.replace("_", " "), justify="right")
    table.add_column("trades", justify="right")
    table.add_column("same", justify="left")
    flat = [float(r[result.metric]) for r in rows if r.get(result.metric) is not None]
    marks = {id(result.rows[i]): m for i, m in identical_marks(result.identical).items()}
    for r in rows:
        head = Text(fmt(result.metric, r.get(result.metric)), style=_scale(result.metric, r.get(result.metric), flat))
        table.add_row(*(_value(r[p]) for p in result.params), head, *(fmt(m, r.get(m)) for m in columns[1:]),
                      str(r["trades"]), marks.get(id(r), ""))
    return table


def print_walk_forward(result: WalkForwardResult, console: Console) -> None:
    s = result.stitched
    kind = "anchored" if result.anchored else "rolling"
    console.print(f"[bold]Walk-forward[/] ({kind}) {', '.join(s.symbols)} {s.timeframe}: {len(result.windows)} windows, "
                  f"out of sample {_day(s.start_ms)} to {_day(s.end_ms)} UTC, picked by {result.metric}")
    console.print(windows_table(result))
    console.print(stitched_table(result))
    ratio = result.oos_is_ratio
    style = "red" if ratio is None or ratio < 0 else "yellow" if ratio < 0.5 else "green"
    per = " per 30 d" if result.metric in ("total_return", "net_pnl") else ""
    console.print(f"{result.metric}{per}: in-sample {fmt(result.metric, result.in_sample)}, out-of-sample "
                  f"{fmt(result.metric, result.out_of_sample)} (means over windows); OOS/IS "
                  f"[{style}]{'-' if ratio is None else f'{ratio:.2f}'}[/]")
    picks = Counter(_combo(w.params, result.params) for w in result.windows)
    console.print("picked: " + ", ".join(f"{combo} x{n}" for combo, n in picks.most_common()))
    if result.untested_ms:
        days = result.untested_ms / 86_400_000
        console.print(f"[dim]the last {days:.1f} d are untested (shorter than one test window)[/]")
    print_overfitting(result.overfitting, console)


def windows_table(result: WalkForwardResult) -> Table:
    """One row per window; a train window ends where its test window starts."""
    m = result.metric
    table = Table(box=box.SIMPLE_HEAD, title=f"windows ({m} on train and test, test return)", title_justify="left",
                  pad_edge=False)
    for col in ("#", "train from", "test from", "test to", "picked", "train", "test", "return", "trades"):
        dates = col in ("train from", "test from", "test to")
        table.add_column(col, justify="left" if dates or col == "picked" else "right", no_wrap=col != "picked",
                         min_width=10 if dates else None)
    for n, w in enumerate(result.windows, 1):
        test_value = fmt(m, w.test_metrics.get(m))
        table.add_row(str(n), _date(w.train_start), _date(w.test_start), _date(w.test_end),
                      _combo(w.params, result.params) or "-", fmt(m, w.train_metric),
                      signed(test_value) if m in SIGNED else test_value,
                      signed(fmt("total_return", w.test_metrics.get("total_return"))), str(w.test_trades))
    return table


def stitched_table(result: WalkForwardResult) -> Table:
    m = result.stitched.metrics
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="stitched out-of-sample", title_justify="left")
    for _ in range(2):
        table.add_column("metric")
        table.add_column("value", justify="right")
    cells: list[tuple[str, str | Text]] = [
        ("total return", signed(fmt("total_return", m["total_return"]))), ("Sharpe", fmt("sharpe", m["sharpe"])),
        ("Sortino", fmt("sortino", m["sortino"])), ("max drawdown", fmt("max_drawdown", m["max_drawdown"])),
        ("trades", str(m["trades"])), ("win rate", fmt("win_rate", m["win_rate"])),
        ("profit factor", fmt("profit_factor", m["profit_factor"])), ("net pnl", signed(fmt("net_pnl", m["net_pnl"]))),
        ("fees paid", fmt("fees", m["fees"])), ("funding paid", fmt("funding", m["funding"])),
    ]
    for i in range(0, len(cells), 2):
        table.add_row(*cells[i], *cells[i + 1])
    return table


def fmt(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = value + 0  # -0.0 prints as 0.00
    if metric in PERCENT:
        return f"{value * 100:+.2f} %" if metric == "total_return" or metric == "cagr" else f"{value * 100:.2f} %"
    if metric in MONEY:
        return f"{value:+,.2f}" if metric in ("net_pnl", "expectancy") else f"{value:,.2f}"
    if metric == "trades":
        return str(int(value))
    return f"{value:.2f}"


def _scale(metric: str, value: Any, values: list[float]) -> str:
    """A colour from SCALE by the value's place between the worst and best of the sweep."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "dim"
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    if hi <= lo:
        return SCALE[-1]
    where = (float(value) - lo) / (hi - lo)
    if not METRICS.get(metric, True):
        where = 1.0 - where
    return SCALE[min(len(SCALE) - 1, int(where * len(SCALE)))]




def _short(key: str) -> str:
    return key.partition(".")[2] or key


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _combo(row: dict[str, Any], params: list[str]) -> str:
    return " ".join(f"{_short(p)}={_value(row[p])}" for p in params)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
