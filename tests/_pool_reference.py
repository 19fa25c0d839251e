"""Slow but obviously-correct NumPy reference for fastconv.pool / adaptive_pool.

Definitions (the contract of the "Pooling" issue, PyTorch's conventions):

* Output length along a pooled axis of length ``L`` with window ``k``, stride ``s``
  and padding ``pad``::

      floor((L + 2*pad - k) / s) + 1                       ceil_mode=False
      ceil((L + 2*pad - k) / s) + 1, minus 1 if the last
      window would start at or after L + pad               ceil_mode=True

* Output ``j`` looks at input positions ``[j*s - pad, j*s - pad + k)``; positions
  outside ``[0, L)`` are padding.
* ``max`` / ``min``: padding never wins (only real elements are compared);
  ``sum``: padding counts 0; ``mean``: sum / divisor where the divisor is the product
  over pooled axes of ``min(start + k, L + pad) - start`` (``count_include_pad=True``,
  PyTorch's avg_pool divisor) or the number of real elements (``False``);
  ``lp``: ``(sum |x|**p) ** (1/p)`` over real elements;
  ``weighted``: ``sum(w*x) / sum(w)`` over the real elements, ``w`` the weights array
  (one length per pooled axis, in ``axes`` order) or a separable Gaussian with
  ``sigma = k/4`` per axis.
* Indices (max/min): flat row-major index of the chosen element within the pooled
  axes of the input (sorted ascending); ties -> the first in row-major order (the
  smallest flat index), NaN -> the first NaN.
* Adaptive bin ``i`` of ``out`` along an axis of length ``L`` covers
  ``[floor(i*L/out), ceil((i+1)*L/out))``.

Everything is done with explicit Python loops over output positions
(``itertools.product``) and per-window NumPy reductions on plain slices of the
input: max/min on the input dtype itself (exact), sums of integers with Python ints
(exact, then wrapped like ``np.sum``), everything else in float64 / complex128 and
cast to the result dtype at the end.
"""

import functools
import itertools
import math
import operator

import numpy as np

from _helpers import LAYOUTS, RTOL  # LAYOUTS re-exported for the pooling tests
from _reference import wrap_to_dtype

__all__ = [
    "DTYPES",
    "LAYOUTS",
    "X_NAME",
    "Failures",
    "assert_pool_close",
    "magnitude_bound",
    "OPS",
    "ADAPTIVE_OPS",
    "adaptive_bins",
    "gaussian_weights",
    "normalize_axes",
    "pool_output_length",
    "pool_result_dtype",
    "reference_adaptive_pool",
    "reference_pool",
    "window_bounds",
]

OPS = ("max", "min", "sum", "mean", "lp", "weighted")
ADAPTIVE_OPS = ("max", "min", "sum", "mean", "lp")


# ----------------------------------------------------------------------------- rules
def pool_result_dtype(op, dtype):
    """Result dtype of ``pool(x, ..., op)`` for an input of ``dtype``."""
    dtype = np.dtype(dtype)
    k = dtype.kind
    if k not in "biufc":
        raise TypeError(f"x: unsupported dtype {dtype}")
    if op in ("max", "min"):
        if k == "c":
            raise TypeError("x: complex input has no order")
        return dtype.newbyteorder("=")
    if op == "sum":
        if k in "bi":
            return np.dtype(np.int64)
        if k == "u":
            return np.dtype(np.uint64)
        return dtype.newbyteorder("=")
    if op in ("mean", "weighted"):
        if k in "biu":
            return np.dtype(np.float64)
        return dtype.newbyteorder("=")
    if op == "lp":
        if k in "biu":
            return np.dtype(np.float64)
        if k == "c":
            return np.dtype(np.float32) if dtype.itemsize == 8 else np.dtype(np.float64)
        return dtype.newbyteorder("=")
    raise ValueError(f"op: unknown {op!r}")


def normalize_axes(axes, ndim):
    """Pooled axes as a tuple of non-negative ints in the order given."""
    if axes is None:
        return tuple(range(ndim))
    if np.ndim(axes) == 0:
        axes = [axes]
    axes = [operator.index(a) for a in axes]
    if not axes:
        raise ValueError("axes: empty")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axes: {a} out of range")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("axes: duplicates")
    return tuple(out)


def _per_axis(value, n, name):
    if np.ndim(value) == 0:
        return (operator.index(value),) * n
    value = tuple(operator.index(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name}: needs {n} values")
    return value


def pool_output_length(L, k, s, pad, ceil_mode):
    """PyTorch's pooling output length (may be < 1: the caller treats that as an error)."""
    num = L + 2 * pad - k
    if ceil_mode:
        out = -((-num) // s) + 1  # ceil(num / s) + 1, also for negative num
        if (out - 1) * s >= L + pad:
            out -= 1
    else:
        out = num // s + 1
    return out


def window_bounds(j, L, k, s, pad):
    """(start, end, lo, hi, divisor_incl_pad) of output j: the padded window is
    [start, end), its real part [lo, hi), PyTorch's count_include_pad divisor."""
    start = j * s - pad
    end = start + k
    lo, hi = max(start, 0), min(end, L)
    div = min(end, L + pad) - start
    return start, end, lo, hi, div


def gaussian_weights(sizes):
    """Default weights of op='weighted': outer product of the 1-D Gaussians."""
    w = np.ones((), dtype=np.float64)
    for k in sizes:
        sigma = k / 4.0
        t = np.arange(k, dtype=np.float64)
        wd = np.array([math.exp(-0.5 * ((ti - (k - 1) / 2.0) / sigma) ** 2) for ti in t])
        w = np.multiply.outer(w, wd)
    return w


def adaptive_bins(L, out):
    """[(lo, hi)] of the ``out`` adaptive bins of an axis of length ``L``."""
    return [((i * L) // out, -((-(i + 1) * L) // out)) for i in range(out)]


# ----------------------------------------------------------------------------- helpers
def _native(x):
    x = np.asarray(x)
    if x.dtype.byteorder not in "=|":
        x = x.astype(x.dtype.newbyteorder("="))
    return x


def _move_pooled_last(x, axes):
    """x with the non-pooled axes first and the pooled axes last, sorted ascending."""
    pooled = tuple(sorted(axes))
    others = tuple(a for a in range(x.ndim) if a not in pooled)
    return np.transpose(x, others + pooled), others, pooled


def _restore(res, others, pooled):
    order = others + pooled
    return np.transpose(res, np.argsort(order))


def _first_selected_flat(win2d, op):
    """Per row of ``win2d`` (batch, n): local flat index of the first NaN, else of the
    first max (min) element."""
    res = np.empty(win2d.shape[0], dtype=np.int64)
    for b in range(win2d.shape[0]):
        row = win2d[b]
        if row.dtype.kind == "f" and np.isnan(row).any():
            res[b] = np.flatnonzero(np.isnan(row))[0]
            continue
        best = row.max() if op == "max" else row.min()
        res[b] = np.flatnonzero(row == best)[0]
    return res


def _reduce(win, nd, op, p, wts, res_dtype, divisor):
    """Reduce the last ``nd`` axes of ``win`` (the real part of a window)."""
    red = tuple(range(win.ndim - nd, win.ndim))
    if op in ("max", "min"):
        # on the input dtype: exact for every dtype, NaN propagates
        return win.max(axis=red) if op == "max" else win.min(axis=red)
    if op == "sum" and res_dtype.kind in "iu":
        # object arrays hold Python ints: the sum is exact, then wrapped like np.sum
        tot = np.asarray(win.astype(object).sum(axis=red), dtype=object)
        return wrap_to_dtype(tot, res_dtype)
    work = np.complex128 if win.dtype.kind == "c" else np.float64
    w = win.astype(work)
    if op == "sum":
        return w.sum(axis=red)
    if op == "mean":
        return w.sum(axis=red) / divisor
    if op == "lp":
        return (np.abs(w) ** p).sum(axis=red) ** (1.0 / p)
    if op == "weighted":
        return (w * wts).sum(axis=red) / wts.sum()
    raise ValueError(f"op: unknown {op!r}")


# ----------------------------------------------------------------------------- pool
def _quiet(func):
    """inf - inf, overflow to inf and NaN comparisons are part of the contract: the
    reference computes them without RuntimeWarnings (the test suite turns warnings
    into errors)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)

    return wrapper


@_quiet
def reference_pool(
    x,
    size,
    stride=None,
    op="max",
    *,
    axes=None,
    padding=0,
    ceil_mode=False,
    p=2,
    weights=None,
    count_include_pad=True,
    return_indices=False,
):
    """Reference for ``fastconv.pool`` (no argument validation beyond what it needs)."""
    x = _native(x)
    res_dtype = pool_result_dtype(op, x.dtype)
    ax = normalize_axes(axes, x.ndim)
    n = len(ax)
    # per-axis parameters, given in ``axes`` order -> keyed by axis
    k_given = _per_axis(size, n, "size")
    s_given = k_given if stride is None else _per_axis(stride, n, "stride")
    p_given = _per_axis(padding, n, "padding")
    K = dict(zip(ax, k_given))
    S = dict(zip(ax, s_given))
    P = dict(zip(ax, p_given))

    xt, others, pooled = _move_pooled_last(x, ax)
    Ls = [x.shape[a] for a in pooled]
    ks = [K[a] for a in pooled]
    ss = [S[a] for a in pooled]
    ps = [P[a] for a in pooled]
    outs = [pool_output_length(L, k, s, pd, ceil_mode) for L, k, s, pd in zip(Ls, ks, ss, ps)]
    if min(outs) < 1:
        raise ValueError("size: input too small for the window")

    wfull = None
    if op == "weighted":
        if weights is None:
            wfull = gaussian_weights(ks)
        else:
            w = np.asarray(weights, dtype=np.float64)
            # weights axes are in ``axes`` order: put them in sorted (pooled) order
            perm = [ax.index(a) for a in pooled]
            wfull = np.transpose(w, perm)

    batch = xt.shape[: x.ndim - n]
    out = np.empty(batch + tuple(outs), dtype=res_dtype)
    idx_out = np.empty(batch + tuple(outs), dtype=np.int64) if return_indices else None
    for jj in itertools.product(*[range(o) for o in outs]):
        bounds = [window_bounds(j, L, k, s, pd) for j, L, k, s, pd in zip(jj, Ls, ks, ss, ps)]
        sl = tuple(slice(lo, hi) for _, _, lo, hi, _ in bounds)
        win = xt[(Ellipsis,) + sl]
        if count_include_pad:
            divisor = math.prod(b[4] for b in bounds)
        else:
            divisor = math.prod(hi - lo for _, _, lo, hi, _ in bounds)
        wts = None
        if wfull is not None:
            wts = wfull[tuple(slice(lo - st, hi - st) for st, _, lo, hi, _ in bounds)]
        val = _reduce(win, n, op, p, wts, res_dtype, divisor)
        out[(Ellipsis,) + jj] = np.asarray(val).astype(res_dtype)
        if return_indices:
            wshape = win.shape[x.ndim - n :]
            local = _first_selected_flat(win.reshape(-1, math.prod(wshape)), op)
            local_multi = np.unravel_index(local, wshape)
            coords = tuple(lm + b[2] for lm, b in zip(local_multi, bounds))
            flat = np.ravel_multi_index(coords, tuple(Ls))
            idx_out[(Ellipsis,) + jj] = flat.reshape(batch)
    out = _restore(out, others, pooled)
    if return_indices:
        return out, _restore(idx_out, others, pooled)
    return out


@_quiet
def reference_adaptive_pool(x, output_size, op="max", *, axes=None, p=2):
    """Reference for ``fastconv.adaptive_pool``."""
    if op not in ADAPTIVE_OPS:
        raise ValueError(f"op: {op!r} not supported by adaptive pooling")
    x = _native(x)
    res_dtype = pool_result_dtype(op, x.dtype)
    ax = normalize_axes(axes, x.ndim)
    n = len(ax)
    o_given = _per_axis(output_size, n, "output_size")
    if min(o_given) < 1:
        raise ValueError("output_size: must be >= 1")
    O = dict(zip(ax, o_given))
    xt, others, pooled = _move_pooled_last(x, ax)
    Ls = [x.shape[a] for a in pooled]
    outs = [O[a] for a in pooled]
    bins = [adaptive_bins(L, o) for L, o in zip(Ls, outs)]
    batch = xt.shape[: x.ndim - n]
    out = np.empty(batch + tuple(outs), dtype=res_dtype)
    for jj in itertools.product(*[range(o) for o in outs]):
        bb = [bins[d][j] for d, j in enumerate(jj)]
        win = xt[(Ellipsis,) + tuple(slice(lo, hi) for lo, hi in bb)]
        divisor = math.prod(hi - lo for lo, hi in bb)
        val = _reduce(win, n, op, p, None, res_dtype, divisor)
        out[(Ellipsis,) + jj] = np.asarray(val).astype(res_dtype)
    return _restore(out, others, pooled)


@_quiet
def magnitude_bound(op, x, size, stride=None, **kw):
    """Per-output float64 scale for tolerances: the same pooling of |x| (for max/min
    and lp: the absolute value of the result is already the scale)."""
    a = np.abs(_native(x).astype(np.complex128 if np.iscomplexobj(x) else np.float64))
    kw = {k: v for k, v in kw.items() if k != "return_indices"}
    if op in ("max", "min", "lp"):
        return reference_pool(a, size, stride, "max" if op != "lp" else "lp", **kw)
    if op == "weighted" and kw.get("weights") is not None:
        w = np.asarray(kw["weights"], dtype=np.float64)
        # sum |w||x| / |sum w| <= (weighted mean of |x| with |w|) * sum|w| / |sum w|
        res = reference_pool(a, size, stride, op, **dict(kw, weights=np.abs(w)))
        return res * (np.abs(w).sum() / abs(w.sum()))
    return reference_pool(a, size, stride, op, **kw)


# ----------------------------------------------------------------------------- test helpers
REAL_DTYPES = [
    "float32",
    "float64",
    "float16",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "int64",
    "uint64",
    "bool",
]
DTYPES = REAL_DTYPES + ["complex64", "complex128"]
X_NAME = r"\bx\b"  # the message names the parameter x (not just any word containing x)


def assert_pool_close(got, expected, bound=None, op="mean", err_msg=""):
    """dtype and shape equal; exact for max/min and integer results; otherwise
    |got - expected| <= RTOL[dtype] * bound (bound: the pooling of |x|)."""
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"got {type(got)} {err_msg}"
    assert got.dtype.newbyteorder("=") == expected.dtype, (
        f"dtype {got.dtype} != {expected.dtype} {err_msg}"
    )
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape} {err_msg}"
    if op in ("max", "min") or expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected, err_msg=err_msg, strict=False)
        return
    rtol = RTOL[expected.dtype]
    g = got.astype(np.complex128)
    e = expected.astype(np.complex128)
    if bound is None:
        bound = np.abs(e)
    tol = rtol * (np.asarray(bound, dtype=np.float64) + 1e-30) + (
        1e-6 if expected.dtype == np.float16 else 1e-300
    )
    with np.errstate(invalid="ignore"):
        err = np.abs(g - e)
    bad = ~(err <= tol)
    bad &= ~(np.isnan(g) & np.isnan(e))
    # infinities of the same sign are equal
    bad &= ~((g == e) & np.isinf(e))
    if np.any(bad):
        idx = np.argwhere(bad)[:5]
        show = complex if expected.dtype.kind == "c" else float
        raise AssertionError(
            f"{int(bad.sum())} of {bad.size} elements differ beyond rtol={rtol}; first at "
            f"{idx.tolist()}: got {[show(got[tuple(i)]) for i in idx]} expected "
            f"{[show(expected[tuple(i)]) for i in idx]} {err_msg}"
        )


class Failures:
    """Collects the failing configurations of a grid so that one wrong corner case
    does not hide the state of the rest of the grid; fails at the end with all of them."""

    def __init__(self):
        self.items = []

    def run(self, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported below with the arguments
            shape = np.shape(args[0]) if args else None
            rest = args[1:]
            self.items.append(f"{type(exc).__name__} shape={shape} {rest} {kwargs}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}")
            return None

    def check(self):
        if self.items:
            n = len(self.items)
            raise AssertionError(f"{n} failing configurations:\n" + "\n".join(self.items[:25]))
