#!/usr/bin/env python
"""fastconv.nn against PyTorch on CNN convolution layers (forward, float32).

Run it as a file, with fastconv installed (``pip install .``)::

    python benchmarks/compare_nn.py                     # 11 rounds per peer
    python benchmarks/compare_nn.py --quick --case tiny # 3 rounds, one layer
    python benchmarks/compare_nn.py --peak-gflops 310 --json nn.json
    env -u OPENBLAS_CORETYPE python benchmarks/compare_nn.py   # BLAS as users have it

The layers (``benchmarks/benchmarks/nn.py``, ``--case`` picks them): the ten
of the issue's table (NCHW, with a bias; the two depthwise layers padded to
keep their size) and a tiny one, (1, 4, 8, 8) -> 4, 3x3, pad 1, for the cost
of a call (goal <= 15 us). For each layer, on the same arrays:

* ``fastconv.nn.conv1d/2d/3d`` with ``method='auto'``, without and with a
  preallocated ``out=`` (its pages touched before timing);
* the same with each method of ``fastconv.nn.METHODS``; a method that
  refuses the layer (ValueError naming ``method``) is listed as skipped;
* ``torch.nn.functional.conv1d/2d/3d`` on tensors made once by
  ``torch.from_numpy`` (sharing the arrays' memory), under
  ``torch.no_grad()``, with ``torch.set_num_threads`` equal to fastconv's
  thread count (``--threads``, default `fastconv.get_workers`; every
  fastconv call gets ``workers=`` of it).

Every output is checked before timing against a float64 reference computed
here (tap by tap with float64 matrix products for kernels of up to 64 taps,
with float64 FFTs and the channel sums in the frequency domain for larger
ones; the same sum as PyTorch's definition): a peer whose output differs by
more than 1e-3 * max |ref| (float32 with long channel sums, Winograd's and
the FFT's rounding) is reported and not timed, and the script exits with
status 1. The error of each row is printed beside its time.

Every peer is timed in the same interleaved rounds (the order rotated every
round), each sample a loop of N calls taking about 20 ms (N = 1 for longer
calls), after about 20 ms of untimed calls that wake its thread pool (not
for calls over 0.1 s); the figure is the median over the rounds. A layer
whose round would take long (the FFT layers: PyTorch takes seconds) gets
fewer rounds, at least 3 (1 with ``--quick``).

Per row: time, torch time / this time (> 1: faster than PyTorch), GFLOP/s
(2 * N * C_out * output positions * C_in / groups * prod(k) flops, whatever
the method does) and the fraction of this machine's FMA peak on the threads
used: ``--peak-gflops``, default the environment variable
``FASTCONV_PEAK_GFLOPS``, else not printed (measure it with
``../shared/tools/cpuprobe.c``, the fp32 512-bit figure for that many
threads). Then the issue's goals, and the geometric mean over the table of
torch time / fastconv time. ``OPENBLAS_CORETYPE`` is printed in the header:
it changes the BLAS kernels the GEMMs get; the issue asks for figures with
and without it.
"""

import argparse
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
import scipy.fft  # noqa: E402

import fastconv  # noqa: E402
from benchmarks.common import (calls_per_sample, interleaved_samples,  # noqa: E402
                               loadavg, max_rel_error, n_cpus, print_config,
                               print_machine, report_wrong_outputs, save_run,
                               seconds_per_call, timed, warm_up)
from benchmarks.nn import (LAYERS, TABLE, TINY_GOAL_S, layer_context,  # noqa: E402
                           layer_data, layer_peers, method_refused, nn, peer_label,
                           torch_or_none)

torch = torch_or_none()

SAMPLE_S = 0.02  # seconds of calls per timed loop
WARM_S = 0.02  # untimed calls before each loop of a peer
NO_WARM_S = 0.1  # calls longer than this get no untimed calls per round
TOL = 1e-3  # max |out - ref| / max |ref|
FFT_TAPS = 64  # the reference uses FFTs for kernels of more taps


# -------------------------------------------------------------- reference

def reference(layer, data, workers):
    """The layer's output in float64: PyTorch's definition, summed exactly in float64.

    out[n, o, i] = bias[o] + sum_{c, t} xpad[n, g*Cg + c, i*stride + t] *
    weight[o, c, t] with g the group of output channel o. Kernels of up to
    `FFT_TAPS` taps: one batched float64 matrix product over the channels
    per tap. Larger ones: float64 FFTs of a size at least the padded input
    (so the circular products equal the linear ones where they are read),
    at every frequency a (C_out x C_in) by (C_in x N) product per group,
    one inverse transform; the stride subsamples the stride-1 result.
    """
    g, k, s = layer.groups, layer.k, layer.stride
    nsp = len(k)
    x = np.pad(data["x"].astype(np.float64), [(0, 0)] * 2 + [(layer.padding,) * 2] * nsp)
    n, c_in = x.shape[:2]
    c_out = layer.c_out
    xg = x.reshape((n, g, c_in // g) + x.shape[2:])
    wg = data["weight"].astype(np.float64).reshape((g, c_out // g, c_in // g) + k)
    out_sp = layer.out[2:]
    if math.prod(k) <= FFT_TAPS:
        out = np.zeros((n, g, c_out // g, math.prod(out_sp)))
        for t in np.ndindex(*k):
            sl = tuple(slice(ti, ti + s * (m - 1) + 1, s) for ti, m in zip(t, out_sp))
            xs = xg[(Ellipsis,) + sl].reshape(n, g, c_in // g, -1)
            out += np.matmul(wg[(Ellipsis,) + t], xs)
    else:
        axes = tuple(range(-nsp, 0))
        size = [scipy.fft.next_fast_len(m, real=True) for m in x.shape[2:]]
        flipped = wg[(Ellipsis,) + (slice(None, None, -1),) * nsp]
        xf = scipy.fft.rfftn(xg, size, axes=axes, workers=workers)
        wf = scipy.fft.rfftn(flipped, size, axes=axes, workers=workers)
        yf = np.einsum("goc...,ngc...->ngo...", wf, xf)
        del xf, wf
        full = scipy.fft.irfftn(yf, size, axes=axes, workers=workers)
        del yf
        # the correlation at i is the convolution with the flipped kernel at i + k - 1
        sl = tuple(slice(kk - 1, kk - 1 + s * (m - 1) + 1, s) for kk, m in zip(k, out_sp))
        out = full[(Ellipsis,) + sl]
    out = out.reshape(layer.out)
    out += data["bias"].astype(np.float64).reshape((-1,) + (1,) * nsp)
    return out


def check(out, ref):
    """(reason or None, relative error or None) of `out` against `ref`."""
    out = np.asarray(out)
    if out.shape != ref.shape or out.dtype != np.float32:
        return f"returned {out.dtype} {out.shape}, expected float32 {ref.shape}", None
    err = max_rel_error(out, ref)
    if not err <= TOL:
        return (f"differs from the float64 reference by {err:.3g} (relative to max |ref|; "
                f"tolerance {TOL:g})"), err
    return None, err


# ----------------------------------------------------------------- timing

def run_layer(name, threads, rounds, slow_rounds, budget, peak):
    """Check and time every peer of layer `name`; the result as a dict."""
    layer = LAYERS[name]
    data = layer_data(layer)
    # 'auto' is the first row already, whether or not METHODS lists it
    methods = tuple(m for m in nn.METHODS if m != "auto") if nn is not None else ()
    peers = layer_peers(layer, data, threads, methods)
    ref = reference(layer, data, threads)
    good, first_s, errors, failed, skipped = {}, {}, {}, {}, {}
    for pname, peer in peers.items():
        try:
            t, result = timed(peer.call)
        except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not fatal
            if method_refused(pname, exc):
                skipped[pname] = str(exc).splitlines()[0]
            else:
                failed[pname] = f"raised {type(exc).__name__}: {exc}"
            continue
        why, err = check(peer.view(result) if peer.view else result, ref)
        del result
        if why:
            failed[pname] = why
            continue
        good[pname], first_s[pname], errors[pname] = peer.call, t, err
    del ref

    numbers, warm = {}, {}
    for pname, call in good.items():
        if first_s[pname] >= SAMPLE_S:
            # the check was the first call: one more pays any one-off cost left
            first_s[pname] = min(first_s[pname], timed(call)[0])
        if first_s[pname] >= SAMPLE_S:
            numbers[pname] = 1
        else:
            warm_up(call)
            numbers[pname] = calls_per_sample(call, SAMPLE_S)
        warm[pname] = WARM_S if first_s[pname] < NO_WARM_S else 0
    # a loop lasts about SAMPLE_S, or one call where a call is longer
    round_s = sum(max(first_s[p], SAMPLE_S) + warm[p] for p in good)
    n_rounds = rounds
    if round_s * rounds > budget:
        n_rounds = max(slow_rounds, min(rounds, int(budget / max(round_s, 1e-9))))
    samples = interleaved_samples(good, numbers, n_rounds, warm)

    med = {p: statistics.median(s) for p, s in samples.items()}
    base = med.get("torch")
    rows = []
    for pname in peers:
        row = {"peer": pname, "label": peer_label(layer, pname)}
        if pname in failed:
            row["error"] = failed[pname]
        elif pname in skipped:
            row["skipped"] = skipped[pname]
        else:
            gflops = layer.flops / med[pname] / 1e9
            row.update(median_s=med[pname], min_s=min(samples[pname]),
                       samples_s=samples[pname], calls_per_sample=numbers[pname],
                       rel_error=errors[pname], gflops=gflops,
                       peak_fraction=gflops / peak if peak else None,
                       torch_over_this=base / med[pname] if base else None)
        rows.append(row)
    res = {"case": name, "title": layer.title, "flops": layer.flops, "rounds": n_rounds,
           "torch_ms_issue": layer.torch_ms, "goal": layer.goal, "rows": rows,
           "missing": [] if torch is not None else [("torch", "not installed")]}
    if nn is None:
        res["missing"].append(("fastconv.nn", "this fastconv has no nn"))
    else:
        res.update(chosen_method(layer, data, threads, med))
    return res


def chosen_method(layer, data, threads, med):
    """What ``method='auto'`` picks (``choose_method``), and the fastest method here."""
    found = {}
    try:
        found["auto_picks"] = nn.choose_method(
            data["x"], data["weight"], data["bias"], stride=layer.stride,
            padding=layer.padding, groups=layer.groups, workers=threads)
    except Exception as exc:  # noqa: BLE001 - reported with the outputs
        found["choose_method_error"] = f"raised {type(exc).__name__}: {exc}"
    timed_methods = {p[len("fastconv_"):]: t for p, t in med.items()
                     if p.startswith("fastconv_") and p != "fastconv_out"}
    if timed_methods:
        found["fastest_method"] = min(timed_methods, key=timed_methods.get)
    return found


# --------------------------------------------------------------- printing

def print_layer(res, peak):
    goal = f"goal: torch / fastconv >= {res['goal']:g}" if res["goal"] else ""
    issue = (f"torch in the issue: {res['torch_ms_issue']:g} ms"
             if res["torch_ms_issue"] else "")
    work = (f"{res['flops'] / 1e9:.3g} GFLOP" if res["flops"] >= 1e8
            else f"{res['flops'] / 1e6:.3g} MFLOP")
    extra = "; ".join(s for s in (work, issue, goal,
                                  f"{res['rounds']} rounds") if s)
    print(f"\n{res['title']}   ({extra})")
    timed_rows = [r for r in res["rows"] if "median_s" in r]
    fast = min((r["median_s"] for r in timed_rows), default=1.0)
    unit, scale = ("us", 1e6) if fast < 1e-3 else ("ms", 1e3)
    pk = "peak" if peak else ""
    print(f"  {'peer':<42} {unit:>9} {'min':>9} {'torch/':>7} {'GFLOP/s':>8} {pk:>5} "
          f"{'max err':>8} {'N':>6}")
    for r in res["rows"]:
        if "error" in r:
            print(f"  {r['label']:<42} WRONG OUTPUT, not timed: {r['error']}")
            continue
        if "skipped" in r:
            print(f"  {r['label']:<42} skipped: {r['skipped']}")
            continue
        ratio = f"{r['torch_over_this']:.2f}" if r["torch_over_this"] else "-"
        frac = f"{r['peak_fraction']:.0%}" if r["peak_fraction"] is not None else ""
        print(f"  {r['label']:<42} {r['median_s'] * scale:9.3f} {r['min_s'] * scale:9.3f} "
              f"{ratio:>7} {r['gflops']:8.1f} {frac:>5} {r['rel_error']:8.1e} "
              f"{r['calls_per_sample']:6d}")
    for label, why in res["missing"]:
        print(f"  {label:<42} skipped: {why}")
    if "auto_picks" in res or "fastest_method" in res:
        print(f"  method='auto' picks {res.get('auto_picks', '?')!r} (choose_method); "
              f"fastest explicit method here: {res.get('fastest_method', '?')!r}")
    err = {r["peer"]: r["rel_error"] for r in timed_rows}
    if err.get("fastconv_winograd") and err.get("fastconv_direct"):
        print(f"  error of method='winograd' / error of method='direct': "
              f"{err['fastconv_winograd'] / err['fastconv_direct']:.2f} (the issue: <= 10)")
    if "choose_method_error" in res:
        print(f"  choose_method {res['choose_method_error']}")


def goals(results):
    """The issue's goals, measured: a list of dicts (printed by print_goals)."""
    req = []
    for res in results:
        by = {r["peer"]: r for r in res["rows"] if "median_s" in r}
        if res["case"] == "tiny":
            for peer in ("fastconv", "fastconv_out"):
                if peer in by:
                    t = by[peer]["median_s"]
                    req.append({"case": "tiny", "figure": f"{by[peer]['label']} time per call",
                                "value": t, "absolute": True,
                                "goal": f"<= {TINY_GOAL_S * 1e6:g} us", "met": t <= TINY_GOAL_S})
            continue
        for peer in ("fastconv", "fastconv_out"):
            r = by.get(peer)
            if r is None or r["torch_over_this"] is None:
                continue
            value = r["torch_over_this"]
            req.append({"case": res["case"], "figure": f"torch / {r['label']}",
                        "value": value, "absolute": False,
                        "goal": f">= {res['goal']:g}" if res["goal"] else "",
                        "met": value >= res["goal"] if res["goal"] else None})
    return req


def geometric_means(results):
    """{peer: (geometric mean of torch / peer time over the table's layers, count)}."""
    means = {}
    for peer in ("fastconv", "fastconv_out"):
        ratios = [r["torch_over_this"] for res in results if res["case"] in TABLE
                  for r in res["rows"] if r["peer"] == peer and r.get("torch_over_this")]
        if ratios:
            means[peer] = (math.exp(statistics.fmean(math.log(v) for v in ratios)),
                           len(ratios))
    return means


def print_goals(req, means):
    print("\nGoals of the issue (measured here; ratio = torch time / fastconv time)")
    print(f"  {'layer':<22} {'figure':<36} {'value':>9}  {'goal':<10} ")
    if not req:
        print("  (nothing measured: no fastconv row was timed)")
    for q in req:
        v = f"{q['value'] * 1e6:.2f} us" if q["absolute"] else f"{q['value']:.2f}"
        verdict = {True: "met", False: "NOT MET", None: ""}[q["met"]]
        print(f"  {q['case']:<22} {q['figure']:<36} {v:>9}  {q['goal']:<10} {verdict}")
    for peer, (mean, count) in means.items():
        what = "fastconv" if peer == "fastconv" else "fastconv with out="
        print(f"  geometric mean of torch time / {what} time over {count} of the "
              f"{len(TABLE)} layers of the table: {mean:.2f}")


# ------------------------------------------------------------------- main

def peak_from(args):
    if args.peak_gflops is not None:
        return args.peak_gflops
    env = os.environ.get("FASTCONV_PEAK_GFLOPS")
    if env:
        try:
            return float(env)
        except ValueError:
            raise SystemExit(f"FASTCONV_PEAK_GFLOPS={env!r} is not a number") from None
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds per peer, 1 for the slow layers")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds per peer (default 11, or 3 with --quick)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for fastconv and PyTorch (default: fastconv.get_workers())")
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="this machine's fp32 FMA peak on that many threads, in GFLOP/s "
                         "(default: $FASTCONV_PEAK_GFLOPS; without it no fractions)")
    ap.add_argument("--json", metavar="PATH", help="save the results as JSON")
    ap.add_argument("--case", action="append", choices=list(LAYERS),
                    help="run only this layer (repeatable)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 11)
    slow_rounds = min(rounds, 1 if args.quick else 3)
    budget = 5.0 if args.quick else 30.0  # s per layer before it gets fewer rounds
    ncpu = n_cpus()
    threads = args.threads or fastconv.get_workers()
    peak = peak_from(args)

    load_start = loadavg()
    cfg = print_config()
    if nn is None:
        print("NOTE: this fastconv has no nn: timing PyTorch only")
    with layer_context(threads):
        print(f"numpy {np.__version__}, scipy {scipy.__version__} (the float64 reference)")
        print("torch " + (f"{torch.__version__}, torch.set_num_threads({threads}) -> "
                          f"{torch.get_num_threads()} threads, oneDNN "
                          f"{'on' if torch.backends.mkldnn.is_available() else 'off'}"
                          if torch else "not installed: its rows are skipped"))
        print(f"fastconv.nn: workers={threads}" + (
            f", METHODS = {tuple(nn.METHODS)}" if nn is not None else ", not available"))
        print("FMA peak: " + (f"{peak:g} GFLOP/s on {threads} threads" if peak else
                              "not given (--peak-gflops or FASTCONV_PEAK_GFLOPS): "
                              "no fractions"))
        print_machine(threads, ncpu, load_start)
        empty = min(seconds_per_call(lambda: None, 100_000) for _ in range(5))
        print(f"median of up to {rounds} interleaved rounds per peer, each a loop of N calls "
              f"(about {SAMPLE_S * 1e3:.0f} ms, or one call); torch/ = torch time / this "
              f"time (> 1: faster than PyTorch); max err = max |out - ref| / max |ref| "
              f"against float64; calling an empty closure costs {empty * 1e6:.3f} us "
              "(included)")

        results = []
        for name in args.case or list(LAYERS):
            res = run_layer(name, threads, rounds, slow_rounds, budget, peak)
            print_layer(res, peak)
            results.append(res)

    req = goals(results)
    means = geometric_means(results)
    print_goals(req, means)
    failed = [(res["title"], r["label"], r["error"]) for res in results
              for r in res["rows"] if "error" in r]
    failed += [(res["title"], "fastconv.nn.choose_method", res["choose_method_error"])
               for res in results if "choose_method_error" in res]
    load_end = loadavg()
    print(f"\nloadavg at end: {load_end}")

    if args.json:
        save_run(args.json, cfg, {"numpy": np, "scipy": scipy, "torch": torch}, ncpu,
                 rounds, slow_rounds, load_start, load_end, threads=threads,
                 peak_gflops=peak, empty_call_s=empty, tolerance=TOL, cases=results,
                 requirements=req,
                 geometric_mean={p: {"value": m, "layers": c} for p, (m, c) in means.items()})
    return report_wrong_outputs(failed)


if __name__ == "__main__":
    sys.exit(main())
