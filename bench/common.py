"""Helpers for benchmarks: wall time medians and peak extra resident memory measured while a call runs."""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

PROMPT = "Explain in a few sentences why the sky is blue."
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure(call: Callable[[], object], device: str = "cpu") -> tuple[float, int]:
    """Seconds and peak extra memory (CUDA allocator on GPU, resident set on CPU) of one call."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        started = time.perf_counter()
        call()
        torch.cuda.synchronize()
        return time.perf_counter() - started, torch.cuda.max_memory_allocated() - baseline
    baseline = resident_bytes()
    peak = [baseline]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_bytes())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return seconds, max(peak[0], resident_bytes()) - baseline


def median(values: list[float]) -> float:
    return statistics.median(values)


def run_size_parser() -> argparse.ArgumentParser:
    """The run size every benchmark shares: N samples of up to max-new-tokens tokens (N=10, 64 by default)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    return parser
