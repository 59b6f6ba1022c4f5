"""Keep freed host memory inside the process, so that a training step's large tensors are reused.

Why: PyTorch's CPU tensors come from the C library's ``malloc``. glibc serves a request above its mmap
threshold (at most 32 MiB) with a fresh ``mmap`` and gives it back with ``munmap`` on free, and it
returns the top of its heap to the system once more than 128 KiB lies free there. A training step
allocates and frees the same large activations every time (xDeepFM's CIN holds [batch, H, m, D]
tensors: 64 MB at batch 4096), so every step maps new pages and the kernel zero-fills each of them on
first touch, a large share of an xDeepFM step's time on CPU. Evidence:
docs/decisions.md#glibc-allocator-keeps-freed-memory; re-measure:
``python bench/train_throughput.py --models xdeepfm --no-peer`` with and without ``--default-allocator``.

The fix is the documented ``mallopt`` interface (glibc manual, "Malloc Tunable Parameters"), the
in-process equivalent of the ``MALLOC_MMAP_MAX_`` / ``MALLOC_TRIM_THRESHOLD_`` environment variables,
which must be set before Python starts: no chunk is ever mmap-ed (``M_MMAP_MAX`` 0, so large chunks
come from the heap and are reused after free), and the heap is trimmed only when 2 GiB lie free at
its top (``M_TRIM_THRESHOLD``). The cost is resident memory: the process keeps its peak heap after
the step instead of returning it. The setting is process-wide and is not undone: glibc
has no call that restores its dynamic thresholds. Other C libraries (musl, macOS, Windows) are left
alone. ``TrainConfig.reuse_freed_memory = False`` keeps the C library's defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightfmp.train.config import TrainConfig

# glibc's malloc.h parameter numbers.
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # the largest value mallopt's int argument takes
TOP_PAD_BYTES = 64 << 20  # grow the heap in 64 MiB steps rather than page by page

_applied: bool | None = None  # None: not tried yet; else whether it took effect


def reuse_freed_memory() -> bool:
    """Set glibc's allocator to keep and reuse freed memory (see the module docstring), once per process.

    Returns whether the settings are in effect: False where the C library is not glibc or refused one of
    them. Safe to call any number of times.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. The trim threshold and pad first: once mmap is off, large
    # chunks live in the heap, and the heap must not hand them back as soon as they are freed.
    ok = (mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and mallopt(M_TOP_PAD, TOP_PAD_BYTES) == 1
          and mallopt(M_MMAP_MAX, 0) == 1)
    _applied = bool(ok)
    return _applied


def reuse_freed_memory_for(cfg: "TrainConfig") -> bool:
    """Apply ``reuse_freed_memory`` where ``cfg`` asks for it: ``cfg.reuse_freed_memory`` and a CPU device
    (a CUDA run's host allocations are small). The one place training code decides this."""
    if cfg.reuse_freed_memory and not str(cfg.device).startswith("cuda"):
        return reuse_freed_memory()
    return False


def applied() -> bool:
    """Whether ``reuse_freed_memory`` has taken effect in this process."""
    return bool(_applied)
