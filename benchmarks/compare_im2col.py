#!/usr/bin/env python
"""method='im2col' against the direct method and PyTorch on banks of kernels.

Run it as a file, with fastconv installed::

    python benchmarks/compare_im2col.py             # 11 rounds
    python benchmarks/compare_im2col.py --rounds 5
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_im2col.py

For each case (float32, mode 'same', zero fill; a batch of kernels over one
input, broadcast along the first axis) it times, interleaved in every round
(the order rotating) and reported as the median over rounds:

* ``fastconv.convolve(img, kernels, 'same', method='im2col', axes=...)``,
  the baseline;
* one ``method='direct'`` call per kernel (a Python loop);
* one broadcast ``method='direct'`` call;
* ``torch.nn.functional.conv2d`` / ``conv3d`` with the flipped kernels
  (flipped once, outside the timing), when PyTorch is installed, on as many
  threads as fastconv.

Every output is checked against the per-kernel direct results first.
Ratios are peer time / im2col time, so > 1 means im2col is faster.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Never import fastconv from the source tree (no compiled modules there).
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO]

import numpy as np  # noqa: E402

import fastconv  # noqa: E402
from benchmarks.common import loadavg, n_cpus, safe_import, timed  # noqa: E402

torch = safe_import("torch")

# name: (image shape, kernel bank shape); the bank's first axis broadcasts
CASES = {
    "2-D 512^2, 64 kernels 5x5": ((1, 512, 512), (64, 5, 5)),
    "2-D 256^2, 16 kernels 7x7": ((1, 256, 256), (16, 7, 7)),
    "3-D 64^3, 16 kernels 3^3": ((1, 64, 64, 64), (16, 3, 3, 3)),
}
TOL = 1e-4  # max |out - ref| / max |ref|


def peers_for(img, bank, workers):
    axes = tuple(range(1, img.ndim))
    kw = dict(mode="same", workers=workers)
    single = img[0]
    p = [
        ("im2col (broadcast)",
         lambda: fastconv.convolve(img, bank, method="im2col", axes=axes, **kw)),
        ("direct, one call per kernel",
         lambda: np.stack([fastconv.convolve(single, k, method="direct", **kw)
                           for k in bank])),
        ("direct (broadcast)",
         lambda: fastconv.convolve(img, bank, method="direct", axes=axes, **kw)),
    ]
    if torch is not None and img.ndim in (3, 4):
        conv = torch.nn.functional.conv2d if img.ndim == 3 else torch.nn.functional.conv3d
        t_img = torch.from_numpy(np.ascontiguousarray(img[np.newaxis]))
        flipped = bank[(slice(None),) + (slice(None, None, -1),) * (img.ndim - 1)]
        t_w = torch.from_numpy(np.ascontiguousarray(flipped[:, np.newaxis]))
        pad = tuple(s // 2 for s in bank.shape[1:])

        def run_torch():
            with torch.no_grad():
                return conv(t_img, t_w, padding=pad)[0].numpy()
        p.append((f"torch {conv.__name__}", run_torch))
    return p


def run_case(name, shape, kshape, rounds, workers, rng):
    img = rng.standard_normal(shape, dtype=np.float32)
    bank = rng.standard_normal(kshape, dtype=np.float32)
    peers = peers_for(img, bank, workers)
    ref = peers[1][1]()
    for pname, fn in peers:
        out = fn()
        err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
        if out.shape != ref.shape or not err <= TOL:
            raise SystemExit(f"{name}: {pname} gives shape {out.shape}, error {err:.3g}")
    times = {pname: [] for pname, _ in peers}
    for r in range(rounds):
        order = peers[r % len(peers):] + peers[:r % len(peers)]
        for pname, fn in order:
            fn()  # untimed: wakes thread pools after the previous peer
            times[pname].append(timed(fn)[0])
    med = {pname: statistics.median(t) for pname, t in times.items()}
    base = med[peers[0][0]]
    print(f"\n{name}   (float32, mode='same', workers={workers})")
    print(f"  {'peer':<32} {'ms':>9} {'ratio':>7}")
    for pname, _ in peers:
        print(f"  {pname:<32} {med[pname] * 1e3:9.2f} {med[pname] / base:7.2f}")
    return med


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--workers", type=int, default=n_cpus())
    ap.add_argument("--case", action="append", choices=list(CASES))
    args = ap.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(args.workers)
    print(f"fastconv {fastconv.__version__}, numpy {np.__version__}, torch "
          f"{torch.__version__ if torch else 'not installed'}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"loadavg at start: {loadavg()}")
    rng = np.random.default_rng(2024)
    t0 = time.perf_counter()
    for name in args.case or list(CASES):
        run_case(name, *CASES[name], args.rounds, args.workers, rng)
    print(f"\nloadavg at end: {loadavg()}  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
