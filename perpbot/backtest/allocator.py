"""Provides `keep_freed_arrays`: the C allocator keeps freed big arrays for reuse rather than unmapping them.

A backtest over a year of 1m bars makes dozens of half-million-element temporaries (4 MB each)
per run. glibc serves blocks above its mmap threshold (128 KB at start) with fresh pages from
the kernel and returns them on free, so each temporary paid ~1,000 page faults: the plain
z-score run took 53 ms instead of 30. glibc raises the threshold by itself once the process
frees a mapped block (up to 32 MB), which is why the same code measured fast or slow depending
on whether some earlier step happened to free a big array (the candle cache's row file used to;
issue 20's "slower" plain z-score). Here the process sets what glibc's own adjustment would
reach, so every run gets it, deterministically: blocks below 32 MB come from the heap, and up to
64 MB of freed heap stays with the process. Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets beside a raised threshold


@lru_cache(maxsize=1)
def keep_freed_arrays() -> bool:
    """Set glibc's thresholds once per process; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: their own allocators
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
