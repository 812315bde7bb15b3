"""Handing the memory a chunk freed back to the system before the next chunk starts."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache


@cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> None:
    """Collect garbage, then return the C heap's free pages to the system (glibc `malloc_trim`;
    nothing more where there is none), so that what the run keeps resident between chunks is what
    it holds, not the most an earlier chunk used. It counts more than once: spaCy's workers are
    forked from the run at each chunk's parse and map its resident pages too (Dask's workers trim
    the same way: distributed's "Memory not released back to the OS" notes)."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
