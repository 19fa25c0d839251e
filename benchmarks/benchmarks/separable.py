"""Separable kernels: fastconv's 1-D passes beside OpenCV and SciPy.

A 2-D float32 Gaussian given as one 2-D array to ``fastconv.convolve``
(``method='auto'`` detects that it is separable) or as its factors to
``convolve_separable``, against ``cv2.sepFilter2D`` (which is given the
factors) and ``scipy.signal.convolve`` (``method='auto'``, on the 2-D
kernel). 'same' mode, zero boundary. ``setup`` ends with about 20 ms of
untimed calls, as the other suites do.
"""

import numpy as np
import scipy.signal

import fastconv

from .common import n_cpus, safe_import, warm_up

cv2 = safe_import("cv2")
THREADS = min(2, n_cpus())


class SeparableGaussian:
    params = ([9, 31], ["fastconv auto", "fastconv convolve_separable", "cv2.sepFilter2D",
                        "scipy auto"])
    param_names = ["taps", "peer"]

    def setup(self, taps, peer):
        rng = np.random.default_rng(42)
        self.x = rng.standard_normal((2048, 2048), dtype=np.float32)
        t = np.linspace(-2.0, 2.0, taps)
        self.g = np.exp(-t * t).astype(np.float32)
        self.k = np.outer(self.g, self.g).astype(np.float32)
        if peer == "cv2.sepFilter2D":
            if cv2 is None:
                raise NotImplementedError("OpenCV not installed")
            cv2.setNumThreads(THREADS)
            self.fn = lambda: cv2.sepFilter2D(self.x, -1, self.g, self.g,
                                              borderType=cv2.BORDER_CONSTANT)
        elif peer == "scipy auto":
            if taps != 31:
                raise NotImplementedError("SciPy timed on the 31-tap case only")
            self.fn = lambda: scipy.signal.convolve(self.x, self.k, mode="same")
        elif peer == "fastconv auto":
            self.fn = lambda: fastconv.convolve(self.x, self.k, mode="same", workers=THREADS)
        else:
            self.fn = lambda: fastconv.convolve_separable(self.x, [self.g, self.g], mode="same",
                                                          workers=THREADS)
        warm_up(self.fn)

    def time_separable(self, taps, peer):
        self.fn()
