"""Pooling: fastconv.pool and fastconv.adaptive_pool beside their peers.

The workloads of ``benchmarks/compare_pool.py`` (the pooling issue), float32,
with 2 threads (fewer on a 1-core machine) for every peer that has threads:
fastconv ``workers=2``, ``torch.set_num_threads(2)``, ``cv2.setNumThreads(2)``;
``scipy.ndimage`` is single-threaded.

Every class times one call on data made in a seeded ``setup``. Combinations
that cannot run raise NotImplementedError in ``setup``, which asv reports as
skipped (n/a):

* PyTorch peers when ``torch`` is not importable (it is imported lazily, in
  ``setup``, so the other benchmarks do not pay for importing it);
* OpenCV peers when ``cv2`` is not importable;
* everything timing fastconv when this fastconv has no ``pool`` (older
  commits);
* SciPy's ``maximum_filter`` on the 31x31 window only (~0.1 s a call; its
  time hardly depends on the window).

Each ``setup`` ends with about 20 ms of untimed calls (at least one), as
compare_pool.py does before every timed call: the first calls in a process
pay for starting thread pools, page faults on fresh output buffers and idle
cores' clocks, several times the warm time, and ``asv run --quick`` times
a single call with no warm-up of its own. compare_pool.py checks that the outputs agree; this
suite only times.
"""

import os
import numpy as np
import scipy.ndimage

import fastconv

from .common import safe_import, warm_up

cv2 = safe_import("cv2")


def _n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


THREADS = min(2, _n_cpus())

NCHW = (8, 64, 112, 112)  # pooled over axes (2, 3)
IMAGE = (2048, 2048)
ADAPTIVE_IN = (8, 512, 14, 14)  # to 7x7

# name: (op, window, stride, padding), PyTorch's rules
NCHW_CASES = {
    "max_2x2_s2": ("max", 2, 2, 0),
    "mean_2x2_s2": ("mean", 2, 2, 0),
    "max_3x3_s2_p1": ("max", 3, 2, 1),
}
TORCH_NCHW = {"max": "max_pool2d", "mean": "avg_pool2d"}


def _data(shape, seed=1234):
    """Seeded standard-normal float32 array."""
    return np.random.default_rng(seed).standard_normal(shape,
                                                       dtype=np.float32)


def _need_pool():
    if not (hasattr(fastconv, "pool") and hasattr(fastconv, "adaptive_pool")):
        raise NotImplementedError("this fastconv has no pool/adaptive_pool")


def _torch():
    """torch with THREADS threads, or NotImplementedError (asv: skipped)."""
    torch = safe_import("torch")
    if torch is None:
        raise NotImplementedError("PyTorch not installed")
    torch.set_num_threads(THREADS)
    return torch


def _cv2():
    if cv2 is None:
        raise NotImplementedError("OpenCV not installed")
    cv2.setNumThreads(THREADS)
    return cv2


def _nchw_call(case, peer, x, workers=THREADS):
    op, k, s, pad = NCHW_CASES[case]
    if peer == "fastconv":
        _need_pool()
        return lambda: fastconv.pool(x, k, stride=s, op=op, padding=pad,
                                     axes=(2, 3), workers=workers)
    if peer == "torch":
        torch = _torch()
        f = getattr(torch.nn.functional, TORCH_NCHW[op])
        tx = torch.from_numpy(x)
        return lambda: f(tx, k, s, pad)
    raise ValueError(peer)


def _sliding_max_call(k, peer, img, workers=THREADS):
    """k x k max, stride 1, 'same'-size output (-inf outside the image)."""
    if peer == "fastconv":
        _need_pool()
        return lambda: fastconv.pool(img, k, stride=1, op="max",
                                     padding=k // 2, workers=workers)
    if peer == "scipy":
        if k != 31:
            raise NotImplementedError("scipy: timed on the 31x31 window only")
        return lambda: scipy.ndimage.maximum_filter(
            img, size=k, mode="constant", cval=-np.inf)
    if peer == "cv2":
        cv = _cv2()
        box = np.ones((k, k), np.uint8)
        return lambda: cv.dilate(img, box, borderType=cv.BORDER_CONSTANT,
                                 borderValue=-np.inf)
    raise ValueError(peer)


class PoolNCHW:
    """float32 (8, 64, 112, 112) pooled over axes (2, 3), against PyTorch."""

    params = [list(NCHW_CASES), ["fastconv", "torch"]]
    param_names = ["case", "peer"]

    def setup(self, case, peer):
        self.x = _data(NCHW)
        self.call = _nchw_call(case, peer, self.x)
        warm_up(self.call, most=10)

    def time_pool(self, case, peer):
        self.call()


class SlidingMax:
    """k x k max, stride 1, padding k//2 ('same' size) on a 2048^2 image.

    fastconv's time should not grow with k (van Herk / Gil-Werman).
    """

    params = [[3, 31, 101], ["fastconv", "scipy", "cv2"]]
    param_names = ["window", "peer"]

    def setup(self, window, peer):
        self.img = _data(IMAGE)
        self.call = _sliding_max_call(window, peer, self.img)
        warm_up(self.call, most=10)

    def time_sliding_max(self, window, peer):
        self.call()


class AdaptivePool:
    """(8, 512, 14, 14) to 7x7 over axes (2, 3), against PyTorch."""

    params = [["mean", "max"], ["fastconv", "torch"]]
    param_names = ["op", "peer"]

    def setup(self, op, peer):
        self.x = _data(ADAPTIVE_IN)
        if peer == "fastconv":
            _need_pool()
            self.call = lambda: fastconv.adaptive_pool(
                self.x, (7, 7), op=op, axes=(2, 3), workers=THREADS)
        else:
            torch = _torch()
            f = getattr(torch.nn.functional,
                        {"mean": "adaptive_avg_pool2d",
                         "max": "adaptive_max_pool2d"}[op])
            tx = torch.from_numpy(self.x)
            self.call = lambda: f(tx, 7)
        warm_up(self.call, most=10)

    def time_adaptive_pool(self, op, peer):
        self.call()


class PoolThreads:
    """fastconv with 1 and 2 worker threads (2 skipped on a 1-core machine).

    Compare the two rows of one case to see the parallel speed-up.
    """

    params = [["max_2x2_s2", "sliding_max_31"], [1, 2]]
    param_names = ["case", "workers"]

    def setup(self, case, workers):
        if workers > _n_cpus():
            raise NotImplementedError("fewer cores than workers")
        if case == "sliding_max_31":
            self.x = _data(IMAGE)
            self.call = _sliding_max_call(31, "fastconv", self.x, workers)
        else:
            self.x = _data(NCHW)
            self.call = _nchw_call(case, "fastconv", self.x, workers)
        warm_up(self.call, most=10)

    def time_workers(self, case, workers):
        self.call()


class PoolOps:
    """fastconv, every op: 3x3 stride 2 padding 1 on (8, 64, 112, 112) NCHW,
    and 15x15 stride 1 padding 7 on a 2048^2 image.

    'weighted' uses its default weights (a Gaussian of the distance from the
    window centre); 'lp' uses p=2.
    """

    params = [["max", "min", "mean", "sum", "lp", "weighted"],
              ["nchw_3x3_s2_p1", "image_15x15_s1_p7"]]
    param_names = ["op", "case"]

    def setup(self, op, case):
        _need_pool()
        if case == "nchw_3x3_s2_p1":
            self.x, k, s, axes = _data(NCHW), 3, 2, (2, 3)
        else:
            self.x, k, s, axes = _data(IMAGE), 15, 1, None
        kw = dict(stride=s, op=op, padding=k // 2, axes=axes,
                  workers=THREADS)
        if op == "lp":
            kw["p"] = 2
        self.k, self.kw = k, kw
        warm_up(lambda: self.time_op(op, case), most=10)

    def time_op(self, op, case):
        fastconv.pool(self.x, self.k, **self.kw)
