"""Validation of pooling calls into the normal form, `PoolProblem`.

Every check of a `pool` or `adaptive_pool` argument happens here;
`pool_key` gives the key under which a call's problem is cached (the same
arguments, types included, were validated when it was made).
"""

import math
import numbers

import numpy as np

from .._kernels import _calls, _direct
from .._methods import pooling
from .._methods.problem import PoolProblem
from .threads import resolve_workers
from .validation import (as_numeric_array, check_allocatable, check_bool, check_out,
                         ordered_axes, per_axis_ints)

__all__ = ["ADAPTIVE_OPS", "POOL_OPS", "adaptive_problem", "check_pool_out", "pool_key",
           "pool_problem"]

POOL_OPS = ("max", "min", "mean", "sum", "lp", "weighted")
ADAPTIVE_OPS = ("max", "min", "mean", "sum", "lp")


def _as_pool_input(x):
    arr = as_numeric_array(x, "x")
    if arr.ndim == 0:
        raise ValueError("x must have at least one dimension")
    if arr.size == 0:
        raise ValueError(f"x is empty (shape {arr.shape})")
    return arr


def _per_axis(value, name, naxes, minimum):
    """An int for every pooled axis, or one per axis; each >= minimum."""
    return per_axis_ints(value, name, naxes, minimum, "pooled")


def _sorted_by_axis(axes, *per_axis):
    """Sort the pooled axes ascending, permuting each per-axis list alike."""
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    return [[axes[i] for i in order]] + [[values[i] for i in order] for values in per_axis]


def _check_op(op, choices):
    if not isinstance(op, str) or op not in choices:
        raise ValueError(f"op must be one of {', '.join(map(repr, choices))}; got {op!r}")
    # str subclasses such as numpy.str_ compare equal; the kernels take plain str
    return str(op)


def _check_p(p):
    if isinstance(p, (bool, np.bool_)):
        # float(True) is 1: a flag passed by mistake would silently pick p=1
        raise TypeError(f"p must be a positive number, not a bool, got {p!r}")
    # float() would also take the string '2' (and complex 0-d arrays, with a warning)
    real = isinstance(p, numbers.Real) or (
        isinstance(p, np.ndarray) and p.ndim == 0 and p.dtype.kind in "iuf")
    if not real:
        raise TypeError(f"p must be a positive real number, got {type(p).__name__} {p!r}")
    try:
        p = float(p)
    except OverflowError:  # an int beyond float64
        raise ValueError(f"p must be a positive finite number, got {p!r}") from None
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"p must be a positive finite number, got {p!r}")
    return p


def _output_length(L, k, s, pad, ceil_mode):
    span = L + 2 * pad - k
    # Floor or ceiling division, also for a negative span (a window longer
    # than the padded axis: one output in ceil mode when the stride allows).
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= L + pad:
        out -= 1
    return out


def _result_dtype(dtype, op):
    if op in ("max", "min") and dtype.kind == "c":
        raise TypeError(f"x has complex dtype {dtype}: op={op!r} needs ordered values")
    return pooling.pool_result_dtype(dtype, op)


def _check_sizes(x, axes, lengths, op, what):
    """Refuse a result (pooled `axes` of `lengths`), or a working copy of x
    (a broadcast view of a huge array is small until it is copied), that
    cannot exist; before any per-window array is made."""
    shape = list(x.shape)
    for a, n in zip(axes, lengths):
        shape[a] = n
    check_allocatable(math.prod(shape), _result_dtype(x.dtype, op).itemsize, what)
    if not x.flags.c_contiguous:
        check_allocatable(x.size, 16 if x.dtype.kind == "c" else 8,
                          f"a working copy of x (shape {x.shape})")


def _problem(x, axes, windows, op, p, weights, count_include_pad, return_indices, nthreads):
    q = PoolProblem()
    q.axes, q.windows, q.op, q.p, q.weights, q.weight_sums = axes, windows, op, p, weights, None
    q.count_include_pad, q.return_indices, q.nthreads = count_include_pad, return_indices, nthreads
    q.result_dtype = _result_dtype(x.dtype, op)
    shape = list(x.shape)
    for a, pl in zip(axes, windows):
        shape[a] = pl.Lout
    q.out_shape = tuple(shape)
    q.blocks = pooling.blocks_plan(q, x.shape, x.dtype)
    return q


def pool_problem(x, size, stride, op, axes, padding, ceil_mode, p, weights, count_include_pad,
                 return_indices, workers):
    """Validate a `pool` call: ``(x as an array, its PoolProblem)``."""
    x = _as_pool_input(x)
    nthreads = resolve_workers(workers)
    op = _check_op(op, POOL_OPS)
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    count_include_pad = check_bool(count_include_pad, "count_include_pad")
    return_indices = check_bool(return_indices, "return_indices")
    ax = ordered_axes(axes, x.ndim)
    naxes = len(ax)
    sizes = _per_axis(size, "size", naxes, 1)
    strides = sizes if stride is None else _per_axis(stride, "stride", naxes, 1)
    pads = _per_axis(padding, "padding", naxes, 0)
    for k, pad in zip(sizes, pads):
        if pad > k // 2:
            raise ValueError(f"padding must be at most half the window size, got padding="
                             f"{padding!r} for size={size!r}")
    p = _check_p(p) if op == "lp" else p
    if weights is not None:
        if op != "weighted":
            raise ValueError("weights is only used with op='weighted'")
        weights = as_numeric_array(weights, "weights")
        if weights.dtype.kind == "c":
            raise TypeError(f"weights must be real, got dtype {weights.dtype}")
        weights = weights.astype(np.float64)
        if weights.shape != tuple(sizes):
            raise ValueError(f"weights must have the window shape {tuple(sizes)}, got "
                             f"{weights.shape}")
        if not np.all(np.isfinite(weights)):
            raise ValueError("weights must be finite")
    if return_indices and op not in ("max", "min"):
        raise ValueError("return_indices=True needs op='max' or op='min'")
    if weights is not None:
        # weights' dimensions follow `axes` as given; the kernels want them ascending
        order = sorted(range(naxes), key=lambda i: ax[i])
        weights = weights.transpose(order)
    ax, sizes, strides, pads = _sorted_by_axis(ax, sizes, strides, pads)
    louts = []
    for a, k, s, pad in zip(ax, sizes, strides, pads):
        Lout = _output_length(x.shape[a], k, s, pad, ceil_mode)
        if Lout < 1:
            raise ValueError(
                f"size {k} (with padding {pad}) is larger than axis {a} of x (length "
                f"{x.shape[a]}): no window fits")
        louts.append(Lout)
    _check_sizes(x, ax, louts, op, f"the output of size={size!r}, stride={stride!r}, "
                 f"padding={padding!r} for x of shape {x.shape}")
    windows = [pooling.regular_windows(x.shape[a], k, s, pad, Lout)
               for a, k, s, pad, Lout in zip(ax, sizes, strides, pads, louts)]
    q = _problem(x, ax, windows, op, p, weights, count_include_pad, return_indices, nthreads)
    if weights is not None:
        # a window whose in-input weights sum to zero has no weighted average:
        # refused when they do as given (float64) or as computed with (float32
        # for single-precision results), where the other would divide by the
        # rounding residue of a zero sum
        real = np.float32 if q.result_dtype in (np.float32, np.float16, np.complex64) \
            else np.float64
        if real is np.float32:
            pooling.window_weight_sums(weights.astype(np.float64), windows)
        q.weight_sums = pooling.window_weight_sums(weights.astype(real), windows)
    return x, q


def adaptive_problem(x, output_size, op, axes, p, workers):
    """Validate an `adaptive_pool` call: ``(x as an array, its PoolProblem)``."""
    x = _as_pool_input(x)
    nthreads = resolve_workers(workers)
    op = _check_op(op, ADAPTIVE_OPS)
    ax = ordered_axes(axes, x.ndim)
    sizes = _per_axis(output_size, "output_size", len(ax), 1)
    ax, sizes = _sorted_by_axis(ax, sizes)
    p = _check_p(p) if op == "lp" else p
    _check_sizes(x, ax, sizes, op,
                 f"the output of output_size={output_size!r} for x of shape {x.shape}")
    windows = [pooling.adaptive_windows(x.shape[a], n) for a, n in zip(ax, sizes)]
    return x, _problem(x, ax, windows, op, p, None, False, False, nthreads)


def pool_key(x, size, stride, op, axes, padding, ceil_mode, p, weights, count_include_pad,
             return_indices, workers, adaptive):
    """Key of a pooling call's problem, or None when the call is not cached
    (an ndarray input and plain Python arguments only: ints, tuples of ints,
    bools, str; see `fastconv._kernels._calls.pool_key`)."""
    # compiled: in Python these type tests cost more than pooling a small map
    return _calls.pool_key(adaptive, x, size, stride, op, axes, padding, ceil_mode, p, weights,
                           count_include_pad, return_indices, resolve_workers(workers),
                           _direct.simd_generation())


def check_pool_out(out, q):
    """Raise unless `out` fits problem `q`'s result (a pair of arrays, values
    and int64 indices, with `return_indices`)."""
    if q.return_indices:
        if type(out) is not tuple or len(out) != 2:
            raise TypeError("out must be a tuple of two arrays (values, indices) with "
                            "return_indices=True")
        check_out(out[0], q.out_shape, q.result_dtype)
        check_out(out[1], q.out_shape, np.dtype(np.int64))
    else:
        check_out(out, q.out_shape, q.result_dtype)
