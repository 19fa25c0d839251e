"""Pooling kernels (compiled, OpenMP, GIL released).

`fastconv._methods.pooling` reduces every pooling to one-dimensional passes, one per
pooled axis, over a C-contiguous array seen as ``(outer, L, inner)``: output
``j`` of a pass combines input rows ``starts[j] <= t < ends[j]`` (padding is
simply left out: it never wins a max/min and adds nothing to a sum), each
row being ``inner`` contiguous elements.  Rows are combined elementwise, so
the inner loops run along contiguous memory and vectorise.

Two ways to combine the rows of a window:

* directly, ``ends[j] - starts[j]`` row operations per output row; used for
  small windows, strides close to the window size and adaptive bins;
* van Herk / Gil-Werman for regular windows (size ``k``, stride ``s``,
  padding ``p``) of max, min and sum: the padded axis is cut into blocks of
  ``k`` rows, each block is scanned once forwards (prefix) and once
  backwards (suffix), and every window is ``suffix[a] op prefix[a + k - 1]``
  -- three row operations per input row whatever ``k``.  Sums computed this
  way never accumulate more than ``k`` terms, so float32 does not drift.

When the pooled axis is the last one (``inner`` == 1), overlapping max/min
windows use window doubling along each contiguous line (which may run in
place: each line is copied to a buffer first), 2-wide windows a pairwise
loop, other short windows a direct loop, and long sums van Herk on tiles of
TILE lines transposed into a small buffer.  Work items are (outer index, chunk of inner) or tiles of
lines, spread over threads by OpenMP.
"""

from cython.parallel cimport prange, threadid
from libc.stdlib cimport free, malloc
from libc.stdint cimport (int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                          int64_t, uint64_t)

import numpy as np
cimport numpy as cnp

cnp.import_array()


cdef extern from "fc_omp.h" nogil:
    int fc_max_threads()


ctypedef fused pool_t:
    float
    double
    int8_t
    uint8_t
    int16_t
    uint16_t
    int32_t
    uint32_t
    int64_t
    uint64_t


cdef enum:
    OP_MAX = 0
    OP_MIN = 1
    OP_SUM = 2
    OP_WSUM = 3

cdef enum:
    # Lanes of a transposed tile of last-axis lines (a multiple of every
    # SIMD width for 4-byte types).
    TILE = 16
    # Inner elements per work item: keeps van Herk's 2k scratch rows in L2.
    CHUNK = 512

OPS = {'max': OP_MAX, 'min': OP_MIN, 'sum': OP_SUM, 'wsum': OP_WSUM}


cdef inline void _copy_row(pool_t *d, const pool_t *s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t c
    for c in range(n):
        d[c] = s[c]


cdef inline void _combine_into(pool_t *d, const pool_t *s, Py_ssize_t n, int op) noexcept nogil:
    """d = op(d, s) elementwise; a NaN in either operand wins for max/min.

    The conditions use `|`, not `or`: no short-circuit branches, so the
    compiler turns each select into a vector blend.
    """
    cdef Py_ssize_t c
    if op == OP_MAX:
        for c in range(n):
            d[c] = s[c] if ((s[c] > d[c]) | (s[c] != s[c])) else d[c]
    elif op == OP_MIN:
        for c in range(n):
            d[c] = s[c] if ((s[c] < d[c]) | (s[c] != s[c])) else d[c]
    else:
        for c in range(n):
            d[c] = d[c] + s[c]


cdef inline void _combine3(pool_t *d, const pool_t *a, const pool_t *b, Py_ssize_t n,
                           int op) noexcept nogil:
    """d = op(a, b) elementwise (NaN-propagating for max/min)."""
    cdef Py_ssize_t c
    if op == OP_MAX:
        for c in range(n):
            d[c] = b[c] if ((b[c] > a[c]) | (b[c] != b[c])) else a[c]
    elif op == OP_MIN:
        for c in range(n):
            d[c] = b[c] if ((b[c] < a[c]) | (b[c] != b[c])) else a[c]
    else:
        for c in range(n):
            d[c] = a[c] + b[c]


cdef inline void _rows_direct(const pool_t *src, Py_ssize_t sstride, pool_t *dst,
                              Py_ssize_t dstride, Py_ssize_t n, Py_ssize_t Lout,
                              const Py_ssize_t *starts, const Py_ssize_t *ends,
                              const Py_ssize_t *origin, const double *weights,
                              int op) noexcept nogil:
    cdef Py_ssize_t j, t, c
    cdef pool_t *d
    cdef const pool_t *s
    cdef pool_t wt
    for j in range(Lout):
        d = dst + j * dstride
        if op == OP_WSUM:
            if pool_t is float or pool_t is double:
                wt = <pool_t>weights[starts[j] - origin[j]]
                s = src + starts[j] * sstride
                for c in range(n):
                    d[c] = s[c] * wt
                for t in range(starts[j] + 1, ends[j]):
                    wt = <pool_t>weights[t - origin[j]]
                    s = src + t * sstride
                    for c in range(n):
                        d[c] = d[c] + s[c] * wt
        else:
            _copy_row(d, src + starts[j] * sstride, n)
            for t in range(starts[j] + 1, ends[j]):
                _combine_into(d, src + t * sstride, n, op)


cdef inline const pool_t *_padded_row(const pool_t *src, Py_ssize_t sstride, Py_ssize_t q,
                                      Py_ssize_t pad, Py_ssize_t L,
                                      const pool_t *ident) noexcept nogil:
    """Row q of the padded axis: an input row, or the identity row."""
    cdef Py_ssize_t t = q - pad
    if t < 0 or t >= L:
        return ident
    return src + t * sstride


cdef inline void _rows_vanherk(const pool_t *src, Py_ssize_t sstride, pool_t *dst,
                               Py_ssize_t dstride, Py_ssize_t n, Py_ssize_t L,
                               Py_ssize_t Lout, Py_ssize_t k, Py_ssize_t s,
                               Py_ssize_t pad, int op, const pool_t *ident,
                               pool_t *suffix, pool_t *prefix) noexcept nogil:
    """Regular windows by block prefix/suffix scans (scratch: 2 k rows of n)."""
    cdef Py_ssize_t qmax = (Lout - 1) * s + k
    cdef Py_ssize_t nblocks = (qmax + k - 1) // k
    cdef Py_ssize_t B, i, r, j, j_lo, j_hi, base
    for B in range(nblocks):
        base = B * k
        j_lo = (base + s - 1) // s
        j_hi = min(Lout - 1, (base + k - 1) // s)
        if j_lo > j_hi:
            continue
        # suffix[i] = op(y[base + i .. base + k - 1])
        _copy_row(suffix + (k - 1) * n,
                  _padded_row(src, sstride, base + k - 1, pad, L, ident), n)
        for i in range(k - 2, -1, -1):
            _combine3(suffix + i * n, suffix + (i + 1) * n,
                      _padded_row(src, sstride, base + i, pad, L, ident), n, op)
        # prefix[i] = op(y[base + k .. base + k + i]): the next block's start
        _copy_row(prefix, _padded_row(src, sstride, base + k, pad, L, ident), n)
        for i in range(1, k - 1):
            _combine3(prefix + i * n, prefix + (i - 1) * n,
                      _padded_row(src, sstride, base + k + i, pad, L, ident), n, op)
        for j in range(j_lo, j_hi + 1):
            r = j * s - base
            if r == 0:
                _copy_row(dst + j * dstride, suffix, n)
            else:
                _combine3(dst + j * dstride, suffix + r * n, prefix + (r - 1) * n, n, op)


cdef inline void _rows(const pool_t *src, Py_ssize_t sstride, pool_t *dst, Py_ssize_t dstride,
                       Py_ssize_t n, Py_ssize_t L, Py_ssize_t Lout, const Py_ssize_t *starts,
                       const Py_ssize_t *ends, const Py_ssize_t *origin, const double *weights,
                       Py_ssize_t k, Py_ssize_t s, Py_ssize_t pad, bint vanherk, int op,
                       const pool_t *ident, pool_t *scratch) noexcept nogil:
    if vanherk:
        _rows_vanherk(src, sstride, dst, dstride, n, L, Lout, k, s, pad, op, ident,
                      scratch, scratch + k * n)
    else:
        _rows_direct(src, sstride, dst, dstride, n, Lout, starts, ends, origin, weights, op)


cdef inline void _lines_k2s2(const pool_t *src, pool_t *dst, Py_ssize_t L, Py_ssize_t Lout,
                             int op) noexcept nogil:
    """out[j] = op(x[2j], x[2j+1]) on one contiguous line (full windows only)."""
    cdef Py_ssize_t j
    cdef pool_t a, b
    if op == OP_MAX:
        for j in range(Lout):
            a = src[2 * j]
            b = src[2 * j + 1]
            dst[j] = b if ((b > a) | (b != b)) else a
    elif op == OP_MIN:
        for j in range(Lout):
            a = src[2 * j]
            b = src[2 * j + 1]
            dst[j] = b if ((b < a) | (b != b)) else a
    else:
        for j in range(Lout):
            dst[j] = src[2 * j] + src[2 * j + 1]


cdef inline void _line_direct(const pool_t *src, pool_t *dst, Py_ssize_t Lout,
                              const Py_ssize_t *starts, const Py_ssize_t *ends,
                              const Py_ssize_t *origin, const double *weights,
                              int op) noexcept nogil:
    """Windows of one contiguous line, directly (one loop per op)."""
    cdef Py_ssize_t j, t
    cdef pool_t acc, v
    if op == OP_WSUM:
        if pool_t is float or pool_t is double:
            for j in range(Lout):
                acc = 0
                for t in range(starts[j], ends[j]):
                    acc = acc + src[t] * <pool_t>weights[t - origin[j]]
                dst[j] = acc
    elif op == OP_MAX:
        for j in range(Lout):
            acc = src[starts[j]]
            for t in range(starts[j] + 1, ends[j]):
                v = src[t]
                acc = v if ((v > acc) | (v != v)) else acc
            dst[j] = acc
    elif op == OP_MIN:
        for j in range(Lout):
            acc = src[starts[j]]
            for t in range(starts[j] + 1, ends[j]):
                v = src[t]
                acc = v if ((v < acc) | (v != v)) else acc
            dst[j] = acc
    else:
        for j in range(Lout):
            acc = src[starts[j]]
            for t in range(starts[j] + 1, ends[j]):
                acc = acc + src[t]
            dst[j] = acc


cdef inline void _line_doubling(const pool_t *src, pool_t *dst, Py_ssize_t L, Py_ssize_t Lout,
                                Py_ssize_t k, Py_ssize_t s, Py_ssize_t pad, int op,
                                pool_t identv, pool_t *buf) noexcept nogil:
    """Max/min over long windows of one contiguous line by window doubling.

    m_1 is the padded line; m_2P[i] = op(m_P[i], m_P[i + P]) covers 2P
    elements; a window of k is op(m_P[a], m_P[a + k - P]) with P the largest
    power of two <= k.  Every step is a contiguous, vectorised pass over the
    line (log2(k) of them), which beats transposing lines for van Herk.
    """
    cdef Py_ssize_t Lp = (Lout - 1) * s + k
    cdef Py_ssize_t q, i, P, n, j, a
    cdef pool_t *m = buf
    cdef pool_t *w = buf + Lp
    cdef pool_t *tmp
    cdef pool_t x0, x1
    # Padded copy in three plain loops (no per-element tests: they vectorise).
    cdef Py_ssize_t inside = min(L, Lp - pad)
    for q in range(pad):
        m[q] = identv
    for q in range(inside):
        m[pad + q] = src[q]
    for q in range(pad + inside, Lp):
        m[q] = identv
    P = 1
    n = Lp
    while 2 * P <= k:
        n = n - P
        if op == OP_MAX:
            for i in range(n):
                x0 = m[i]
                x1 = m[i + P]
                w[i] = x1 if ((x1 > x0) | (x1 != x1)) else x0
        else:
            for i in range(n):
                x0 = m[i]
                x1 = m[i + P]
                w[i] = x1 if ((x1 < x0) | (x1 != x1)) else x0
        tmp = m
        m = w
        w = tmp
        P = 2 * P
    if s == 1:
        # Unit stride: contiguous, vectorised.
        _combine3(dst, m, m + (k - P), Lout, op)
        return
    for j in range(Lout):
        a = j * s
        x0 = m[a]
        x1 = m[a + k - P]
        if op == OP_MAX:
            dst[j] = x1 if ((x1 > x0) | (x1 != x1)) else x0
        else:
            dst[j] = x1 if ((x1 < x0) | (x1 != x1)) else x0


cdef void _pass(const pool_t *src, pool_t *dst, Py_ssize_t outer, Py_ssize_t L,
                Py_ssize_t inner, Py_ssize_t Lout, const Py_ssize_t *starts,
                const Py_ssize_t *ends, const Py_ssize_t *origin, const double *weights,
                Py_ssize_t k, Py_ssize_t s, Py_ssize_t pad, bint vanherk, bint k2s2,
                bint doubling, int op, const pool_t *ident, pool_t *ws,
                Py_ssize_t ws_stride, Py_ssize_t chunk_w, int nthreads) noexcept nogil:
    cdef Py_ssize_t nch, nitems, item, o, ch, c0, n, l0, i, t, j, nlines, chunk
    cdef pool_t *mine
    cdef pool_t *tin
    cdef pool_t *tout
    cdef const pool_t *line
    cdef int tid
    if inner >= 2:
        # Rows of `inner` contiguous elements, in chunks.
        nch = (inner + chunk_w - 1) // chunk_w
        nitems = outer * nch
        # Chunks of consecutive items: few atomic hand-outs for small items.
        chunk = max(1, nitems // (8 * nthreads))
        for item in prange(nitems, num_threads=nthreads, schedule='dynamic', chunksize=chunk):
            tid = threadid()
            o = item // nch
            ch = item % nch
            c0 = ch * chunk_w
            n = min(chunk_w, inner - c0)
            _rows(src + o * L * inner + c0, inner, dst + o * Lout * inner + c0, inner, n,
                  L, Lout, starts, ends, origin, weights, k, s, pad, vanherk, op, ident,
                  ws + tid * ws_stride)
    elif inner == 1 and doubling:
        # Overlapping max/min windows along contiguous lines: window doubling.
        for item in prange(outer, num_threads=nthreads, schedule='static'):
            tid = threadid()
            _line_doubling(src + item * L, dst + item * Lout, L, Lout, k, s, pad, op,
                           ident[0], ws + tid * ws_stride)
    elif inner == 1 and not vanherk:
        # Contiguous lines, windows reduced in place.
        for item in prange(outer, num_threads=nthreads, schedule='static'):
            line = src + item * L
            if k2s2:
                _lines_k2s2(line, dst + item * Lout, L, Lout, op)
            else:
                _line_direct(line, dst + item * Lout, Lout, starts, ends, origin, weights, op)
    else:
        # Lines strided by `inner`: transpose TILE of them into a buffer of
        # TILE lanes, pool the rows of the buffer, transpose back.
        nlines = outer * inner
        nitems = (nlines + TILE - 1) // TILE
        chunk = max(1, nitems // (8 * nthreads))
        for item in prange(nitems, num_threads=nthreads, schedule='dynamic', chunksize=chunk):
            tid = threadid()
            mine = ws + tid * ws_stride
            tin = mine
            tout = mine + L * TILE
            l0 = item * TILE
            n = min(<Py_ssize_t>TILE, nlines - l0)
            for i in range(n):
                o = (l0 + i) // inner
                c0 = (l0 + i) % inner
                line = src + o * L * inner + c0
                for t in range(L):
                    tin[t * TILE + i] = line[t * inner]
            _rows(tin, TILE, tout, TILE, n, L, Lout, starts, ends, origin, weights, k, s,
                  pad, vanherk, op, ident, tout + Lout * TILE)
            for i in range(n):
                o = (l0 + i) // inner
                c0 = (l0 + i) % inner
                for j in range(Lout):
                    dst[o * Lout * inner + j * inner + c0] = tout[j * TILE + i]


def pool_pass(cnp.ndarray src, cnp.ndarray dst, Py_ssize_t outer, Py_ssize_t L,
              Py_ssize_t inner, Py_ssize_t Lout, starts, ends, origin, weights,
              Py_ssize_t k, Py_ssize_t s, Py_ssize_t pad, bint regular, bint vanherk,
              str op, identity, int nthreads):
    """One pooling pass along the middle axis of ``src`` seen as (outer, L, inner).

    ``src`` and ``dst`` are C-contiguous of the same dtype, ``dst`` of
    shape (outer, Lout, inner). Output j combines rows [starts[j], ends[j]);
    ``vanherk`` selects the block-scan algorithm for regular windows
    (k, s, pad) of max/min/sum; ``regular`` says the windows are such
    (not adaptive bins). ``weights`` (float64, for op 'wsum') is
    indexed by t - origin[j]. ``identity`` is the value of padding rows.
    """
    cdef const Py_ssize_t[::1] st = np.ascontiguousarray(starts, dtype=np.intp)
    cdef const Py_ssize_t[::1] en = np.ascontiguousarray(ends, dtype=np.intp)
    cdef const Py_ssize_t[::1] org = np.ascontiguousarray(origin, dtype=np.intp)
    cdef const double[::1] wts = np.ascontiguousarray(
        weights if weights is not None else np.zeros(1), dtype=np.float64)
    cdef int opc = OPS[op]
    cdef bint k2s2, doubling
    cdef Py_ssize_t ws_stride, chunk_w
    if not (src.flags.c_contiguous and dst.flags.c_contiguous and src.dtype == dst.dtype):
        raise ValueError("pool_pass: malformed problem")
    if src is dst and not (inner == 1 and regular and s < k and OPS[op] in (OP_MAX, OP_MIN)):
        raise ValueError("pool_pass: only the window-doubling pass can run in place")
    if st.shape[0] != Lout or en.shape[0] != Lout or org.shape[0] != Lout:
        raise ValueError("pool_pass: malformed windows")
    if outer == 0 or Lout == 0 or inner == 0:
        return dst
    # Full regular windows of 2 with stride 2 on a last axis: the 2x2 pooling case.
    k2s2 = (not vanherk and k == 2 and s == 2 and pad == 0 and 2 * Lout <= L
            and opc != OP_WSUM)
    # Inner elements per work item: CHUNK, fewer for very long windows so that
    # van Herk's 2k scratch rows stay within about 4 MB per thread.
    chunk_w = max(<Py_ssize_t>TILE, min(<Py_ssize_t>CHUNK, (1 << 19) // max(k, 1)))
    chunk_w = chunk_w // TILE * TILE
    # Overlapping max/min windows of regular size along a contiguous last axis.
    doubling = (inner == 1 and regular and s < k and (opc == OP_MAX or opc == OP_MIN))
    # Per-thread scratch: van Herk's 2k rows, doubling's two padded lines, or a
    # transposed tile in and out.
    if inner >= 2:
        ws_stride = 2 * k * chunk_w if vanherk else 0
    elif doubling:
        ws_stride = 2 * ((Lout - 1) * s + k)
    elif inner == 1 and not vanherk:
        ws_stride = 0
    else:
        ws_stride = (L + Lout + (2 * k if vanherk else 0)) * TILE
    ws_stride += 64
    work = outer * inner * (Lout * (3 if vanherk else max(1, k)) + L)
    nthreads = <int>max(1, min(nthreads, work // 65536))
    ws = np.empty(ws_stride * nthreads, dtype=src.dtype)
    ident = np.full(max(inner, TILE, chunk_w), identity, dtype=src.dtype)
    # Cython picks the specialisation from the buffers' dtype.
    _pass_typed(src.reshape(-1), dst.reshape(-1), ws, ident, outer, L, inner, Lout,
                st, en, org, wts, k, s, pad, vanherk, k2s2, doubling, opc, ws_stride,
                chunk_w, nthreads)
    return dst


def _pass_typed(const pool_t[::1] src, pool_t[::1] dst, pool_t[::1] ws, const pool_t[::1] ident,
                Py_ssize_t outer, Py_ssize_t L, Py_ssize_t inner, Py_ssize_t Lout,
                const Py_ssize_t[::1] st, const Py_ssize_t[::1] en,
                const Py_ssize_t[::1] org, const double[::1] wts, Py_ssize_t k,
                Py_ssize_t s, Py_ssize_t pad, bint vanherk, bint k2s2, bint doubling,
                int opc, Py_ssize_t ws_stride, Py_ssize_t chunk_w, int nthreads):
    with nogil:
        _pass(&src[0], &dst[0], outer, L, inner, Lout, &st[0], &en[0], &org[0], &wts[0],
              k, s, pad, vanherk, k2s2, doubling, opc, &ident[0], &ws[0], ws_stride,
              chunk_w, nthreads)


cdef inline void _block_row(Py_ssize_t item, const pool_t *src, pool_t *dst, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, int op,
                            pool_t *buf) noexcept nogil:
    """Output row `item` (batch element and row) of `_blocks2d`."""
    cdef Py_ssize_t Ho = H // kh, Wo = W // kw, Wused = Wo * kw
    cdef Py_ssize_t o = item // Ho, i = item % Ho, t, j
    cdef const pool_t *rows = src + (o * H + i * kh) * W
    cdef pool_t *drow = dst + (o * Ho + i) * Wo
    cdef pool_t acc, v
    # the first two rows combined straight into the buffer: no copy pass
    if kh == 1:
        _copy_row(buf, rows, Wused)
    else:
        _combine3(buf, rows, rows + W, Wused, op)
    for t in range(2, kh):
        _combine_into(buf, rows + t * W, Wused, op)
    if kw == 2:
        _lines_k2s2(buf, drow, Wused, Wo, op)
    else:
        for j in range(Wo):
            acc = buf[j * kw]
            for t in range(1, kw):
                v = buf[j * kw + t]
                if op == OP_MAX:
                    acc = v if ((v > acc) | (v != v)) else acc
                elif op == OP_MIN:
                    acc = v if ((v < acc) | (v != v)) else acc
                else:
                    acc = acc + v
            drow[j] = acc


cdef void _blocks2d(const pool_t *src, pool_t *dst, Py_ssize_t outer, Py_ssize_t H,
                    Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, int op, pool_t *ws,
                    Py_ssize_t ws_stride, int nthreads) noexcept nogil:
    """Non-overlapping kh x kw windows over the last two axes in one pass.

    Each output row combines its kh input rows into a row buffer (contiguous,
    vectorised), then reduces groups of kw along the buffer: the input is
    streamed once and no intermediate array is written.
    """
    cdef Py_ssize_t nitems = outer * (H // kh), item, chunk
    if nthreads == 1:
        # no parallel region at all: small calls cannot afford its set-up
        for item in range(nitems):
            _block_row(item, src, dst, H, W, kh, kw, op, ws)
        return
    chunk = max(1, nitems // (8 * nthreads))
    for item in prange(nitems, num_threads=nthreads, schedule='dynamic', chunksize=chunk):
        _block_row(item, src, dst, H, W, kh, kw, op, ws + threadid() * ws_stride)


# Kernel dtypes by (kind, itemsize): the code `_blocks2d_any` dispatches on.
_TYPE_CODES = {('f', 4): 0, ('f', 8): 1, ('i', 1): 2, ('u', 1): 3, ('i', 2): 4, ('u', 2): 5,
               ('i', 4): 6, ('u', 4): 7, ('i', 8): 8, ('u', 8): 9}


# The same codes by NumPy type number (several numbers share one C type,
# e.g. long and long long): one dict lookup on the small-call road.
_CODES_BY_NUM = {np.dtype(c).num: _TYPE_CODES[np.dtype(c).kind, np.dtype(c).itemsize]
                 for c in np.typecodes["AllInteger"] + "fd"
                 if (np.dtype(c).kind, np.dtype(c).itemsize) in _TYPE_CODES}


cdef int _type_code(int tnum):
    """`_TYPE_CODES`'s code of NumPy type number `tnum`, or -1."""
    return _CODES_BY_NUM.get(tnum, -1)


cdef void _blocks2d_any(int code, const void *sp, void *dp, Py_ssize_t outer, Py_ssize_t H,
                        Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, int opc, void *ws,
                        Py_ssize_t ws_stride, int nthreads) noexcept nogil:
    if code == 0:
        _blocks2d(<const float *>sp, <float *>dp, outer, H, W, kh, kw, opc, <float *>ws,
                  ws_stride, nthreads)
    elif code == 1:
        _blocks2d(<const double *>sp, <double *>dp, outer, H, W, kh, kw, opc, <double *>ws,
                  ws_stride, nthreads)
    elif code == 2:
        _blocks2d(<const int8_t *>sp, <int8_t *>dp, outer, H, W, kh, kw, opc, <int8_t *>ws,
                  ws_stride, nthreads)
    elif code == 3:
        _blocks2d(<const uint8_t *>sp, <uint8_t *>dp, outer, H, W, kh, kw, opc,
                  <uint8_t *>ws, ws_stride, nthreads)
    elif code == 4:
        _blocks2d(<const int16_t *>sp, <int16_t *>dp, outer, H, W, kh, kw, opc,
                  <int16_t *>ws, ws_stride, nthreads)
    elif code == 5:
        _blocks2d(<const uint16_t *>sp, <uint16_t *>dp, outer, H, W, kh, kw, opc,
                  <uint16_t *>ws, ws_stride, nthreads)
    elif code == 6:
        _blocks2d(<const int32_t *>sp, <int32_t *>dp, outer, H, W, kh, kw, opc,
                  <int32_t *>ws, ws_stride, nthreads)
    elif code == 7:
        _blocks2d(<const uint32_t *>sp, <uint32_t *>dp, outer, H, W, kh, kw, opc,
                  <uint32_t *>ws, ws_stride, nthreads)
    elif code == 8:
        _blocks2d(<const int64_t *>sp, <int64_t *>dp, outer, H, W, kh, kw, opc,
                  <int64_t *>ws, ws_stride, nthreads)
    else:
        _blocks2d(<const uint64_t *>sp, <uint64_t *>dp, outer, H, W, kh, kw, opc,
                  <uint64_t *>ws, ws_stride, nthreads)


cdef object _blocks2d_into(cnp.ndarray src, cnp.ndarray dst, int code, Py_ssize_t outer,
                           Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, int opc,
                           int nthreads):
    """Run `_blocks2d` on checked arrays with one malloc'd workspace."""
    cdef Py_ssize_t ws_stride = W + 64
    cdef void *ws
    cdef const void *sp = cnp.PyArray_DATA(src)
    cdef void *dp = cnp.PyArray_DATA(dst)
    if cnp.PyArray_SIZE(dst) == 0:
        return dst
    ws = malloc(ws_stride * nthreads * cnp.PyArray_ITEMSIZE(src))
    if ws == NULL:
        raise MemoryError()
    with nogil:
        _blocks2d_any(code, sp, dp, outer, H, W, kh, kw, opc, ws, ws_stride, nthreads)
    free(ws)
    return dst


cdef inline bint _kernel_ready(cnp.ndarray a, int tnum) noexcept:
    """Whether the kernels read or write `a` as it is: C-contiguous, aligned,
    native byte order, of NumPy type number `tnum`."""
    return (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)
            and cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_TYPE(a) == tnum)


cdef inline int _block_op(str op):
    """The block kernel's code of `op` ('max', 'min' or 'sum'), or -1."""
    cdef int opc = OPS.get(op, -1)
    return opc if opc in (OP_MAX, OP_MIN, OP_SUM) else -1


cdef inline int _blocks_threads(int nthreads, Py_ssize_t size) noexcept:
    # below 64 Ki elements a parallel region costs more than it saves
    return <int>max(1, min(nthreads, size // 65536))


def blocks2d(cnp.ndarray src, cnp.ndarray dst, Py_ssize_t outer, Py_ssize_t H,
             Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, str op, int nthreads):
    """Non-overlapping pooling over the last two axes of src (outer, H, W)
    into dst (outer, H // kh, W // kw), both C-contiguous of one dtype."""
    cdef int opc = _block_op(op), code, tnum = cnp.PyArray_TYPE(src)
    if not (cnp.PyArray_IS_C_CONTIGUOUS(src) and cnp.PyArray_IS_C_CONTIGUOUS(dst)
            and cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(dst), tnum) and cnp.PyArray_ISNOTSWAPPED(src)
            and cnp.PyArray_ISNOTSWAPPED(dst) and opc >= 0 and kh >= 1 and kw >= 1
            and cnp.PyArray_SIZE(src) == outer * H * W
            and cnp.PyArray_SIZE(dst) == outer * (H // kh) * (W // kw)):
        raise ValueError("blocks2d: malformed problem")
    code = _type_code(tnum)
    if code < 0:
        raise TypeError(f"blocks2d: unsupported dtype {src.dtype}")
    return _blocks2d_into(src, dst, code, outer, H, W, kh, kw, opc,
                          _blocks_threads(nthreads, cnp.PyArray_SIZE(src)))


cdef class Blocks2D:
    """Non-overlapping kh x kw pooling over the last two axes of arrays of one
    shape and dtype, as a compiled plan: the road of small pooling calls.

    Everything a call needs (dtype code, operation, sizes, thread count) is
    decided once; `run` only checks that the input can be read as it is.

    Parameters
    ----------
    in_shape, out_shape : tuple of int
        Shapes of the input and of the result (``(..., H // kh, W // kw)``).
    dtype : numpy.dtype
        The input's and the result's dtype (a kernel dtype).
    kh, kw : int
        Window lengths along the last two axes (equal to the strides).
    op : {'max', 'min', 'sum'}
        The reduction.
    nthreads : int
        Threads for inputs large enough to be worth a parallel region.
    """
    cdef Py_ssize_t outer, H, W, kh, kw, size
    cdef int opc, code, tnum, nthreads, out_ndim
    cdef cnp.npy_intp out_dims[64]

    def __init__(self, tuple in_shape, tuple out_shape, dtype, Py_ssize_t kh, Py_ssize_t kw,
                 str op, int nthreads):
        cdef Py_ssize_t d, nd = len(in_shape)
        dtype = np.dtype(dtype)
        self.tnum = dtype.num
        self.code = _type_code(self.tnum)
        self.opc = _block_op(op)
        if (self.code < 0 or not dtype.isnative or self.opc < 0
                or nd < 2 or len(out_shape) != nd or kh < 1 or kw < 1):
            raise ValueError("Blocks2D: malformed problem")
        # indices counted from the front: the kernels are compiled without wraparound
        self.H, self.W, self.kh, self.kw = in_shape[nd - 2], in_shape[nd - 1], kh, kw
        if out_shape[nd - 2] != self.H // kh or out_shape[nd - 1] != self.W // kw:
            raise ValueError("Blocks2D: malformed problem")
        self.outer = 1
        for d in range(nd - 2):
            if out_shape[d] != in_shape[d]:
                raise ValueError("Blocks2D: malformed problem")
            self.outer *= in_shape[d]
        self.size = self.outer * self.H * self.W
        self.out_ndim = nd
        for d in range(nd):
            self.out_dims[d] = out_shape[d]
        self.nthreads = _blocks_threads(nthreads, self.size)

    def run(self, cnp.ndarray src, out=None):
        """Pool `src` into `out` (any layout of the result's shape and dtype,
        not overlapping `src`) or into a new array; None when `src` is not
        C-contiguous, aligned and native of the plan's dtype and size (the
        caller then takes the general road)."""
        cdef cnp.ndarray dst
        if not _kernel_ready(src, self.tnum) or cnp.PyArray_SIZE(src) != self.size:
            return None
        if out is not None and _kernel_ready(<cnp.ndarray?>out, self.tnum):
            return _blocks2d_into(src, <cnp.ndarray>out, self.code, self.outer, self.H,
                                  self.W, self.kh, self.kw, self.opc, self.nthreads)
        dst = cnp.PyArray_EMPTY(self.out_ndim, self.out_dims, self.tnum, 0)
        _blocks2d_into(src, dst, self.code, self.outer, self.H, self.W, self.kh, self.kw,
                       self.opc, self.nthreads)
        if out is None:
            return dst
        cnp.PyArray_CopyInto(<cnp.ndarray>out, dst)
        return out


cdef void _argpool(const pool_t *src, pool_t *dst, int64_t *idx, Py_ssize_t nbatch,
                   Py_ssize_t D, const Py_ssize_t *L, const Py_ssize_t *Lout,
                   const Py_ssize_t *k, const Py_ssize_t *s, const Py_ssize_t *pad,
                   bint is_max, Py_ssize_t *ws, int nthreads) noexcept nogil:
    """Max/min over N-D windows with the flat index of the winner.

    ``src`` is (nbatch, *L) C-contiguous; windows are scanned in row-major
    order and only a strictly better value (or the first NaN) replaces the
    current one, so ties keep the first element.
    """
    cdef Py_ssize_t plane_in = 1, plane_out = 1, d, item, b, rem, flat, best_i, off
    cdef Py_ssize_t *lo
    cdef Py_ssize_t *hi
    cdef Py_ssize_t *cur
    cdef Py_ssize_t *stride_in
    cdef pool_t best, v
    cdef bint started, better
    cdef int tid
    for d in range(D):
        plane_in *= L[d]
        plane_out *= Lout[d]
    for item in prange(nbatch * plane_out, num_threads=nthreads, schedule='static'):
        tid = threadid()
        lo = ws + tid * 4 * D
        hi = lo + D
        cur = hi + D
        stride_in = cur + D
        b = item // plane_out
        rem = item % plane_out
        for d in range(D - 1, -1, -1):
            flat = rem % Lout[d]
            rem = rem // Lout[d]
            lo[d] = max(<Py_ssize_t>0, flat * s[d] - pad[d])
            hi[d] = min(L[d], flat * s[d] - pad[d] + k[d])
            cur[d] = lo[d]
        off = 1
        for d in range(D - 1, -1, -1):
            stride_in[d] = off
            off = off * L[d]
        started = False
        best_i = 0
        best = src[0]
        while True:
            flat = 0
            for d in range(D):
                flat = flat + cur[d] * stride_in[d]
            v = src[b * plane_in + flat]
            if not started:
                better = True
            elif best != best:
                better = False
            elif is_max:
                better = v > best or v != v
            else:
                better = v < best or v != v
            if better:
                best = v
                best_i = flat
                started = True
            # next index of the window, row-major
            d = D - 1
            while d >= 0:
                cur[d] = cur[d] + 1
                if cur[d] < hi[d]:
                    break
                cur[d] = lo[d]
                d = d - 1
            if d < 0:
                break
        dst[item] = best
        idx[item] = best_i


def argpool(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray idx, L, Lout, k, s, pad,
            bint is_max, int nthreads):
    """Max/min pooling with indices; src (nbatch, *L), dst/idx (nbatch, *Lout)."""
    cdef Py_ssize_t D = len(L)
    cdef const Py_ssize_t[::1] L_ = np.asarray(L, dtype=np.intp)
    cdef const Py_ssize_t[::1] Lo_ = np.asarray(Lout, dtype=np.intp)
    cdef const Py_ssize_t[::1] k_ = np.asarray(k, dtype=np.intp)
    cdef const Py_ssize_t[::1] s_ = np.asarray(s, dtype=np.intp)
    cdef const Py_ssize_t[::1] p_ = np.asarray(pad, dtype=np.intp)
    cdef Py_ssize_t nbatch = src.shape[0]
    if not (src.flags.c_contiguous and dst.flags.c_contiguous and idx.flags.c_contiguous
            and idx.dtype == np.int64 and src.dtype == dst.dtype):
        raise ValueError("argpool: malformed problem")
    if dst.size == 0:
        return dst, idx
    nthreads = <int>max(1, min(nthreads, dst.size * max(1, int(np.prod(k))) // 65536))
    ws = np.empty(nthreads * 4 * D + 8, dtype=np.intp)
    _argpool_typed(src.reshape(-1), dst.reshape(-1), idx.reshape(-1), ws, nbatch, D, L_,
                   Lo_, k_, s_, p_, is_max, nthreads)
    return dst, idx


def _argpool_typed(const pool_t[::1] src, pool_t[::1] dst, int64_t[::1] idx,
                   Py_ssize_t[::1] ws, Py_ssize_t nbatch, Py_ssize_t D,
                   const Py_ssize_t[::1] L, const Py_ssize_t[::1] Lout,
                   const Py_ssize_t[::1] k, const Py_ssize_t[::1] s,
                   const Py_ssize_t[::1] pad, bint is_max, int nthreads):
    with nogil:
        _argpool(&src[0], &dst[0], &idx[0], nbatch, D, &L[0], &Lout[0], &k[0], &s[0],
                 &pad[0], is_max, &ws[0], nthreads)
