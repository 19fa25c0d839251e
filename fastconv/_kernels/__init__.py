"""The compiled kernels (Cython and C): direct correlation, im2col lowering with BLAS, pooling passes."""
