"""``fastconv demo``: configuration, one correctness check and a timing table.

Only NumPy, SciPy and fastconv are used, so the demo runs wherever fastconv
is installed. The timings are medians of interleaved repeats (fastconv and
SciPy alternate, so a burst of load on the machine hits both) and the whole
demo takes about 10 seconds.
"""

import os
import statistics
import time

import numpy as np

# (label, input shape, kernel shape, kernel kind); float32 data, mode 'same'.
# The cases span the methods 'auto' picks: direct, separable and fft.
DEMO_CASES = [
    ("2-D 1024^2 * 7x7", (1024, 1024), (7, 7), "random"),
    ("2-D 512^2 * 3x3", (512, 512), (3, 3), "random"),
    ("3-D 64^3 * 5^3", (64, 64, 64), (5, 5, 5), "random"),
    ("1-D 1e6 * 31", (1_000_000,), (31,), "random"),
    ("2-D 1024^2 * 31^2 Gauss", (1024, 1024), (31, 31), "gaussian"),
    ("2-D 512^2 * 101^2", (512, 512), (101, 101), "random"),
    ("1-D 1e6 * 1e4", (1_000_000,), (10_000,), "random"),
]


def _kernel(rng, shape, kind):
    if kind == "gaussian":
        k = np.ones(())
        for n in shape:
            t = np.arange(n) - (n - 1) / 2
            k = np.multiply.outer(k, np.exp(-0.5 * (t / (n / 6)) ** 2))
        return (k / k.sum()).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32)


_BUDGET_PER_CASE = 1.0   # seconds of timed calls per case (both peers)
_MIN_ROUNDS = 3
_MAX_ROUNDS = 100


def _time_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _interleaved_medians(fns, budget=_BUDGET_PER_CASE):
    """Median seconds of each callable in `fns`, timed in alternation.

    One warm-up call each sets the number of rounds so that the timed rounds
    take about `budget` seconds (at least _MIN_ROUNDS rounds).
    """
    first = [_time_once(f) for f in fns]
    rounds = int(budget / max(sum(first), 1e-9))
    rounds = max(_MIN_ROUNDS, min(_MAX_ROUNDS, rounds))
    times = [[] for _ in fns]
    for r in range(rounds):
        # alternate which peer goes first, so neither always runs after the
        # other (caches, turbo clocks)
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            times[i].append(_time_once(fns[i]))
    return [statistics.median(t) for t in times]


def _shifted_sum_convolve_same(x, k):
    """2-D 'same' convolution as a sum of shifted, weighted copies of x: the
    definition, one tap at a time, independent of every kernel it checks."""
    kh, kw = k.shape
    padded = np.zeros((x.shape[0] + kh - 1, x.shape[1] + kw - 1))
    padded[kh - 1 - (kh - 1) // 2:kh - 1 - (kh - 1) // 2 + x.shape[0],
           kw - 1 - (kw - 1) // 2:kw - 1 - (kw - 1) // 2 + x.shape[1]] = x
    out = np.zeros(x.shape)
    for a in range(kh):
        for b in range(kw):
            out += k[a, b] * padded[kh - 1 - a:kh - 1 - a + x.shape[0],
                                    kw - 1 - b:kw - 1 - b + x.shape[1]]
    return out


def _check(fastconv, rng):
    """Compare one float64 result with the definition; print the error."""
    x = rng.standard_normal((200, 300))
    k = rng.standard_normal((9, 5))
    got = fastconv.convolve(x, k, mode="same", method="direct")
    want = _shifted_sum_convolve_same(x, k)
    err = float(np.max(np.abs(got - want)))
    print("Check: convolve(200x300 float64, 9x5, mode='same') against the sum "
          "of shifted copies")
    print(f"  max abs difference = {err:.3g}  (max |result| = "
          f"{float(np.max(np.abs(want))):.3g})")
    return err


def run_demo():
    """Print the configuration, a correctness check and a timing table.

    Returns
    -------
    ok : bool
        False when the check found a difference larger than float64 round-off
        (the CLI then exits with status 1).
    """
    import fastconv

    fastconv.show_config()
    print()
    rng = np.random.default_rng(20240601)
    err = _check(fastconv, rng)
    ok = err <= 1e-10
    if not ok:
        print("  ERROR: fastconv and the definition disagree")
    print()

    try:
        load = open("/proc/loadavg").read().split()[:3]
        load_note = f", load average {' '.join(load)}"
    except OSError:
        load_note = ""
    print(f"Timing: float32, mode='same', fastconv method='auto' with "
          f"default workers ({fastconv.get_workers()})")
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        ncpu = os.cpu_count()
    print(f"        median of interleaved repeats, {ncpu} usable "
          f"CPUs{load_note}")
    header = f"  {'case':<24} {'method':>9} {'fastconv ms':>12}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, shape, kshape, kind in DEMO_CASES:
        x = rng.standard_normal(shape, dtype=np.float32)
        k = _kernel(rng, kshape, kind)
        method = fastconv.choose_conv_method(x, k, "same")
        (t_fc,) = _interleaved_medians([lambda: fastconv.convolve(x, k, mode="same")])
        print(f"  {label:<24} {method:>9} {t_fc * 1e3:12.2f}")
    print()
    print("For comparisons with SciPy, OpenCV and PyTorch (same thread counts, "
          "GFLOP/s)\nrun benchmarks/compare.py from a clone of the repository.")
    return ok
