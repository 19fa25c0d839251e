#!/usr/bin/env python
"""fastconv against its peers on small calls, and out= on a memory-bound call.

Run it as a file, with fastconv installed (``pip install .``)::

    python benchmarks/compare_small.py             # 21 samples per peer
    python benchmarks/compare_small.py --quick     # 7 samples
    python benchmarks/compare_small.py --case memory --json memory.json

Small calls (the cases of ``benchmarks/benchmarks/small.py``), each against
its peers in one run:

1. 1-D 16 * 3 ``full`` float64: ``fastconv.convolve`` against
   ``np.convolve`` and ``scipy.signal.convolve`` (target: <= 5 us per call
   and a third of SciPy's time);
2. 64x64 * 3x3 ``same`` float32: ``fastconv.correlate`` against
   ``cv2.filter2D`` (target: within 2x) and ``scipy.ndimage.correlate``;
3. 280x320 float32, each pixel minus its left neighbour (``[[1, -1]]``,
   ``valid``): ``fastconv.convolve`` against ``cv2.filter2D`` and NumPy
   slicing ``x[:, 1:] - x[:, :-1]`` (target: faster than both);
4. ``fastconv.pool`` of a (1, 8, 8, 8) float32 array, max 2x2 over the last
   two axes, against ``torch.nn.functional.max_pool2d`` (target: <= 5 us).

Each also with a preallocated output: fastconv ``out=`` against OpenCV's
``dst=``, ``scipy.ndimage``'s ``output=`` and ``np.subtract(..., out=)``.

A call of a few microseconds is timed in loops of N calls (N such that a
loop takes about 20 ms, as ``timeit`` does), one loop per peer and round,
the peer order rotated every round; the figure is the median over rounds
of the time per call, in microseconds. The timed callables are closures
over prepared arrays; the cost of calling one (an empty closure) is printed
and included in every figure.

Memory bound (``--case memory``): 4096^2 * 3x3 float32 ``same`` correlate
with and without ``out=`` (preallocated and reused), ``cv2.filter2D`` with
and without ``dst=``, and ``np.copyto`` of the input into a preallocated
output, against the time to read the input and write the output once at
this machine's memory bandwidth, measured here: ``np.copyto`` of a 256 MiB
float32 array into another (both already faulted in), on 1 thread and on
one slice per thread, read plus written bytes counted, timed in the same
interleaved rounds as the calls (so a load that comes and goes hits both);
the STREAM-like ``dst[...] = src`` is printed for reference. The fastest
copy is the bandwidth, so the bound is the strictest of them.

Every peer runs on the thread count of fastconv (``--threads``, default
`fastconv.get_workers`): ``cv2.setNumThreads``, ``torch.set_num_threads``,
``scipy.fft.set_workers``; NumPy and ``scipy.ndimage`` are single-threaded.
Every output is checked before timing against a float64 reference (exact
where the result is exact: the differences, the max); a peer whose output
differs is reported and not timed, and the script exits with status 1.
Ratios are peer time / fastconv time, so > 1 means fastconv is faster.
Peers that are not installed are skipped with a note.
"""

import argparse
import concurrent.futures
import contextlib
import math
import os
import statistics
import sys
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

import fastconv  # noqa: E402
from benchmarks.common import (calls_per_sample, interleaved_samples,  # noqa: E402
                               loadavg, max_rel_error, n_cpus, print_config,
                               print_machine, report_wrong_outputs, save_run,
                               seconds_per_call, warm_up)
from benchmarks.small import (CASE_PEERS, MEMORY_PEERS, SMALL_CASES,  # noqa: E402
                              cv2, has_out, memory_data, memory_peers,
                              peer_threads, small_data, small_peers,
                              small_reference, torch_or_none)

torch = torch_or_none()

SAMPLE_S = 0.02  # seconds of calls per timed loop
MEMORY_TITLE = "4096^2 * 3x3, same, float32 (correlate): memory bound"
BANDWIDTH_BYTES = 256 * 2**20  # each of the two arrays copied
MEMORY_GOAL = 1.3  # time with out= / (bytes / bandwidth)

# max |out - ref| / max |ref| allowed; 0: the result must be exact
TOL = {"float64": 1e-12, "float32": 1e-5}
EXACT_CASES = {"diff_280x320_valid", "pool_1x8x8x8_2x2"}

# The targets: (case, fastconv row, peer row or None, goal, what).
# A goal ("<=", t) bounds fastconv's time per call in seconds; (">=", r) or
# (">", r) bounds the ratio peer time / fastconv time; None: reported only.
TARGETS = [
    ("1d_16*3_full", "fastconv", None, ("<=", 5e-6), "time per call"),
    ("1d_16*3_full", "fastconv", "scipy", (">=", 3), "a third of SciPy's time"),
    ("1d_16*3_full", "fastconv", "numpy", None, ""),
    ("2d_64^2*3x3_same", "fastconv", "cv2", (">=", 0.5), "within 2x of OpenCV"),
    ("2d_64^2*3x3_same", "fastconv", "scipy_ndimage", None, ""),
    ("diff_280x320_valid", "fastconv", "cv2", (">", 1), "faster than OpenCV"),
    ("diff_280x320_valid", "fastconv", "numpy", (">", 1), "faster than NumPy"),
    ("pool_1x8x8x8_2x2", "fastconv", None, ("<=", 5e-6), "time per call"),
    ("pool_1x8x8x8_2x2", "fastconv", "torch", None, ""),
]
# the same targets with preallocated outputs: a peer's own out variant
OUT_VARIANT = {"fastconv": "fastconv_out", "cv2": "cv2_dst",
               "scipy_ndimage": "scipy_ndimage_output", "numpy": "numpy_out"}


# ----------------------------------------------------------------- checks

def check(out, ref, exact):
    """None when `out` matches `ref` (shape, dtype, values), else the reason."""
    out = np.asarray(out)
    if out.shape != ref.shape:
        return f"shape {out.shape}, expected {ref.shape}"
    if exact:
        if out.dtype != ref.dtype:
            return f"dtype {out.dtype}, expected {ref.dtype}"
        if np.array_equal(out, ref):
            return None
        return f"{np.count_nonzero(out != ref)} of {out.size} elements differ"
    if out.dtype.name not in TOL:
        return f"dtype {out.dtype}, expected float32 or float64"
    err = max_rel_error(out, ref)
    if not err <= TOL[out.dtype.name]:
        return f"differs from the float64 reference by {err:.3g} (relative to max |ref|)"
    return None


def checked(peers, ref, exact):
    """({name: call} of the peers whose output matches, {name: reason} of the others)."""
    good, failed = {}, {}
    for name, peer in peers.items():
        result = peer.call()
        why = check(peer.view(result) if peer.view else result, ref, exact)
        if why:
            failed[name] = why
        else:
            good[name] = peer.call
    return good, failed


def rows_of(peers, labels, samples, numbers, failed):
    """Result rows, in the order of `labels`: medians and ratios to the baseline."""
    med = {name: statistics.median(s) for name, s in samples.items()}
    rows = []
    for name, label in labels.items():
        if name in failed:
            rows.append({"peer": name, "label": label, "error": failed[name]})
        elif name in med:
            base = peers[name].baseline
            rows.append({
                "peer": name, "label": label, "baseline": base,
                "median_s": med[name], "min_s": min(samples[name]),
                "samples_s": samples[name], "calls_per_sample": numbers[name],
                "ratio": med[name] / med[base] if base in med else None,
            })
    return rows


def missing_peers(labels, peers):
    """(label, reason) of every peer in `labels` that cannot run here."""
    return [(label, "this fastconv has no out= here" if name.startswith("fastconv")
             else "not installed") for name, label in labels.items() if name not in peers]


# ------------------------------------------------------------ small calls

def run_small(case, rounds):
    data = small_data(case)
    peers = small_peers(case, data)
    good, failed = checked(peers, small_reference(case, data), case in EXACT_CASES)
    numbers = {}
    for name, call in good.items():
        warm_up(call)
        numbers[name] = calls_per_sample(call, SAMPLE_S)
    samples = interleaved_samples(good, numbers, rounds)
    labels = CASE_PEERS[case]
    missing = missing_peers(labels, peers)
    return {"case": case, "title": SMALL_CASES[case], "labels": labels, "missing": missing,
            "rows": rows_of(peers, labels, samples, numbers, failed)}


def print_rows(res, unit, scale):
    print(f"\n{res['title']}")
    print(f"  {'peer':<42} {unit:>10} {'min':>10} {'ratio':>7} {'N':>7}  vs")
    for r in res["rows"]:
        if "error" in r:
            print(f"  {r['label']:<42} WRONG OUTPUT, not timed: {r['error']}")
            continue
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        vs = res["labels"].get(r["baseline"], "")
        print(f"  {r['label']:<42} {r['median_s'] * scale:10.2f} "
              f"{r['min_s'] * scale:10.2f} {ratio:>7} {r['calls_per_sample']:7d}  {vs}")
    for label, why in res["missing"]:
        print(f"  {label:<42} skipped: {why}")


def targets(results):
    """The issue's targets, measured: a list of dicts (printed by print_targets)."""
    med = {(res["case"], r["peer"]): r["median_s"]
           for res in results for r in res["rows"] if "median_s" in r}
    req = []
    for case, fc, peer, goal, what in TARGETS:
        for with_out in (False, True):
            f = OUT_VARIANT[fc] if with_out else fc
            p = peer
            if with_out and peer is not None and (case, OUT_VARIANT.get(peer)) in med:
                p = OUT_VARIANT[peer]
            if (case, f) not in med or (p is not None and (case, p) not in med):
                continue
            labels = CASE_PEERS[case]
            if p is None:
                value = med[case, f]
                text = f"{labels[f]} time per call"
            else:
                value = med[case, p] / med[case, f]
                text = f"{labels[p]} / {labels[f]}"
            met = None
            if goal is not None:
                op, bound = goal
                met = {"<=": value <= bound, ">=": value >= bound, ">": value > bound}[op]
            req.append({"case": case, "requirement": text, "value": value,
                        "absolute": p is None, "goal": goal, "what": what, "met": met})
    return req


def print_targets(req, memory):
    print("\nTargets of the issue (measured here; ratio = peer time / fastconv time)")
    print(f"  {'case':<19} {'figure':<64} {'value':>9}  {'goal':<8} {'':<7} why")
    for q in req:
        v = f"{q['value'] * 1e6:.2f} us" if q["absolute"] else f"{q['value']:.2f}"
        goal = ""
        if q["goal"] is not None:
            op, bound = q["goal"]
            goal = f"{op} {bound * 1e6:g} us" if q["absolute"] else f"{op} {bound:g}"
        verdict = {True: "met", False: "NOT MET", None: ""}[q["met"]]
        print(f"  {q['case']:<19} {q['requirement']:<64} {v:>9}  {goal:<8} {verdict:<7} "
              f"{q['what']}")
    if memory and "fraction_out" in memory:
        verdict = "met" if memory["fraction_out"] <= MEMORY_GOAL else "NOT MET"
        print(f"  {'memory 4096^2 3x3':<19} {'fastconv out= time / (bytes / bandwidth)':<64} "
              f"{memory['fraction_out']:9.2f}  <= {MEMORY_GOAL:<5} {verdict:<7} "
              "read the input and write the output once")


# ----------------------------------------------------------- memory bound

def bandwidth_copies(dst, src, threads, stack):
    """{figure: call} of calls copying `src` into `dst`.

    ``np.copyto`` on 1 thread and on `threads` threads (equal slices, one
    per thread of a pool that `stack` shuts down), and the STREAM-like
    ``dst[...] = src`` on 1 thread.
    """
    def sliced(n_slices, assign):
        def copy_slice(i):
            a, b = len(src) * i // n_slices, len(src) * (i + 1) // n_slices
            if assign:
                dst[a:b] = src[a:b]
            else:
                np.copyto(dst[a:b], src[a:b])

        if n_slices == 1:
            return lambda: copy_slice(0)
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(n_slices))
        return lambda: list(pool.map(copy_slice, range(n_slices)))

    calls = {"np.copyto, 1 thread": sliced(1, False)}
    if threads > 1:
        calls[f"np.copyto, {threads} threads on slices"] = sliced(threads, False)
    calls["dst[...] = src (STREAM copy), 1 thread"] = sliced(1, True)
    return calls


def memory_reference(x, k):
    """'same' zero-fill correlation of 2-D `x` with odd `k`, float64 shifted sums."""
    r0, r1 = k.shape[0] // 2, k.shape[1] // 2
    xp = np.pad(x.astype(np.float64), [(r0, r0), (r1, r1)])
    ref = np.zeros(x.shape)
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            ref += float(k[i, j]) * xp[i:i + x.shape[0], j:j + x.shape[1]]
    return ref


def run_memory(threads, rounds):
    data = memory_data()
    peers = memory_peers(data)
    copy = peers.pop("copy")  # the bound itself: its output is the input
    ref = memory_reference(data["x"], data["k"])
    good, failed = checked(peers, ref, exact=False)
    del ref
    peers["copy"], good["copy"] = copy, copy.call
    with contextlib.ExitStack() as stack:
        # written (not np.zeros): every page is faulted in before timing
        src = np.full(BANDWIDTH_BYTES // 4, 1.0, np.float32)
        dst = np.full(BANDWIDTH_BYTES // 4, 0.0, np.float32)
        copies = bandwidth_copies(dst, src, threads, stack)
        # the copies share the rounds: a load that comes and goes hits both
        calls = {**good, **copies}
        for call in calls.values():
            warm_up(call, seconds=0.1, most=3)
        samples = interleaved_samples(calls, dict.fromkeys(calls, 1), rounds)
    figures = {name: 2 * src.nbytes / statistics.median(samples.pop(name))
               for name in copies}
    del src, dst
    best = max(figures, key=figures.get)
    bandwidth = figures[best]
    labels = dict(MEMORY_PEERS)
    missing = missing_peers(labels, peers)
    rows = rows_of(peers, labels, samples, dict.fromkeys(good, 1), failed)
    nbytes = 2 * data["x"].nbytes
    bound = nbytes / bandwidth
    copy_s = next(r["median_s"] for r in rows if r["peer"] == "copy")
    for r in rows:
        if "median_s" in r:
            r["over_bound"] = r["median_s"] / bound
            r["over_copy"] = r["median_s"] / copy_s
    res = {"case": "memory", "title": MEMORY_TITLE, "labels": labels, "missing": missing,
           "rows": rows,
           "copy_bandwidth": figures, "bandwidth": bandwidth, "bandwidth_from": best,
           "bytes": nbytes, "bound_s": bound}
    by = {r["peer"]: r for r in rows if "median_s" in r}
    if "fastconv_out" in by:
        res["fraction_out"] = by["fastconv_out"]["over_bound"]
    if "fastconv" in by:
        res["fraction_no_out"] = by["fastconv"]["over_bound"]
    return res


def print_memory(res):
    print(f"\nMemory bandwidth (copies of {BANDWIDTH_BYTES / 2**20:.0f} MiB float32, "
          "read + written bytes counted, median of the rounds below):")
    for name, bw in res["copy_bandwidth"].items():
        print(f"  {name:<42} {bw / 1e9:8.2f} GB/s")
    print(f"  bandwidth used below: {res['bandwidth'] / 1e9:.2f} GB/s "
          f"({res['bandwidth_from']}, the fastest)")
    print_rows(res, "ms", 1e3)
    print(f"  reading the input and writing the output once ({res['bytes'] / 1e6:.0f} MB) "
          f"at {res['bandwidth'] / 1e9:.2f} GB/s takes {res['bound_s'] * 1e3:.2f} ms;")
    print("  time / that bound: " + ", ".join(
        f"{r['label']} {r['over_bound']:.2f}" for r in res["rows"] if "over_bound" in r))
    print("  time / np.copyto(out, x) of the same arrays, timed in the same rounds: "
          + ", ".join(f"{r['label']} {r['over_copy']:.2f}" for r in res["rows"]
                      if "over_copy" in r and r["peer"] != "copy"))
    if "fraction_out" in res:
        print(f"  fastconv with out=: {res['fraction_out']:.2f} x the bound (goal <= "
              f"{MEMORY_GOAL}); without out=: {res.get('fraction_no_out', float('nan')):.2f} x")


# ------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="7 samples per peer")
    ap.add_argument("--rounds", type=int, default=None,
                    help="samples (interleaved rounds) per peer (default 21, 7 with --quick)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for fastconv and every threaded peer (default: "
                         "fastconv.get_workers())")
    ap.add_argument("--json", metavar="PATH", help="save the results as JSON")
    ap.add_argument("--case", action="append", choices=list(SMALL_CASES) + ["memory"],
                    help="run only this case (repeatable); 'memory': the memory-bound one")
    args = ap.parse_args(argv)
    rounds = args.rounds or (7 if args.quick else 21)
    ncpu = n_cpus()
    threads = args.threads or fastconv.get_workers()

    load_start = loadavg()
    cfg = print_config()
    for fn in (fastconv.convolve, fastconv.correlate, fastconv.pool):
        if not has_out(fn):
            print(f"NOTE: this fastconv.{fn.__name__} has no out=: its out= rows are skipped")
    with peer_threads(threads), (fastconv.set_workers(threads) if args.threads
                                 else contextlib.nullcontext()):
        print(f"numpy {np.__version__}, scipy {scipy.__version__} "
              f"(scipy.fft.set_workers({threads}); ndimage and NumPy: 1 thread)")
        print("opencv " + (f"{cv2.__version__}, cv2.setNumThreads({threads}) -> "
                           f"{cv2.getNumThreads()} threads" if cv2 else
                           "not installed: its peers are skipped"))
        print("torch " + (f"{torch.__version__}, torch.set_num_threads({threads}) -> "
                          f"{torch.get_num_threads()} threads" if torch else
                          "not installed: its peer is skipped"))
        print(f"fastconv workers: {fastconv.get_workers()}"
              + (f" (set_workers({threads}))" if args.threads else " (default)"))
        print_machine(threads, ncpu, load_start)
        empty = min(seconds_per_call(lambda: None, 100_000) for _ in range(5))
        print(f"median of {rounds} interleaved samples per peer, each a loop of N calls "
              f"(about {SAMPLE_S * 1e3:.0f} ms); ratio = peer time / fastconv time "
              f"(> 1: fastconv faster); calling an empty closure costs "
              f"{empty * 1e6:.3f} us (included)")

        results, memory = [], None
        for case in args.case or list(SMALL_CASES) + ["memory"]:
            if case == "memory":
                memory = run_memory(threads, rounds)
                print_memory(memory)
            else:
                res = run_small(case, rounds)
                print_rows(res, "us", 1e6)
                results.append(res)

    req = targets(results)
    print_targets(req, memory)
    failed = [(res["title"], r["label"], r["error"]) for res in results + [memory or {}]
              for r in res.get("rows", ()) if "error" in r]
    load_end = loadavg()
    print(f"\nloadavg at end: {load_end}")

    if args.json:
        save_run(args.json, cfg,
                 {"numpy": np, "scipy": scipy, "opencv": cv2, "torch": torch}, ncpu,
                 rounds, rounds, load_start, load_end, threads=threads,
                 empty_call_s=empty, cases=results, memory_bound=memory, requirements=req)
    return report_wrong_outputs(failed)


if __name__ == "__main__":
    sys.exit(main())
