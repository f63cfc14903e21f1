"""Provides `compiled`: numba's njit with a disk cache that outlives reinstalls of the same version.

numba's own cache sits next to the source (`__pycache__`) or, under NUMBA_CACHE_DIR, in a folder
named after the source's absolute directory, so every new install path (a recreated virtualenv,
a second checkout, a container layer) compiled again: ~10 s on first use. Our locator puts every
perp-bot function's machine code under one folder per module in the user cache directory
(`platformdirs.user_cache_dir("perp-bot")/numba`, or NUMBA_CACHE_DIR when set), in a subfolder
named after a hash of the sources the compiled code is built from (and stamped with it), so that
versions side by side keep their own code. numba still keys each entry by its own version, the
Python version and the CPU, and checks the stamp on load: the same version installed anywhere on
the machine reuses the code; any change to those sources compiles afresh (numba's own stamp
looks at the calling file only, so an edit to risk/rules.py alone would have kept stale code).

The locator plugs in through numba's `FunctionCache._impl_class`, for our functions only; numba's
config and other libraries' functions are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numba
import platformdirs
from numba.core import caching
from numba.core.runtime import rtsys

PACKAGE = Path(__file__).resolve().parents[1]  # perpbot/
CACHE_DIR = Path(platformdirs.user_cache_dir("perp-bot")) / "numba"
# Every source compiled code is built from: the kernels, the loops and the rules they compile, the SQLite reader.
SOURCES = ("signals/kernels.py", "risk/rules.py", "execution/fills.py", "backtest/fastloop.py",
           "backtest/fastaccount.py", "backtest/fastmaker.py", "backtest/fastmetrics.py",
           "backtest/fastarrays.py", "data/sqlite_columns.py")


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`numba.njit(**options)` with its machine code cached by this module's locator."""
    def decorate(fn: Callable[..., Any]) -> Any:
        dispatcher = numba.njit(**options)(fn)
        dispatcher._cache = _Cache(fn)  # what Dispatcher.enable_caching does, with our cache class
        return dispatcher
    return decorate


def cache_root() -> Path:
    return Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else CACHE_DIR


@lru_cache(maxsize=1)
def source_stamp() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((PACKAGE / name).read_bytes())
    return digest.hexdigest()


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """One folder per module under cache_root(), stamped with source_stamp()."""

    def __init__(self, py_func: Callable[..., Any], py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        # One subfolder per version of the sources: numba's index holds one stamp per function and
        # rewrites it on a mismatch, so two versions sharing a folder (two checkouts, an upgrade
        # and a rollback, a bench measuring an older tree beside this one) compiled each other's
        # code away on every switch: ~9 s a time.
        self._cache_path = str(cache_root() / py_func.__module__ / source_stamp()[:16])

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return source_stamp()


class _Impl(caching.CompileResultCacheImpl):
    # Ours first; numba's own if our folder cannot be written.
    _locator_classes = [_Locator, *caching.CompileResultCacheImpl._locator_classes]


class _Cache(caching.FunctionCache):
    _impl_class = _Impl

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The cached machine code, loaded without numba's refresh of its typing and lowering
        registries first: loading needs none of them, and the refresh imports most of numba's
        implementation modules (~0.4 s of a fresh process's ~0.9 s to load the compiled path).
        A miss falls back to numba's own load, refresh included, and compiling refreshes anyway."""
        if not _FAST_LOAD:
            return super().load_overload(sig, target_context)
        rtsys.initialize(target_context)  # what the refresh does first: the code allocates through numba's runtime
        with self._guard_against_spurious_io_errors():
            loaded = self._load_overload(sig, target_context)
        return loaded if loaded is not None else super().load_overload(sig, target_context)


# The shortcut above leans on two private methods of numba's FunctionCache (present from 0.60, the
# oldest numba we accept, to today's): a numba without them takes its own load, refresh and all.
_FAST_LOAD = all(hasattr(caching.FunctionCache, name) for name in ("_load_overload", "_guard_against_spurious_io_errors"))
