#!/usr/bin/env python
"""Fit the constants of fastconv's cost model (``fastconv/_cost_constants.py``).

Run it as a file, with fastconv installed, on a quiet machine::

    python benchmarks/fit_cost_model.py                # print the fit
    python benchmarks/fit_cost_model.py --write        # and rewrite the constants file

Every method that can compute a case of the training grid
(``regret_grid.cases('train')``, shapes between those of the judged grid) is
timed (best of several runs, with the default number of threads), and the
counts the model predicts from (``fastconv._costmodel.features``) are taken
for the same case. Each method's constants are then the non-negative least
squares fit of ``time = constants . counts`` on relative error (every row is
divided by its time), so small and large cases weigh the same.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]

import numpy as np  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

import fastconv  # noqa: E402
from fastconv import _convolve, _costmodel  # noqa: E402
from regret_grid import cases  # noqa: E402

CONSTANTS_FILE = HERE.parent / "fastconv" / "_cost_constants.py"


def _problem(case):
    p = _convolve._prepare(case["in1"], case["in2"], case["mode"], "auto", case["axes"],
                           "fill", 0, None, True)
    _, terms = _costmodel.candidates(p)
    return p, terms


def collect(seed):
    """{case name: {method: seconds}} over the training grid."""
    times = {}
    for case in cases("train", seed):
        _, measured = fastconv.choose_conv_method(case["in1"], case["in2"], case["mode"],
                                                  axes=case["axes"], measure=True)
        times[case["name"]] = measured
        print(case["name"], {m: f"{t * 1e3:.3f}ms" for m, t in measured.items()}, flush=True)
    return times


def rows_from(times, seed):
    """{method: [(case name, counts, seconds)]}: the model's counts for each timing."""
    rows = {}
    for case in cases("train", seed):
        if case["name"] not in times:
            continue
        p, terms = _problem(case)
        for method, seconds in times[case["name"]].items():
            rows.setdefault(method, []).append(
                (case["name"], _costmodel.features(p, method, terms), seconds))
    return rows


def fit(rows):
    """Constants per method; counts the grid never exercised (say complex128
    separable passes) take the direct method's constant for the same count,
    scaled as the method's fitted multiply-adds compare with direct's."""
    constants, report, unfitted = {}, {}, {}
    for method, data in rows.items():
        A = np.array([f for _, f, _ in data], dtype=float)
        t = np.array([s for _, _, s in data])
        # relative error; scale columns so nnls is well conditioned
        scale = np.maximum(np.abs(A / t[:, None]).max(axis=0), 1e-300)
        coef, _ = nnls(A / t[:, None] / scale, np.ones(len(t)))
        coef = coef / scale
        pred = A @ coef
        ratio = pred / t
        constants[method] = [float(f"{c:.4g}") for c in coef]
        report_unfitted = [j for j in range(A.shape[1]) if not A[:, j].any()]
        unfitted[method] = report_unfitted
        worst = np.argsort(-np.abs(np.log(ratio)))[:3]
        report[method] = (len(t), float(np.median(np.abs(np.log(ratio)))),
                          float(np.max(np.abs(np.log(ratio)))),
                          [(data[i][0], float(ratio[i])) for i in worst])
    direct = constants.get("direct")
    for method, columns in unfitted.items():
        # columns 1-5 are multiply-adds per dtype in direct, separable and im2col
        columns = [j for j in columns if 1 <= j <= 5]
        if method in ("direct", "fft") or not direct or not columns:
            continue
        fitted = [j for j in range(1, 6) if j not in columns and direct[j] > 0]
        scale = (sum(constants[method][j] / direct[j] for j in fitted) / len(fitted)
                 if fitted else 1.0)
        for j in columns:
            constants[method][j] = float(f"{direct[j] * scale:.4g}")
    return constants, report


def write(constants, nthreads):
    lines = [
        '"""Constants of the cost model (`_costmodel`): seconds per counted unit.',
        "",
        "Written by ``benchmarks/fit_cost_model.py --write``; do not edit by hand.",
        '"""',
        "",
        f"FIT_THREADS = {nthreads}",
        "",
        "CONSTANTS = {",
    ]
    for method, coef in sorted(constants.items()):
        lines.append(f"    {method!r}: {coef!r},")
    lines.append("}")
    CONSTANTS_FILE.write_text("\n".join(lines) + "\n")
    print(f"wrote {CONSTANTS_FILE}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write the timings to this JSON file")
    parser.add_argument("--load", type=Path,
                        help="fit the timings saved by --save (same seed) instead of timing")
    args = parser.parse_args()
    times = json.loads(args.load.read_text()) if args.load else collect(args.seed)
    if args.save:
        args.save.write_text(json.dumps(times))
    rows = rows_from(times, args.seed)
    constants, report = fit(rows)
    for method, (count, med, worst, cases) in report.items():
        print(f"{method:10s} {count:3d} cases  median |log(pred/time)| {med:.2f}  "
              f"worst {worst:.2f}  constants {constants[method]}")
        for name, ratio in cases:
            print(f"    predicted/measured {ratio:6.2f}  {name}")
    if args.write:
        write(constants, fastconv.get_workers())


if __name__ == "__main__":
    main()
