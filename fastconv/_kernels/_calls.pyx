"""Compiled helpers of the call path: plan-cache keys, overlap tests, thread default.

A cached call of a few microseconds spends most of them in Python attribute
lookups (``a.shape``, ``a.strides``, ``a.flags`` each build an object) and
in NumPy's Python-level dispatch (`numpy.may_share_memory`). These read the
array structs directly.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from libc.string cimport memcpy
cimport numpy as cnp

cnp.import_array()

cdef extern from "Python.h":
    # declared without an exception value: the key functions test and clear
    # the error themselves (an argument they cannot pack is simply not cached)
    Py_ssize_t PyLong_AsSsize_t(object)
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *)

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


cdef enum:
    # Room for the pooling key: one layout plus four int groups and the rest.
    POOL_KEY_WORDS = 2 + 2 * MAX_KEY_DIMS + 4 * (1 + MAX_KEY_DIMS) + 16
    # Longest `op` string a key holds (the valid ones are short).
    MAX_KEY_OP = 15


cdef inline bint _as_word(object value, Py_ssize_t *word) noexcept:
    """Store the exact int `value` in `word`; False (error cleared) when it
    does not fit a C integer: such a call is simply not cached."""
    word[0] = PyLong_AsSsize_t(value)
    if word[0] == -1 and PyErr_Occurred():
        PyErr_Clear()
        return False
    return True


cdef inline bint _pack_ints(object value, bint none_ok, Py_ssize_t *buf,
                            Py_ssize_t *used) noexcept:
    """Append `value` (an int, a tuple of at most MAX_KEY_DIMS ints, or None
    when `none_ok`) to `buf` as a tag word then the values; False (nothing
    appended) for anything else. Types are exact: a bool is not an int here,
    as ``True == 1`` would let it share a key."""
    cdef Py_ssize_t i, n
    cdef Py_ssize_t *at = buf + used[0]
    if value is None:
        if not none_ok:
            return False
        at[0] = -1
        used[0] += 1
        return True
    if type(value) is int:
        at[0] = -2
        if not _as_word(value, at + 1):
            return False
        used[0] += 2
        return True
    if type(value) is not tuple:
        return False
    n = len(<tuple>value)
    if n > MAX_KEY_DIMS:
        return False
    at[0] = n
    for i in range(n):
        item = (<tuple>value)[i]
        if type(item) is not int or not _as_word(item, at + 1 + i):
            return False
    used[0] += n + 1
    return True


def pool_key(bint adaptive, x, size, stride, op, axes, padding, ceil_mode, p, weights,
             count_include_pad, return_indices, Py_ssize_t nthreads, Py_ssize_t simd):
    """Plan-cache key of a pooling call, or None when the call is not cached
    (an ndarray input and plain Python arguments only: ints, tuples of ints,
    bools, a short str, real `p`; the types are checked because ``True == 1``).

    The key is one bytes object (hashed and compared faster than a tuple of
    the arguments): the layout of `x` (with the byte order, as the kernels
    take native only; its strides make the key stricter than the problem
    needs, never looser), the int arguments with tags that keep an int, a
    tuple and None apart, `p` with its type, the flags, the thread count,
    the SIMD generation and the characters of `op`.
    """
    cdef Py_ssize_t buf[POOL_KEY_WORDS]
    cdef Py_ssize_t used, n_op
    cdef const char *op_chars
    cdef double p_float
    if type(x) is not cnp.ndarray or weights is not None or type(op) is not str:
        return None
    if (type(ceil_mode) is not bool or type(count_include_pad) is not bool
            or type(return_indices) is not bool):
        return None
    used = _pack(<cnp.ndarray>x, buf)
    if not (_pack_ints(size, False, buf, &used) and _pack_ints(stride, True, buf, &used)
            and _pack_ints(axes, True, buf, &used) and _pack_ints(padding, False, buf, &used)):
        return None
    if type(p) is int:
        if not _as_word(p, &buf[used]):
            return None
        buf[used + 1] = 0
    elif type(p) is float:
        p_float = p
        memcpy(&buf[used], &p_float, sizeof(double))
        buf[used + 1] = 1
    else:
        return None
    buf[used + 2] = ((adaptive * 2 + (ceil_mode is True)) * 2 + (count_include_pad is True)) * 2 \
        + (return_indices is True)
    buf[used + 3] = nthreads
    buf[used + 4] = simd
    used += 5
    op_chars = PyUnicode_AsUTF8AndSize(op, &n_op)
    if op_chars == NULL or n_op > MAX_KEY_OP:
        PyErr_Clear()
        return None
    buf[used] = n_op
    memcpy(&buf[used + 1], op_chars, n_op)
    return PyBytes_FromStringAndSize(<char *>buf, (used + 1) * sizeof(Py_ssize_t) + n_op)


def out_fits(out, shape, dtype):
    """Whether `out` is exactly a writeable ndarray of `shape` and `dtype`
    (the common case of an ``out=`` check, without attribute lookups).
    False sends the caller to its full check, which names what is wrong."""
    cdef cnp.ndarray a
    cdef int nd, d
    cdef cnp.npy_intp *dims
    if type(out) is not cnp.ndarray or type(shape) is not tuple:
        return False
    a = <cnp.ndarray>out
    nd = cnp.PyArray_NDIM(a)
    if nd != len(<tuple>shape) or not cnp.PyArray_ISWRITEABLE(a):
        return False
    descr = <object>cnp.PyArray_DESCR(a)
    if descr is not dtype and (type(dtype) is str or descr != dtype):
        return False
    dims = cnp.PyArray_DIMS(a)
    for d in range(nd):
        item = (<tuple>shape)[d]
        if type(item) is not int or dims[d] != <cnp.npy_intp>item:
            return False
    return True
