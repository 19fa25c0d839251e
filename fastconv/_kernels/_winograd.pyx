"""Winograd F(2x2, 3x3) convolution of layers: transforms and products compiled.

`fastconv._methods.layer.run_winograd` pads the input and transforms the
weights; `winograd_f2` does the rest. The output is cut into 2x2 tiles,
each computed from a 4x4 tile of the padded input (Lavin & Gray, 2016):

    Y = A^T [ (G g G^T) . (B^T d B) ] A

with ``.`` the elementwise product over the 16 points of the transformed
tile, summed over input channels: for each point one matrix product
(out channels x in channels) by (in channels x tiles). 16 products of that
size replace the 36 of the direct sum for every 2x2 outputs (2.25 times fewer
multiplications).

Work is split into chunks of tiles of one image and group; each OpenMP
thread transforms its chunk's input tiles into its own workspace slot, runs
the 16 products while the slot is in its cache, and transforms the products
into the output (bias added), with the GIL released. The products are the
multi-channel kernel of the layers (``simd/layer_simd_impl.h``): for point
p, ``M[p][o][t] = sum_c U[p][o][c] V[p][c][t]`` is that kernel's sum with the
channels c as its reduction and the tiles t as its positions; measured
against single-threaded OpenBLAS sgemm on these small products, whose
packing copies cost as much as their arithmetic, it takes 0.7 of the time
of the whole layer.
"""

from cython.parallel cimport prange, threadid

import numpy as np
cimport numpy as cnp

from fastconv._kernels import _direct

from fastconv._kernels._kernel_set cimport (fc_direct_kernels, kernels_of,
                                           pack_channel_blocks)


cnp.import_array()

__all__ = ["winograd_f2"]

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
            kset.mc_f32(V, off, <int>cg, Up + c0 * cg, <int>nco, zeros, M + c0 * nt, nt, 0, nt)
        else:
            kset.mc_f64(V, off, <int>cg, Up + c0 * cg, <int>nco, zeros, M + c0 * nt, nt, 0, nt)
        c0 += nco


cdef void _chunk(const fc_direct_kernels *kset, const real_t *xp, const real_t *Up,
                 const real_t *zeros, Py_ssize_t *off,
                 const real_t *bias, real_t *out, real_t *V, real_t *Mw, Py_ssize_t chunk,
                 Py_ssize_t chunks_per_image_group, Py_ssize_t groups, Py_ssize_t cg,
                 Py_ssize_t og, Py_ssize_t Hp, Py_ssize_t Wp, Py_ssize_t Ho, Py_ssize_t Wo,
                 Py_ssize_t tiles_h, Py_ssize_t tiles_w, Py_ssize_t rows_per_chunk,
                 bint has_bias) noexcept nogil:
    cdef Py_ssize_t q = chunk // chunks_per_image_group
    cdef Py_ssize_t part = chunk - q * chunks_per_image_group
    cdef Py_ssize_t g = q % groups, n = q // groups
    cdef Py_ssize_t ty0 = part * rows_per_chunk
    cdef Py_ssize_t ty1 = min(ty0 + rows_per_chunk, tiles_h)
    cdef Py_ssize_t nt = (ty1 - ty0) * tiles_w
    # points apart by a stride that is no multiple of 4 KiB: the 16 streams
    # of a transform would otherwise share one set of the L1 cache
    cdef Py_ssize_t vstride = cg * nt + POINT_PAD, mstride = og * nt + POINT_PAD
    cdef Py_ssize_t cin = groups * cg, cout = groups * og
    cdef Py_ssize_t c, o, ty, pt
    cdef const real_t *src
    cdef real_t *dst
    cdef real_t b
    # the input tiles: V[point][c][t], t contiguous (the products' columns)
    for c in range(cg):
        src = xp + (n * cin + g * cg + c) * Hp * Wp
        for ty in range(ty0, ty1):
            if real_t is float:
                kset.wg_in_f32(src + 2 * ty * Wp, Wp, tiles_w,
                               V + c * nt + (ty - ty0) * tiles_w, vstride)
            else:
                kset.wg_in_f64(src + 2 * ty * Wp, Wp, tiles_w,
                               V + c * nt + (ty - ty0) * tiles_w, vstride)
    # the 16 products: M[point][o][t] = sum_c U[point][o][c] V[point][c][t]
    for pt in range(16):
        _products(kset, V + pt * vstride, nt, cg, og, Up + (pt * groups + g) * og * cg, zeros,
                  off, Mw + pt * mstride)
    # the output tiles: A^T M A, bias added, cropped at the bottom and right
    for o in range(og):
        b = bias[g * og + o] if has_bias else 0
        dst = out + (n * cout + g * og + o) * Ho * Wo
        for ty in range(ty0, ty1):
            if real_t is float:
                kset.wg_out_f32(Mw + o * nt + (ty - ty0) * tiles_w, mstride, tiles_w,
                                dst + 2 * ty * Wo, Wo, <int>min(2, Ho - 2 * ty), Wo, b)
            else:
                kset.wg_out_f64(Mw + o * nt + (ty - ty0) * tiles_w, mstride, tiles_w,
                                dst + 2 * ty * Wo, Wo, <int>min(2, Ho - 2 * ty), Wo, b)


def winograd_f2(const real_t[:, :, :, ::1] xpad, const real_t[:, :, :, ::1] U, bias,
                real_t[:, :, :, ::1] out, Py_ssize_t groups, Py_ssize_t rows_per_chunk,
                int nthreads):
    """Winograd F(2x2, 3x3) of a layer into `out` (N, C_out, Ho, Wo).

    `xpad` (N, C_in, Hp, Wp) is the padded input with ``Hp >= 2 *
    ceil(Ho / 2) + 2`` (and likewise Wp), zeros past the padding where the
    last tiles need them; `U` (16, groups, C_out / groups, C_in / groups)
    the transformed weights ``G g G^T`` by point; `bias` (C_out,) or None.
    `rows_per_chunk` rows of tiles of one image and group make one work
    item. The transforms are the SIMD kernels of the set in use.
    """
    cdef Py_ssize_t N = xpad.shape[0], cin = xpad.shape[1], Hp = xpad.shape[2]
    cdef Py_ssize_t Wp = xpad.shape[3], cout = out.shape[1], Ho = out.shape[2]
    cdef Py_ssize_t Wo = out.shape[3]
    cdef Py_ssize_t cg = cin // groups, og = cout // groups
    cdef Py_ssize_t tiles_h = (Ho + 1) // 2, tiles_w = (Wo + 1) // 2
    cdef Py_ssize_t per = (tiles_h + rows_per_chunk - 1) // max(rows_per_chunk, 1)
    cdef Py_ssize_t nchunks = N * groups * per, chunk, slot
    cdef const real_t[::1] b
    cdef bint has_bias = bias is not None
    cdef real_t[:, ::1] ws
    cdef real_t[::1] Up, zeros
    cdef Py_ssize_t[:, ::1] offs
    cdef int tid
    cdef const fc_direct_kernels *kset = kernels_of(_direct.kernel_set())
    if (groups < 1 or cin % groups or cout % groups or U.shape[0] != 16
            or U.shape[1] != groups or U.shape[2] != og or U.shape[3] != cg
            or out.shape[0] != N or Hp < 2 * tiles_h + 2 or Wp < 2 * tiles_w + 2
            or rows_per_chunk < 1 or nthreads < 1):
        raise ValueError("winograd_f2: malformed problem")
    if has_bias:
        b = np.ascontiguousarray(bias)
        if b.shape[0] != cout:
            raise ValueError("winograd_f2: malformed bias")
    else:
        b = np.zeros(1, dtype=np.float32 if real_t is float else np.float64)
    if nchunks == 0:
        return out
    nthreads = <int>max(1, min(<Py_ssize_t>nthreads, nchunks))
    slot = 16 * ((cg + og) * rows_per_chunk * tiles_w + 2 * POINT_PAD)
    dtype = np.float32 if real_t is float else np.float64
    ws = np.empty((nthreads, slot), dtype=dtype)
    Up = np.empty(16 * groups * og * cg + 1, dtype=dtype)
    zeros = np.zeros(og, dtype=dtype)
    offs = np.empty((nthreads, cg + 1), dtype=np.intp)
    with nogil:
        # the points and groups of U are the kernel's groups
        pack_channel_blocks(&U[0, 0, 0, 0], 16 * groups, og, cg, &Up[0], kset.mc_channels)
        for chunk in prange(nchunks, num_threads=nthreads, schedule='dynamic'):
            tid = threadid()
            _chunk(kset, &xpad[0, 0, 0, 0], &Up[0], &zeros[0], &offs[tid, 0], &b[0],
                   &out[0, 0, 0, 0],
                   &ws[tid, 0], &ws[tid, 16 * (cg * rows_per_chunk * tiles_w + POINT_PAD)],
                   chunk, per,
                   groups, cg, og, Hp, Wp, Ho, Wo, tiles_h, tiles_w, rows_per_chunk, has_bias)
    return out


def winograd_f2_weights(const real_t[:, :, :, ::1] w, real_t[:, :, :, ::1] U,
                        Py_ssize_t groups):
    """The transformed weights ``G g G^T`` of F(2x2, 3x3) by point, into `U`.

    `w` is (C_out, C_in / groups, 3, 3); `U` (16, groups, C_out / groups,
    C_in / groups), the layout `winograd_f2` multiplies by.
    """
    cdef Py_ssize_t cout = w.shape[0], cg = w.shape[1], og, o, c, r, j, g, ol
    cdef real_t t[4][3]
    cdef real_t v[4][4]
    if (groups < 1 or cout % groups or w.shape[2] != 3 or w.shape[3] != 3
            or U.shape[0] != 16 or U.shape[1] != groups or U.shape[2] != cout // groups
            or U.shape[3] != cg):
        raise ValueError("winograd_f2_weights: malformed problem")
    og = cout // groups
    with nogil:
        for o in range(cout):
            g = o // og
            ol = o - g * og
            for c in range(cg):
                # G g: rows
                for j in range(3):
                    t[0][j] = w[o, c, 0, j]
                    t[1][j] = (w[o, c, 0, j] + w[o, c, 1, j] + w[o, c, 2, j]) * 0.5
                    t[2][j] = (w[o, c, 0, j] - w[o, c, 1, j] + w[o, c, 2, j]) * 0.5
                    t[3][j] = w[o, c, 2, j]
                # (G g) G^T: columns
                for r in range(4):
                    v[r][0] = t[r][0]
                    v[r][1] = (t[r][0] + t[r][1] + t[r][2]) * 0.5
                    v[r][2] = (t[r][0] - t[r][1] + t[r][2]) * 0.5
                    v[r][3] = t[r][2]
                for r in range(4):
                    for j in range(4):
                        U[r * 4 + j, g, ol, c] = v[r][j]
    return U
