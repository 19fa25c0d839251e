# The SIMD kernels of fastconv._kernels._direct's kernel set that the other
# compiled modules run (direct_simd.h), and the set in use, from _direct's
# capsule: the modules follow `set_simd_level` with _direct.

from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from "direct_simd.h" nogil:
    ctypedef void (*fc_wg_in_f32_fn)(const float *, Py_ssize_t, Py_ssize_t, float *,
                                     Py_ssize_t) noexcept nogil
    ctypedef void (*fc_wg_in_f64_fn)(const double *, Py_ssize_t, Py_ssize_t, double *,
                                     Py_ssize_t) noexcept nogil
    ctypedef void (*fc_wg_out_f32_fn)(const float *, Py_ssize_t, Py_ssize_t, float *,
                                      Py_ssize_t, int, Py_ssize_t, float) noexcept nogil
    ctypedef void (*fc_wg_out_f64_fn)(const double *, Py_ssize_t, Py_ssize_t, double *,
                                      Py_ssize_t, int, Py_ssize_t, double) noexcept nogil
    ctypedef void (*fc_mc_f32_fn)(const float *, const Py_ssize_t *, int, const float *, int,
                                  const float *, float *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t) noexcept nogil
    ctypedef void (*fc_mc_f64_fn)(const double *, const Py_ssize_t *, int, const double *,
                                  int, const double *, double *, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t) noexcept nogil
    ctypedef struct fc_direct_kernels:
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
