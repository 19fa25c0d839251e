#!/usr/bin/env python
"""Regret of ``method='auto'``: its time against the fastest method, per shape.

Run it as a file, with fastconv installed::

    python benchmarks/regret_grid.py                 # the 70-case grid
    python benchmarks/regret_grid.py --json grid.json --rounds 5

For every case (1-D, 2-D and 3-D inputs; kernels of 1 to 10^4 taps, separable
Gaussians and random ones; banks of kernels over one image; float32, float64,
complex64, complex128; every mode)
it times ``fastconv.convolve`` with ``method='auto'`` and with each method
that can compute the case, interleaved in every round, and reports the median
over rounds. The regret of a case is time(auto) / time(fastest method): auto's
time includes its decision. The goal is a median regret <= 1.1 and a worst
<= 2.0 over the grid.

``cases(kind)`` and ``time_methods`` are also used by
``benchmarks/fit_cost_model.py`` (``kind='train'`` is a different grid, so
that the constants are not fitted on the shapes they are judged on).
"""

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# never import fastconv from the source tree (no compiled modules there)
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]

import numpy as np  # noqa: E402

import fastconv  # noqa: E402

DTYPES = ["float32", "float64", "complex64", "complex128"]
MODES = ["same", "full", "valid"]


def _gaussian(n):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (t / max(n / 6, 0.5)) ** 2)
    return g / g.sum()


def _kernel(rng, shape, separable):
    if separable:
        k = np.ones(())
        for n in shape:
            k = np.multiply.outer(k, _gaussian(n))
        return k
    return rng.standard_normal(shape)


def _eval_shapes():
    """(input shape, kernel shape, separable) of the judged grid."""
    out = []
    for n in [1_000, 100_000, 1_000_000]:
        for k in [1, 3, 31, 301, 3001, 10_000]:
            if k <= n:
                out.append(((n,), (k,), False))
    for n in [64, 256, 1024]:
        for k in [1, 3, 7, 15, 31, 61, 101]:
            if k < n:
                out.append(((n, n), (k, k), False))
                if k >= 7:
                    out.append(((n, n), (k, k), True))
    for n in [32, 96]:
        for k in [3, 7, 15, 21]:
            if k < n:
                out.append(((n, n, n), (k, k, k), False))
                if k >= 7:
                    out.append(((n, n, n), (k, k, k), True))
    out.append(((2000, 64), (101, 3), False))
    out.append(((300, 40), (9, 1), False))
    # banks of kernels over one image (the batch axis broadcasts): CNN-like
    for n, bank, k in [(512, 64, 5), (256, 16, 7), (128, 32, 3), (64, 8, 15)]:
        out.append(((1, n, n), (bank, k, k), False))
    return out


def _train_shapes(rng):
    """Shapes for fitting: sizes drawn between the judged grid's."""
    out = []
    for _ in range(16):
        n = int(10 ** rng.uniform(2.5, 6.3))
        k = int(min(10 ** rng.uniform(0, 4), n))
        out.append(((n,), (k,), False))
    for _ in range(28):
        n = int(10 ** rng.uniform(1.6, 3.1))
        k = int(min(10 ** rng.uniform(0, 2.1), n))
        kk = max(1, int(k * rng.uniform(0.5, 1.5)))
        out.append(((n, int(n * rng.uniform(0.6, 1.4))), (k, min(kk, n)), bool(rng.random() < 0.3)))
    for _ in range(12):
        n = int(10 ** rng.uniform(1.2, 2.0))
        k = int(min(10 ** rng.uniform(0, 1.35), n))
        out.append(((n, n, n + 3), (k, k, k), bool(rng.random() < 0.3)))
    for _ in range(12):
        n = int(10 ** rng.uniform(1.5, 2.7))
        bank = int(2 ** rng.integers(1, 7))
        k = int(rng.integers(1, 12))
        out.append(((1, n, n), (bank, k, k), False))
    return out


def cases(kind="eval", seed=0):
    """Cases as dicts: name, in1, in2, mode."""
    rng = np.random.default_rng(seed if kind == "eval" else seed + 1)
    shapes = _eval_shapes() if kind == "eval" else _train_shapes(rng)
    out = []
    # the training grid also has integers, whose direct sums run in int64
    dtypes = DTYPES if kind == "eval" else DTYPES + ["int32"]
    for i, (s1, s2, sep) in enumerate(shapes):
        dtype = dtypes[i % len(dtypes)]
        mode = MODES[(i // len(dtypes)) % len(MODES)]
        a = rng.standard_normal(s1)
        b = _kernel(rng, s2, sep)
        if dtype.startswith("complex"):
            a = a + 1j * rng.standard_normal(s1)
        if dtype.startswith("int"):
            a, b = np.round(a * 100), np.round(b * 100 / max(np.abs(b).max(), 1e-300))
        # a leading axis of length 1 in in1 is a batch axis: kernels broadcast over it
        axes = tuple(range(1, len(s1))) if len(s1) == 3 and s1[0] == 1 else None
        name = (f"{'x'.join(map(str, s1))} * {'x'.join(map(str, s2))}"
                f"{' sep' if sep else ''}{' bank' if axes else ''} {dtype} {mode}")
        out.append(dict(name=name, in1=a.astype(dtype), in2=b.astype(dtype), mode=mode,
                        axes=axes))
    return out


def methods_for(case):
    """Methods that compute the case (those `choose_conv_method` would try)."""
    _, times = fastconv.choose_conv_method(case["in1"], case["in2"], case["mode"],
                                           axes=case["axes"], measure=True)
    return sorted(times)


def time_methods(case, methods, rounds, budget=1.0, sample=2e-3):
    """Median seconds per call of each method (and 'auto'), interleaved over rounds.

    Every sample times ``number`` calls in a row, enough for the fastest
    method to take about `sample` seconds, so that calls of microseconds
    are not lost in the timer's and the cache's noise (as asv and timeit do),
    after one untimed call of the same method.
    """
    a, b, mode, axes = case["in1"], case["in2"], case["mode"], case["axes"]
    calls = {m: (lambda m=m: fastconv.convolve(a, b, mode, method=m, axes=axes))
             for m in methods}
    first = {}
    for m, call in calls.items():
        call()  # warm-up: page faults, plans, thread pools
        t0 = time.perf_counter()
        call()
        first[m] = time.perf_counter() - t0
    number = max(1, int(sample / max(min(first.values()), 1e-7)))
    samples = {m: [] for m in calls}
    start = time.perf_counter()
    for r in range(rounds):
        # the order rotates; each sample follows an untimed call of its own
        # method, so that no method is timed just after another's large run
        # (its caches, pages and threads then belong to the other method)
        names = list(calls)
        for m in names[r % len(names):] + names[:r % len(names)]:
            call = calls[m]
            call()
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            samples[m].append((time.perf_counter() - t0) / number)
        if r >= 2 and time.perf_counter() - start > budget:
            break
    return {m: statistics.median(v) for m, v in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    load_start = Path("/proc/loadavg").read_text().strip()
    rows = []
    print(f"{'case':48s} {'auto':>9s} {'best':>9s} {'best method':>11s} {'regret':>7s}  chosen")
    for case in cases("eval"):
        methods = methods_for(case)
        chosen = fastconv.choose_conv_method(case["in1"], case["in2"], case["mode"],
                                             axes=case["axes"])
        times = time_methods(case, methods + ["auto"], args.rounds)
        best = min(methods, key=times.get)
        regret = times["auto"] / times[best]
        rows.append(dict(name=case["name"], times=times, best=best, chosen=chosen,
                         regret=regret))
        print(f"{case['name']:48s} {times['auto'] * 1e3:8.3f}m {times[best] * 1e3:8.3f}m "
              f"{best:>11s} {regret:7.2f}  {chosen}", flush=True)
    regrets = [r["regret"] for r in rows]
    summary = dict(cases=len(rows), median=statistics.median(regrets), worst=max(regrets),
                   above_1_5=sum(r > 1.5 for r in regrets),
                   load_start=load_start,
                   load_end=Path("/proc/loadavg").read_text().strip())
    print(f"\n{len(rows)} cases: median regret {summary['median']:.3f}, "
          f"worst {summary['worst']:.3f}, {summary['above_1_5']} above 1.5")
    print(f"loadavg {summary['load_start']} -> {summary['load_end']}")
    if args.json:
        args.json.write_text(json.dumps(dict(summary=summary, rows=rows), indent=1))


if __name__ == "__main__":
    main()
