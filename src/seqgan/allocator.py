"""Keep freed memory in the process, so that each training step does not page-fault it back in.

A D step at the paper's shapes allocates and frees the same ~12 MB buffers every step (the bf16
copies of the highway weights under autocast, their float32 gradients, GEMM outputs). glibc's
``malloc`` serves blocks this large from ``mmap`` or trims them off the top of the heap when they are
freed, so the next step touches fresh pages: measured 1,600-6,000 minor page faults per D step
(2 threads, paper shapes), and a bf16 step of ~37 ms instead of ~27 ms (a float32 step: ~35 ms either
way; an MLE epoch of 10,000 sequences: 3.9 s before, 2.7 s after).

:func:`keep_freed_memory` raises glibc's two thresholds (``M_MMAP_THRESHOLD`` to 32 MiB, its
maximum; ``M_TRIM_THRESHOLD`` to 1 GiB), which is what ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment do, from inside the process. The cost: memory freed
by the process stays mapped to it, and blocks up to 32 MiB come from the heap, where fragmentation
holds on to more: the paper round's peak resident size went from 933 to about 1,400 MB
(``benchmarks/run.py``, ``peak_rss_mb``). The training commands call it (``seqgan.experiments.common.setup_torch``);
API users may call it once at start. It does nothing off glibc (macOS, musl, Windows), or when
``SEQGAN_MALLOC=default`` is set in the environment.
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
