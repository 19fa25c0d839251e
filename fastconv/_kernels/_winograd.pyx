"""Winograd F(2x2, 3x3) and F(4x4, 3x3) of layers: transforms and products compiled.

`fastconv._methods.layer.run_winograd` pads the input and transforms the
weights (`winograd_weights`); `winograd` does the rest. The output is cut
into m x m tiles (m = 2 or 4), each computed from an (m + 2) x (m + 2) tile
of the padded input (Lavin & Gray, 2016):

    Y = A^T [ (G g G^T) . (B^T d B) ] A

with ``.`` the elementwise product over the (m + 2)^2 points of the
transformed tile, summed over input channels: for each point one matrix
product (out channels x in channels) by (in channels x tiles). For every
m x m outputs the direct sum takes 9 m^2 products of that size: F(2x2)
takes 16 (2.25 times fewer multiplications), F(4x4) 36 (4 times fewer).

Work is split into chunks of tile rows of one group (consecutive rows of
the batch, several images' when the maps are small); each OpenMP thread
transforms its chunk's input tiles into its own workspace slot, runs the
products of every point while the slot is in its cache, and transforms the
products into the output (bias added), with the GIL released. The products
are the multi-channel kernel of the layers (``simd/layer_simd_impl.h``): for point
p, ``M[p][o][t] = sum_c U[p][o][c] V[p][c][t]`` is that kernel's sum with the
channels c as its reduction and the tiles t as its positions; measured
against single-threaded OpenBLAS sgemm on these small products, whose
packing copies cost as much as their arithmetic, it takes 0.7 of the time
of the whole layer.
"""

from cython.parallel cimport prange, threadid
from libc.string cimport memset

import numpy as np
cimport numpy as cnp

from fastconv._kernels import _direct

from fastconv._kernels._kernel_set cimport fc_direct_kernels, kernels_of


cnp.import_array()

__all__ = ["TRANSFORM_LANES", "winograd", "winograd_weights"]

ctypedef fused real_t:
    float
    double


cdef enum:
    # Elements between the transformed points of a chunk, past their data.
    POINT_PAD = 16


cdef void _products(const fc_direct_kernels *kset, const real_t *V, Py_ssize_t nt,
                    Py_ssize_t cg, Py_ssize_t og, const real_t *Up, const real_t *zeros,
                    Py_ssize_t *off, real_t *M) noexcept nogil:
    """M[o][t] = sum_c U[o][c] V[c][t] for one point: `Up` the point's
    weights in the blocks of the multi-channel kernel (`pack_channel_blocks`)."""
    cdef Py_ssize_t co = kset.mc_channels, c0 = 0, nco, r
    for r in range(cg):
        off[r] = r * nt
    while c0 < og:
        nco = min(co, og - c0)
        if real_t is float:
            kset.mc_f32(V, off, <int>cg, Up + c0 * cg, <int>nco, zeros, M + c0 * nt, nt, 0, nt,
                        nt, nt)
        else:
            kset.mc_f64(V, off, <int>cg, Up + c0 * cg, <int>nco, zeros, M + c0 * nt, nt, 0, nt,
                        nt, nt)
        c0 += nco


cdef void _chunk(const fc_direct_kernels *kset, const real_t *xp, const real_t *Up,
                 const real_t *zeros, Py_ssize_t *off,
                 const real_t *bias, real_t *out, real_t *V, real_t *Mw, Py_ssize_t chunk,
                 Py_ssize_t chunks_per_group, Py_ssize_t N, Py_ssize_t groups, Py_ssize_t cg,
                 Py_ssize_t og, Py_ssize_t Hp, Py_ssize_t Wp, Py_ssize_t Ho, Py_ssize_t Wo,
                 Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t rows_per_chunk,
                 bint has_bias, int m) noexcept nogil:
    # chunks of each group cover consecutive tile rows of the whole batch,
    # image after image: small maps share a chunk, so its products have
    # enough tiles (positions) to run in full vectors
    cdef Py_ssize_t g = chunk // chunks_per_group
    cdef Py_ssize_t row0 = (chunk - g * chunks_per_group) * rows_per_chunk
    cdef Py_ssize_t row1 = min(row0 + rows_per_chunk, N * tiles_h)
    cdef Py_ssize_t nt = (row1 - row0) * tiles_w
    # points apart by a stride that is no multiple of 4 KiB: the streams of
    # a transform would otherwise share one set of the L1 cache
    cdef Py_ssize_t vstride = cg * nt + POINT_PAD, mstride = og * nt + POINT_PAD
    cdef Py_ssize_t cin = groups * cg, cout = groups * og
    cdef Py_ssize_t points = (m + 2) * (m + 2)
    cdef Py_ssize_t c, o, pt
    cdef const real_t *src
    cdef real_t *dst
    cdef real_t b
    # the input tiles: V[point][c][t], t contiguous (the products' columns)
    for c in range(cg):
        src = xp + (g * cg + c) * Hp * Wp
        if real_t is float:
            kset.wg_in_f32(src, Wp, cin * Hp * Wp, row0, row1 - row0, tiles_h, tiles_w,
                           V + c * nt, vstride, m)
        else:
            kset.wg_in_f64(src, Wp, cin * Hp * Wp, row0, row1 - row0, tiles_h, tiles_w,
                           V + c * nt, vstride, m)
    # the products: M[point][o][t] = sum_c U[point][o][c] V[point][c][t]
    for pt in range(points):
        _products(kset, V + pt * vstride, nt, cg, og, Up + (pt * groups + g) * og * cg, zeros,
                  off, Mw + pt * mstride)
    # the output transforms' last vectors read up to FC_NL - 1 places past
    # a channel's tiles: the next channel's, and past the last one the
    # point's padding, which holds no products
    for pt in range(points):
        memset(Mw + pt * mstride + og * nt, 0, POINT_PAD * sizeof(real_t))
    # the output tiles: A^T M A, bias added, cropped at the bottom and right
    for o in range(og):
        b = bias[g * og + o] if has_bias else 0
        dst = out + (g * og + o) * Ho * Wo
        if real_t is float:
            kset.wg_out_f32(Mw + o * nt, mstride, dst, cout * Ho * Wo, row0, row1 - row0,
                            tiles_h, tiles_w, Ho, Wo, b, m)
        else:
            kset.wg_out_f64(Mw + o * nt, mstride, dst, cout * Ho * Wo, row0, row1 - row0,
                            tiles_h, tiles_w, Ho, Wo, b, m)


cdef enum:
    # Most lanes of a transform's vectors (AVX-512, float32).
    MAX_LANES = 16


# (for the callers that pad the input: its rows hold whole vectors of tiles)
TRANSFORM_LANES = MAX_LANES


cdef inline Py_ssize_t _whole_vectors(Py_ssize_t tiles) noexcept nogil:
    """`tiles` rounded up to whole vectors of every SIMD level."""
    return (tiles + MAX_LANES - 1) // MAX_LANES * MAX_LANES


def workspace_elements(Py_ssize_t cg, Py_ssize_t og, Py_ssize_t tiles_w,
                       Py_ssize_t rows_per_chunk, int nthreads, int m):
    """Elements of the `work` array `winograd` needs for groups of `cg` input
    and `og` output channels, rows of `tiles_w` tiles and `nthreads`
    threads: per thread, a chunk's transformed input and its products."""
    return nthreads * (m + 2) * (m + 2) * ((cg + og) * rows_per_chunk * tiles_w + 2 * POINT_PAD)


def winograd(const real_t[:, :, :, ::1] xpad, const real_t[::1] Up, bias,
             real_t[:, :, :, ::1] out, Py_ssize_t groups, Py_ssize_t rows_per_chunk,
             int nthreads, int m, real_t[::1] work):
    """Winograd F(m x m, 3x3) of a layer into `out` (N, C_out, Ho, Wo), m = 2
    or 4.

    `Up` holds the transformed weights ``G g G^T`` of the (m + 2)^2 points
    as `winograd_weights` packs them for the kernel set in use. `xpad` (N,
    C_in, Hp, Wp) is the padded input with ``Hp >= m * ceil(Ho / m) + 2``
    and, with ``T = ceil(Wo / m)`` tiles per row, ``Wp >= m * (T rounded up
    to a multiple of 16) + m``: the input transforms take whole vectors of
    tiles (of up to 16 lanes); zeros past the padding where the last tiles
    need them. `bias` is (C_out,) or None. `rows_per_chunk` rows of tiles of one group
    make one work item, counted through the batch image after image, so a
    chunk may hold the tiles of several small images. The transforms are
    the SIMD kernels of the set in use. `work` holds at least
    `workspace_elements` elements (its contents are overwritten).
    """
    cdef Py_ssize_t N = xpad.shape[0], cin = xpad.shape[1], Hp = xpad.shape[2]
    cdef Py_ssize_t Wp = xpad.shape[3], cout = out.shape[1], Ho = out.shape[2]
    cdef Py_ssize_t Wo = out.shape[3]
    cdef Py_ssize_t cg = cin // groups, og = cout // groups
    cdef Py_ssize_t points = (m + 2) * (m + 2)
    cdef Py_ssize_t tiles_h, tiles_w, per, nchunks, chunk, slot
    cdef const real_t[::1] b
    cdef bint has_bias = bias is not None
    cdef real_t[::1] zeros
    cdef Py_ssize_t[:, ::1] offs
    cdef int tid
    cdef const fc_direct_kernels *kset = kernels_of(_direct.kernel_set())
    if (m != 2 and m != 4) or groups < 1 or rows_per_chunk < 1 or nthreads < 1:
        raise ValueError("winograd: malformed problem")
    tiles_h, tiles_w = (Ho + m - 1) // m, (Wo + m - 1) // m
    per = (N * tiles_h + rows_per_chunk - 1) // rows_per_chunk
    nchunks = groups * per
    if (cin % groups or cout % groups or Up.shape[0] != points * cout * cg
            or out.shape[0] != N or Hp < m * tiles_h + 2
            or Wp < m * _whole_vectors(tiles_w) + m):
        raise ValueError("winograd: malformed problem")
    if has_bias:
        b = np.ascontiguousarray(bias)
        if b.shape[0] != cout:
            raise ValueError("winograd: malformed bias")
    else:
        b = np.zeros(1, dtype=np.float32 if real_t is float else np.float64)
    if nchunks == 0:
        return out
    nthreads = <int>max(1, min(<Py_ssize_t>nthreads, nchunks))
    slot = points * ((cg + og) * rows_per_chunk * tiles_w + 2 * POINT_PAD)
    if work.shape[0] < nthreads * slot:
        raise ValueError("winograd: workspace too small")
    dtype = np.float32 if real_t is float else np.float64
    zeros = np.zeros(og, dtype=dtype)
    offs = np.empty((nthreads, cg + 1), dtype=np.intp)
    with nogil:
        for chunk in prange(nchunks, num_threads=nthreads, schedule='dynamic'):
            tid = threadid()
            _chunk(kset, &xpad[0, 0, 0, 0], &Up[0], &zeros[0], &offs[tid, 0], &b[0],
                   &out[0, 0, 0, 0],
                   &work[tid * slot],
                   &work[tid * slot + points * (cg * rows_per_chunk * tiles_w + POINT_PAD)],
                   chunk, per, N,
                   groups, cg, og, Hp, Wp, Ho, Wo, tiles_h, tiles_w, rows_per_chunk, has_bias,
                   m)
    return out


cdef inline void _g_side(double a, double b, double c, int t_size, double *o) noexcept nogil:
    """G (a, b, c) for one side of a kernel: G of F(2x2, 3x3) (t_size 4) or of
    F(4x4, 3x3) (6; the points 0, 1, -1, 1/2, -2, infinity of
    direct_simd_impl.h), constants in the code so that they fold."""
    if t_size == 4:
        o[0] = a
        o[1] = (a + b + c) * 0.5
        o[2] = (a - b + c) * 0.5
        o[3] = c
    else:
        o[0] = a
        o[1] = (a + b + c) * (1.0 / 3)
        o[2] = (b - a - c) * (1.0 / 3)
        o[3] = (16 * a + 8 * b + 4 * c) * (-1.0 / 15)
        o[4] = (a - 2 * b + 4 * c) * (1.0 / 15)
        o[5] = c


cdef void _weight_points(const real_t *g, int t_size, real_t *dst,
                         Py_ssize_t plane) noexcept nogil:
    """G g G^T of one 3x3 kernel `g` (row-major), in float64, point p
    rounded into dst[p * plane]."""
    cdef double cols[3][6]
    cdef double side[6]
    cdef int r, j
    # G g: the columns of g
    for j in range(3):
        _g_side(g[j], g[3 + j], g[6 + j], t_size, cols[j])
    # (G g) G^T: the rows of G g
    for r in range(t_size):
        _g_side(cols[0][r], cols[1][r], cols[2][r], t_size, side)
        for j in range(t_size):
            dst[(r * t_size + j) * plane] = <real_t>side[j]


cdef enum:
    # Input channels of the weights transformed at a time into a buffer.
    WEIGHT_CHANNELS = 8
    # Most output channels of a block (the kernel sets' mc_channels).
    WEIGHT_BLOCK = 16


cdef void _weight_block(const real_t *w, Py_ssize_t cg, Py_ssize_t o0, Py_ssize_t nco,
                        int t_size, real_t *dst,
                        Py_ssize_t plane) noexcept nogil:
    """The points of the kernels of output channels o0 .. o0 + nco - 1 (one
    block) into `dst` (the block's place in point 0), through a buffer: its
    writes, consecutive per point, would otherwise go straight to (m + 2)^2
    places a plane apart, which share cache sets."""
    cdef real_t buf[36 * WEIGHT_CHANNELS * WEIGHT_BLOCK]
    cdef Py_ssize_t ci0, ci, n, ol, p, i
    cdef Py_ssize_t width = WEIGHT_CHANNELS * WEIGHT_BLOCK
    ci0 = 0
    while ci0 < cg:
        n = min(<Py_ssize_t>WEIGHT_CHANNELS, cg - ci0)
        for ci in range(n):
            for ol in range(nco):
                _weight_points(w + ((o0 + ol) * cg + ci0 + ci) * 9, t_size,
                               &buf[ci * nco + ol], width)
        for p in range(t_size * t_size):
            for i in range(n * nco):
                dst[p * plane + ci0 * nco + i] = buf[p * width + i]
        ci0 += n


def winograd_weights(const real_t[:, :, :, ::1] w, real_t[::1] Up, Py_ssize_t groups,
                     int m, int nthreads):
    """The transformed weights ``G g G^T`` of F(m x m, 3x3), m = 2 or 4,
    computed in float64 and rounded once, into `Up` as `winograd` reads them.

    `w` is (C_out, C_in / groups, 3, 3); `Up` has (m + 2)^2 * C_out * C_in /
    groups elements: per point p and group g, the (C_out / groups) x (C_in /
    groups) matrix of that point in the blocks of the multi-channel kernel
    in use (`pack_channel_blocks`: output channels ``c0 .. c0 + nco - 1`` at
    ``c0 * cg``, element ``ci * nco + o - c0``), written there directly.
    Blocks of output channels are shared among `nthreads` threads.
    """
    cdef Py_ssize_t cout = w.shape[0], cg = w.shape[1], og, g
    cdef Py_ssize_t co = kernels_of(_direct.kernel_set()).mc_channels
    cdef Py_ssize_t nblocks, item, c0, nco, block, plane
    cdef int t_size = m + 2
    if ((m != 2 and m != 4) or groups < 1 or cout % groups or w.shape[2] != 3
            or w.shape[3] != 3 or Up.shape[0] != t_size * t_size * cout * cg
            or nthreads < 1 or co > WEIGHT_BLOCK):
        raise ValueError("winograd_weights: malformed problem")
    if cout == 0 or cg == 0:
        return Up
    og = cout // groups
    nblocks = (og + co - 1) // co
    # one point's matrices of every group
    plane = cout * cg
    with nogil:
        for item in prange(groups * nblocks, num_threads=nthreads, schedule='static'):
            g = item // nblocks
            block = item - g * nblocks
            c0 = block * co
            nco = min(co, og - c0)
            _weight_block(&w[0, 0, 0, 0], cg, g * og + c0, nco, t_size,
                          &Up[(g * og + c0) * cg], plane)
    return Up
