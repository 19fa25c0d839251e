"""Argument checking shared by the public functions (one place for errors)."""

import operator
import os
import sys

import numpy as np

from .._kernels import _calls

MODES = ("full", "same", "valid")
BOUNDARIES = {
    "fill": "fill",
    "wrap": "wrap",
    "symm": "reflect",
    "reflect": "reflect",
    "mirror": "mirror",
    "nearest": "nearest",
}


def as_numeric_array(value, name):
    """Return `value` as an ndarray of a supported numeric dtype (never copied)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested sequences, for one
        raise ValueError(f"{name} cannot be converted to an array: {exc}") from None
    dt = arr.dtype
    if dt.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {dt}")
    if (dt.kind == "f" and dt.itemsize > 8) or (dt.kind == "c" and dt.itemsize > 16):
        raise TypeError(
            f"{name} has dtype {dt}: extended precision is not supported; "
            "convert to float64/complex128 first"
        )
    return arr


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
        )
    return str(value)


def check_boundary(boundary):
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        raise ValueError(
            "boundary must be one of 'fill', 'wrap', 'symm', 'reflect', 'mirror', "
            f"'nearest'; got {boundary!r}"
        )
    return BOUNDARIES[boundary]


def check_int(value, name):
    """`value` as a Python int; bools and non-integers are a TypeError naming `name`."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be integers, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be integers, got {value!r}") from None


def per_axis_ints(value, name, naxes, minimum, axes="", limit=sys.maxsize):
    """One int for each of `naxes` axes from an int or a sequence of `naxes`
    ints, each >= `minimum` and <= `limit` (the kernels index in
    Py_ssize_t); `axes` names the kind of axis in the messages ("pooled")."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of {naxes} ints, got {value!r}")
    if np.ndim(value) == 0:
        values = [value] * naxes
    else:
        values = list(value)
        if len(values) != naxes:
            raise ValueError(f"{name} must be an int or have one value per {axes} axis "
                             f"({naxes}), got {value!r}")
    out = []
    for v in values:
        v = check_int(v, name)
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
        if v > limit:
            raise ValueError(f"{name} entries must be at most {limit}, got {value!r}")
        out.append(v)
    return out


def ordered_axes(axes, ndim):
    """Distinct non-negative axes in the caller's order; None means all axes.

    Per-axis arguments (kernels, window sizes) follow this order.
    """
    if axes is None:
        return list(range(ndim))
    if np.ndim(axes) == 0:
        axes = [axes]
    out = []
    for ax in axes:
        ax = check_int(ax, "axes")
        if not -ndim <= ax < ndim:
            raise ValueError(f"axes entry {ax} is out of range for arrays with {ndim} dimensions")
        out.append(ax % ndim)
    if not out:
        raise ValueError("axes, when given, must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"axes must not contain duplicates, got {tuple(axes)}")
    return out


def normalize_axes(axes, ndim):
    """Sorted tuple of distinct non-negative axes; None means all axes."""
    return tuple(sorted(ordered_axes(axes, ndim)))


def check_fillvalue(fillvalue, result_dtype):
    """Return fillvalue as a 0-d array of `result_dtype`."""
    if type(fillvalue) is int and fillvalue == 0:
        return np.zeros((), dtype=result_dtype)
    if isinstance(fillvalue, int) and not isinstance(fillvalue, bool) and not (
            -2**63 <= fillvalue < 2**64):
        # Python ints beyond 64 bits: wrapped modulo 2**64 for integer results,
        # as every integer sum is; true for boolean ones, as any other nonzero
        # value; rounded for floating ones
        if result_dtype.kind == "b":
            fillvalue = True
        elif result_dtype.kind in "iu":
            fillvalue = np.uint64(fillvalue % 2**64)
        else:
            try:
                fillvalue = float(fillvalue)
            except OverflowError:
                raise ValueError(f"fillvalue {fillvalue} is beyond the range of "
                                 f"{result_dtype}") from None
    try:
        fv = np.asarray(fillvalue)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"fillvalue cannot be converted to a number: {exc}") from None
    if fv.size != 1:
        raise ValueError("fillvalue must be a scalar or an array with one element")
    if fv.dtype.kind not in "biufc":
        raise TypeError(f"fillvalue must be a number, got {fillvalue!r}")
    fv = fv.reshape(())
    if fv.dtype.kind == "c" and result_dtype.kind != "c":
        if fv.imag != 0:
            raise TypeError(
                f"fillvalue {fillvalue!r} is complex but the result dtype is {result_dtype}"
            )
        fv = fv.real
    if result_dtype.kind in "iub" and fv.dtype.kind in "fc":
        if not np.isfinite(fv):
            raise ValueError(f"fillvalue {fillvalue!r} cannot be used with integer inputs")
    with np.errstate(all="ignore"):
        return fv.astype(result_dtype, casting="unsafe")


def check_bool(value, name):
    """`value` as a Python bool; only ``True``/``False`` (NumPy's too) are accepted.

    Any truthy object would otherwise do, and ``ceil_mode="False"`` is true.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - no sysconf
        return sys.maxsize


def check_allocatable(nelements, itemsize, what):
    """Refuse an array of `nelements` items of `itemsize` bytes that cannot exist.

    Its byte count must fit in ``intp`` (NumPy's limit on array sizes) and in
    this machine's physical memory; `what` completes the ValueError's
    sentence ("the output of ... is too large to allocate").
    """
    nbytes = nelements * max(itemsize, 8)
    if nbytes > sys.maxsize or nbytes > _physical_memory():
        raise ValueError(f"{what} is too large to allocate ({nelements} elements)")


def check_out(out, shape, dtype):
    """Raise unless `out` is a writeable ndarray of `shape` and `dtype`."""
    if _calls.out_fits(out, shape, dtype):
        return
    if type(out) is not np.ndarray and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have the result's shape {shape}, got {out.shape}")
    if out.dtype != dtype and out.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        raise ValueError(f"out must have the result's dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
