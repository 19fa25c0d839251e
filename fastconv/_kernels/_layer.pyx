"""Multi-channel direct convolution of layers (an implicit GEMM), compiled.

`fastconv._methods.layer.run_direct_channels` describes a layer to
`direct_channels`; this module packs each image and runs the SIMD kernel
`mc` of the kernel set in use (``simd/layer_simd_impl.h``).

Packing makes every tap of every output position one fixed offset from
that position. Image n is copied, padded as the layer says, into a
*polyphase* buffer: along a spatial axis of stride s the padded samples
``p = j * s + ph`` go to phase ``ph`` at position ``j``, per channel in the
order ``[phases of axis 0, ..., phases of axis d-1][j_0, ..., j_{d-1}]``.
Output position ``o`` is then the packed position ``q = sum o_i Q_i``
(``Q_i`` the packed pitches), and its tap ``t`` of channel c reads the
packed input at ``q + off[c, t]`` with ``off = c * plane + (phase offset
of (t_i * dilation_i) % s_i) + sum ((t_i * dilation_i) // s_i) Q_i``. A
layer without strides and padding whose input is C-contiguous is read in
place, unpacked.

The kernel runs over *runs*: consecutive packed positions covering whole
rows of the last two axes (an image plane in 2-D, one line in 1-D);
positions of a row past the output's width are computed and dropped.
Work items are (group, run, chunk of a run, block of output channels),
shared by the threads of one OpenMP team image after image, the packing of
an image split over its channels; the GIL is released throughout. The
kernel writes the outputs in place, its stores masked where a vector
holds positions between rows.

Groups of one input channel at stride 1 (depthwise layers) in 2-D run,
per output channel, the 2-D direct kernel of `fastconv._kernels._direct`
on the packed plane instead (`_plane`): it loads each input row once for
all the output rows it feeds, where the implicit GEMM loads a vector per
tap.
"""

from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np
cimport numpy as cnp

from fastconv._kernels import _direct

cnp.import_array()

from fastconv._kernels._kernel_set cimport (FC_ROWS_MAX, fc_direct_kernels, kernels_of,
                                           pack_channel_blocks)


__all__ = ["Geometry", "channel_block", "direct_channels"]

ctypedef fused real_t:
    float
    double

# Most spatial axes a packed layer may have (the odometer's fixed arrays).
DEF MAX_AXES = 16
MAX_SPATIAL_AXES = MAX_AXES
# Rows ahead of the one packed whose samples are prefetched.
DEF PREFETCH_ROWS = 6
# Most kernel rows of the plane kernel (its row-pointer arrays).
DEF MAX_PLANE_ROWS = 16
PLANE_KERNEL_MAX_ROWS = MAX_PLANE_ROWS


cdef extern from *:
    void __builtin_prefetch(const void *) nogil


cdef const fc_direct_kernels *_kset():
    return kernels_of(_direct.kernel_set())


def channel_block():
    """Most output channels the kernel set in use computes per block."""
    return _kset().mc_channels


cdef void _pack_channel(const real_t *src, const Py_ssize_t *xstride, const int64_t *tab,
                        const Py_ssize_t *tabstart, const Py_ssize_t *phases,
                        const Py_ssize_t *qshape, int d, real_t *dst,
                        Py_ssize_t pitch) noexcept nogil:
    """One channel of the polyphase buffer (see the module docstring), its
    rows (along the last axis) `pitch` elements apart:
    `tab` holds, per axis i from `tabstart[i]`, the source index of packed
    (phase, position) ``ph * qshape[i] + j``, or -1 for a zero; from
    `tabstart[d]`, per phase of the last axis, the range [lo, hi) of its
    positions inside the input and the source index of lo."""
    cdef Py_ssize_t rows = 1, row, i, j, ql = qshape[d - 1], t, lo, hi
    cdef Py_ssize_t xs = xstride[d - 1], step = phases[d - 1]
    # a row's digits: the phases of every axis, then the positions of all
    # but the last axis (ph = digit, pos = digit + d), the last the fastest
    cdef Py_ssize_t digit[2 * MAX_AXES]
    cdef Py_ssize_t radix[2 * MAX_AXES]
    cdef Py_ssize_t *ph = digit
    cdef Py_ssize_t *pos = digit + d
    cdef const real_t *s
    cdef const int64_t *last
    cdef real_t *o
    cdef bint zero
    for i in range(d):
        radix[i] = phases[i]
    for i in range(d - 1):
        radix[d + i] = qshape[i]
    for i in range(2 * d - 1):
        rows *= radix[i]
        digit[i] = 0
    for row in range(rows):
        if row:
            # counted on, not divided out of the row number
            i = 2 * d - 2
            while i >= 0:
                digit[i] += 1
                if digit[i] < radix[i]:
                    break
                digit[i] = 0
                i -= 1
        s = src
        zero = False
        for i in range(d - 1):
            t = tab[tabstart[i] + ph[i] * qshape[i] + pos[i]]
            if t < 0:
                zero = True
                break
            s = s + t * xstride[i]
        o = dst + row * pitch
        if zero:
            memset(o, 0, ql * sizeof(real_t))
            continue
        last = tab + tabstart[d - 1] + ph[d - 1] * ql
        # inside the input, positions [lo, hi) of this phase read the
        # samples t0, t0 + step, ...: a plain strided copy
        lo = tab[tabstart[d] + 3 * ph[d - 1]]
        hi = tab[tabstart[d] + 3 * ph[d - 1] + 1]
        t = tab[tabstart[d] + 3 * ph[d - 1] + 2]
        for j in range(lo):
            o[j] = s[last[j] * xs] if last[j] >= 0 else 0
        if xs == 1 and step == 1:
            # the samples of a row some rows on: their cache misses overlap
            # this copy instead of stalling a later one
            if d > 1:
                j = 0
                while j < hi - lo:
                    __builtin_prefetch(s + t + j + PREFETCH_ROWS * xstride[d - 2])
                    j += 64 // sizeof(real_t)
            memcpy(o + lo, s + t, (hi - lo) * sizeof(real_t))
        else:
            for j in range(lo, hi):
                o[j] = s[(t + (j - lo) * step) * xs]
        for j in range(hi, ql):
            o[j] = s[last[j] * xs] if last[j] >= 0 else 0


cdef inline void _mc(const fc_direct_kernels *kset, const real_t *image, const Py_ssize_t *off,
                     int R, const real_t *w, int nco, const real_t *init, real_t *out,
                     Py_ssize_t ostride, Py_ssize_t q0, Py_ssize_t q1, Py_ssize_t wq,
                     Py_ssize_t wo) noexcept nogil:
    if real_t is float:
        kset.mc_f32(image, off, R, w, nco, init, out, ostride, q0, q1, wq, wo)
    else:
        kset.mc_f64(image, off, R, w, nco, init, out, ostride, q0, q1, wq, wo)


cdef inline void _item(const fc_direct_kernels *kset, const real_t *group_image,
                       const Py_ssize_t *off, Py_ssize_t R, const real_t *wgroup,
                       const real_t *igroup, real_t *ogroup, Py_ssize_t ostride, Py_ssize_t og,
                       Py_ssize_t co, Py_ssize_t run, Py_ssize_t part, Py_ssize_t block,
                       const Py_ssize_t *run_q, const Py_ssize_t *run_o, Py_ssize_t run_len,
                       Py_ssize_t chunk, Py_ssize_t wq, Py_ssize_t wo) noexcept nogil:
    """Block `block` of one group's output channels over chunk `part` of run
    `run`: `group_image` is the group's first packed channel, `wgroup` its
    packed weights, `igroup` its biases, `ogroup` its first output channel.
    The kernel counts positions from the run's start, whose rows of `wq`
    positions hold `wo` outputs each."""
    cdef Py_ssize_t c0 = block * co
    cdef Py_ssize_t nco = min(co, og - c0)
    _mc(kset, group_image + run_q[run], off, <int>R, wgroup + R * c0, <int>nco, igroup + c0,
        ogroup + c0 * ostride + run_o[run], ostride, part * chunk,
        min((part + 1) * chunk, run_len), wq, wo)


cdef void _plane(const fc_direct_kernels *kset, const real_t *image, Py_ssize_t pitch,
                 const real_t *w, Py_ssize_t kh, Py_ssize_t kw, real_t *out, Py_ssize_t ho,
                 Py_ssize_t wo, real_t bias) noexcept nogil:
    """One output channel of a group of one input channel, stride 1, by the
    2-D direct kernel of `fastconv._kernels._direct` (rows of the input
    loaded once for every output row they feed): `image` the group's
    packed plane (rows of `pitch`), `w` its (kh, kw) weights, `out` the
    (ho, wo) output, `bias` added while the rows are in cache."""
    cdef real_t *outs[FC_ROWS_MAX]
    cdef real_t *ins[FC_ROWS_MAX + MAX_PLANE_ROWS]
    cdef Py_ssize_t r0 = 0, nr, i
    cdef real_t *o
    while r0 < ho:
        nr = min(<Py_ssize_t>kset.rows, ho - r0)
        for i in range(nr):
            outs[i] = out + (r0 + i) * wo
        for i in range(nr + kh - 1):
            ins[i] = <real_t *>image + (r0 + i) * pitch
        if real_t is float:
            kset.rows_f32(outs, <int>nr, ins, 1, <int>kh, <int>kw, w, wo)
        else:
            kset.rows_f64(outs, <int>nr, ins, 1, <int>kh, <int>kw, w, wo)
        if bias != 0:
            o = out + r0 * wo
            for i in range(nr * wo):
                o[i] = o[i] + bias
        r0 += nr


cdef inline void _run_item(const fc_direct_kernels *kset, const real_t *image,
                           Py_ssize_t group_plane, const Py_ssize_t *off, Py_ssize_t R,
                           const real_t *wpack, const real_t *init, real_t *out_image,
                           Py_ssize_t image_offset, Py_ssize_t ostride, Py_ssize_t og,
                           Py_ssize_t co, Py_ssize_t item, Py_ssize_t nblocks,
                           Py_ssize_t nchunks, Py_ssize_t nruns, const Py_ssize_t *run_q,
                           const Py_ssize_t *run_o, Py_ssize_t run_len, Py_ssize_t chunk,
                           Py_ssize_t wq, Py_ssize_t wo) noexcept nogil:
    """Work item `item` of one image shared by the threads, the items
    ordered (group, run, chunk, block): the threads at work at one time
    share a chunk's input and split its channels."""
    cdef Py_ssize_t block = item % nblocks
    cdef Py_ssize_t rest = item // nblocks
    cdef Py_ssize_t part = rest % nchunks
    cdef Py_ssize_t run, g
    rest = rest // nchunks
    run = rest % nruns
    g = rest // nruns
    _item(kset, image + g * group_plane, off, R, wpack + g * og * R, init + g * og,
          out_image + image_offset + g * og * ostride, ostride, og, co, run, part, block,
          run_q, run_o, run_len, chunk, wq, wo)


cdef class Geometry:
    """What `direct_channels` needs of a layer beside its arrays, checked and
    kept once per layer plan (see `direct_channels` for the fields)."""

    cdef const int64_t[::1] tables
    cdef const Py_ssize_t[::1] tabstart, phases, qshape, off, run_q, run_o
    cdef readonly Py_ssize_t run_len, wq, wo, chunk, groups, plane_kh, plane_kw
    cdef readonly int nthreads
    cdef readonly bint pack, per_group
    # the kernel set whose channel block the geometry's chunks were cut for
    cdef const fc_direct_kernels *kset

    def __init__(self, tables, tabstart, phases, qshape, bint pack, off, run_q, run_o,
                 Py_ssize_t run_len, Py_ssize_t wq, Py_ssize_t wo, Py_ssize_t chunk,
                 Py_ssize_t groups, int nthreads, bint per_group, Py_ssize_t plane_kh=0,
                 Py_ssize_t plane_kw=0):
        cdef Py_ssize_t d = len(qshape)
        self.tables, self.tabstart, self.phases, self.qshape = tables, tabstart, phases, qshape
        self.off, self.run_q, self.run_o = off, run_q, run_o
        self.run_len, self.wq, self.wo, self.chunk, self.groups = run_len, wq, wo, chunk, groups
        self.nthreads, self.pack, self.per_group = nthreads, pack, per_group
        self.kset = _kset()
        if (groups < 1 or d < 1 or d > MAX_AXES or self.phases.shape[0] != d
                or self.tabstart.shape[0] != d + 1 or self.run_o.shape[0] != self.run_q.shape[0]
                or chunk < 1 or wo < 1 or wq < wo or nthreads < 1):
            raise ValueError("Geometry: malformed problem")
        self.plane_kh, self.plane_kw = plane_kh, plane_kw
        if plane_kh and (plane_kh < 0 or plane_kh > MAX_PLANE_ROWS or plane_kw < 1
                         or d != 2 or not per_group or self.run_q.shape[0] != 1
                         or (run_len - wo) % wq
                         or self.qshape[0] < (run_len - wo) // wq + plane_kh
                         or wq < wo + plane_kw - 1):
            raise ValueError("Geometry: malformed plane kernel")


def direct_channels(Geometry geo, x, w, init, out):
    """A layer by the multi-channel direct kernel, into `out`.

    `x` (N, C_in, *n) is the input in the compute dtype with
    element-aligned strides (read through `geo.tables` when `geo.pack`,
    else C-contiguous and read in place, `geo.qshape` then being its spatial
    shape and `geo.phases` ones); `w` the weights, C-contiguous, of shape
    (C_out, C_in // groups, *k) or any shape of that size (its rows are the
    reductions of `geo.off`), `init` (C_out,) the bias (zeros without one),
    `out` (N, C_out, ...) C-contiguous, all of x's dtype. `geo.off` (R,)
    holds the tap offsets of one group's channels. Run k starts at packed
    position ``run_q[k]`` and output ``run_o[k]`` and has `run_len`
    positions in rows of `wq`, of which the first `wo` are outputs; runs
    are cut into chunks of `chunk` positions. With `per_group` each
    (image, group) is one work item, packed by its thread into that
    thread's buffer (groups of few channels); otherwise the threads share
    the image, one after the other.

    Not a fused-type function: those pick their specialisation by looking
    the argument types up in a dict, several microseconds on a small layer.
    """
    cdef cnp.ndarray xa = x, wa = w, ia = init, oa = out
    cdef int typenum = cnp.PyArray_TYPE(xa)
    cdef Py_ssize_t N = xa.shape[0] if xa.ndim else 0, cout, ostride = 1, i
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise ValueError("direct_channels: the input must be float32 or float64")
    if not cnp.PyArray_ISNOTSWAPPED(xa):
        raise ValueError("direct_channels: the input must be of native byte order")
    for a in (wa, ia, oa):
        if (cnp.PyArray_TYPE(<cnp.ndarray>a) != typenum
                or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a)
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)):
            raise ValueError("direct_channels: weights, bias and output must be C-contiguous "
                             "arrays of the input's dtype, native")
    if not cnp.PyArray_ISWRITEABLE(oa) or oa.ndim < 2 or xa.ndim < 2 or oa.shape[0] != N:
        raise ValueError("direct_channels: malformed problem")
    cout = oa.shape[1]
    for i in range(2, oa.ndim):
        ostride *= oa.shape[i]
    if (cnp.PyArray_SIZE(wa) != cout * geo.off.shape[0]
            or ia.ndim != 1 or ia.shape[0] != cout):
        raise ValueError("direct_channels: malformed problem")
    if typenum == cnp.NPY_FLOAT32:
        _channels(geo, xa, <const float *>cnp.PyArray_DATA(wa),
                  <const float *>cnp.PyArray_DATA(ia), <float *>cnp.PyArray_DATA(oa), cout,
                  ostride)
    else:
        _channels(geo, xa, <const double *>cnp.PyArray_DATA(wa),
                  <const double *>cnp.PyArray_DATA(ia), <double *>cnp.PyArray_DATA(oa), cout,
                  ostride)
    return out


cdef int _channels(Geometry geo, cnp.ndarray xa, const real_t *w, const real_t *init,
                   real_t *out, Py_ssize_t cout, Py_ssize_t ostride) except -1:
    """`direct_channels` once its arrays are checked: `w` (groups, Og, R),
    `init` (C_out,), `out` (N, C_out, ostride)."""
    cdef const int64_t[::1] tables = geo.tables
    cdef const Py_ssize_t[::1] tabstart = geo.tabstart, phases = geo.phases
    cdef const Py_ssize_t[::1] qshape = geo.qshape, off = geo.off
    cdef const Py_ssize_t[::1] run_q = geo.run_q, run_o = geo.run_o
    cdef Py_ssize_t run_len = geo.run_len, wq = geo.wq, wo = geo.wo, chunk = geo.chunk
    cdef int nthreads = geo.nthreads
    cdef bint pack = geo.pack, per_group = geo.per_group
    cdef Py_ssize_t N = xa.shape[0], cin = xa.shape[1], d = qshape.shape[0]
    cdef Py_ssize_t G = geo.groups, cg, og, R = off.shape[0]
    cdef const fc_direct_kernels *kset = geo.kset
    cdef Py_ssize_t co = kset.mc_channels
    cdef Py_ssize_t nruns = run_q.shape[0], nchunks, nblocks, nitems, item, rest
    cdef Py_ssize_t plane = 1, n, c, i, g, run, part, block
    cdef Py_ssize_t itemsize = xa.itemsize
    cdef Py_ssize_t xstride[MAX_AXES]
    cdef Py_ssize_t cstride, nstride
    cdef const real_t *xbase = <const real_t *>cnp.PyArray_DATA(xa)
    cdef const real_t *image
    cdef real_t *work
    cdef real_t *packed
    cdef Py_ssize_t packed_size
    cdef Py_ssize_t sub
    cdef Py_ssize_t kh = geo.plane_kh, kw = geo.plane_kw, ho = (run_len - wo) // wq + 1
    cdef Py_ssize_t pitch, slot
    cdef Py_ssize_t LINE_ELEMENTS = 64 // sizeof(real_t)
    cdef int tid
    cdef real_t *wpack
    if xa.ndim != d + 2:
        raise ValueError("direct_channels: malformed problem")
    cg, og = cin // G, cout // G
    if cin % G or cout % G:
        raise ValueError("direct_channels: malformed problem")
    for i in range(d):
        plane *= phases[i] * qshape[i]
        if xa.strides[i + 2] % itemsize:
            raise ValueError("direct_channels: unaligned input")
        xstride[i] = xa.strides[i + 2] // itemsize
    if xa.strides[0] % itemsize or xa.strides[1] % itemsize:
        raise ValueError("direct_channels: unaligned input")
    nstride, cstride = xa.strides[0] // itemsize, xa.strides[1] // itemsize
    if not pack and not cnp.PyArray_IS_C_CONTIGUOUS(xa):
        raise ValueError("direct_channels: an unpacked input must be C-contiguous")
    if kh and (cg != 1 or R != kh * kw):
        raise ValueError("direct_channels: the plane kernel takes groups of one channel")
    nchunks = (run_len + chunk - 1) // chunk
    nblocks = (og + co - 1) // co
    nitems = G * nruns * nchunks * nblocks
    if N == 0 or nitems == 0 or R == 0:
        return 0
    # a thread's packed group: the plane kernel's rows start on cache lines
    # (its loads then split none), the implicit GEMM's follow each other
    pitch = qshape[d - 1]
    slot = cg * plane
    if kh:
        pitch = (pitch + LINE_ELEMENTS - 1) // LINE_ELEMENTS * LINE_ELEMENTS
        slot = (qshape[0] * pitch + LINE_ELEMENTS - 1) // LINE_ELEMENTS * LINE_ELEMENTS
    # one workspace: packed weights, packed input (from a cache line)
    packed_size = (nthreads * slot if per_group else cin * plane) if pack else 0
    work = <real_t *>malloc((G * og * R + packed_size + LINE_ELEMENTS + 1) * sizeof(real_t))
    if work == NULL:
        raise MemoryError("direct_channels: no memory for the workspace")
    wpack = work
    packed = wpack + G * og * R
    packed = packed + (-(<size_t>packed // sizeof(real_t))) % LINE_ELEMENTS
    try:
        if not kh:
            with nogil:
                pack_channel_blocks(w, G, og, R, wpack, co)
        if per_group:
            # one item per (image, group), packed by its thread into its own
            # buffer: many small groups (depthwise layers) stay in that core's
            # cache from packing to the last output
            with nogil:
                for item in prange(N * G, num_threads=nthreads, schedule='dynamic'):
                    n = item // G
                    g = item - n * G
                    tid = threadid()
                    if pack:
                        image = packed + tid * slot
                        for c in range(cg):
                            _pack_channel(xbase + n * nstride + (g * cg + c) * cstride,
                                          xstride, &tables[0], &tabstart[0], &phases[0],
                                          &qshape[0], <int>d, <real_t *>image + c * plane,
                                          pitch)
                    else:
                        image = xbase + n * nstride + g * cg * plane
                    if kh:
                        for sub in range(og):
                            _plane(kset, image, pitch if pack else qshape[1],
                                   w + (g * og + sub) * R, kh, kw,
                                   out + (n * cout + g * og + sub) * ostride, ho, wo,
                                   init[g * og + sub])
                    else:
                        for sub in range(nruns * nchunks * nblocks):
                            _item(kset, image, &off[0], R, wpack + g * og * R, init + g * og,
                                  out + (n * cout + g * og) * ostride, ostride, og, co,
                                  sub // (nchunks * nblocks), (sub // nblocks) % nchunks,
                                  sub % nblocks, &run_q[0], &run_o[0], run_len, chunk, wq,
                                  wo)
            return 0
        if nthreads == 1:
            # no OpenMP team to form: the same items in order
            with nogil:
                for n in range(N):
                    if pack:
                        for c in range(cin):
                            _pack_channel(xbase + n * nstride + c * cstride, xstride,
                                          &tables[0], &tabstart[0], &phases[0], &qshape[0],
                                          <int>d, packed + c * plane, qshape[d - 1])
                        image = packed
                    else:
                        image = xbase + n * nstride
                    for item in range(nitems):
                        _run_item(kset, image, cg * plane, &off[0], R, wpack, init, out,
                                  n * cout * ostride, ostride, og, co, item, nblocks, nchunks,
                                  nruns, &run_q[0], &run_o[0], run_len, chunk, wq, wo)
            return 0
        with nogil, parallel(num_threads=nthreads):
            for n in range(N):
                if pack:
                    for c in prange(cin, schedule='static'):
                        _pack_channel(xbase + n * nstride + c * cstride, xstride, &tables[0],
                                      &tabstart[0], &phases[0], &qshape[0], <int>d,
                                      packed + c * plane, qshape[d - 1])
                    image = packed
                else:
                    image = xbase + n * nstride
                for item in prange(nitems, schedule='dynamic'):
                    _run_item(kset, image, cg * plane, &off[0], R, wpack, init, out,
                              n * cout * ostride, ostride, og, co, item, nblocks, nchunks,
                              nruns, &run_q[0], &run_o[0], run_len, chunk, wq, wo)
    finally:
        free(work)
    return 0
