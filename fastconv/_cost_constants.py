"""Constants of the cost model (`_costmodel`): seconds per counted unit.

Provisional values from the machine's nominal rates; replaced by the output
of ``benchmarks/fit_cost_model.py``.
"""

FIT_THREADS = 2

CONSTANTS = {
    # call, multiply-adds, output bytes
    "direct": [5e-6, 1.0e-11, 1e-10],
    # passes, multiply-adds, pass output bytes
    "separable": [8e-6, 2.0e-11, 2e-10],
    # call, butterflies, spectral points, transformed bytes
    "fft": [4e-5, 3e-10, 1e-9, 1e-10],
}
