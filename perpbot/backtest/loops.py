"""Provides the choice of loop for a backtest run: the event loop (engine.py, the readable reference)
or a compiled one (fastloop.py for one symbol under a fixed regime; fastaccount.py for several symbols
or a replayed regime; both with maker orders, fastmaker.py), and loading the compiled
code ahead (`preload_compiled`) where it pays.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perpbot.backtest.executor import SymbolSignals
    from perpbot.backtest.market import MarketData
    from perpbot.backtest.risk_adapter import RegimeReplay
    from perpbot.config import Settings
    from perpbot.signals.engine import Indicators

COMPILED_FROM_ENTRIES = 30_000  # entry candidates from which loading the compiled loop pays (see use_compiled)
# Bars (all symbols) from which loading numba first pays: the indicators then take its kernels too (~0.3 s
# less per year of 1m bars) and the loop is compiled (~0.1 s less), for ~1 s of loading numba, the kernels and
# the loop in a fresh process on a shared 2-core machine (see preload); three symbol-years do not pay yet.
PRELOAD_FROM_BARS = 2_000_000
# Bars (all symbols) from which the indicators' kernels pay once numba itself is loaded (the first run on a
# database imports it to read SQLite, data/sqlite_columns.py): loading the kernels' cached code then costs
# ~0.1 s, and they save ~0.15 s per symbol-year of 1m. Importing numba for them (~0.3 s more) does not pay
# below PRELOAD_FROM_BARS (measured: three symbol-years break even).
KERNELS_FROM_BARS = 500_000


def preload_compiled() -> None:
    """Load numba, the indicators' kernels and the compiled loops now, so that `auto` takes them for
    every run from here on (sweeps, big runs; the daemon and the dashboard at start, on a thread)."""
    from perpbot.backtest import fastaccount, fastarrays, fastloop, fastmetrics  # noqa: F401
    from perpbot.signals.indicators import preload_compiled as preload_kernels

    preload_kernels()
    fastmetrics.preload()
    fastarrays.preload()


def preload(data: MarketData) -> None:
    """Load numba and the compiled loops before a big run's indicators, so that both take them; and
    the indicators' kernels before a smaller run's once numba is imported anyway."""
    bars = sum(len(f) for f in data.frames.values())
    if bars >= PRELOAD_FROM_BARS:
        preload_compiled()
    elif bars >= KERNELS_FROM_BARS and "numba" in sys.modules:
        from perpbot.signals.indicators import preload_compiled as preload_kernels

        preload_kernels()


def use_compiled(loop: str, signals: dict[str, tuple[SymbolSignals, Indicators]]) -> bool:
    """Run a compiled loop? It pays once numba is loaded (a sweep, the dashboard, `preload_compiled`)
    or when the run has many entry candidates: loading numba and the cached machine code costs
    ~0.6 s in a fresh process (the first run on a machine also compiles), the event loop ~20 us
    per event."""
    if loop not in ("auto", "compiled", "events"):
        raise ValueError(f"loop must be auto, compiled or events (got {loop!r})")
    if loop != "auto":  # every run has a compiled loop: fastloop.py or fastaccount.py, maker orders included
        return loop == "compiled"
    if "perpbot.backtest.fastloop" in sys.modules:
        return True
    return sum(len(sig.entry_bars) for sig, _ in signals.values()) >= COMPILED_FROM_ENTRIES


def run_compiled(signals: dict[str, tuple[SymbolSignals, Indicators]], settings: Settings, regime: RegimeReplay,
                  data: MarketData) -> tuple:
    """One symbol under a fixed regime: fastloop.py's loop; anything else: fastaccount.py's; each with
    its maker report ({} in taker mode). numba is loaded by then, so the curve's metrics take their
    compiled twins too (fastmetrics.py: ~20 ms once, ~10 ms less every run of a year of 1m)."""
    from perpbot.backtest import fastarrays, fastmetrics

    if not fastmetrics.LOADED.is_set():
        fastmetrics.preload()
    if not fastarrays.LOADED.is_set():
        fastarrays.preload()
    if len(signals) == 1 and not regime.replaying:
        from perpbot.backtest import fastloop

        (sym, (sig, _)), = signals.items()
        return fastloop.run_symbol(sym, sig, settings, regime.at(data.start_ms), data.sz_decimals_of(sym))
    from perpbot.backtest import fastaccount

    ticks = {s: data.sz_decimals_of(s) for s in signals}
    return fastaccount.run_account({s: v[0] for s, v in signals.items()}, settings, regime.timeline(), ticks)
