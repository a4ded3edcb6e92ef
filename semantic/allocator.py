"""Keep freed memory in the process: PyTorch on CPU under glibc's default malloc spends a third of its
time in the kernel.

glibc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB) with a
fresh ``mmap`` and returns it with ``munmap`` when freed; PyTorch's CPU allocator passes each tensor
straight to malloc, so every activation of a decoder pass over a photo (tens to hundreds of MB)
comes back as new zeroed pages, one page fault per 4 KiB. Measured on this project's 2-core
machine (``experiments/allocator_ab.py``): 30-37 % of the CPU time of a Kodak decoder benchmark and
of latent refinement was system time. :func:`keep_freed_memory` turns mmap off for the heap
(``M_MMAP_MAX`` = 0) and raises the trim threshold (``M_TRIM_THRESHOLD``), so freed blocks stay in
the heap and are reused: the process keeps up to ``trim_bytes`` of freed memory beyond what it uses.
"""
from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: Free memory at the top of the heap the process keeps instead of returning it (bytes).
TRIM_BYTES = 1 << 30


def keep_freed_memory(trim_bytes: int = TRIM_BYTES) -> bool:
    """Set glibc's malloc to keep freed memory for reuse (module docstring); True when it applied,
    False where the C library is not glibc (macOS, musl: nothing changes)."""
    try:
        libc = ctypes.CDLL(None)   # the process's own symbols (no ctypes.util.find_library: it spawns ldconfig)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, int(trim_bytes)))
