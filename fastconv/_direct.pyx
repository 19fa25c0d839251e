"""Direct N-D correlation kernel (compiled, OpenMP, GIL released).

The Python layer (`fastconv._convolve`) hands this module a problem in
*correlation form* with the convolved axes last:

    out[b, i_0, ..., i_{D-1}] = sum_t  xe[b, i_0 + t_0 + s_0, ..., i_{D-1} + t_{D-1} + s_{D-1}]
                                       * w[b, t_0, ..., t_{D-1}]

where ``xe`` is the input extended beyond its edges by the boundary rule and
``b`` runs over broadcast batch elements (each with its own input and kernel
offsets).  Inputs are trusted: validation happens in Python.

Work is split into items of (batch element, outer index, block of output
rows (as many as the micro-kernels are blocked for), chunk of output columns); a static OpenMP schedule hands each
thread a contiguous range of items, so consecutive row blocks of one thread
reuse input rows from its L2 cache.  For every item the driver resolves the
boundary rule into one pointer per input row (rows outside the input point
into the input itself for wrap/reflect/mirror/nearest, or at a shared row of
fill values), then calls a register-blocked micro-kernel on contiguous rows:
the SIMD kernels of ``_simd/`` for float32/float64, a generic loop for
complex and int64.  Columns near the left and right edges, whose windows
leave the input, are computed from small per-thread buffers holding just the
extended edge of each row, so the input is never copied whole.
"""

cimport cython
from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t

from fastconv._boundary cimport (B_FILL, B_WRAP, B_REFLECT, B_MIRROR, B_NEAREST, _ext,
                                 _outer_offset)

import numpy as np
cimport numpy as cnp

cnp.import_array()


cdef extern from "fc_omp.h" nogil:
    int fc_openmp_enabled()
    int fc_max_threads()
    int fc_thread_num()


cdef extern from "direct_simd.h" nogil:
    enum: FC_ROWS_MAX
    ctypedef void (*fc_rows_f32_fn)(float **, int, float **, int, int, int,
                                    const float *, Py_ssize_t) noexcept nogil
    ctypedef void (*fc_rows_f64_fn)(double **, int, double **, int, int, int,
                                    const double *, Py_ssize_t) noexcept nogil
    ctypedef struct fc_direct_kernels:
        fc_rows_f32_fn rows_f32
        fc_rows_f64_fn rows_f64
        const char *isa
        int rows
        const char *features
    int fc_direct_count()
    const fc_direct_kernels *fc_direct_at(int i)
    int fc_direct_supported(const fc_direct_kernels *k)
    int fc_cpu_has(const char *name)
    const fc_direct_kernels *fc_direct_select()
    const fc_direct_kernels *fc_direct_by_name(const char *name)


ctypedef fused num_t:
    float
    double
    float complex
    double complex
    int64_t


# The kernel set in use. A call reads it once (`correlate_direct`) and hands
# the pointer down, so `set_simd_level` from another thread never mixes the
# row-block height of one set with the kernels of another within a call.
cdef const fc_direct_kernels *_kernels = fc_direct_select()


def _init_simd_from_environment():
    # FASTCONV_SIMD=baseline|AVX2+FMA|AVX-512 caps the instruction set (for
    # debugging and for testing every variant on one machine). A name that is
    # unknown or unsupported here must not make `import fastconv` fail.
    import os
    import warnings
    name = os.environ.get("FASTCONV_SIMD")
    if not name:
        return
    try:
        set_simd_level(name)
    except ValueError:
        required = simd_required_features()
        why = (f"this CPU lacks some of {', '.join(required[name])}" if name in required
               else "no such level")
        warnings.warn(
            f"FASTCONV_SIMD={name!r} ignored ({why}); valid names here: "
            f"{', '.join(simd_supported_levels())}; using {simd_level()!r}",
            RuntimeWarning, stacklevel=2)

# Boundary codes shared with fastconv._convolve and fastconv._im2col.
BOUNDARY_CODES = {'fill': B_FILL, 'wrap': B_WRAP, 'reflect': B_REFLECT, 'mirror': B_MIRROR,
                  'nearest': B_NEAREST}

cdef enum:
    # Output columns per work item: bounds the fill row and balances long rows.
    CHUNK = 4096
    # Output columns computed per edge buffer, and the granularity of edge
    # pieces (multiples of every micro-kernel vector width).
    EDGE = 64
    EDGE_ALIGN = 16
    # Below this many multiply-adds per thread, extra threads cost more than they
    # save: waking a sleeping thread (OMP_WAIT_POLICY=passive, fastconv's
    # default) takes tens of microseconds. Measured on 2 cores: 512^2 * 5x5
    # (6.6M) breaks even, 1024^2 * 3x3 (9.4M) gains 1.3x from a second thread.
    MIN_WORK_PER_THREAD = 1 << 22


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(fc_openmp_enabled())


def max_threads():
    """Threads an OpenMP region started from the calling thread would use."""
    return fc_max_threads()


def simd_level():
    """Name of the micro-kernel instruction set chosen for this CPU."""
    return _kernels.isa.decode()


def simd_required_features():
    """CPU features each compiled-in SIMD level needs, baseline first.

    Returns
    -------
    dict
        Level name -> tuple of feature names (those of the ``-m`` compiler
        flags the level was built with; empty for the baseline).
    """
    cdef int i
    cdef const fc_direct_kernels *kset
    levels = {}
    for i in range(fc_direct_count()):
        kset = fc_direct_at(i)
        features = kset.features.decode()
        levels[kset.isa.decode()] = tuple(features.split(",")) if features else ()
    return levels


def simd_supported_levels():
    """Compiled-in SIMD levels whose every feature the CPU and OS support, best first."""
    cdef int i
    cdef const fc_direct_kernels *kset
    levels = []
    for i in range(fc_direct_count() - 1, -1, -1):
        kset = fc_direct_at(i)
        if fc_direct_supported(kset):
            levels.append(kset.isa.decode())
    return tuple(levels)


def cpu_has_feature(name):
    """Whether the CPU (and the OS, for the register state) supports feature `name`.

    Raises
    ------
    ValueError
        If the dispatch does not know how to detect `name`.
    """
    cdef int has = fc_cpu_has(name.encode())
    if has < 0:
        raise ValueError(f"unknown CPU feature {name!r}")
    return bool(has)


def set_simd_level(name):
    """Use the micro-kernels compiled for instruction set `name`.

    Meant for tests and debugging; the choice is process-wide. A call
    running in another thread keeps the kernel set it started with.
    Returns the previous name.

    Raises
    ------
    ValueError
        If `name` was not compiled in or the CPU does not support it.
    """
    global _kernels
    cdef const fc_direct_kernels *chosen = fc_direct_by_name(name.encode())
    if chosen == NULL:
        raise ValueError(f"SIMD level {name!r} is not available on this build/CPU")
    previous = simd_level()
    _kernels = chosen
    return previous


_init_simd_from_environment()


def observed_threads(int nthreads):
    """Run an OpenMP loop on `nthreads` threads and count the threads that ran.

    Used by the test suite to check that this build really is parallel.
    """
    cdef int seen[256]
    cdef int i, count = 0
    cdef Py_ssize_t it
    if nthreads < 1 or nthreads > 256:
        raise ValueError("nthreads must be in [1, 256]")
    for i in range(256):
        seen[i] = 0
    with nogil:
        for it in prange(nthreads * 64, num_threads=nthreads, schedule='static', chunksize=1):
            seen[fc_thread_num()] = 1
    for i in range(256):
        count += seen[i]
    return count


cdef inline Py_ssize_t _round_up(Py_ssize_t v, Py_ssize_t q) noexcept nogil:
    return (v + q - 1) // q * q


cdef inline void _rows_generic(num_t **outs, int nr, num_t **ins, int nplanes, int ka,
                               int kb, const num_t *w, Py_ssize_t width) noexcept nogil:
    """Same contract as the SIMD micro-kernels, for complex and integer types."""
    cdef int o, a, b, p
    cdef int nrin = nr + ka - 1
    cdef Py_ssize_t j
    cdef num_t *orow
    cdef num_t *src
    cdef num_t wv
    for o in range(nr):
        orow = outs[o]
        for j in range(width):
            orow[j] = 0
        for p in range(nplanes):
            for a in range(ka):
                src = ins[p * nrin + o + a]
                for b in range(kb):
                    wv = w[(p * ka + a) * kb + b]
                    for j in range(width):
                        orow[j] = orow[j] + src[j + b] * wv


cdef enum:
    # Row-block height of the generic (complex, integer) kernel.
    GENERIC_ROWS = 4


cdef inline void _rows(const fc_direct_kernels *kset, num_t **outs, int nr, num_t **ins,
                       int nplanes, int ka, int kb, const num_t *w,
                       Py_ssize_t width) noexcept nogil:
    if num_t is float:
        kset.rows_f32(outs, nr, ins, nplanes, ka, kb, w, width)
    elif num_t is double:
        kset.rows_f64(outs, nr, ins, nplanes, ka, kb, w, width)
    else:
        _rows_generic(outs, nr, ins, nplanes, ka, kb, w, width)


cdef inline void _segment(const fc_direct_kernels *kset, num_t **outs, num_t **outs_shifted,
                          int nr, num_t **rows, num_t **args, int nin, num_t *ebuf,
                          Py_ssize_t edge_len, num_t *fill_row, num_t fill, Py_ssize_t g0,
                          Py_ssize_t width, Py_ssize_t scol, Py_ssize_t ncol, int bmode,
                          int nplanes, int ka, int kb, const num_t *wk, bint buffered) noexcept nogil:
    """Compute output columns [g0, g0 + width) of one row block.

    With `buffered`, every input row's extended window is first gathered into
    `ebuf` (used near the left/right edges); otherwise rows are read in place.
    """
    cdef int i, o
    cdef Py_ssize_t t, c, total, cstart, t_lo, t_hi
    cdef num_t *buf
    cdef num_t *src
    for o in range(nr):
        outs_shifted[o] = outs[o] + g0
    cstart = g0 + scol
    if not buffered:
        for i in range(nin):
            args[i] = rows[i] + cstart if rows[i] != NULL else fill_row
    else:
        total = width + kb - 1
        t_lo = min(max(-cstart, 0), total)
        t_hi = max(min(total, ncol - cstart), t_lo)
        for i in range(nin):
            src = rows[i]
            if src == NULL:
                args[i] = fill_row
                continue
            buf = ebuf + i * edge_len
            for t in range(t_lo):
                c = _ext(cstart + t, ncol, bmode)
                buf[t] = src[c] if c >= 0 else fill
            # A plain loop (vectorised by the compiler) beats a memcpy call
            # for these short copies.
            for t in range(t_lo, t_hi):
                buf[t] = src[cstart + t]
            for t in range(t_hi, total):
                c = _ext(cstart + t, ncol, bmode)
                buf[t] = src[c] if c >= 0 else fill
            args[i] = buf
    _rows(kset, outs_shifted, nr, args, nplanes, ka, kb, wk, width)


cdef void _item(const fc_direct_kernels *kset, Py_ssize_t item, num_t *xp, const num_t *wp,
                num_t *op, const Py_ssize_t *n, const Py_ssize_t *k, const Py_ssize_t *m,
                const Py_ssize_t *s, const Py_ssize_t *xs, int D,
                const Py_ssize_t *x_off, const Py_ssize_t *w_off,
                int bmode, num_t fill, num_t *fill_row,
                num_t **rows, num_t **args, num_t **outs, num_t **outs_shifted,
                num_t *ebuf, Py_ssize_t edge_len, int R) noexcept nogil:
    cdef int L = D - 2
    cdef int ka = <int>k[D - 2]
    cdef int kb = <int>k[D - 1]
    cdef Py_ssize_t mrow = m[D - 2], mcol = m[D - 1]
    cdef Py_ssize_t ncol = n[D - 1], scol = s[D - 1]
    cdef Py_ssize_t nrb = (mrow + R - 1) // R
    cdef Py_ssize_t nch = (mcol + CHUNK - 1) // CHUNK
    cdef Py_ssize_t O = 1, P = 1
    cdef Py_ssize_t ch, rb, oi, b, t, row0, c0, c1, jL, jR, lo, hi, e0, e1, ew
    cdef Py_ssize_t poff, c, idx
    cdef int d, nr, nrin, o, r, p, nin
    cdef bint pfill
    cdef const num_t *wk
    for d in range(L):
        O *= m[d]
        P *= k[d]

    ch = item % nch
    t = item // nch
    rb = t % nrb
    t = t // nrb
    oi = t % O
    b = t // O

    row0 = rb * R
    nr = <int>min(<Py_ssize_t>R, mrow - row0)
    nrin = nr + ka - 1
    nin = <int>(P * nrin)
    c0 = ch * CHUNK
    c1 = min(c0 + CHUNK, mcol)

    for o in range(nr):
        outs[o] = op + ((b * O + oi) * mrow + row0 + o) * mcol

    # One pointer per input row (column 0), or NULL for rows entirely in the fill.
    idx = 0
    for p in range(P):
        poff = _outer_offset(p, oi, x_off[b], n, k, m, s, xs, L, bmode, &pfill)
        for r in range(nrin):
            if pfill:
                rows[idx] = NULL
            else:
                c = _ext(row0 + r + s[D - 2], n[D - 2], bmode)
                rows[idx] = NULL if c < 0 else xp + poff + c * xs[D - 2]
            idx += 1

    wk = wp + w_off[b]
    # Output columns whose windows stay inside the input: [jL, jR).
    jL = min(max(-scol, 0), mcol)
    jR = min(max(ncol - kb + 1 - scol, jL), mcol)

    # Left and right edge pieces, whose windows leave the input, go through
    # small buffers; each is rounded up to a whole number of vectors so the
    # micro-kernel stays vectorised (the columns it adds are interior ones,
    # which the middle piece then skips).
    e1 = c0
    if jL > c0:
        e1 = min(c1, c0 + _round_up(jL - c0, EDGE_ALIGN))
    e0 = c1
    if jR < c1:
        e0 = max(e1, c1 - _round_up(c1 - max(jR, c0), EDGE_ALIGN))
    lo = c0
    while lo < e1:
        ew = min(<Py_ssize_t>EDGE, e1 - lo)
        _segment(kset, outs, outs_shifted, nr, rows, args, nin, ebuf, edge_len, fill_row, fill,
                 lo, ew, scol, ncol, bmode, <int>P, ka, kb, wk, True)
        lo += ew
    if e0 > e1:
        _segment(kset, outs, outs_shifted, nr, rows, args, nin, ebuf, edge_len, fill_row, fill,
                 e1, e0 - e1, scol, ncol, bmode, <int>P, ka, kb, wk, False)
    hi = c1
    while hi > e0:
        ew = min(<Py_ssize_t>EDGE, hi - e0)
        _segment(kset, outs, outs_shifted, nr, rows, args, nin, ebuf, edge_len, fill_row, fill,
                 hi - ew, ew, scol, ncol, bmode, <int>P, ka, kb, wk, True)
        hi -= ew


cdef void _run(const fc_direct_kernels *kset, num_t *xp, const num_t *wp, num_t *op,
               const Py_ssize_t *n, const Py_ssize_t *k, const Py_ssize_t *m,
               const Py_ssize_t *s, const Py_ssize_t *xs, int D,
               const Py_ssize_t *x_off, const Py_ssize_t *w_off, Py_ssize_t nbatch,
               int bmode, num_t fill, num_t *fill_row, Py_ssize_t fill_len,
               num_t **rows_ws, num_t **args_ws, num_t **outs_ws, num_t *ebuf_ws,
               Py_ssize_t ptr_stride, Py_ssize_t outs_stride, Py_ssize_t ebuf_stride,
               Py_ssize_t edge_len, Py_ssize_t nitems, int nthreads, int R) noexcept nogil:
    cdef Py_ssize_t item, chunk
    cdef int tid
    if nthreads == 1:
        for item in range(nitems):
            _item(kset, item, xp, wp, op, n, k, m, s, xs, D, x_off, w_off, bmode, fill,
                  fill_row, rows_ws, args_ws, outs_ws, outs_ws + FC_ROWS_MAX,
                  ebuf_ws, edge_len, R)
        return
    # Dynamic chunks of consecutive items: a thread still reuses the input rows
    # of its previous row block from cache, and a thread that loses its core
    # to another process does not hold the others back at the final barrier.
    chunk = max(1, nitems // (8 * nthreads))
    for item in prange(nitems, num_threads=nthreads, schedule='dynamic', chunksize=chunk):
        tid = threadid()
        _item(kset, item, xp, wp, op, n, k, m, s, xs, D, x_off, w_off, bmode, fill,
              fill_row, rows_ws + tid * ptr_stride, args_ws + tid * ptr_stride,
              outs_ws + tid * outs_stride, outs_ws + tid * outs_stride + FC_ROWS_MAX,
              ebuf_ws + tid * ebuf_stride, edge_len, R)


def correlate_direct(cnp.ndarray x, cnp.ndarray w, cnp.ndarray out, n, k, m, s, xs,
                     x_off, w_off, int bmode, fill, int nthreads):
    """Run the direct kernel on a prepared problem (see the module docstring).

    Parameters
    ----------
    x : ndarray
        Input in the compute dtype; element strides `xs` along the D
        convolved axes (the last one 1), batch offsets `x_off` in elements.
    w : ndarray
        C-contiguous kernels in correlation form; kernel of batch element j
        starts `w_off[j]` elements into `w`.
    out : ndarray
        C-contiguous output of shape ``(nbatch, *m)`` (any batch shape).
    n, k, m, s : sequence of int
        Input length, kernel length, output length and start offset per
        convolved axis (D >= 2; callers add a unit axis for 1-D problems).
    bmode : int
        A value of `BOUNDARY_CODES`.
    fill : scalar
        Value of the input outside its edges for ``bmode == 0``.
    nthreads : int
        Upper bound on OpenMP threads.
    """
    cdef Py_ssize_t D = len(n)
    cdef const Py_ssize_t[::1] n_ = np.asarray(n, dtype=np.intp)
    cdef const Py_ssize_t[::1] k_ = np.asarray(k, dtype=np.intp)
    cdef const Py_ssize_t[::1] m_ = np.asarray(m, dtype=np.intp)
    cdef const Py_ssize_t[::1] s_ = np.asarray(s, dtype=np.intp)
    cdef const Py_ssize_t[::1] xs_ = np.asarray(xs, dtype=np.intp)
    cdef const Py_ssize_t[::1] xo_ = np.ascontiguousarray(x_off, dtype=np.intp)
    cdef const Py_ssize_t[::1] wo_ = np.ascontiguousarray(w_off, dtype=np.intp)
    cdef Py_ssize_t nbatch = xo_.shape[0]
    cdef Py_ssize_t P = 1, O = 1, d, nitems, work, edge_len, fill_len
    cdef Py_ssize_t ptr_stride, outs_stride, ebuf_stride
    cdef int nin_max

    if D < 2 or xs_[D - 1] != 1 or not out.flags.c_contiguous or not w.flags.c_contiguous:
        raise ValueError("correlate_direct: malformed problem")
    for d in range(D - 2):
        P *= k_[d]
        O *= m_[d]
    # The one read of the kernel set in use for this call (see `_kernels`).
    cdef const fc_direct_kernels *kset = _kernels
    cdef int R = kset.rows if out.dtype in (np.float32, np.float64) else GENERIC_ROWS
    nitems = (nbatch * O * ((m_[D - 2] + R - 1) // R)
              * ((m_[D - 1] + CHUNK - 1) // CHUNK))
    if nitems == 0:
        return out
    work = out.size * w.size // max(wo_.shape[0], 1)
    nthreads = <int>max(1, min(<Py_ssize_t>nthreads, nitems, work // MIN_WORK_PER_THREAD))
    nin_max = <int>(P * (R + k_[D - 2] - 1))
    edge_len = EDGE + k_[D - 1] - 1
    fill_len = CHUNK + k_[D - 1]

    dtype = out.dtype
    # Per-thread workspaces are padded apart by whole cache lines: threads
    # rewrite their row pointers for every segment, and a shared line would
    # bounce between cores (false sharing).
    ptr_stride = _round_up(nin_max, 8) + 16
    outs_stride = 2 * FC_ROWS_MAX + 16
    ebuf_stride = _round_up(nin_max * edge_len, 16) + 32
    rows_ws = np.empty(nthreads * ptr_stride, dtype=np.uintp)
    args_ws = np.empty(nthreads * ptr_stride, dtype=np.uintp)
    outs_ws = np.empty(nthreads * outs_stride, dtype=np.uintp)
    ebuf_ws = np.empty(nthreads * ebuf_stride, dtype=dtype)
    if dtype not in (np.float32, np.float64, np.complex64, np.complex128, np.int64):
        raise TypeError(f"correlate_direct: unsupported compute dtype {dtype}")
    # The fill row doubles as the typed argument that picks the specialisation.
    fill_row = np.full(fill_len, fill, dtype=dtype)
    _run_typed(<size_t>kset, fill_row, out.reshape(-1), ebuf_ws,
               <size_t>cnp.PyArray_DATA(x), <size_t>cnp.PyArray_DATA(w),
               <size_t>cnp.PyArray_DATA(rows_ws), <size_t>cnp.PyArray_DATA(args_ws),
               <size_t>cnp.PyArray_DATA(outs_ws),
               n_, k_, m_, s_, xs_, xo_, wo_, <int>D, nbatch, bmode, ptr_stride,
               outs_stride, ebuf_stride, edge_len, nitems, nthreads, R)
    return out


def _run_typed(size_t kset_addr, num_t[::1] fill_row, num_t[::1] out, num_t[::1] ebuf,
               size_t xaddr, size_t waddr, size_t rows_addr, size_t args_addr, size_t outs_addr,
               const Py_ssize_t[::1] n, const Py_ssize_t[::1] k, const Py_ssize_t[::1] m,
               const Py_ssize_t[::1] s, const Py_ssize_t[::1] xs,
               const Py_ssize_t[::1] x_off, const Py_ssize_t[::1] w_off, int D,
               Py_ssize_t nbatch, int bmode, Py_ssize_t ptr_stride, Py_ssize_t outs_stride,
               Py_ssize_t ebuf_stride, Py_ssize_t edge_len, Py_ssize_t nitems,
               int nthreads, int R):
    with nogil:
        _run(<const fc_direct_kernels *>kset_addr, <num_t *>xaddr, <const num_t *>waddr,
             &out[0], &n[0], &k[0], &m[0], &s[0], &xs[0], D, &x_off[0], &w_off[0], nbatch,
             bmode, fill_row[0], &fill_row[0], fill_row.shape[0], <num_t **>rows_addr,
             <num_t **>args_addr, <num_t **>outs_addr, &ebuf[0], ptr_stride, outs_stride,
             ebuf_stride, edge_len, nitems, nthreads, R)


ctypedef fused cplx_t:
    float complex
    double complex


cdef void _spectral_multiply(const cplx_t *X, const cplx_t *G, cplx_t *Y,
                             const Py_ssize_t *x_off, const Py_ssize_t *g_off,
                             Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t nfreq) noexcept nogil:
    cdef Py_ssize_t b, f
    cdef const cplx_t *xb
    cdef const cplx_t *gb
    cdef cplx_t *yb
    for b in range(b0, b1):
        xb = X + x_off[b]
        gb = G + g_off[b]
        yb = Y + b * nfreq
        for f in range(nfreq):
            yb[f] = xb[f] * gb[f]


def spectral_multiply(const cplx_t[::1] X, const cplx_t[::1] G, cplx_t[::1] Y, x_off, g_off,
                      Py_ssize_t nfreq, int part=0, int nparts=1):
    """Y[b, :] = X[x_off[b] :][:nfreq] * G[g_off[b] :][:nfreq] for the batch elements b of one part.

    The products of two spectra, broadcast over batch elements by their
    offsets; Y may be X itself (elementwise, in place). Batch elements are
    split into `nparts` contiguous parts and this call does part `part`
    with the GIL released, so callers run the parts on their own threads.
    """
    cdef const Py_ssize_t[::1] xo = np.ascontiguousarray(x_off, dtype=np.intp)
    cdef const Py_ssize_t[::1] go = np.ascontiguousarray(g_off, dtype=np.intp)
    cdef Py_ssize_t nbatch = xo.shape[0]
    cdef Py_ssize_t b0 = nbatch * part // nparts, b1 = nbatch * (part + 1) // nparts
    if go.shape[0] != nbatch or Y.shape[0] < nbatch * nfreq or not 0 <= part < nparts:
        raise ValueError("spectral_multiply: malformed problem")
    if b1 <= b0 or nfreq == 0:
        return
    with nogil:
        _spectral_multiply(&X[0], &G[0], &Y[0], &xo[0], &go[0], b0, b1, nfreq)


ctypedef fused work_t:
    float
    double
    float complex
    double complex


cdef inline Py_ssize_t _floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # C division truncates towards zero; block indices need the floor
    return a // b if a >= 0 else -((-a + b - 1) // b)


cdef void _oa_item(Py_ssize_t item, const work_t *y, work_t *out, int D,
                   const Py_ssize_t *blk, const Py_ssize_t *L, const Py_ssize_t *Lv,
                   const Py_ssize_t *o, const Py_ssize_t *jlo, const Py_ssize_t *nbc,
                   const Py_ssize_t *lo, const Py_ssize_t *hi, const Py_ssize_t *os,
                   const Py_ssize_t *out_off, Py_ssize_t keep, Py_ssize_t nch) noexcept nogil:
    cdef Py_ssize_t icur[64]
    cdef Py_ssize_t jcur[64]
    cdef Py_ssize_t jfirst[64]
    cdef Py_ssize_t jlast[64]
    cdef Py_ssize_t lstr[64]
    cdef int d, last = D - 1
    cdef Py_ssize_t t, q, c0, c1, i, zfrom, P, jf, jl, jfl, jll, j, bidx, b2, toff
    cdef Py_ssize_t ia, ib, shift, osl, lprod
    cdef work_t *orow
    cdef const work_t *yrow

    t = item // nch
    c0 = lo[last] + (item % nch) * CHUNK
    c1 = min(c0 + CHUNK, hi[last])
    for d in range(last - 1, -1, -1):
        icur[d] = lo[d] + t % (hi[d] - lo[d])
        t = t // (hi[d] - lo[d])
    q = t
    orow = out + out_off[q]
    for d in range(last):
        orow = orow + icur[d] * os[d]
    osl = os[last]

    # Positions below `keep` along axis 0 already hold the sums of earlier
    # blocks (an earlier call); the others are written from zero here.
    if D == 1:
        zfrom = max(c0, keep)
    else:
        zfrom = c0 if icur[0] >= keep else c1
    for i in range(zfrom, c1):
        orow[i * osl] = 0

    lprod = 1
    for d in range(last, -1, -1):
        lstr[d] = lprod
        lprod = lprod * L[d]
    # Blocks j whose outputs reach this row: 0 <= i + o - j * blk < Lv.
    for d in range(last):
        P = icur[d] + o[d]
        jf = max(jlo[d], -_floor_div(Lv[d] - 1 - P, blk[d]))
        jl = min(jlo[d] + nbc[d] - 1, _floor_div(P, blk[d]))
        if jf > jl:
            return
        jfirst[d] = jf
        jlast[d] = jl
        jcur[d] = jf
    jfl = max(jlo[last], -_floor_div(Lv[last] - 1 - (c0 + o[last]), blk[last]))
    jll = min(jlo[last] + nbc[last] - 1, _floor_div(c1 - 1 + o[last], blk[last]))

    while True:
        bidx = q
        toff = 0
        for d in range(last):
            bidx = bidx * nbc[d] + (jcur[d] - jlo[d])
            toff = toff + (icur[d] + o[d] - jcur[d] * blk[d]) * lstr[d]
        for j in range(jfl, jll + 1):
            b2 = bidx * nbc[last] + (j - jlo[last])
            yrow = y + b2 * lprod + toff
            shift = o[last] - j * blk[last]
            ia = max(c0, -shift)
            ib = min(c1, Lv[last] - shift)
            if osl == 1:
                for i in range(ia, ib):
                    orow[i] = orow[i] + yrow[i + shift]
            else:
                for i in range(ia, ib):
                    orow[i * osl] = orow[i * osl] + yrow[i + shift]
        d = last - 1
        while d >= 0:
            jcur[d] += 1
            if jcur[d] <= jlast[d]:
                break
            jcur[d] = jfirst[d]
            d -= 1
        if d < 0:
            break


def overlap_add(const work_t[::1] y, work_t[::1] out, out_off, geometry, Py_ssize_t keep,
                int part=0, int nparts=1):
    """Add block outputs into their place in the output (overlap-add).

    `geometry` is an int array of 9 rows ``blk, L, Lv, o, jlo, nbc, lo, hi,
    os`` and one column per convolved axis. `y` holds C-ordered blocks of
    shape ``L`` indexed ``(q, j_0 - jlo_0, ..., j_{D-1} - jlo_{D-1})`` with
    ``nbc[d]`` blocks along axis d; block j starts at ``j * blk`` and its
    first ``Lv`` values along each axis are used. Output element ``i``
    (offset ``out_off[q] + sum(i * os)`` in `out`) is
    ``sum_j y[q, j, i + o - j * blk]`` for ``lo <= i < hi``; along axis 0
    positions below `keep` are added to, the others overwritten.

    The output rows are split into `nparts` contiguous parts and this call
    does part `part` with the GIL released; every output element belongs
    to one part, so parts run on separate threads without atomics.
    """
    cdef const Py_ssize_t[::1] offs = np.ascontiguousarray(out_off, dtype=np.intp)
    cdef const Py_ssize_t[:, ::1] g = np.ascontiguousarray(geometry, dtype=np.intp)
    cdef int D = <int>g.shape[1]
    cdef Py_ssize_t nrows = offs.shape[0], nch, nitems, item, d, i0, i1
    if g.shape[0] != 9 or D < 1 or D > 64 or not 0 <= part < nparts:
        raise ValueError("overlap_add: malformed problem")
    for d in range(D):
        if g[7, d] <= g[6, d]:
            return
    for d in range(D - 1):
        nrows *= g[7, d] - g[6, d]
    nch = (g[7, D - 1] - g[6, D - 1] + CHUNK - 1) // CHUNK
    nitems = nrows * nch
    i0 = nitems * part // nparts
    i1 = nitems * (part + 1) // nparts
    with nogil:
        for item in range(i0, i1):
            _oa_item(item, &y[0], &out[0], D, &g[0, 0], &g[1, 0], &g[2, 0], &g[3, 0],
                     &g[4, 0], &g[5, 0], &g[6, 0], &g[7, 0], &g[8, 0], &offs[0], keep, nch)
