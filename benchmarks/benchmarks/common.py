"""Shared helpers for the fastconv benchmark suite.

Used by the asv benchmarks in this package and by ``benchmarks/compare.py``,
``benchmarks/compare_pool.py``, ``benchmarks/compare_small.py`` and
``benchmarks/compare_nn.py``.
Everything here is plain NumPy/SciPy plus optional OpenCV; no fastconv
internals are touched, only its public API.
"""

import importlib
import math
import os
import time
from pathlib import Path

import numpy as np


def safe_import(name):
    """Import module `name`, or return None when it is not installed.

    Optional peers (OpenCV, threadpoolctl) are compared against when present;
    a missing one skips its benchmarks instead of failing the suite.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def n_cpus():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def loadavg():
    """The load average line, to judge how quiet the machine was."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def warm_up(call, seconds=0.02, most=None):
    """Call `call` until `seconds` have passed: at least once, at most `most` times.

    Run at the end of a ``setup``, so that the first timed call does not pay
    for page faults, plans and sleeping threads.
    """
    t_end = time.perf_counter() + seconds
    count = 0
    while True:
        call()
        count += 1
        if time.perf_counter() > t_end or (most is not None and count >= most):
            return


def timed(fn):
    """(seconds, result) of one call of `fn`."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def print_config():
    """Print `fastconv.show_config` and where fastconv was imported from.

    Returns the configuration text, for `save_run`.
    """
    import contextlib
    import io

    import fastconv

    cfg = io.StringIO()
    with contextlib.redirect_stdout(cfg):
        fastconv.show_config()
    print(cfg.getvalue().rstrip())
    print()
    print(f"fastconv {fastconv.__version__} from {Path(fastconv.__file__).parent}")
    return cfg.getvalue()


def print_machine(threads, ncpu, load_start):
    """Print Python, the CPUs, the threading and BLAS variables and the load.

    Warns when `threads` exceeds the `ncpu` usable CPUs or the machine is busy.
    """
    import platform

    print(f"python {platform.python_version()}, {platform.machine()}, {ncpu} usable CPUs, "
          + ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in
                      ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE")))
    print(f"loadavg at start: {load_start}")
    if threads > ncpu:
        print(f"WARNING: {threads} threads on {ncpu} usable CPUs")
    try:
        if os.getloadavg()[0] > 0.5 * ncpu:
            print("WARNING: the machine is busy; timings will be noisy")
    except OSError:
        pass


def report_wrong_outputs(failed):
    """Print the (case title, peer, reason) of peers not timed; the exit status."""
    if not failed:
        return 0
    print("\nWRONG OUTPUTS (not timed):")
    for title, peer, why in failed:
        print(f"  {title}: {peer}: {why}")
    return 1


def calls_per_sample(fn, seconds=0.02):
    """How many calls of `fn` take about `seconds`, as ``timeit``'s autorange.

    Calls of a few microseconds cannot be timed one by one (the clock and
    the loop cost as much); they are timed in loops of this many calls.
    """
    number = 1
    while True:
        t = seconds_per_call(fn, number) * number
        if t >= seconds / 5:
            return max(1, math.ceil(number * seconds / t))
        number *= 2


def seconds_per_call(fn, number):
    """Seconds per call of `fn`, over one loop of `number` calls."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def interleaved_samples(calls, numbers, rounds, warm=None):
    """Time the zero-argument callables `calls` ({name: fn}) in interleaved rounds.

    Every round times one loop of ``numbers[name]`` calls of each, in an
    order rotated by one every round, so no callable always follows another
    (caches, clocks and thread pools). `warm` ({name: seconds}, optional):
    untimed calls for about that long (at least one) before each loop of
    that callable; a loop of one call of a few milliseconds otherwise pays
    for waking its thread pool while the previous callable's threads still
    spin. Returns {name: [seconds per call, one per round]}.
    """
    names = list(calls)
    warm = warm or {}
    samples = {name: [] for name in names}
    for r in range(rounds if names else 0):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if warm.get(name):
                warm_up(calls[name], warm[name])
            samples[name].append(seconds_per_call(calls[name], numbers[name]))
    return samples


def preallocated(shape, dtype):
    """An output array with its pages already touched (no faults when timed)."""
    out = np.empty(shape, dtype)
    out.fill(0)
    return out


def max_rel_error(out, ref):
    """max |out - ref| / max |ref|, in float64 (0 when both are all zeros)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = float(np.max(np.abs(ref)))
    err = float(np.max(np.abs(out - ref)))
    return err / scale if scale else err


def save_run(path, config_text, peers, ncpu, rounds, slow_rounds, load_start, load_end,
             **results):
    """Write one benchmark run (environment, versions, results) as JSON to `path`.

    `peers` maps a peer's name to its module (None when not installed).
    """
    import json
    import platform

    import fastconv

    doc = {
        "fastconv_version": fastconv.__version__,
        "fastconv_file": fastconv.__file__,
        "config": config_text,
        "versions": {name: getattr(mod, "__version__", None) if mod else None
                     for name, mod in peers.items()},
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": ncpu, "rounds": rounds, "slow_rounds": slow_rounds,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                               "OPENBLAS_CORETYPE")},
        "loadavg_start": load_start, "loadavg_end": load_end,
        **results,
    }
    Path(path).write_text(json.dumps(doc, indent=1))
    print(f"results saved to {path}")


# Workloads, by name: (input shape, kernel shape). All kernels have odd sizes,
# so 'same' output is centred the same way in SciPy, OpenCV and fastconv.
CASES = {
    "1d_1M*31": ((1_000_000,), (31,)),
    "1d_64k*7": ((65_536,), (7,)),
    "2d_2048^2*7x7": ((2048, 2048), (7, 7)),
    "2d_512^2*3x3": ((512, 512), (3, 3)),
    "2d_4096^2*3x3": ((4096, 4096), (3, 3)),
    "3d_128^3*5^3": ((128, 128, 128), (5, 5, 5)),
    "3d_64^3*3^3": ((64, 64, 64), (3, 3, 3)),
}

# SciPy's direct method is a plain N-D loop; only these cases take well under
# a second with it (measured on a 2-core x86-64 machine, float32).
SCIPY_DIRECT_OK = {"1d_1M*31", "1d_64k*7", "2d_512^2*3x3", "3d_64^3*3^3"}


def make_data(case, dtype=np.float32, seed=1234):
    """Seeded standard-normal input and kernel for workload `case`."""
    shape, kshape = CASES[case]
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    if dtype in (np.float32, np.float64):  # generated directly: cheap setup
        return (rng.standard_normal(shape, dtype=dtype),
                rng.standard_normal(kshape, dtype=dtype))
    if dtype.kind in "iu":
        return (rng.integers(-100, 100, shape).astype(dtype),
                rng.integers(-5, 5, kshape).astype(dtype))
    x = rng.standard_normal(shape)
    k = rng.standard_normal(kshape)
    if dtype.kind == "c":
        x = x + 1j * rng.standard_normal(shape)
        k = k + 1j * rng.standard_normal(kshape)
    return x.astype(dtype), k.astype(dtype)


def flops(in_shape, k_shape, out_shape=None):
    """Multiply-adds counted as 2 flops: 2 * outputs * taps.

    `out_shape` defaults to `in_shape` (mode 'same').
    """
    if out_shape is None:
        out_shape = in_shape
    return 2.0 * math.prod(out_shape) * math.prod(k_shape)


def cv2_correlate_same(cv2, x, k):
    """'same' cross-correlation with zero fill, computed with cv2.filter2D.

    Equal to ``scipy.signal.correlate(x, k, mode='same')`` for odd kernel
    sizes (OpenCV anchors at the kernel centre). 1-D data is treated as a
    one-row image. OpenCV has no 3-D filter: for 3-D data the last axis is
    taken as 'channels' (filter2D filters each channel independently over
    the first two axes), one filter2D call per kernel slice along the last
    axis, and the slices are summed with the matching shift.
    """
    if any(n % 2 == 0 for n in k.shape):
        raise ValueError("the OpenCV peer needs odd kernel sizes")
    border = cv2.BORDER_CONSTANT
    if x.ndim == 1:
        return cv2.filter2D(x[np.newaxis, :], -1, k[np.newaxis, :],
                            borderType=border)[0]
    if x.ndim == 2:
        return cv2.filter2D(x, -1, k, borderType=border)
    if x.ndim == 3:
        n = x.shape[2]
        if n > 512:  # CV_CN_MAX
            raise ValueError("the OpenCV 3-D peer needs x.shape[2] <= 512")
        r = k.shape[2] // 2
        out = np.zeros_like(x)
        for d in range(k.shape[2]):
            g = cv2.filter2D(x, -1, np.ascontiguousarray(k[:, :, d]),
                             borderType=border)
            s = d - r  # out[..., i] += g[..., i + s]
            if s >= 0:
                out[..., :n - s] += g[..., s:]
            else:
                out[..., -s:] += g[..., :n + s]
        return out
    raise ValueError("the OpenCV peer handles 1-D, 2-D and 3-D data only")


def cv2_convolve_same(cv2, x, k):
    """'same' convolution with zero fill via cv2.filter2D (flipped kernel)."""
    flipped = np.ascontiguousarray(k[(slice(None, None, -1),) * k.ndim])
    return cv2_correlate_same(cv2, x, flipped)
