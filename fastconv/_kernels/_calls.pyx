"""Compiled helpers of the call path: plan-cache keys, overlap tests, thread default.

A cached call of a few microseconds spends most of them in Python attribute
lookups (``a.shape``, ``a.strides``, ``a.flags`` each build an object) and
in NumPy's Python-level dispatch (`numpy.may_share_memory`). These read the
array structs directly.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
cimport numpy as cnp

cnp.import_array()

cdef extern from "fc_omp.h" nogil:
    int fc_max_threads()

cdef enum:
    # Most dimensions a NumPy array may have (NPY_MAXDIMS in NumPy 2).
    MAX_KEY_DIMS = 64


cdef inline Py_ssize_t _pack(cnp.ndarray a, Py_ssize_t *buf) noexcept:
    """Write a's layout into `buf`; returns the number of words written."""
    cdef int nd = cnp.PyArray_NDIM(a), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *strides = cnp.PyArray_STRIDES(a)
    # type number, byte order (native or not) and alignment in one word, then the dimension
    # count (so two arrays' words cannot run into each other), then the shape
    # and strides
    buf[0] = (cnp.PyArray_TYPE(a) * 2 + (1 if cnp.PyArray_ISNOTSWAPPED(a) else 0)) * 2 + (
        1 if cnp.PyArray_ISALIGNED(a) else 0)
    buf[1] = nd
    for d in range(nd):
        buf[2 + d] = dims[d]
        buf[2 + nd + d] = strides[d]
    return 2 + 2 * nd


def layout_key(cnp.ndarray a, b=None):
    """Bytes that equal for two calls exactly when their arrays share dtype
    (type, byte order), alignment, shape and strides; of `a`, or of `a` and
    `b` (an ndarray or None)."""
    cdef Py_ssize_t buf[2 * (2 + 2 * MAX_KEY_DIMS)]
    cdef Py_ssize_t used = _pack(a, buf)
    if b is not None:
        used += _pack(<cnp.ndarray?>b, buf + used)
    return PyBytes_FromStringAndSize(<char *>buf, used * sizeof(Py_ssize_t))


cdef inline void _extent(cnp.ndarray a, char **lo, char **hi) noexcept:
    """First and one-past-last byte `a` may touch (an empty array touches none)."""
    cdef int nd = cnp.PyArray_NDIM(a), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp *strides = cnp.PyArray_STRIDES(a)
    cdef char *start = <char *>cnp.PyArray_DATA(a)
    cdef Py_ssize_t low = 0, high = cnp.PyArray_ITEMSIZE(a), step
    for d in range(nd):
        if dims[d] == 0:
            lo[0] = start
            hi[0] = start
            return
        step = strides[d] * (dims[d] - 1)
        if step < 0:
            low += step
        else:
            high += step
    lo[0] = start + low
    hi[0] = start + high


def bounds_overlap(cnp.ndarray a, cnp.ndarray b):
    """Whether the memory ranges `a` and `b` may touch intersect: the same
    answer as ``numpy.may_share_memory(a, b)`` (bounds only), without its
    Python-level dispatch."""
    cdef char *alo
    cdef char *ahi
    cdef char *blo
    cdef char *bhi
    _extent(a, &alo, &ahi)
    _extent(b, &blo, &bhi)
    return alo < bhi and blo < ahi and alo < ahi and blo < bhi


def default_threads(Py_ssize_t cpus):
    """OpenMP's thread limit for the calling thread, capped at `cpus`."""
    cdef int n = fc_max_threads()
    return n if n < cpus else cpus


def is_c_contiguous_aligned(cnp.ndarray a):
    """``a.flags.c_contiguous and a.flags.aligned``, without building the flags object."""
    return cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISALIGNED(a)
