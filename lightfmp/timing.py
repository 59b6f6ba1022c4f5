"""Wall-clock timers that are honest on GPUs: CUDA work is asynchronous, so a timer synchronises the
device before reading the clock, or it would time only the kernel launches."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


def synchronize(device: str) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


class Stopwatch:
    """Accumulates seconds over several timed sections: `with sw.time(): ...`; `sw.seconds` is the total."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.seconds = 0.0

    @contextmanager
    def time(self) -> Iterator[None]:
        synchronize(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds += time.perf_counter() - t0


def throughput(samples: int, seconds: float) -> float:
    """Samples per second; 0 when nothing was timed."""
    return samples / seconds if seconds > 0 else 0.0
