"""Timing helper shared by the benchmarks."""

import statistics
import time


def median_seconds(fn, repeats, warmup=1):
    """Median seconds of `fn()` over `repeats` calls after `warmup` untimed calls.

    `fn` must block until its result exists (call `.numpy()` on what it returns).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
