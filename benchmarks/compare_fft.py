#!/usr/bin/env python
"""fastconv's method='fft' against SciPy's FFT convolutions.

Run it as a file, with fastconv installed::

    python benchmarks/compare_fft.py              # 15 rounds
    python benchmarks/compare_fft.py --rounds 5 --cases 1d_1e6*1e4
    python benchmarks/compare_fft.py --json fft.json

Each case is timed in its own rounds, every round calling fastconv and SciPy
once each (alternating which goes first), so a burst of load from another
process hits both sides alike; the figure is the median over rounds. The peer is ``scipy.signal.fftconvolve`` for single-transform cases
and ``scipy.signal.oaconvolve`` for long signals (both run on one thread;
SciPy has no ``workers`` argument for them). fastconv runs with
``workers=--workers`` (default: the usable CPUs). Outputs are checked
against each other first. Ratio = SciPy time / fastconv time, so > 1 means
fastconv is faster. ``/proc/loadavg`` is printed at the start and end.
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the source tree has no compiled modules: never import fastconv from it
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO]

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.signal  # noqa: E402

import fastconv  # noqa: E402
from benchmarks.common import loadavg, n_cpus, save_run, timed  # noqa: E402

# name: (input shape, kernel shape, dtype, mode, SciPy peer)
CASES = {
    "2d_512^2*101^2_f32_same": ((512, 512), (101, 101), np.float32, "same", "fftconvolve"),
    "3d_64^3*31^3_f32_full": ((64, 64, 64), (31, 31, 31), np.float32, "full", "fftconvolve"),
    "1d_1e6*1e4_f64_same": ((1_000_000,), (10_000,), np.float64, "same", "oaconvolve"),
    "1d_1e7*1e3_f64_same": ((10_000_000,), (1_000,), np.float64, "same", "oaconvolve"),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--workers", type=int, default=n_cpus())
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--json", help="also save the results to this JSON file")
    args = ap.parse_args(argv)
    # SciPy's FFTs on fastconv's thread count, for the whole run
    workers_context = scipy.fft.set_workers(args.workers)
    workers_context.__enter__()

    load_start = loadavg()
    print(f"fastconv {fastconv.__version__}, scipy {scipy.__version__}, "
          f"workers={args.workers}, {args.rounds} rounds")
    print(f"loadavg at start: {load_start}")
    rng = np.random.default_rng(7)
    peers = {}
    for case in args.cases:
        shape, kshape, dtype, mode, peer = CASES[case]
        x = rng.standard_normal(shape).astype(dtype)
        k = rng.standard_normal(kshape).astype(dtype)
        ours = (lambda x=x, k=k, mode=mode: fastconv.convolve(
            x, k, mode, method="fft", workers=args.workers))
        theirs = (lambda x=x, k=k, mode=mode, fn=getattr(scipy.signal, peer): fn(x, k, mode))
        a, b = ours(), theirs()
        err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        tol = 1e-4 if dtype == np.float32 else 1e-10
        if a.shape != b.shape or a.dtype != b.dtype or not err <= tol:
            raise SystemExit(f"{case}: results differ ({a.shape} {a.dtype} vs {b.shape} "
                             f"{b.dtype}, relative error {err:.2g})")
        peers[case] = (ours, theirs, peer)

    # One case at a time, fastconv and SciPy alternating (which goes first
    # alternates too): the cases differ by 100x in size, and a large case's
    # freed memory makes the next case's fresh arrays page-fault, which would
    # charge one case's cost to another.
    times = {case: ([], []) for case in peers}
    for case, (ours, theirs, _) in peers.items():
        ours(), theirs()
        for r in range(args.rounds):
            pair = [(0, ours), (1, theirs)]
            for side, fn in (pair if r % 2 == 0 else pair[::-1]):
                times[case][side].append(timed(fn)[0])

    print(f"{'case':28s} {'fastconv ms':>12s} {'scipy ms':>10s} {'peer':>12s} {'ratio':>7s}")
    results = {}
    for case, (ours, theirs) in times.items():
        t1, t2 = statistics.median(ours), statistics.median(theirs)
        peer = peers[case][2]
        print(f"{case:28s} {t1 * 1e3:12.2f} {t2 * 1e3:10.2f} {peer:>12s} {t2 / t1:7.2f}")
        results[case] = {"fastconv_s": t1, "scipy_s": t2, "peer": peer, "ratio": t2 / t1}
    load_end = loadavg()
    print(f"loadavg at end:   {load_end}")
    if args.json:
        save_run(args.json, f"workers={args.workers}", {"scipy": scipy}, n_cpus(),
                 args.rounds, 0, load_start, load_end, results=results)


if __name__ == "__main__":
    main()
