"""Pooling kernels compiled for AVX-512; see _pool_impl.pxi.

fastconv._methods.pooling imports the variant the CPU supports (the same source is
compiled for the baseline, AVX2 and AVX-512: the compiler vectorises the
row loops with the widest vectors each allows).
"""

include "_pool_impl.pxi"
