"""Constants of the cost model (`_costmodel`): seconds per counted unit.

Provisional values from the machine's nominal rates; replaced by the output
of ``benchmarks/fit_cost_model.py``.
"""

FIT_THREADS = 2

CONSTANTS = {
    # call, multiply-adds (float32, float64, complex64, complex128, int64), output bytes
    "direct": [5e-6, 1.0e-11, 2e-11, 8e-11, 16e-11, 4e-11, 1e-10],
    # passes, multiply-adds (as direct), pass output bytes
    "separable": [8e-6, 2.0e-11, 4e-11, 16e-11, 32e-11, 8e-11, 2e-10],
    # call, butterflies, spectral points, bytes of spectra, fft_plan's cost
    "fft": [4e-5, 3e-10, 1e-9, 1e-10, 0.0],
    # call, GEMM calls, flops (as direct), lowered bytes, output bytes
    "im2col": [3e-5, 2e-6, 1e-11, 2e-11, 8e-11, 16e-11, 4e-11, 1e-10, 1e-10],
}
