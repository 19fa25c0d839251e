"""Validation of convolution calls into the normal form, `ConvProblem`.

Every check of a `convolve`, `correlate`, `choose_conv_method` or
`convolve_separable` argument happens here. `call_key` gives the key under
which a call's plan is cached: a call whose key has a plan skips validation,
since the same arguments (types included) were validated when the plan was
made.
"""

import math

import numpy as np

from .._kernels import _calls, _direct
from .._methods import separable
from .._methods.problem import ConvProblem, compute_dtype, reduce_to_correlation
from .threads import resolve_workers
from .validation import (MODES, as_numeric_array, check_allocatable, check_boundary,
                         check_choice, check_fillvalue, check_out, normalize_axes,
                         ordered_axes)

__all__ = ["METHODS", "call_key", "check_out", "conv_problem", "separable_call"]

METHODS = ("auto", "direct", "separable", "fft", "im2col")

def _axes_key(axes):
    """Hashable form of `axes` keeping the types that validation looks at, or
    a value no valid call has (so the call takes the validating road)."""
    if axes is None or type(axes) is int:
        return axes
    if type(axes) is tuple or type(axes) is list:
        if all(type(a) is int for a in axes):
            return tuple(axes)
    return _UNCACHED


_UNCACHED = object()


def call_key(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve):
    """Key of a call's plan, or None when the call is not cached.

    Only ndarray inputs and plain Python arguments are cached; the key holds
    every property the plan depends on: shapes, strides, dtypes and
    alignment of the inputs, the arguments with their types, the thread
    count and the SIMD kernels in use.
    """
    if type(in1) is not np.ndarray or type(in2) is not np.ndarray:
        return None
    if type(mode) is not str or type(method) is not str or type(boundary) is not str:
        return None
    axes_key = _axes_key(axes)
    if axes_key is _UNCACHED:
        return None
    fill_type = type(fillvalue)
    if (fill_type is not int and fill_type is not float) or fillvalue != fillvalue:
        return None
    return (is_convolve, _calls.layout_key(in1, in2), mode, method, axes_key, boundary,
            fill_type, fillvalue, resolve_workers(workers), _direct.simd_generation())


def conv_problem(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve):
    """Validate a convolve/correlate call and reduce it to a `ConvProblem`.

    Returns the result itself for two 0-d inputs (a product).
    """
    in1 = as_numeric_array(in1, "in1")
    in2 = as_numeric_array(in2, "in2")
    mode = check_choice(mode, "mode", MODES)
    method = check_choice(method, "method", METHODS)
    bname = check_boundary(boundary)
    nthreads = resolve_workers(workers)
    result_dtype = np.result_type(in1.dtype, in2.dtype)
    fill = check_fillvalue(fillvalue, result_dtype)

    if in1.ndim == 0 and in2.ndim == 0:
        # An overflow or inf * 0 is the product, as the kernels give it for
        # one-element inputs, not a warning.
        with np.errstate(all="ignore"):
            return in1 * in2 if (is_convolve or in2.dtype.kind != "c") else in1 * np.conj(in2)
    if in1.ndim != in2.ndim:
        raise ValueError(
            f"in1 and in2 must have the same number of dimensions, got {in1.ndim} and {in2.ndim}"
        )
    if in1.size == 0:
        raise ValueError(f"in1 is empty (shape {in1.shape})")
    if in2.size == 0:
        raise ValueError(f"in2 is empty (shape {in2.shape})")

    ndim = in1.ndim
    conv_axes = list(normalize_axes(axes, ndim))
    for a in range(ndim):
        if a not in conv_axes and in1.shape[a] != in2.shape[a] and 1 not in (
                in1.shape[a], in2.shape[a]):
            raise ValueError(
                f"incompatible shapes for in1 and in2 along axis {a} (not convolved, must be "
                f"equal or 1 to broadcast): {in1.shape} and {in2.shape}"
            )
    if mode == "valid":
        ok1 = all(in1.shape[a] >= in2.shape[a] for a in conv_axes)
        ok2 = all(in2.shape[a] >= in1.shape[a] for a in conv_axes)
        if not (ok1 or ok2):
            raise ValueError(
                "For 'valid' mode, one of in1 and in2 must be at least as large as the "
                f"other along every convolved axis; got {in1.shape} and {in2.shape}")
    compute = compute_dtype(result_dtype)
    for arr, name in ((in1, "in1"), (in2, "in2")):
        # the methods read an input in place only when it is C-contiguous in
        # the compute dtype (and, for correlate, real); a broadcast view holds
        # no memory until copied
        if arr.dtype != compute or not arr.flags.c_contiguous or arr.dtype.kind == "c":
            check_allocatable(arr.size, compute.itemsize,
                              f"a working copy of {name} (shape {arr.shape})")
    p = reduce_to_correlation(in1, in2, mode, conv_axes, bname, fill, nthreads, is_convolve,
                              result_dtype)
    check_allocatable(p.out_size, p.compute_dtype.itemsize,
                      f"the output of shapes in1={in1.shape} and in2={in2.shape}")
    return p


def separable_call(in1, kernels, mode, axes, boundary, fillvalue, workers):
    """Validate a `convolve_separable` call.

    Returns ``(in1, kernels, axes, mode, bname, fill, nthreads,
    result_dtype)`` with `in1` and the kernels as arrays, `axes` in the
    caller's order (one kernel each) and `fill` a 0-d array of the result
    dtype.
    """
    in1 = as_numeric_array(in1, "in1")
    mode = check_choice(mode, "mode", MODES)
    bname = check_boundary(boundary)
    nthreads = resolve_workers(workers)
    if isinstance(kernels, np.ndarray) or not hasattr(kernels, "__len__"):
        raise TypeError("kernels must be a sequence with one 1-D kernel per axis")
    ks = [as_numeric_array(k, "kernels") for k in kernels]
    if in1.ndim == 0:
        raise ValueError("in1 must have at least one dimension")
    if in1.size == 0:
        raise ValueError(f"in1 is empty (shape {in1.shape})")
    ax = ordered_axes(axes, in1.ndim)
    if len(ks) != len(ax):
        raise ValueError(f"kernels must hold one 1-D kernel per convolved axis ({len(ax)}), "
                         f"got {len(ks)}")
    for k in ks:
        if k.ndim != 1 or k.size == 0:
            raise ValueError(f"kernels must be non-empty 1-D arrays, got shape {k.shape}")
    result_dtype = np.result_type(in1.dtype, *[k.dtype for k in ks])
    fill = check_fillvalue(fillvalue, result_dtype)
    if mode == "valid":
        ok1 = all(in1.shape[a] >= len(k) for a, k in zip(ax, ks))
        ok2 = all(in1.shape[a] <= len(k) for a, k in zip(ax, ks))
        if not (ok1 or ok2):
            raise ValueError(
                "For 'valid' mode, the input must be at least as large as the kernel along "
                "every convolved axis, or the kernel at least as large as the input")
    # before any scratch is taken: the largest of the passes' outputs must exist
    shape, largest = tuple(in1.shape), 0
    for a, k in zip(ax, ks):
        shape = separable.output_shape(shape, [k], [a], mode)
        largest = max(largest, math.prod(shape))
    check_allocatable(largest, result_dtype.itemsize,
                      f"the output of in1 of shape {in1.shape} with kernels of lengths "
                      f"{[len(k) for k in ks]}")
    return in1, ks, ax, mode, bname, fill, nthreads, result_dtype


def is_problem(p):
    """Whether `conv_problem` returned a problem (not a 0-d result)."""
    return isinstance(p, ConvProblem)


def separable_terms_required(p):
    """The separable terms of p.in2 for ``method='separable'``, or ValueError."""
    if any(p.in2.shape[a] != 1 for a in p.batch_axes):
        raise ValueError("method='separable' needs a single kernel: in2 must have "
                         "length 1 along the axes that are not convolved")
    terms = separable.kernel_terms(p)
    if terms is None:
        raise ValueError(
            "method='separable' needs a separable in2: an outer product of 1-D kernels "
            "(to the precision of the result dtype), or for floating results a sum of r "
            "of them with r * sum(in2.shape) < in2.size")
    return terms
