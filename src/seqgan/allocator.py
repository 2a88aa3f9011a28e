"""Keep freed memory in the process, so that each training step does not page-fault it back in.

A D step frees and reallocates the same ~12 MB buffers every step; glibc would hand them back to the
system and fault them in again (a bf16 step ~37 instead of ~27 ms). :func:`keep_freed_memory` raises
``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB, as ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` would; the cost is resident memory (the paper round's peak 933 -> ~1,400
MB). The training commands call it (``seqgan.experiments.common.setup_torch``); API users may call it
once at start. It does nothing off glibc, or when ``SEQGAN_MALLOC=default`` is set. Measurements:
``docs/performance.md``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit for M_MMAP_THRESHOLD on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process (see the module doc); True if they are set."""
    global _done
    if _done is None:
        _done = False
        if os.environ.get("SEQGAN_MALLOC", "") != "default" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            # mallopt returns 1 on success, 0 if a value is out of range.
            _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
