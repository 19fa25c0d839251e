# The SIMD kernels of fastconv._kernels._direct's kernel set that the other
# compiled modules run (direct_simd.h), and the set in use, from _direct's
# capsule: the modules follow `set_simd_level` with _direct.

from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from "direct_simd.h" nogil:
    enum: FC_ROWS_MAX
    ctypedef void (*fc_rows_f32_fn)(float **, int, float **, int, int, int, const float *,
                                    Py_ssize_t) noexcept nogil
    ctypedef void (*fc_rows_f64_fn)(double **, int, double **, int, int, int, const double *,
                                    Py_ssize_t) noexcept nogil
    # (direct_simd.h) the last argument: m of F(m x m, 3x3), 2 or 4
    ctypedef void (*fc_wg_in_f32_fn)(const float *, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                     Py_ssize_t, Py_ssize_t, Py_ssize_t, float *, Py_ssize_t,
                                     int) noexcept nogil
    ctypedef void (*fc_wg_in_f64_fn)(const double *, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                     Py_ssize_t, Py_ssize_t, Py_ssize_t, double *, Py_ssize_t,
                                     int) noexcept nogil
    ctypedef void (*fc_wg_out_f32_fn)(const float *, Py_ssize_t, float *, Py_ssize_t,
                                      Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                      Py_ssize_t, Py_ssize_t, float, int) noexcept nogil
    ctypedef void (*fc_wg_out_f64_fn)(const double *, Py_ssize_t, double *, Py_ssize_t,
                                      Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                      Py_ssize_t, Py_ssize_t, double, int) noexcept nogil
    ctypedef void (*fc_mc_f32_fn)(const float *, const Py_ssize_t *, int, const float *, int,
                                  const float *, float *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef void (*fc_mc_f64_fn)(const double *, const Py_ssize_t *, int, const double *,
                                  int, const double *, double *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef struct fc_direct_kernels:
        fc_rows_f32_fn rows_f32
        fc_rows_f64_fn rows_f64
        int rows
        fc_mc_f32_fn mc_f32
        fc_mc_f64_fn mc_f64
        int mc_channels
        fc_wg_in_f32_fn wg_in_f32
        fc_wg_in_f64_fn wg_in_f64
        fc_wg_out_f32_fn wg_out_f32
        fc_wg_out_f64_fn wg_out_f64


cdef inline const fc_direct_kernels *kernels_of(object capsule):
    """The kernel set of a capsule from `fastconv._kernels._direct.kernel_set()`."""
    return <const fc_direct_kernels *>PyCapsule_GetPointer(capsule,
                                                           b"fastconv.fc_direct_kernels")


ctypedef fused mc_real:
    float
    double


cdef inline void pack_channel_blocks(const mc_real *w, Py_ssize_t groups, Py_ssize_t og,
                                     Py_ssize_t R, mc_real *packed,
                                     Py_ssize_t co) noexcept nogil:
    """Weights ``w`` (groups, og, R), C-contiguous, into the layout the
    multi-channel kernel reads (`packed`, groups * og * R): per group, block
    of channels ``c0 .. c0 + nco - 1`` (blocks of `co`, the last shorter) at
    ``R * c0``, interleaved by channel: ``r * nco + c`` holds ``w[g, c0 + c, r]``."""
    cdef Py_ssize_t g, c0, c, r, nco
    cdef const mc_real *src
    cdef mc_real *dst
    for g in range(groups):
        c0 = 0
        while c0 < og:
            nco = min(co, og - c0)
            src = w + (g * og + c0) * R
            dst = packed + (g * og + c0) * R
            for r in range(R):
                for c in range(nco):
                    dst[r * nco + c] = src[c * R + r]
            c0 += nco
