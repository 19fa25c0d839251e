"""im2col kernel: lowered tiles of the input times the kernel matrix through BLAS ?gemm.

`fastconv._methods.im2col` plans the tiles and calls `run_tiles`; its
docstring describes the method. Here: an OpenMP ``prange`` (GIL released)
over tiles, each thread lowering a tile of output positions into its own
slot of the workspace (column t of the tile holds the input sample tap t
reads, boundary rules applied as in the direct kernel) and multiplying it
at once with a single-threaded ``?gemm`` from `scipy.linalg.cython_blas`.
"""

from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport sgemm, dgemm, cgemm, zgemm

from fastconv._kernels._boundary cimport _ext, _outer_offset

import numpy as np
cimport numpy as cnp

cnp.import_array()

__all__ = ["run_tiles"]


ctypedef float complex cfloat_t
ctypedef double complex cdouble_t

ctypedef fused num_t:
    float
    double
    cfloat_t
    cdouble_t


cdef inline void _copy_run(num_t *dst, const num_t *row, Py_ssize_t cstart, Py_ssize_t length,
                           Py_ssize_t ncol, int bmode, num_t fill) noexcept nogil:
    """dst[j] = row_ext[cstart + j] for j < length, `row` extended by the boundary rule."""
    cdef Py_ssize_t j, c
    cdef Py_ssize_t lo = min(max(-cstart, 0), length)
    cdef Py_ssize_t hi = max(min(ncol - cstart, length), lo)
    cdef const num_t *src = row + cstart
    for j in range(lo):
        c = _ext(cstart + j, ncol, bmode)
        dst[j] = row[c] if c >= 0 else fill
    # the hot loop: a unit-stride copy the compiler vectorises
    for j in range(lo, hi):
        dst[j] = src[j]
    for j in range(hi, length):
        c = _ext(cstart + j, ncol, bmode)
        dst[j] = row[c] if c >= 0 else fill


cdef void _lower(const num_t *xp, num_t *A, Py_ssize_t g0, Py_ssize_t g1,
                 Py_ssize_t t0, Py_ssize_t t1, const Py_ssize_t *n, const Py_ssize_t *k,
                 const Py_ssize_t *m, const Py_ssize_t *s, const Py_ssize_t *xs, int D,
                 const Py_ssize_t *x_off, Py_ssize_t rows_per_group, int bmode,
                 num_t fill) noexcept nogil:
    """A[g - g0 + (t - t0) * (g1 - g0)] = x_ext at output position g, tap t.

    g is the flat output index over (input batch element, *m) and t the flat
    tap index over k. For each output row segment and leading tap the input
    row is found once, then copied shifted once per tap of the last axis.
    """
    cdef Py_ssize_t mlast = m[D - 1], kb = k[D - 1], nlast = n[D - 1], slast = s[D - 1]
    cdef Py_ssize_t lda = g1 - g0
    cdef Py_ssize_t r0 = g0 // mlast
    cdef Py_ssize_t r1 = (g1 - 1) // mlast + 1
    cdef Py_ssize_t r, tl, grp, rl, c0, c1, apos, off, tb, tb_lo, tb_hi, j
    cdef bint isfill
    cdef num_t *dst
    for r in range(r0, r1):
        grp = r // rows_per_group
        rl = r - grp * rows_per_group
        c0 = max(g0 - r * mlast, 0)
        c1 = min(g1 - r * mlast, mlast)
        apos = r * mlast + c0 - g0
        for tl in range(t0 // kb, (t1 - 1) // kb + 1):
            off = _outer_offset(tl, rl, x_off[grp], n, k, m, s, xs, D - 1, bmode, &isfill)
            tb_lo = max(t0 - tl * kb, 0)
            tb_hi = min(t1 - tl * kb, kb)
            for tb in range(tb_lo, tb_hi):
                dst = A + (tl * kb + tb - t0) * lda + apos
                if isfill:
                    for j in range(c1 - c0):
                        dst[j] = fill
                else:
                    _copy_run(dst, xp + off, c0 + tb + slast, c1 - c0, nlast, bmode, fill)


cdef inline void _gemm(int M, int N, int K, num_t *A, int lda, num_t *B, int ldb,
                       num_t beta, num_t *C, int ldc) noexcept nogil:
    """C = A @ B + beta * C, column-major, no transposes."""
    cdef char trans = b'N'
    cdef num_t one = 1
    if num_t is float:
        sgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &beta, C, &ldc)
    elif num_t is double:
        dgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &beta, C, &ldc)
    elif num_t is cfloat_t:
        cgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &beta, C, &ldc)
    else:
        zgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &beta, C, &ldc)


cdef void _item(Py_ssize_t item, const num_t *xp, num_t *W, num_t *out, num_t *A,
                const Py_ssize_t *n, const Py_ssize_t *k, const Py_ssize_t *m,
                const Py_ssize_t *s, const Py_ssize_t *xs, int D, const Py_ssize_t *x_off,
                const Py_ssize_t *w_off, Py_ssize_t Mtot, Py_ssize_t span,
                Py_ssize_t tiles_per_group, Py_ssize_t N, Py_ssize_t K, bint merged,
                Py_ssize_t tile_m, Py_ssize_t tile_k, Py_ssize_t n_block, int bmode,
                num_t fill) noexcept nogil:
    """Lower tile `item` into A and multiply it by the kernels, into `out`."""
    cdef Py_ssize_t p = item // tiles_per_group
    cdef Py_ssize_t q0 = (item - p * tiles_per_group) * tile_m
    cdef Py_ssize_t q1 = min(q0 + tile_m, span)
    cdef Py_ssize_t g0 = q0 if merged else p * Mtot + q0
    cdef Py_ssize_t t0 = 0, t1, j0, nb, ldc
    cdef num_t *C
    cdef num_t beta
    while t0 < K:
        t1 = min(t0 + tile_k, K)
        _lower(xp, A, g0, g0 + q1 - q0, t0, t1, n, k, m, s, xs, D, x_off,
               Mtot // m[D - 1], bmode, fill)
        beta = 0 if t0 == 0 else 1
        j0 = 0
        while j0 < N:
            nb = min(n_block, N - j0)
            if merged:
                C = out + q0
                ldc = q1 - q0
            else:
                C = out + (p * N + j0) * Mtot + q0
                ldc = Mtot if nb > 1 else q1 - q0
            _gemm(<int>(q1 - q0), <int>nb, <int>(t1 - t0), A, <int>(q1 - q0),
                  W + w_off[p] + j0 * K + t0, <int>K, beta, C, <int>ldc)
            j0 += nb
        t0 = t1


cdef void _run(const num_t *xp, num_t *W, num_t *out, num_t *A, const Py_ssize_t *n,
               const Py_ssize_t *k, const Py_ssize_t *m, const Py_ssize_t *s,
               const Py_ssize_t *xs, int D, const Py_ssize_t *x_off,
               const Py_ssize_t *w_off, Py_ssize_t P, Py_ssize_t N, Py_ssize_t K,
               bint merged, Py_ssize_t tile_m, Py_ssize_t tile_k, Py_ssize_t n_block,
               int bmode, num_t fill, int nthreads) noexcept nogil:
    cdef Py_ssize_t Mtot = 1, span, tiles_per_group, nitems, item
    cdef int d
    for d in range(D):
        Mtot *= m[d]
    # merged: one kernel for all, tiles run across input batch elements
    span = P * Mtot if merged else Mtot
    tiles_per_group = (span + tile_m - 1) // tile_m
    nitems = tiles_per_group * (1 if merged else P)
    if nthreads == 1:
        for item in range(nitems):
            _item(item, xp, W, out, A, n, k, m, s, xs, D, x_off, w_off, Mtot, span,
                  tiles_per_group, N, K, merged, tile_m, tile_k, n_block, bmode, fill)
        return
    # Dynamic: a thread that loses its core to another process does not hold
    # the others back. Each thread lowers into its own slot of the workspace.
    for item in prange(nitems, num_threads=nthreads, schedule='dynamic', chunksize=1):
        _item(item, xp, W, out, A + threadid() * tile_m * tile_k, n, k, m, s, xs, D,
              x_off, w_off, Mtot, span, tiles_per_group, N, K, merged, tile_m, tile_k,
              n_block, bmode, fill)


def run_tiles(num_t[::1] fill_arr, num_t[::1] out, const num_t[::1] W, num_t[::1] A,
               size_t xaddr, const Py_ssize_t[::1] n, const Py_ssize_t[::1] k,
               const Py_ssize_t[::1] m, const Py_ssize_t[::1] s, const Py_ssize_t[::1] xs,
               const Py_ssize_t[::1] x_off, const Py_ssize_t[::1] w_off, Py_ssize_t P,
               Py_ssize_t N, Py_ssize_t K, bint merged, Py_ssize_t tile_m, Py_ssize_t tile_k,
               Py_ssize_t n_block, int bmode, int nthreads):
    with nogil:
        # (BLAS takes the kernels through a non-const pointer; it only reads them)
        _run(<const num_t *>xaddr, <num_t *>&W[0], &out[0], &A[0], &n[0], &k[0], &m[0], &s[0],
             &xs[0], <int>n.shape[0], &x_off[0], &w_off[0], P, N, K, merged, tile_m, tile_k,
             n_block, bmode, fill_arr[0], nthreads)
