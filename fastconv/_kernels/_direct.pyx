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
from cpython.pycapsule cimport PyCapsule_New
from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t

from fastconv._kernels._boundary cimport (B_FILL, B_WRAP, B_REFLECT, B_MIRROR, B_NEAREST, _ext,
                                 _outer_offset)

import numpy as np
cimport numpy as cnp

cnp.import_array()


cdef extern from "fc_stream.h" nogil:
    void fc_stream_copy(void *dst, const void *src, size_t nbytes)
    void fc_stream_fence()
    int FC_HAVE_STREAM

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
    enum: FC_CSUM_OUTS_MAX
    ctypedef void (*fc_csum_f32_fn)(const float *, const float *, const float *,
                                    const float *, float *, float *, int, int, Py_ssize_t,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    Py_ssize_t) noexcept nogil
    ctypedef void (*fc_csum_f64_fn)(const double *, const double *, const double *,
                                    const double *, double *, double *, int, int, Py_ssize_t,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    Py_ssize_t) noexcept nogil
    ctypedef struct fc_direct_kernels:
        fc_rows_f32_fn rows_f32
        fc_rows_f64_fn rows_f64
        fc_csum_f32_fn csum_f32
        fc_csum_f64_fn csum_f64
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
    # Row stride of the staging rows (CHUNK columns and a cache line).
    STAGE_STRIDE = CHUNK + 16


# Outputs of at least this many bytes are staged and streamed out (see
# fc_stream.h); negative: never.
cdef Py_ssize_t _stage_min_bytes = 64 << 20


def set_stage_min_bytes(Py_ssize_t nbytes):
    """Set the output size from which plans made afterwards stream their
    output (negative: never); returns the previous value."""
    global _stage_min_bytes
    old = _stage_min_bytes
    _stage_min_bytes = nbytes
    return old


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
    global _generation
    previous = simd_level()
    _kernels = chosen
    _generation += 1
    return previous


# Counts the switches of `set_simd_level`: plans made before one keep the
# table they were made with, so plan caches key on this count.
_generation = 0


def kernel_set():
    """The kernel set in use, as a capsule for the other compiled modules
    (`_winograd`), so that they follow `set_simd_level` too."""
    return PyCapsule_New(<void *>_kernels, b"fastconv.fc_direct_kernels", NULL)


def simd_generation():
    """Number of `set_simd_level` calls so far (a key for plan caches)."""
    return _generation


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
                          int nplanes, int ka, int kb, const num_t *wk, bint buffered,
                          Py_ssize_t col0) noexcept nogil:
    """Compute output columns [g0, g0 + width) of one row block, whose
    column `col0` lies at `outs` (0 for the output's rows themselves).

    With `buffered`, every input row's extended window is first gathered into
    `ebuf` (used near the left/right edges); otherwise rows are read in place.
    """
    cdef int i, o
    cdef Py_ssize_t t, c, total, cstart, t_lo, t_hi
    cdef num_t *buf
    cdef num_t *src
    for o in range(nr):
        outs_shifted[o] = outs[o] + (g0 - col0)
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
                num_t *ebuf, Py_ssize_t edge_len, int R, num_t *stage) noexcept nogil:
    cdef int L = D - 2
    cdef int ka = <int>k[D - 2]
    cdef int kb = <int>k[D - 1]
    cdef Py_ssize_t mrow = m[D - 2], mcol = m[D - 1]
    cdef Py_ssize_t ncol = n[D - 1], scol = s[D - 1]
    cdef Py_ssize_t nrb = (mrow + R - 1) // R
    cdef Py_ssize_t nch = (mcol + CHUNK - 1) // CHUNK
    cdef Py_ssize_t O = 1, P = 1
    cdef Py_ssize_t ch, rb, oi, b, t, row0, c0, c1, jL, jR, lo, hi, e0, e1, ew
    cdef Py_ssize_t poff, c, idx, col0
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

    # The chunk's rows are computed in place, or into this thread's staging
    # rows (column c0 at their start) and streamed out at the end.
    col0 = c0 if stage != NULL else 0
    for o in range(nr):
        if stage != NULL:
            outs[o] = stage + o * STAGE_STRIDE
        else:
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
                 lo, ew, scol, ncol, bmode, <int>P, ka, kb, wk, True, col0)
        lo += ew
    if e0 > e1:
        _segment(kset, outs, outs_shifted, nr, rows, args, nin, ebuf, edge_len, fill_row, fill,
                 e1, e0 - e1, scol, ncol, bmode, <int>P, ka, kb, wk, False, col0)
    hi = c1
    while hi > e0:
        ew = min(<Py_ssize_t>EDGE, hi - e0)
        _segment(kset, outs, outs_shifted, nr, rows, args, nin, ebuf, edge_len, fill_row, fill,
                 hi - ew, ew, scol, ncol, bmode, <int>P, ka, kb, wk, True, col0)
        hi -= ew
    if stage != NULL:
        for o in range(nr):
            fc_stream_copy(op + ((b * O + oi) * mrow + row0 + o) * mcol + c0,
                           stage + o * STAGE_STRIDE, (c1 - c0) * sizeof(num_t))
        fc_stream_fence()


cdef void _run(const fc_direct_kernels *kset, num_t *xp, const num_t *wp, num_t *op,
               const Py_ssize_t *n, const Py_ssize_t *k, const Py_ssize_t *m,
               const Py_ssize_t *s, const Py_ssize_t *xs, int D,
               const Py_ssize_t *x_off, const Py_ssize_t *w_off, Py_ssize_t nbatch,
               int bmode, num_t fill, num_t *fill_row, Py_ssize_t fill_len,
               num_t **rows_ws, num_t **args_ws, num_t **outs_ws, num_t *ebuf_ws,
               Py_ssize_t ptr_stride, Py_ssize_t outs_stride, Py_ssize_t ebuf_stride,
               Py_ssize_t edge_len, Py_ssize_t nitems, int nthreads, int R,
               num_t *stage_ws) noexcept nogil:
    cdef Py_ssize_t item, chunk
    cdef int tid
    if nthreads == 1:
        for item in range(nitems):
            _item(kset, item, xp, wp, op, n, k, m, s, xs, D, x_off, w_off, bmode, fill,
                  fill_row, rows_ws, args_ws, outs_ws, outs_ws + FC_ROWS_MAX,
                  ebuf_ws, edge_len, R, stage_ws)
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
              ebuf_ws + tid * ebuf_stride, edge_len, R,
              NULL if stage_ws == NULL else stage_ws + tid * R * STAGE_STRIDE)


def correlate_direct(cnp.ndarray x, cnp.ndarray w, cnp.ndarray out, n, k, m, s, xs,
                     x_off, w_off, int bmode, fill, int nthreads):
    """Run the direct kernel once on a prepared problem (see the module docstring).

    A `DirectKernel` made and run for this one call.

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
    if not w.flags.c_contiguous or w.dtype != out.dtype:
        raise ValueError("correlate_direct: malformed problem")
    kernel = DirectKernel(out.dtype, n, k, m, s, xs, x_off, w_off, bmode, nthreads)
    return kernel.run(x, 0, w, 0, [w.size], [w.itemsize], False, out,
                      np.asarray(fill, dtype=out.dtype).tobytes())


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


ctypedef fused real_t:
    float
    double


cdef enum:
    # Frequency bins per work item of `spectral_channel_sum`: the item's
    # slices of one image's spectra (Cg of them) stay in L1/L2.
    CHANNEL_SUM_BINS = 256


cdef void _channel_sum_item(const fc_direct_kernels *kset, const real_t *xr, const real_t *xi,
                            const real_t *wr, const real_t *wi, real_t *yr, real_t *yi,
                            Py_ssize_t item, Py_ssize_t groups, Py_ssize_t cg, Py_ssize_t og,
                            Py_ssize_t nfreq, Py_ssize_t nblocks) noexcept nogil:
    cdef Py_ssize_t blk = item % nblocks
    cdef Py_ssize_t rest = item // nblocks
    cdef Py_ssize_t g = rest % groups, n = rest // groups
    cdef Py_ssize_t f0 = blk * CHANNEL_SUM_BINS
    cdef Py_ssize_t nf = min(f0 + CHANNEL_SUM_BINS, nfreq) - f0
    cdef Py_ssize_t o, cin = groups * cg, cout = groups * og
    cdef Py_ssize_t xoff = (n * cin + g * cg) * nfreq + f0
    cdef Py_ssize_t woff, yoff
    cdef int ob
    o = g * og
    while o < (g + 1) * og:
        ob = <int>min(<Py_ssize_t>FC_CSUM_OUTS_MAX, (g + 1) * og - o)
        woff = o * cg * nfreq + f0
        yoff = (n * cout + o) * nfreq + f0
        if real_t is float:
            kset.csum_f32(xr + xoff, xi + xoff, wr + woff, wi + woff, yr + yoff, yi + yoff,
                          <int>cg, ob, nf, nfreq, cg * nfreq, nfreq, nfreq)
        else:
            kset.csum_f64(xr + xoff, xi + xoff, wr + woff, wi + woff, yr + yoff, yi + yoff,
                          <int>cg, ob, nf, nfreq, cg * nfreq, nfreq, nfreq)
        o += ob


def spectral_channel_sum(const real_t[::1] xr, const real_t[::1] xi, const real_t[::1] wr,
                         const real_t[::1] wi, real_t[::1] yr, real_t[::1] yi,
                         Py_ssize_t batch, Py_ssize_t groups, Py_ssize_t cg, Py_ssize_t og,
                         Py_ssize_t nfreq, int nthreads):
    """The channel sums of a convolution layer in the frequency domain.

    ``Y[n, g*og + o, f] = sum_c X[n, g*cg + c, f] * conj(W[g*og + o, c, f])``
    for spectra in split form (real and imaginary parts as separate arrays)
    X of shape (batch, groups * cg, nfreq), W (groups * og, cg, nfreq) and Y
    (batch, groups * og, nfreq), C-ordered: at every frequency bin an
    (images x channels) by (channels x kernels) matrix product, done by the
    SIMD micro-kernels over blocks of bins, a few kernels at a time, on
    `nthreads` OpenMP threads with the GIL released.
    """
    cdef Py_ssize_t nblocks = (nfreq + CHANNEL_SUM_BINS - 1) // CHANNEL_SUM_BINS
    cdef Py_ssize_t nitems = batch * groups * nblocks, item
    cdef Py_ssize_t nx = batch * groups * cg * nfreq, nw = groups * og * cg * nfreq
    cdef Py_ssize_t ny = batch * groups * og * nfreq
    cdef const fc_direct_kernels *kset = _kernels
    if (xr.shape[0] != nx or xi.shape[0] != nx or wr.shape[0] != nw or wi.shape[0] != nw
            or yr.shape[0] != ny or yi.shape[0] != ny or nthreads < 1):
        raise ValueError("spectral_channel_sum: malformed problem")
    if nitems == 0:
        return
    nthreads = <int>max(1, min(<Py_ssize_t>nthreads, nitems))
    with nogil:
        for item in prange(nitems, num_threads=nthreads, schedule='dynamic'):
            _channel_sum_item(kset, &xr[0], &xi[0], &wr[0], &wi[0], &yr[0], &yi[0], item,
                              groups, cg, og, nfreq, nblocks)


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


# ------------------------------------------------------------------ plans

from libc.stdlib cimport free
from libc.string cimport memcpy

cdef extern from "stdlib.h" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)

cdef enum:
    # Most axes a kernel array handed to `DirectKernel` may have.
    MAX_GATHER_DIMS = 32

# Compute dtypes of the direct kernel, by the code `DirectKernel` dispatches on.
_DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1,
                np.dtype(np.complex64): 2, np.dtype(np.complex128): 3,
                np.dtype(np.int64): 4}


cdef void _gather(const char *src, char *dst, int nd, const Py_ssize_t *shape,
                  const Py_ssize_t *strides, Py_ssize_t itemsize, bint conj) noexcept nogil:
    """Copy a strided N-D array (byte strides, any sign) into C order at `dst`,
    negating the imaginary halves when `conj`."""
    cdef Py_ssize_t idx[MAX_GATHER_DIMS]
    cdef Py_ssize_t total = 1, i, half = itemsize // 2
    cdef int d
    cdef const char *p = src
    for d in range(nd):
        idx[d] = 0
        total *= shape[d]
    for i in range(total):
        memcpy(dst + i * itemsize, p, itemsize)
        if conj:
            if half == 4:
                (<float *>(dst + i * itemsize + 4))[0] = -(<float *>(dst + i * itemsize + 4))[0]
            else:
                (<double *>(dst + i * itemsize + 8))[0] = -(<double *>(dst + i * itemsize + 8))[0]
        d = nd - 1
        while d >= 0:
            idx[d] += 1
            p += strides[d]
            if idx[d] < shape[d]:
                break
            p -= strides[d] * shape[d]
            idx[d] = 0
            d -= 1


cdef class DirectKernel:
    """The direct kernel's geometry for one problem shape, reusable across calls.

    Holds what `correlate_direct` derives from the problem's shapes and
    strides (lengths, offsets, work split, workspace sizes), so that a call
    on new arrays of the same shapes, strides and dtypes only takes their
    data pointers. Instances are immutable and may be shared by threads:
    every call allocates its own workspace.

    Parameters
    ----------
    dtype : dtype
        Compute dtype (float32, float64, complex64, complex128 or int64).
    n, k, m, s, xs : sequence of int
        As for `correlate_direct` (D >= 2 convolved axes, ``xs[-1] == 1``).
    x_off, w_off : array of intp
        Element offsets of every batch element in the input and kernels.
    bmode : int
        A value of `BOUNDARY_CODES`.
    nthreads : int
        Upper bound on OpenMP threads.
    """
    cdef readonly object geometry, x_offsets, w_offsets
    cdef Py_ssize_t *n
    cdef Py_ssize_t *k
    cdef Py_ssize_t *m
    cdef Py_ssize_t *s
    cdef Py_ssize_t *xs
    cdef Py_ssize_t *xo
    cdef Py_ssize_t *wo
    cdef readonly Py_ssize_t out_size, w_size, itemsize
    cdef Py_ssize_t D, nbatch, nitems, edge_len, fill_len, ptr_stride, outs_stride
    cdef Py_ssize_t ebuf_stride, ws_bytes
    # bytes of staging rows per run (0: the output is written in place)
    cdef readonly Py_ssize_t stage_bytes
    cdef int bmode, R, code
    # The kernel set in use when the plan was made: its row-block height R
    # and its micro-kernels belong together, whatever `set_simd_level` does
    # later.
    cdef const fc_direct_kernels *kset
    cdef readonly int nthreads
    cdef readonly object dtype

    def __init__(self, dtype, n, k, m, s, xs, x_off, w_off, int bmode, int nthreads):
        cdef Py_ssize_t d, D, P = 1, O = 1, work, nin_max
        dtype = np.dtype(dtype)
        if dtype not in _DTYPE_CODES:
            raise TypeError(f"DirectKernel: unsupported compute dtype {dtype}")
        self.dtype = dtype
        self.code = _DTYPE_CODES[dtype]
        self.itemsize = dtype.itemsize
        D = len(n)
        self.geometry = np.ascontiguousarray([n, k, m, s, xs], dtype=np.intp)
        self.x_offsets = np.ascontiguousarray(x_off, dtype=np.intp)
        self.w_offsets = np.ascontiguousarray(w_off, dtype=np.intp)
        if (D < 2 or self.geometry.shape[1] != D or xs[D - 1] != 1
                or self.x_offsets.shape[0] != self.w_offsets.shape[0]):
            raise ValueError("DirectKernel: malformed problem")
        self.D = D
        self.n = <Py_ssize_t *>cnp.PyArray_DATA(self.geometry)
        self.k = self.n + D
        self.m = self.n + 2 * D
        self.s = self.n + 3 * D
        self.xs = self.n + 4 * D
        self.xo = <Py_ssize_t *>cnp.PyArray_DATA(self.x_offsets)
        self.wo = <Py_ssize_t *>cnp.PyArray_DATA(self.w_offsets)
        self.nbatch = self.x_offsets.shape[0]
        self.bmode = bmode
        for d in range(D - 2):
            P *= self.k[d]
            O *= self.m[d]
        self.w_size = P * self.k[D - 2] * self.k[D - 1]
        self.out_size = self.nbatch * O * self.m[D - 2] * self.m[D - 1]
        self.kset = _kernels
        self.R = self.kset.rows if self.code < 2 else GENERIC_ROWS
        self.nitems = (self.nbatch * O * ((self.m[D - 2] + self.R - 1) // self.R)
                       * ((self.m[D - 1] + CHUNK - 1) // CHUNK))
        work = self.out_size * self.w_size
        self.nthreads = <int>max(1, min(<Py_ssize_t>nthreads, self.nitems,
                                        work // MIN_WORK_PER_THREAD))
        nin_max = P * (self.R + self.k[D - 2] - 1)
        self.edge_len = EDGE + self.k[D - 1] - 1
        # a row of fill values as long as the widest segment's input
        self.fill_len = min(<Py_ssize_t>CHUNK, self.m[D - 1]) + self.k[D - 1]
        # Per-thread workspaces padded apart by whole cache lines: threads
        # rewrite their row pointers for every segment, and a shared line
        # would bounce between cores (false sharing).
        self.ptr_stride = _round_up(nin_max, 8) + 16
        self.outs_stride = 2 * FC_ROWS_MAX + 16
        self.ebuf_stride = _round_up(nin_max * self.edge_len, 16) + 32
        self.ws_bytes = (self.nthreads * (2 * self.ptr_stride + self.outs_stride) * sizeof(void *)
                         + (self.nthreads * self.ebuf_stride + self.fill_len) * self.itemsize
                         + 256)
        # Streaming pays where the stores' read for ownership costs bandwidth
        # that is short: several threads on an output far beyond the last
        # cache. One thread is compute-bound there, and the copy-out pass
        # only adds work (measured on a 2-core Zen 3, 3x3 float32 and
        # float64: 1.03-1.37x faster on 2 threads from 64 MB, 0.84-1.23x on
        # one).
        self.stage_bytes = 0
        if (FC_HAVE_STREAM and self.code < 2 and self.nthreads >= 2 and _stage_min_bytes >= 0
                and self.out_size * self.itemsize >= _stage_min_bytes):
            self.stage_bytes = self.nthreads * self.R * STAGE_STRIDE * self.itemsize

    def run(self, x, Py_ssize_t x_byte_offset, w, Py_ssize_t w_byte_offset, w_shape,
            w_strides, bint w_conj, cnp.ndarray out, bytes fill):
        """Compute the problem into `out` (C-contiguous, `out_size` elements).

        The input is read at ``x``'s data pointer plus `x_byte_offset`, with
        the plan's strides. The kernels are gathered from ``w``'s data
        pointer plus `w_byte_offset` along `w_shape` with byte strides
        `w_strides` (any sign), conjugated when `w_conj`, into one C-ordered
        buffer of ``w_size`` elements per kernel (the layout `w_off`
        indexes); `w` must already have the compute dtype. `fill` holds the
        bytes of the compute-dtype value outside the input for ``bmode == 0``.
        """
        cdef Py_ssize_t wshape[MAX_GATHER_DIMS]
        cdef Py_ssize_t wstrides[MAX_GATHER_DIMS]
        cdef int wnd = len(w_shape), d
        cdef Py_ssize_t isz = self.itemsize, i, wtotal = 1
        cdef char *ws = NULL
        cdef char *xp
        cdef const char *wsrc
        cdef char *fill_row
        cdef char *wbuf
        cdef char *ebuf
        cdef char *stage
        cdef void **ptrs
        cdef const char *fb
        if wnd > MAX_GATHER_DIMS or len(w_strides) != wnd:
            raise ValueError("DirectKernel.run: malformed kernel layout")
        if (cnp.PyArray_SIZE(out) != self.out_size or not cnp.PyArray_IS_C_CONTIGUOUS(out)
                or not cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(out), self.dtype.num)
                or not cnp.PyArray_ISNOTSWAPPED(out)):
            raise ValueError("DirectKernel.run: malformed output")
        if len(fill) != self.itemsize:
            raise ValueError("DirectKernel.run: malformed fill value")
        for d in range(wnd):
            wshape[d] = w_shape[d]
            wstrides[d] = w_strides[d]
            wtotal *= wshape[d]
        if self.nitems == 0:
            return out
        fb = fill
        xp = <char *>cnp.PyArray_DATA(x) + x_byte_offset
        wsrc = <const char *>cnp.PyArray_DATA(w) + w_byte_offset
        # the staging rows (if any) follow the kernels, rounded up to a cache line
        if posix_memalign(<void **>&ws, 64, self.ws_bytes + wtotal * isz
                          + (self.stage_bytes + 64 if self.stage_bytes else 0)) != 0:
            raise MemoryError()
        try:
            with nogil:
                ptrs = <void **>ws
                ebuf = ws + self.nthreads * (2 * self.ptr_stride + self.outs_stride) * sizeof(void *)
                ebuf = <char *>_round_up(<Py_ssize_t>ebuf, 64)
                fill_row = ebuf + self.nthreads * self.ebuf_stride * isz
                wbuf = fill_row + self.fill_len * isz
                stage = NULL
                if self.stage_bytes:
                    stage = <char *>_round_up(<Py_ssize_t>(wbuf + wtotal * isz), 64)
                for i in range(self.fill_len):
                    memcpy(fill_row + i * isz, fb, isz)
                _gather(wsrc, wbuf, wnd, wshape, wstrides, isz, w_conj)
                if self.code == 0:
                    self._launch(<float *>xp, <const float *>wbuf,
                                 <float *>cnp.PyArray_DATA(out), <float *>fill_row, ptrs,
                                 <float *>ebuf, <float *>stage)
                elif self.code == 1:
                    self._launch(<double *>xp, <const double *>wbuf,
                                 <double *>cnp.PyArray_DATA(out), <double *>fill_row, ptrs,
                                 <double *>ebuf, <double *>stage)
                elif self.code == 2:
                    self._launch(<float complex *>xp, <const float complex *>wbuf,
                                 <float complex *>cnp.PyArray_DATA(out),
                                 <float complex *>fill_row, ptrs, <float complex *>ebuf, NULL)
                elif self.code == 3:
                    self._launch(<double complex *>xp, <const double complex *>wbuf,
                                 <double complex *>cnp.PyArray_DATA(out),
                                 <double complex *>fill_row, ptrs, <double complex *>ebuf, NULL)
                else:
                    self._launch(<int64_t *>xp, <const int64_t *>wbuf,
                                 <int64_t *>cnp.PyArray_DATA(out), <int64_t *>fill_row, ptrs,
                                 <int64_t *>ebuf, NULL)
        finally:
            free(ws)
        return out

    cdef void _launch(self, num_t *xp, const num_t *wp, num_t *op, num_t *fill_row,
                      void **ptrs, num_t *ebuf, num_t *stage) noexcept nogil:
        cdef num_t **rows_ws = <num_t **>ptrs
        cdef num_t **args_ws = rows_ws + self.nthreads * self.ptr_stride
        cdef num_t **outs_ws = args_ws + self.nthreads * self.ptr_stride
        _run(self.kset, xp, wp, op, self.n, self.k, self.m, self.s, self.xs, <int>self.D, self.xo,
             self.wo, self.nbatch, self.bmode, fill_row[0], fill_row, self.fill_len,
             rows_ws, args_ws, outs_ws, ebuf, self.ptr_stride, self.outs_stride,
             self.ebuf_stride, self.edge_len, self.nitems, self.nthreads, self.R, stage)
