"""Constants of the cost model (`_costmodel`): seconds per counted unit.

Written by ``benchmarks/fit_cost_model.py --write``; do not edit by hand.
"""

FIT_THREADS = 2

CONSTANTS = {
    'direct': [1.421e-05, 1.075e-11, 2.434e-11, 4.236e-10, 6.43e-10, 4.147e-10, 3.834e-11, 8.695e-09, 4.767e-07],
    'fft': [0.0, 0.0, 0.0, 7.829e-10, 5.461e-11, 0.0001653],
    'im2col': [3.717e-05, 0.0, 0.0, 1.463e-11, 1.434e-11, 1.811e-11, 0.0, 4.571e-11, 6.859e-11],
    'separable': [4.085e-05, 1.114],
}
