"""Timing of candidate methods for ``measure=True``."""

import time

__all__ = ["best_time"]


def best_time(call, budget=0.2, repeats=5):
    """Best of up to `repeats` timed runs after one warm-up, within about `budget` s."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    best = first
    spent = first
    for _ in range(repeats):
        if spent > budget:
            break
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
    return best
