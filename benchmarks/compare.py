#!/usr/bin/env python
"""fastconv against its peers on the workloads of the performance issue.

Run it as a file, with fastconv installed (``pip install .``)::

    python benchmarks/compare.py            # ~11 rounds per peer
    python benchmarks/compare.py --quick    # 3 rounds, scipy direct once
    python benchmarks/compare.py --json results.json

For each case (float32, mode 'same', zero fill) it times, interleaved in every
round and reported as the median over rounds:

* ``fastconv.convolve`` (default method 'auto') with default workers (the
  baseline), workers=1 and workers=<usable CPUs>, and ``fastconv.correlate``;
* ``cv2.filter2D(x, -1, k, borderType=cv2.BORDER_CONSTANT)`` (a correlation;
  compared with ``fastconv.correlate``), when OpenCV is installed;
* ``scipy.signal.convolve`` with method='auto' and method='direct' (compared
  with ``fastconv.convolve``).

Every output is checked against a float64 reference before timing. Ratios are
peer time / fastconv time, so > 1 means fastconv is faster.
"""

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Never import fastconv from the source tree (it has no compiled modules
# there): drop the repository root from sys.path. Python puts this file's
# folder (benchmarks/) first, which is wanted: it holds the helper package.
sys.path[:] = [p for p in sys.path
               if Path(p or os.getcwd()).resolve() != REPO]

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.fft  # noqa: E402
import scipy.signal  # noqa: E402

import fastconv  # noqa: E402
from benchmarks.common import (cv2_correlate_same, flops, loadavg,  # noqa: E402
                               n_cpus, print_config, safe_import, save_run,
                               timed)

cv2 = safe_import("cv2")

# name: (input shape, kernel shape)
CASES = {
    "2-D 2048^2 * 7x7": ((2048, 2048), (7, 7)),
    "2-D 512^2 * 3x3": ((512, 512), (3, 3)),
    "2-D 4096^2 * 3x3": ((4096, 4096), (3, 3)),
    "3-D 128^3 * 5^3": ((128, 128, 128), (5, 5, 5)),
}
# memory-bound reference: time to read the input and write the output once
BANDWIDTH_CASE = "2-D 4096^2 * 3x3"
BANDWIDTH = 40e9  # bytes/s

TOL = 1e-4  # max |out - ref| / max |ref|, float32 with up to 125 taps


def peers_for(x, k, ncpu):
    """(name, callable, op, baseline name) for every peer of one case."""
    same = dict(mode="same")
    p = [
        ("fastconv convolve", lambda: fastconv.convolve(x, k, **same),
         "convolve", None),
        ("fastconv convolve workers=1",
         lambda: fastconv.convolve(x, k, workers=1, **same),
         "convolve", "fastconv convolve"),
    ]
    if ncpu > 1:
        p.append((f"fastconv convolve workers={ncpu}",
                  lambda: fastconv.convolve(x, k, workers=ncpu, **same),
                  "convolve", "fastconv convolve"))
    p += [
        ("fastconv correlate", lambda: fastconv.correlate(x, k, **same),
         "correlate", None),
    ]
    if cv2 is not None:
        p.append(("cv2.filter2D", lambda: cv2_correlate_same(cv2, x, k),
                  "correlate", "fastconv correlate"))
    p += [
        ("scipy convolve auto",
         lambda: scipy.signal.convolve(x, k, method="auto", **same),
         "convolve", "fastconv convolve"),
        ("scipy convolve direct",
         lambda: scipy.signal.convolve(x, k, method="direct", **same),
         "convolve", "fastconv convolve"),
    ]
    return p


def run_case(name, shape, kshape, rounds, slow_rounds, budget, rng, ncpu):
    x = rng.standard_normal(shape, dtype=np.float32)
    k = rng.standard_normal(kshape, dtype=np.float32)
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    refs = {
        "convolve": scipy.signal.fftconvolve(x64, k64, mode="same"),
        "correlate": scipy.signal.fftconvolve(
            x64, k64[(slice(None, None, -1),) * k.ndim], mode="same"),
    }
    peers = peers_for(x, k, ncpu)

    # first call of each: warm-up, output check, and how many rounds it gets
    n_rounds, errors, first_call_s = {}, {}, {}
    for pname, fn, op, _ in peers:
        t, out = timed(fn)
        first_call_s[pname] = t
        ref = refs[op]
        if out.shape != ref.shape or out.dtype != np.float32:
            raise SystemExit(f"{name}: {pname} returned {out.dtype} "
                             f"{out.shape}, expected float32 {ref.shape}")
        err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
        errors[pname] = err
        if not err <= TOL:
            raise SystemExit(f"{name}: {pname} differs from the float64 "
                             f"reference by {err:.3g} (relative to max |ref|)")
        # slow peers (scipy direct: seconds a call) get fewer rounds
        n_rounds[pname] = (rounds if t * rounds <= budget
                           else max(slow_rounds, min(rounds, int(budget / t))))
        del out
    del refs, x64, k64

    times = {pname: [] for pname, *_ in peers}
    for r in range(rounds):
        # rotate the order each round so no peer always follows another
        order = peers[r % len(peers):] + peers[:r % len(peers)]
        for pname, fn, _, _ in order:
            if len(times[pname]) < n_rounds[pname]:
                # Untimed calls first (about 20 ms of them) wake the peer's
                # thread pool (OpenMP or OpenCV's) and let idle cores regain
                # their clock after a long single-threaded peer; skipped for
                # the slow single-threaded peers themselves.
                if first_call_s[pname] < 0.1:
                    t_end = time.perf_counter() + 0.02
                    for _ in range(10):
                        fn()
                        if time.perf_counter() > t_end:
                            break
                times[pname].append(timed(fn)[0])

    fl = flops(shape, kshape)
    rows = []
    for pname, _, op, base in peers:
        med = statistics.median(times[pname])
        rows.append({
            "peer": pname, "op": op, "baseline": base,
            "median_s": med, "times_s": times[pname],
            "gflops": fl / med / 1e9, "rel_error": errors[pname],
        })
    med = {r["peer"]: r["median_s"] for r in rows}
    for r in rows:
        r["ratio"] = med[r["peer"]] / med[r["baseline"]] if r["baseline"] else None
    return {"case": name, "shape": list(shape), "kernel": list(kshape),
            "dtype": "float32", "mode": "same", "flop": fl, "rows": rows}


def print_case(res):
    print(f"\n{res['case']}   (float32, mode='same', "
          f"{res['flop'] / 1e9:.3g} GFLOP per call)")
    print(f"  {'peer':<30} {'ms':>9} {'GFLOP/s':>9} {'ratio':>8} {'n':>3}  "
          f"vs")
    for r in res["rows"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        vs = r["baseline"] or ""
        print(f"  {r['peer']:<30} {r['median_s'] * 1e3:9.2f} "
              f"{r['gflops']:9.2f} {ratio:>8} {len(r['times_s']):3d}  {vs}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds per peer, 1 for slow peers")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds per peer (default 11, or 3 with --quick)")
    ap.add_argument("--json", metavar="PATH", help="save the results as JSON")
    ap.add_argument("--case", action="append", choices=list(CASES),
                    help="run only this case (repeatable)")
    args = ap.parse_args(argv)
    # SciPy's FFTs ('auto' may pick them) on fastconv's default thread count
    workers_context = scipy.fft.set_workers(fastconv.get_workers())
    workers_context.__enter__()
    rounds = args.rounds or (3 if args.quick else 11)
    slow_rounds = 1 if args.quick else 3
    budget = 2.0 if args.quick else 10.0  # s per peer before it gets fewer rounds
    ncpu = n_cpus()

    load_start = loadavg()
    cfg = print_config()
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, "
          f"opencv {cv2.__version__ + f' ({cv2.getNumThreads()} threads)' if cv2 else 'not installed'}")
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{ncpu} usable CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"loadavg at start: {load_start}")
    try:
        if os.getloadavg()[0] > 0.5 * ncpu:
            print("WARNING: the machine is busy; thread timings will be "
                  "noisy (OMP_WAIT_POLICY=passive helps fastconv there)")
    except OSError:
        pass
    print(f"median of interleaved rounds: {rounds} per peer "
          f"(slow peers: at least {slow_rounds}); ratio = peer time / "
          f"fastconv time (> 1: fastconv faster)")

    rng = np.random.default_rng(12345)
    results = []
    for name in args.case or CASES:
        shape, kshape = CASES[name]
        res = run_case(name, shape, kshape, rounds, slow_rounds, budget, rng,
                       ncpu)
        print_case(res)
        results.append(res)

    bw = {}
    if BANDWIDTH_CASE in (args.case or CASES):
        shape = CASES[BANDWIDTH_CASE][0]
        nbytes = 2 * math.prod(shape) * 4  # read float32 input + write output
        bw = {"case": BANDWIDTH_CASE, "bytes": nbytes, "bandwidth": BANDWIDTH,
              "seconds": nbytes / BANDWIDTH}
        print(f"\nMemory bound, {BANDWIDTH_CASE}: reading the input and "
              f"writing the output ({nbytes / 1e6:.0f} MB) at "
              f"{BANDWIDTH / 1e9:.0f} GB/s takes {bw['seconds'] * 1e3:.2f} ms")

    load_end = loadavg()
    print(f"loadavg at end: {load_end}")

    if args.json:
        save_run(args.json, cfg,
                 {"numpy": np, "scipy": scipy, "opencv": cv2}, ncpu, rounds,
                 slow_rounds, load_start, load_end, cases=results, memory_bound=bw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
