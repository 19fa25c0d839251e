"""Direct-method convolution: fastconv beside SciPy and OpenCV.

Every class times one call on data made in a seeded ``setup``. Combinations
that make no sense or would take too long raise NotImplementedError in
``setup``, which asv reports as skipped (n/a):

* SciPy's ``method='direct'`` only on the cases of ``SCIPY_DIRECT_OK``
  (it is a plain loop, taking seconds on the large cases);
* OpenCV only when ``cv2`` is importable.
"""

import os

import numpy as np
import scipy.signal

import fastconv

from .common import (SCIPY_DIRECT_OK, cv2_convolve_same, make_data,
                     safe_import)

cv2 = safe_import("cv2")

PEERS = ["fastconv", "scipy_auto", "scipy_direct", "cv2"]


def _peer_call(peer, x, k):
    """A zero-argument callable computing convolve(x, k, 'same') with `peer`."""
    if peer == "fastconv":
        return lambda: fastconv.convolve(x, k, mode="same", method="direct")
    if peer == "scipy_auto":
        return lambda: scipy.signal.convolve(x, k, mode="same", method="auto")
    if peer == "scipy_direct":
        return lambda: scipy.signal.convolve(x, k, mode="same", method="direct")
    if peer == "cv2":
        return lambda: cv2_convolve_same(cv2, x, k)
    raise ValueError(peer)


def _skip_reason(case, peer):
    if peer == "scipy_direct" and case not in SCIPY_DIRECT_OK:
        return "scipy direct too slow here"
    if peer == "cv2" and cv2 is None:
        return "OpenCV not installed"
    return None


class _ConvolveSame:
    """float32 'same' convolution with zero fill, default thread count."""

    param_names = ["case", "peer"]
    timeout = 120

    def setup(self, case, peer):
        if _skip_reason(case, peer):
            raise NotImplementedError(_skip_reason(case, peer))
        self.x, self.k = make_data(case, np.float32)
        self.call = _peer_call(peer, self.x, self.k)

    def time_convolve_same(self, case, peer):
        self.call()


class Convolve1D(_ConvolveSame):
    params = [["1d_1M*31", "1d_64k*7"], PEERS]


class Convolve2D(_ConvolveSame):
    params = [["2d_2048^2*7x7", "2d_512^2*3x3", "2d_4096^2*3x3"], PEERS]


class Convolve3D(_ConvolveSame):
    params = [["3d_128^3*5^3", "3d_64^3*3^3"], PEERS]


class CorrelateModes:
    """fastconv correlate, direct method, every output mode."""

    params = [["2d_512^2*3x3", "3d_64^3*3^3"], ["full", "same", "valid"]]
    param_names = ["case", "mode"]

    def setup(self, case, mode):
        self.x, self.k = make_data(case, np.float32)

    def time_correlate(self, case, mode):
        fastconv.correlate(self.x, self.k, mode=mode, method="direct")


class Boundaries:
    """fastconv 'same' convolution with each boundary extension."""

    params = [["fill", "wrap", "symm", "mirror", "nearest"]]
    param_names = ["boundary"]

    def setup(self, boundary):
        self.x, self.k = make_data("2d_2048^2*7x7", np.float32)

    def time_boundary(self, boundary):
        fastconv.convolve(self.x, self.k, mode="same", method="direct",
                          boundary=boundary)


class Dtypes:
    """fastconv direct method for each supported dtype (512^2 * 3x3, 'same')."""

    params = [["float32", "float64", "complex64", "complex128", "int16",
               "int64"]]
    param_names = ["dtype"]

    def setup(self, dtype):
        self.x, self.k = make_data("2d_512^2*3x3", dtype)

    def time_dtype(self, dtype):
        fastconv.convolve(self.x, self.k, mode="same", method="direct")


def _n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Threads:
    """fastconv direct method with 1 and 2 worker threads.

    On a machine with fewer than 2 cores the workers=2 rows are skipped.
    Compare the two rows of one case to see the parallel speed-up.
    """

    params = [["2d_2048^2*7x7", "2d_4096^2*3x3", "3d_128^3*5^3"], [1, 2]]
    param_names = ["case", "workers"]
    timeout = 120

    def setup(self, case, workers):
        if workers > _n_cpus():
            raise NotImplementedError("fewer cores than workers")
        self.x, self.k = make_data(case, np.float32)

    def time_workers(self, case, workers):
        fastconv.convolve(self.x, self.k, mode="same", method="direct",
                          workers=workers)
