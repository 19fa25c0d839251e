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

from cython.parallel cimport prange, threadid
from scipy.linalg.cython_blas cimport sgemm, dgemm

import numpy as np
cimport numpy as cnp

cnp.import_array()

__all__ = ["winograd_f2"]

ctypedef fused real_t:
    float
    double


cdef inline void _gemm(int M, int N, int K, real_t *A, int lda, real_t *B, int ldb,
                       real_t *C, int ldc) noexcept nogil:
    """C = A @ B, column-major, no transposes."""
    cdef char trans = b'N'
    cdef real_t one = 1, zero = 0
    if real_t is float:
        sgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &zero, C, &ldc)
    else:
        dgemm(&trans, &trans, &M, &N, &K, &one, A, &lda, B, &ldb, &zero, C, &ldc)


cdef void _chunk(const real_t *xp, const real_t *U, const real_t *bias, real_t *out,
                 real_t *V, real_t *Mw, Py_ssize_t chunk, Py_ssize_t chunks_per_image_group,
                 Py_ssize_t groups, Py_ssize_t cg, Py_ssize_t og, Py_ssize_t Hp,
                 Py_ssize_t Wp, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t tiles_w,
                 Py_ssize_t ntiles, Py_ssize_t tile_chunk, bint has_bias) noexcept nogil:
    cdef Py_ssize_t q = chunk // chunks_per_image_group
    cdef Py_ssize_t part = chunk - q * chunks_per_image_group
    cdef Py_ssize_t g = q % groups, n = q // groups
    cdef Py_ssize_t t0 = part * tile_chunk
    cdef Py_ssize_t nt = min(t0 + tile_chunk, ntiles) - t0
    cdef Py_ssize_t cin = groups * cg, cout = groups * og
    cdef Py_ssize_t c, o, t, tile, ty, tx, r, i, j, pt
    cdef const real_t *src
    cdef real_t d[4][4]
    cdef real_t u[4][4]
    cdef real_t m[4][4]
    cdef real_t y0, y1, y2, y3, b
    cdef real_t *dst
    # the input tiles: V[point][c][t], t contiguous (the products' columns)
    for c in range(cg):
        src = xp + ((n * cin + g * cg + c) * Hp) * Wp
        for t in range(nt):
            tile = t0 + t
            ty = tile // tiles_w
            tx = tile - ty * tiles_w
            for r in range(4):
                for j in range(4):
                    d[r][j] = src[(2 * ty + r) * Wp + 2 * tx + j]
            # B^T d: rows
            for j in range(4):
                u[0][j] = d[0][j] - d[2][j]
                u[1][j] = d[1][j] + d[2][j]
                u[2][j] = d[2][j] - d[1][j]
                u[3][j] = d[1][j] - d[3][j]
            # (B^T d) B: columns
            for r in range(4):
                m[r][0] = u[r][0] - u[r][2]
                m[r][1] = u[r][1] + u[r][2]
                m[r][2] = u[r][2] - u[r][1]
                m[r][3] = u[r][1] - u[r][3]
            for r in range(4):
                for j in range(4):
                    V[((r * 4 + j) * cg + c) * nt + t] = m[r][j]
    # the 16 products: M[point] (nt x og, column-major) = V[point] (nt x cg) @ U^T
    for pt in range(16):
        _gemm(<int>nt, <int>og, <int>cg, V + pt * cg * nt, <int>nt,
              <real_t *>U + (pt * groups + g) * og * cg, <int>cg, Mw + pt * og * nt, <int>nt)
    # the output tiles: A^T M A, bias added, cropped at the bottom and right
    for o in range(og):
        b = bias[g * og + o] if has_bias else 0
        dst = out + (n * cout + g * og + o) * Ho * Wo
        for t in range(nt):
            tile = t0 + t
            ty = tile // tiles_w
            tx = tile - ty * tiles_w
            for r in range(4):
                for j in range(4):
                    m[r][j] = Mw[((r * 4 + j) * og + o) * nt + t]
            for j in range(4):
                u[0][j] = m[0][j] + m[1][j] + m[2][j]
                u[1][j] = m[1][j] - m[2][j] - m[3][j]
            for r in range(2):
                y0 = u[r][0] + u[r][1] + u[r][2] + b
                y1 = u[r][1] - u[r][2] - u[r][3] + b
                i = 2 * ty + r
                if i < Ho:
                    dst[i * Wo + 2 * tx] = y0
                    if 2 * tx + 1 < Wo:
                        dst[i * Wo + 2 * tx + 1] = y1


def winograd_f2(const real_t[:, :, :, ::1] xpad, const real_t[:, :, :, ::1] U, bias,
                real_t[:, :, :, ::1] out, Py_ssize_t groups, Py_ssize_t tile_chunk,
                int nthreads):
    """Winograd F(2x2, 3x3) of a layer into `out` (N, C_out, Ho, Wo).

    `xpad` (N, C_in, Hp, Wp) is the padded input with ``Hp >= 2 *
    ceil(Ho / 2) + 2`` (and likewise Wp), zeros past the padding where the
    last tiles need them; `U` (16, groups, C_out / groups, C_in / groups)
    the transformed weights ``G g G^T`` by point; `bias` (C_out,) or None.
    `tile_chunk` tiles of one image and group make one work item.
    """
    cdef Py_ssize_t N = xpad.shape[0], cin = xpad.shape[1], Hp = xpad.shape[2]
    cdef Py_ssize_t Wp = xpad.shape[3], cout = out.shape[1], Ho = out.shape[2]
    cdef Py_ssize_t Wo = out.shape[3]
    cdef Py_ssize_t cg = cin // groups, og = cout // groups
    cdef Py_ssize_t tiles_h = (Ho + 1) // 2, tiles_w = (Wo + 1) // 2
    cdef Py_ssize_t ntiles = tiles_h * tiles_w
    cdef Py_ssize_t per = (ntiles + tile_chunk - 1) // tile_chunk
    cdef Py_ssize_t nchunks = N * groups * per, chunk, slot
    cdef const real_t[::1] b
    cdef bint has_bias = bias is not None
    cdef real_t[:, ::1] ws
    cdef int tid
    if (groups < 1 or cin % groups or cout % groups or U.shape[0] != 16
            or U.shape[1] != groups or U.shape[2] != og or U.shape[3] != cg
            or out.shape[0] != N or Hp < 2 * tiles_h + 2 or Wp < 2 * tiles_w + 2
            or tile_chunk < 1 or nthreads < 1):
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
    slot = 16 * (cg + og) * tile_chunk
    ws = np.empty((nthreads, slot), dtype=np.float32 if real_t is float else np.float64)
    with nogil:
        for chunk in prange(nchunks, num_threads=nthreads, schedule='dynamic'):
            tid = threadid()
            _chunk(&xpad[0, 0, 0, 0], &U[0, 0, 0, 0], &b[0], &out[0, 0, 0, 0], &ws[tid, 0],
                   &ws[tid, 16 * cg * tile_chunk], chunk, per, groups, cg, og, Hp, Wp, Ho, Wo,
                   tiles_w, ntiles, tile_chunk, has_bias)
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
