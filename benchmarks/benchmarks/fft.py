"""FFT method: fastconv's method='fft' beside SciPy's FFT convolutions.

The large-kernel workloads of the "other algorithms" issue: 2-D float32
512^2 * 101^2 'same' and 3-D float32 64^3 * 31^3 'full' against
``scipy.signal.fftconvolve``, 1-D float64 1e6 * 1e4 and 1e7 * 1e3 'same'
(overlap-add) against ``scipy.signal.oaconvolve``. The same cases as
``benchmarks/compare_fft.py``. ``setup`` ends with a few untimed calls, as
the other suites do.
"""

import numpy as np
import scipy.fft
import scipy.signal

import fastconv

from .common import n_cpus, warm_up

THREADS = min(2, n_cpus())

CASES = {
    "2d_512^2*101^2": ((512, 512), (101, 101), np.float32, "same", "fftconvolve"),
    "3d_64^3*31^3": ((64, 64, 64), (31, 31, 31), np.float32, "full", "fftconvolve"),
    "1d_1e6*1e4": ((1_000_000,), (10_000,), np.float64, "same", "oaconvolve"),
    "1d_1e7*1e3": ((10_000_000,), (1_000,), np.float64, "same", "oaconvolve"),
}


class FFTConvolve:
    params = (list(CASES), ["fastconv fft", "scipy"])
    param_names = ["case", "peer"]

    def teardown(self, case, peer):
        self._workers.__exit__(None, None, None)

    def setup(self, case, peer):
        # SciPy's FFTs on fastconv's default thread count (undone in teardown)
        self._workers = scipy.fft.set_workers(fastconv.get_workers())
        self._workers.__enter__()
        shape, kshape, dtype, mode, scipy_name = CASES[case]
        rng = np.random.default_rng(7)
        x = rng.standard_normal(shape).astype(dtype)
        k = rng.standard_normal(kshape).astype(dtype)
        if peer == "scipy":
            fn = getattr(scipy.signal, scipy_name)
            self.fn = lambda: fn(x, k, mode)
        else:
            self.fn = lambda: fastconv.convolve(x, k, mode, method="fft", workers=THREADS)
        warm_up(self.fn, 0.05)

    def time_fft(self, case, peer):
        self.fn()
