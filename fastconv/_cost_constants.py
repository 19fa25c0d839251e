"""Constants of the cost model (`_costmodel`): seconds per counted unit.

Written by ``benchmarks/fit_cost_model.py --write``; do not edit by hand.
"""

FIT_THREADS = 2

CONSTANTS = {
    'direct': [1.534e-05, 1.064e-11, 2.418e-11, 4.371e-10, 6.48e-10, 4.304e-10, 3.67e-11, 1.077e-08],
    'fft': [0.0, 0.0, 0.0, 7.829e-10, 5.461e-11, 0.0001653],
    'im2col': [3.515e-05, 2.049e-06, 0.0, 1.416e-11, 1.412e-11, 1.796e-11, 0.0, 4.364e-11, 6.929e-11],
    'separable': [4.882e-05, 1.551e-11, 2.9e-11, 5.279e-10, 8.348e-10, 5.545e-10, 1.518e-10],
}
