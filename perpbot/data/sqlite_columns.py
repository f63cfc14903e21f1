"""Provides `read_candles`: a stored candle series read into columns by compiled code.

The column cache's first load of a series (candle_cache.py) read it through sqlite3, whose rows
cost ~1.7 us each in Python objects: ~0.9 s for a year of 1m, per symbol, where SQLite itself
steps through them in ~0.13 s. Here a loop compiled with numba calls SQLite's C API
(`sqlite3_step`, `sqlite3_column_*`) and writes the values straight into the cache's int64
columns (~0.25 s a symbol-year), without the GIL, so several symbols read side by side on
threads.

It calls the very SQLite library Python's sqlite3 module loaded, found in the process's memory
map, and never a second copy: two copies of SQLite in one process drop each other's POSIX locks.
Where that library is not found (not Linux, sqlite3 linked statically) `available()` is False and
the cache reads through sqlite3 as before. Anything unexpected (an open or prepare that fails, a
busy database, a value that is not an integer time or a real price) returns None, and the caller
reads through sqlite3, which reports errors the usual way.
"""

from __future__ import annotations

import ctypes
import sqlite3
from functools import lru_cache
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
from numba import types

from perpbot.signals.jit import compiled

SQLITE_OK, SQLITE_ROW, SQLITE_DONE = 0, 100, 101
SQLITE_INTEGER, SQLITE_FLOAT = 1, 2
SQLITE_OPEN_READONLY = 0x1
SQLITE_TRANSIENT = ctypes.c_void_p(-1)  # SQLite copies a bound text
BAD_VALUE = -1  # _read_rows: a value of another type than the columns declare
QUERY = b"SELECT t, open, high, low, close, volume FROM candles WHERE symbol=? AND interval=? ORDER BY t"
MIN_CAPACITY = 1 << 10  # columns allocated at least, doubled as needed,
MAX_CAPACITY = 1 << 23  # and at most up front, whatever the caller expects (~400 MB; 16 years of 1m)

# SQLite's functions, named for numba: the machine code refers to them by name (so it can be cached)
# and `_library` points LLVM at the functions of the library sqlite3 uses.
_step = types.ExternalFunction("sqlite3_step", types.int32(types.voidptr))
_column_type = types.ExternalFunction("sqlite3_column_type", types.int32(types.voidptr, types.int32))
_column_int64 = types.ExternalFunction("sqlite3_column_int64", types.int64(types.voidptr, types.int32))
_column_double = types.ExternalFunction("sqlite3_column_double", types.float64(types.voidptr, types.int32))


@compiled(nogil=True)
def _read_rows(stmt: int, cols: np.ndarray, start: int) -> tuple[int, int]:
    """Step `stmt` into cols[:, start:] until it is done or cols is full: (rows filled, last code),
    the code SQLITE_ROW when cols filled up first, BAD_VALUE on a value of another type."""
    prices = cols.view(np.float64)
    i = start
    while i < cols.shape[1]:
        rc = _step(stmt)
        if rc != SQLITE_ROW:
            return i, rc
        if _column_type(stmt, 0) != SQLITE_INTEGER:
            return i, BAD_VALUE
        cols[0, i] = _column_int64(stmt, 0)
        for j in range(1, 6):
            if _column_type(stmt, j) != SQLITE_FLOAT:
                return i, BAD_VALUE
            prices[j, i] = _column_double(stmt, j)
        i += 1
    return i, SQLITE_ROW


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    """The SQLite library sqlite3 loaded, with the functions used here declared; None if not found."""
    import _sqlite3  # noqa: F401  (loads the library, if it is a shared one)

    paths = set()
    try:
        with open("/proc/self/maps") as fh:  # address, perms, offset, device, inode, path
            for line in fh:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and Path(parts[5].strip()).name.startswith("libsqlite3"):
                    paths.add(parts[5].strip())
    except OSError:
        return None
    if len(paths) != 1:
        return None
    path = paths.pop()
    lib = ctypes.CDLL(path)
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None
    vp, pvp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    for name, restype, argtypes in (
        ("sqlite3_open_v2", ctypes.c_int, [ctypes.c_char_p, pvp, ctypes.c_int, ctypes.c_char_p]),
        ("sqlite3_busy_timeout", ctypes.c_int, [vp, ctypes.c_int]),
        ("sqlite3_prepare_v2", ctypes.c_int, [vp, ctypes.c_char_p, ctypes.c_int, pvp, vp]),
        ("sqlite3_bind_text", ctypes.c_int, [vp, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, vp]),
        ("sqlite3_finalize", ctypes.c_int, [vp]),
        ("sqlite3_close_v2", ctypes.c_int, [vp]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    for name in ("sqlite3_step", "sqlite3_column_type", "sqlite3_column_int64", "sqlite3_column_double"):
        # The compiled loop's calls resolve to these very functions, whatever else the process has loaded.
        llvm.add_symbol(name, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
    return lib


def available() -> bool:
    """Can `read_candles` read here (SQLite is a shared library we found)? Loads the compiled loop on
    the calling thread: numba's loading allocates ~80 MB that a worker thread's first call would
    leave in a malloc arena of its own (a first three-symbol run peaked at 520 MB instead of 440)."""
    if _library() is None:
        return False
    _read_rows(0, np.empty((6, 0), dtype=np.int64), 0)  # no columns: steps nothing
    return True


def allocate(expected: int) -> np.ndarray:
    """Columns for `expected` rows (bounded): exactly right, `read_candles` returns them uncopied.
    A caller reading on worker threads allocates here, on its own thread: a worker's allocation
    would stay in a malloc arena of the worker's after it is freed (~25 MB a symbol-year)."""
    return np.empty((6, min(max(expected, MIN_CAPACITY), MAX_CAPACITY)), dtype=np.int64)


def read_candles(db_path: Path | str, symbol: str, interval: str, expected: int = 0,
                 columns: np.ndarray | None = None) -> np.ndarray | None:
    """The series' candles, oldest first, as six contiguous int64 rows (t, then the bits of open, high,
    low, close, volume), read in one statement on a read-only connection of its own (one snapshot);
    None when this reader cannot read them (see the module). `expected`: the rows the caller expects,
    or `columns` from `allocate` (grown if too few)."""
    lib = _library()
    if lib is None:
        return None
    db, stmt = ctypes.c_void_p(), ctypes.c_void_p()
    try:
        if lib.sqlite3_open_v2(str(db_path).encode(), ctypes.byref(db), SQLITE_OPEN_READONLY, None) != SQLITE_OK:
            return None
        lib.sqlite3_busy_timeout(db, 10_000)
        if lib.sqlite3_prepare_v2(db, QUERY, -1, ctypes.byref(stmt), None) != SQLITE_OK:
            return None
        for i, value in enumerate((symbol, interval), start=1):
            if lib.sqlite3_bind_text(stmt, i, value.encode(), -1, SQLITE_TRANSIENT) != SQLITE_OK:
                return None
        return _step_all(stmt.value, allocate(expected) if columns is None else columns)
    finally:
        lib.sqlite3_finalize(stmt)  # both accept NULL
        lib.sqlite3_close_v2(db)


def _step_all(stmt: int, cols: np.ndarray) -> np.ndarray | None:
    n = 0
    while True:
        n, rc = _read_rows(stmt, cols, n)
        if rc == SQLITE_DONE:
            return cols if n == cols.shape[1] else np.ascontiguousarray(cols[:, :n])
        if rc != SQLITE_ROW:
            return None
        grown = np.empty((6, 2 * cols.shape[1]), dtype=np.int64)
        grown[:, :n] = cols
        cols = grown
