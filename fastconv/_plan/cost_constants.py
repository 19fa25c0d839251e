"""Constants of the cost model (`_costmodel`): seconds per counted unit.

Written by ``benchmarks/fit_cost_model.py --write``; do not edit by hand.
"""

FIT_THREADS = 2

CONSTANTS = {
    'direct': [1.346e-05, 1.206e-11, 2.588e-11, 4.412e-10, 6.386e-10, 4.307e-10, 7.187e-11, 1.101e-08, 2.114e-07],
    'fft': [0.0, 0.0, 0.0, 6.797e-10, 7.658e-11, 0.0001738],
    'im2col': [3.726e-05, 0.0, 5.648e-11, 4.064e-11, 1.924e-11, 2.665e-11, 0.0, 1.068e-11, 0.0],
    'separable': [3.985e-05, 1.39],
}
