"""method='auto': the decision's own cost, and auto beside each forced method.

``ChooseConvMethod`` times ``fastconv.choose_conv_method`` alone (the cost
model, without running anything). ``AutoVersusMethods`` times
``fastconv.convolve`` with ``method='auto'`` and with every method on a few
cases where different methods win; ``benchmarks/regret_grid.py`` runs the
full grid of shapes.
"""

import numpy as np

import fastconv

from .common import n_cpus, warm_up

THREADS = min(2, n_cpus())


def _gaussian(n):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (t / (n / 6)) ** 2)
    return g / g.sum()


def _case(name):
    rng = np.random.default_rng(3)
    if name == "2d_512^2*3^2":
        return rng.standard_normal((512, 512)), rng.standard_normal((3, 3)), "same"
    if name == "2d_512^2*31^2_gaussian":
        return rng.standard_normal((512, 512)), np.outer(_gaussian(31), _gaussian(31)), "same"
    if name == "2d_256^2*61^2":
        return rng.standard_normal((256, 256)), rng.standard_normal((61, 61)), "same"
    if name == "1d_1e5*301":
        return rng.standard_normal(100_000), rng.standard_normal(301), "full"
    raise KeyError(name)


CASES = ["2d_512^2*3^2", "2d_512^2*31^2_gaussian", "2d_256^2*61^2", "1d_1e5*301"]


class ChooseConvMethod:
    params = [CASES]
    param_names = ["case"]

    def setup(self, case):
        x, k, mode = _case(case)
        self.args = (x.astype(np.float32), k.astype(np.float32), mode)

    def time_choose(self, case):
        fastconv.choose_conv_method(*self.args, workers=THREADS)


class AutoVersusMethods:
    # the separable method is timed against auto in separable.SeparableGaussian
    params = (CASES, ["auto", "direct", "fft"])
    param_names = ["case", "method"]

    def setup(self, case, method):
        x, k, mode = _case(case)
        x, k = x.astype(np.float32), k.astype(np.float32)
        self.fn = lambda: fastconv.convolve(x, k, mode, method=method, workers=THREADS)
        warm_up(self.fn, 0.05)

    def time_convolve(self, case, method):
        self.fn()
