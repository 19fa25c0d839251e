"""Winograd F(2x2, 3x3) convolution of layers: transforms here, products through BLAS.

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
the 16 products with a single-threaded ``?gemm`` of `scipy.linalg.cython_blas`
while the slot is in its cache, and transforms the products into the output
(bias added), with the GIL released.
"""

from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport sgemm, dgemm

import numpy as np
cimport numpy as cnp

from fastconv._kernels import _direct

cdef extern from "direct_simd.h" nogil:
    ctypedef void (*fc_wg_in_f32_fn)(const float *, Py_ssize_t, Py_ssize_t, float *,
                                     Py_ssize_t) noexcept nogil
    ctypedef void (*fc_wg_in_f64_fn)(const double *, Py_ssize_t, Py_ssize_t, double *,
                                     Py_ssize_t) noexcept nogil
    ctypedef void (*fc_wg_out_f32_fn)(const float *, Py_ssize_t, Py_ssize_t, float *,
                                      Py_ssize_t, int, Py_ssize_t, float) noexcept nogil
    ctypedef void (*fc_wg_out_f64_fn)(const double *, Py_ssize_t, Py_ssize_t, double *,
                                      Py_ssize_t, int, Py_ssize_t, double) noexcept nogil
    ctypedef struct fc_direct_kernels:
        fc_wg_in_f32_fn wg_in_f32
        fc_wg_in_f64_fn wg_in_f64
        fc_wg_out_f32_fn wg_out_f32
        fc_wg_out_f64_fn wg_out_f64

cnp.import_array()

__all__ = ["winograd_f2"]

ctypedef fused real_t:
    float
    double


cdef enum:
    # Elements between the transformed points of a chunk, past their data.
    POINT_PAD = 16


cdef inline void _gemm(int M, int N, int K, real_t *A, int lda, real_t *B, int ldb,
                       real_t *C, int ldc) noexcept nogil:
    """C = A @ B, column-major, no transposes."""
    cdef char trans = b'N'
    cdef real_t one = 1, zero = 0
    if real_t is float:
        sgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &zero, C, &ldc)
    else:
        dgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &zero, C, &ldc)


cdef void _chunk(const fc_direct_kernels *kset, const real_t *xp, const real_t *U,
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
    # the 16 products: M[point] (nt x og, column-major) = V[point] (nt x cg) @ U^T
    for pt in range(16):
        _gemm(<int>nt, <int>og, <int>cg, V + pt * vstride, <int>nt,
              <real_t *>U + (pt * groups + g) * og * cg, <int>cg, Mw + pt * mstride, <int>nt)
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
    cdef int tid
    cdef const fc_direct_kernels *kset = <const fc_direct_kernels *>PyCapsule_GetPointer(
        _direct.kernel_set(), b"fastconv.fc_direct_kernels")
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
    ws = np.empty((nthreads, slot), dtype=np.float32 if real_t is float else np.float64)
    with nogil:
        for chunk in prange(nchunks, num_threads=nthreads, schedule='dynamic'):
            tid = threadid()
            _chunk(kset, &xpad[0, 0, 0, 0], &U[0, 0, 0, 0], &b[0], &out[0, 0, 0, 0],
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
