#!/usr/bin/env python
"""Separable and low-rank kernels given as N-D arrays: fastconv auto against peers.

Run it as a file, with fastconv installed (OpenCV optional)::

    python benchmarks/compare_separable.py            # 15 rounds
    python benchmarks/compare_separable.py --rounds 5

Cases (float32, mode 'same', zero fill), each timed in its own interleaved
rounds (the order alternating), medians reported:

* a 31x31 Gaussian over 2048^2, given to ``fastconv.convolve`` as a 2-D array
  (``method='auto'`` finds its factors), against ``cv2.sepFilter2D`` (given
  the factors) and ``scipy.signal.convolve`` (``method='auto'``);
* a rank-2 31x31 kernel (sum of two outer products) over 2048^2, against
  ``cv2.filter2D`` (its flipped kernel: a correlation) and
  ``scipy.signal.convolve``.

Outputs are checked against each other first. Ratio = peer time / fastconv
time, so > 1 means fastconv is faster.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO]

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.signal  # noqa: E402

import fastconv  # noqa: E402
from benchmarks.common import loadavg, n_cpus, safe_import, timed  # noqa: E402

cv2 = safe_import("cv2")


def _gaussian(n):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (t / (n / 6)) ** 2)
    return g / g.sum()


def cases(rng):
    x = rng.standard_normal((2048, 2048)).astype(np.float32)
    g = _gaussian(31).astype(np.float32)
    gauss = np.outer(g, g)
    u, v = rng.standard_normal((2, 31)).astype(np.float32), rng.standard_normal((2, 31))
    rank2 = (np.outer(u[0], v[0]) + np.outer(u[1], v[1])).astype(np.float32)
    out = {
        "2048^2 * 31x31 Gaussian": (x, gauss, {
            "cv2.sepFilter2D": (lambda: cv2.sepFilter2D(
                x, -1, g, g, borderType=cv2.BORDER_CONSTANT)) if cv2 else None,
        }),
        "2048^2 * 31x31 rank 2": (x, rank2, {
            "cv2.filter2D": (lambda: cv2.filter2D(
                x, -1, rank2[::-1, ::-1].copy(), borderType=cv2.BORDER_CONSTANT))
            if cv2 else None,
        }),
    }
    for name, (a, k, peers) in out.items():
        peers["scipy.signal.convolve"] = lambda a=a, k=k: scipy.signal.convolve(a, k, "same")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    if cv2 is not None:
        cv2.setNumThreads(fastconv.get_workers())
    print(f"fastconv {fastconv.__version__}, scipy {scipy.__version__}, "
          f"cv2 {getattr(cv2, '__version__', 'not installed')}, "
          f"workers={fastconv.get_workers()} of {n_cpus()} CPUs, {args.rounds} rounds")
    print(f"loadavg at start: {loadavg()}")
    rng = np.random.default_rng(5)
    for name, (a, k, peers) in cases(rng).items():
        ours = lambda a=a, k=k: fastconv.convolve(a, k, "same")  # noqa: E731
        peers = {p: fn for p, fn in peers.items() if fn is not None}
        ref = ours()
        scale = float(np.max(np.abs(ref)))
        for peer, fn in peers.items():
            err = float(np.max(np.abs(fn() - ref))) / scale
            if not err < 1e-4:
                raise SystemExit(f"{name}: {peer} differs from fastconv by {err:.2g}")
        calls = {"fastconv auto": ours, **peers}
        times = {c: [] for c in calls}
        for r in range(args.rounds):
            order = list(calls) if r % 2 == 0 else list(calls)[::-1]
            for c in order:
                times[c].append(timed(calls[c])[0])
        med = {c: statistics.median(t) for c, t in times.items()}
        method = fastconv.choose_conv_method(a, k, "same")
        print(f"{name} (auto: {method}): fastconv {med['fastconv auto'] * 1e3:.2f} ms")
        for peer in peers:
            print(f"    {peer:24s} {med[peer] * 1e3:9.2f} ms   ratio "
                  f"{med[peer] / med['fastconv auto']:6.2f}")
    print(f"loadavg at end:   {loadavg()}")


if __name__ == "__main__":
    main()
