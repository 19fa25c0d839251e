#!/usr/bin/env python
"""Fit the constants of fastconv's cost model (``fastconv/_cost_constants.py``).

Run it as a file, with fastconv installed, on a quiet machine::

    python benchmarks/fit_cost_model.py                # print the fit
    python benchmarks/fit_cost_model.py --write        # and rewrite the constants file

Every method that can compute a case of the training grid
(``regret_grid.cases('train')``, shapes between those of the judged grid) is
timed (best of several runs, with the default number of threads), and the
counts the model predicts from (``fastconv._plan.costmodel.features``) are taken
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
from fastconv._normal.conv import conv_problem  # noqa: E402
from fastconv._plan import costmodel as _costmodel  # noqa: E402
from regret_grid import cases  # noqa: E402

CONSTANTS_FILE = HERE.parent / "fastconv" / "_plan" / "cost_constants.py"


def _problem(case):
    p = conv_problem(case["in1"], case["in2"], case["mode"], "auto", case["axes"],
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
        methods, _ = _costmodel.candidates(p)
        for method, seconds in times[case["name"]].items():
            if method not in methods:
                continue  # timed by an older candidate rule
            rows.setdefault(method, []).append(
                (case["name"], _costmodel.features(p, method, terms), seconds))
    return rows


def fit(rows):
    """Constants per method (separable: cost per pass and a factor on the direct
    prediction of its passes), with a report of
    the fit: cases, median and worst |log(predicted / measured)|, worst cases."""
    constants, report = {}, {}
    # separable passes are direct runs: fitted as a factor on direct's prediction
    for method in sorted(rows, key=lambda m: m == "separable"):
        data = rows[method]
        A = np.array([f for _, f, _ in data], dtype=float)
        t = np.array([s for _, _, s in data])
        if method == "separable":
            # (passes, direct-predicted work of the passes): a cost per pass and a factor
            A = np.column_stack([A[:, 0], A[:, 1:] @ np.array(constants["direct"][1:])])
        # relative error; scale columns so nnls is well conditioned
        scale = np.maximum(np.abs(A / t[:, None]).max(axis=0), 1e-300)
        coef, _ = nnls(A / t[:, None] / scale, np.ones(len(t)))
        coef = coef / scale
        pred = A @ coef
        ratio = pred / t
        constants[method] = [float(f"{c:.4g}") for c in coef]
        worst = np.argsort(-np.abs(np.log(ratio)))[:3]
        report[method] = (len(t), float(np.median(np.abs(np.log(ratio)))),
                          float(np.max(np.abs(np.log(ratio)))),
                          [(data[i][0], float(ratio[i])) for i in worst])
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
