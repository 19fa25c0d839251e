"""`pool` and `adaptive_pool`: validate, plan one pass per pooled axis, run kernels."""

import itertools
import math
import operator

import numpy as np

from ._kernels import _direct
from ._normal.threads import resolve_workers
from ._normal.validation import check_allocatable, check_bool, ordered_axes

__all__ = ["pool", "adaptive_pool"]


def _load_pool_kernels():
    """The pooling kernels compiled for the widest instruction set in use.

    Follows the direct kernels' choice (`show_config`, ``FASTCONV_SIMD``)
    down to the best level whose every CPU feature the machine supports (the
    direct dispatch's own check; importing a variant whose features are
    missing could execute an illegal instruction).
    """
    import importlib

    modules = {"AVX-512": "_pool_avx512", "AVX2+FMA": "_pool_avx2", "baseline": "_pool"}
    supported = _direct.simd_supported_levels()
    in_use = _direct.simd_level()
    # Best first, so the levels from the one in use downwards are the candidates.
    candidates = supported[supported.index(in_use):] if in_use in supported else ()
    for level in candidates:
        try:
            return importlib.import_module("._kernels." + modules[level], __package__)
        except ImportError:  # this build has no pooling kernels for the level
            pass
    return importlib.import_module("._kernels._pool", __package__)


_pool = _load_pool_kernels()

POOL_OPS = ("max", "min", "mean", "sum", "lp", "weighted")
ADAPTIVE_OPS = ("max", "min", "mean", "sum", "lp")

# van Herk / Gil-Werman pays once a window covers several strides.
_VANHERK_MIN_SIZE = 5


def _as_pool_input(x):
    arr = np.asarray(x)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"x must be a numeric array, got dtype {arr.dtype}")
    if (arr.dtype.kind == "f" and arr.dtype.itemsize > 8) or (
            arr.dtype.kind == "c" and arr.dtype.itemsize > 16):
        raise TypeError(f"x has dtype {arr.dtype}: extended precision is not supported")
    if arr.ndim == 0:
        raise ValueError("x must have at least one dimension")
    if arr.size == 0:
        raise ValueError(f"x is empty (shape {arr.shape})")
    return arr


def _per_axis(value, name, naxes, minimum):
    """An int for every pooled axis, or one per axis; each >= minimum."""
    if np.ndim(value) == 0:
        values = [value] * naxes
    else:
        values = list(value)
        if len(values) != naxes:
            raise ValueError(
                f"{name} must be an int or have one value per pooled axis ({naxes}), "
                f"got {value!r}")
    out = []
    for v in values:
        if isinstance(v, bool):
            raise TypeError(f"{name} must contain integers, got {v!r}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{name} must contain integers, got {v!r}") from None
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
        out.append(v)
    return out


def _sorted_by_axis(axes, *per_axis):
    """Sort the pooled axes ascending, permuting each per-axis list alike."""
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    return [[axes[i] for i in order]] + [[values[i] for i in order] for values in per_axis]


def _check_op(op, choices):
    if not isinstance(op, str) or op not in choices:
        raise ValueError(f"op must be one of {', '.join(map(repr, choices))}; got {op!r}")
    return op


def _check_p(p):
    if isinstance(p, (bool, np.bool_)):
        # float(True) is 1: a flag passed by mistake would silently pick p=1
        raise TypeError(f"p must be a positive number, not a bool, got {p!r}")
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p must be a positive number, got {p!r}") from None
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
    """Result dtype of `op` on `dtype` (NumPy-like reductions)."""
    if op in ("max", "min"):
        if dtype.kind == "c":
            raise TypeError(f"x has complex dtype {dtype}: op={op!r} needs ordered values")
        return dtype
    if op == "sum":
        if dtype.kind == "b" or dtype.kind == "i":
            return np.dtype(np.int64)
        if dtype.kind == "u":
            return np.dtype(np.uint64)
        return dtype
    if op == "lp":
        if dtype.kind in "biu":
            return np.dtype(np.float64)
        if dtype.kind == "c":
            return np.dtype(np.float32 if dtype == np.complex64 else np.float64)
        return dtype
    # mean, weighted
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    return dtype


def _kernel_view(arr, op):
    """(array the kernels run on, how to turn the kernels' result back).

    Kernels work on float32/float64 and the integer types; complex sums run
    on the (real, imag) pairs as an extra trailing axis.
    """
    dt = arr.dtype
    if op in ("max", "min"):
        if dt == np.bool_:
            return np.ascontiguousarray(arr).view(np.uint8), lambda r: r.view(np.bool_)
        if dt == np.float16:
            return np.ascontiguousarray(arr, dtype=np.float32), lambda r: r.astype(np.float16)
        return np.ascontiguousarray(arr, dtype=dt.newbyteorder("=")), lambda r: r
    raise AssertionError(op)


class _AxisPlan:
    """Windows of one pooled axis."""

    def __init__(self, L, Lout, starts, ends, origin, k, s, pad, regular):
        self.L, self.Lout = L, Lout
        self.starts, self.ends, self.origin = starts, ends, origin
        self.k, self.s, self.pad, self.regular = k, s, pad, regular


def _regular_plan(L, k, s, pad, Lout):
    j = np.arange(Lout, dtype=np.intp)
    origin = j * s - pad
    starts = np.clip(origin, 0, L)
    ends = np.clip(origin + k, 0, L)
    return _AxisPlan(L, Lout, starts, ends, origin, k, s, pad, True)


def _adaptive_plan(L, Lout):
    j = np.arange(Lout, dtype=np.intp)
    starts = (j * L) // Lout
    ends = -((-(j + 1) * L) // Lout)
    return _AxisPlan(L, Lout, starts, ends, starts, int(np.max(ends - starts)), 1, 0, False)


def _run_passes(arr, axes, plans, op, nthreads, weights=None):
    """Pool a C-contiguous kernel-dtype array along `axes` (one pass each).

    `op` is 'max', 'min', 'sum' or 'wsum' (with `weights`, one 1-D array per
    axis). Axes other than the last go first: the last axis, whose pass
    works on strided lines, then sees the smallest array.
    """
    if (len(axes) == 2 and list(axes) == [arr.ndim - 2, arr.ndim - 1] and op != "wsum"
            and all(pl.regular and pl.k == pl.s and pl.pad == 0 and pl.Lout == pl.L // pl.k
                    for pl in plans)):
        # Non-overlapping windows over the two last axes: one streaming pass.
        H, W = arr.shape[-2:]
        out = np.empty(arr.shape[:-2] + (plans[0].Lout, plans[1].Lout), dtype=arr.dtype)
        _pool.blocks2d(arr, out, math.prod(arr.shape[:-2]), H, W, plans[0].k, plans[1].k,
                       op, nthreads)
        return out
    order = sorted(range(len(axes)), key=lambda i: (axes[i] == arr.ndim - 1, i))
    if op == "max":
        ident = -np.inf if arr.dtype.kind == "f" else np.iinfo(arr.dtype).min
    elif op == "min":
        ident = np.inf if arr.dtype.kind == "f" else np.iinfo(arr.dtype).max
    else:
        ident = 0
    cur = arr
    for i in order:
        ax, plan = axes[i], plans[i]
        shape = cur.shape
        outer = math.prod(shape[:ax])
        inner = math.prod(shape[ax + 1:])
        in_place = (cur is not arr and inner == 1 and plan.Lout == plan.L and plan.regular
                    and plan.s < plan.k and op in ("max", "min"))
        # The window-doubling pass buffers each line, so it can overwrite an
        # intermediate array: one fresh (page-faulting) array less.
        out = cur if in_place else np.empty(shape[:ax] + (plan.Lout,) + shape[ax + 1:],
                                            dtype=cur.dtype)
        vanherk = (op != "wsum" and plan.regular and plan.k >= _VANHERK_MIN_SIZE
                   and plan.s * 2 <= plan.k)
        _pool.pool_pass(cur, out, outer, plan.L, inner, plan.Lout, plan.starts, plan.ends,
                        plan.origin, None if weights is None else weights[i],
                        plan.k, plan.s, plan.pad, plan.regular, vanherk, op, ident,
                        nthreads)
        cur = out
    return cur


def _sum_input(arr, result_dtype):
    """C-contiguous array to sum over, and a function giving the final result."""
    if result_dtype.kind in "iu":
        work = np.ascontiguousarray(arr, dtype=np.int64)
        return work, (lambda r: r.view(result_dtype) if result_dtype != np.int64 else r)
    if result_dtype.kind == "c":
        real = np.dtype(np.float32 if result_dtype == np.complex64 else np.float64)
        work = np.ascontiguousarray(arr, dtype=result_dtype.newbyteorder("="))
        pairs = work.view(real).reshape(work.shape + (2,))
        return pairs, (lambda r: np.ascontiguousarray(r).view(result_dtype)[..., 0])
    if result_dtype == np.float16:
        return np.ascontiguousarray(arr, dtype=np.float32), (lambda r: r.astype(np.float16))
    return np.ascontiguousarray(arr, dtype=result_dtype.newbyteorder("=")), (lambda r: r)


def _separable_divisor(plans, axes, ndim, per_axis_counts):
    """Product over pooled axes of per-output counts, shaped to broadcast."""
    div = None
    for plan, ax, counts in zip(plans, axes, per_axis_counts):
        shape = [1] * ndim
        shape[ax] = plan.Lout
        c = np.asarray(counts, dtype=np.float64).reshape(shape)
        div = c if div is None else div * c
    return div


def _gaussian_weights(k):
    t = np.arange(k, dtype=np.float64)
    sigma = k / 4.0
    return np.exp(-0.5 * ((t - (k - 1) / 2.0) / sigma) ** 2)


def _pool_impl(x, axes, plans, op, p, weights, count_include_pad, return_indices, workers):
    nthreads = resolve_workers(workers)
    result_dtype = _result_dtype(x.dtype, op)
    ndim = x.ndim

    if return_indices:
        return _argpool(x, axes, plans, op, nthreads)

    if op in ("max", "min"):
        arr, back = _kernel_view(x, op)
        return back(_run_passes(arr, axes, plans, op, nthreads))

    if op == "sum":
        arr, back = _sum_input(x, result_dtype)
        return back(_run_passes(arr, axes, plans, "sum", nthreads))

    if op == "mean":
        sum_dtype = result_dtype if result_dtype.kind in "fc" else np.dtype(np.float64)
        if sum_dtype == np.float16:
            sum_dtype = np.dtype(np.float32)
        arr, back = _sum_input(x, sum_dtype)
        total = back(_run_passes(arr, axes, plans, "sum", nthreads))
        if count_include_pad:
            counts = [np.minimum(pl.origin + pl.k, pl.L + pl.pad) - pl.origin for pl in plans]
        else:
            counts = [pl.ends - pl.starts for pl in plans]
        div = _separable_divisor(plans, axes, ndim, counts)
        # Counts are small integers, exact in any float type: divide in the
        # result's precision instead of upcasting the whole result.
        div = div.astype(total.real.dtype if total.dtype.kind == "c" else total.dtype)
        return (total / div).astype(result_dtype, copy=False)

    if op == "lp":
        real = np.dtype(np.float32 if result_dtype in (np.float32, np.float16) else np.float64)
        # Integers are converted before taking the magnitude: np.abs of the
        # most negative value of a signed type wraps around to itself.
        mag = (np.abs(x.astype(real)) if x.dtype.kind in "biu"
               else np.abs(x).astype(real, copy=False))

        def lp_of(values):
            with np.errstate(over="ignore", under="ignore"):
                powered = np.ascontiguousarray(values * values if p == 2 else values ** p)
                total = _run_passes(powered, axes, plans, "sum", nthreads)
                return np.sqrt(total) if p == 2 else total ** (1.0 / p)

        root = lp_of(mag)
        # Where |x|**p overflowed although the result may be representable,
        # redo those windows on |x| / max|x| and scale back.
        if np.isinf(root).any() and 0 < (largest := float(np.max(mag))) < math.inf:
            with np.errstate(over="ignore"):
                rescaled = lp_of(mag / real.type(largest)) * real.type(largest)
            root = np.where(np.isinf(root), rescaled, root)
        return root.astype(result_dtype, copy=False)

    # weighted average over the input elements of each window
    if result_dtype.kind == "c":
        arr = np.ascontiguousarray(x, dtype=result_dtype.newbyteorder("="))
        real = np.float32 if result_dtype == np.complex64 else np.float64
        pairs = arr.view(real).reshape(arr.shape + (2,))
        out = _pool_impl(pairs, axes, plans, op, p, weights, count_include_pad, False,
                         workers)
        return np.ascontiguousarray(out).view(result_dtype)[..., 0]
    real = np.float32 if result_dtype in (np.float32, np.float16) else np.float64
    arr = np.ascontiguousarray(x, dtype=real)
    if weights is None:
        # the default Gaussian is separable: one weighted pass per axis
        w1d = [_gaussian_weights(pl.k) for pl in plans]
        total = _run_passes(arr, axes, plans, "wsum", nthreads, weights=w1d)
        norms = []
        for pl, w in zip(plans, w1d):
            csum = np.concatenate([[0.0], np.cumsum(w)])
            norms.append(csum[pl.ends - pl.origin] - csum[pl.starts - pl.origin])
        div = _separable_divisor(plans, axes, ndim, norms)
        return (total / div).astype(result_dtype, copy=False)
    # the weights as the kernels multiply by them, so that the divisor is
    # their sum over each window and a constant input is returned unchanged
    w = np.asarray(weights).astype(real)
    div = _window_weight_sums(w, plans)
    if len(axes) == 1:
        total = _run_passes(arr, axes, plans, "wsum", nthreads,
                            weights=[w.astype(np.float64)])
    else:
        total = _weighted_windows(arr, axes, plans, w, nthreads)
    shape = [1] * ndim
    for ax, pl in zip(axes, plans):
        shape[ax] = pl.Lout
    return (total / div.reshape(shape)).astype(result_dtype, copy=False)


def _window_weight_sums(w, plans):
    """Sum of the weights `w` over the in-input part of every window, shape (Lout...).

    Each window's in-input part is a box of `w`; few distinct boxes occur
    (the interior windows share one). Their sums are computed exactly, in
    integers (every weight is an integer multiple of the smallest power of
    two among them), by inclusion-exclusion over a summed-area table, then
    rounded once. Raises the ValueError of the weighted rule when one of
    them is zero.
    """
    mant, expo = np.frexp(w.astype(np.float64))
    lowest = int(expo.min()) - 53 if w.size else 0
    ints = np.empty(w.shape, dtype=object)
    for idx, (m_, e_) in enumerate(zip(mant.ravel(), expo.ravel())):
        ints.flat[idx] = int(np.ldexp(m_, 53)) << (int(e_) - 53 - lowest)
    table = np.zeros([k + 1 for k in w.shape], dtype=object)
    table[(slice(1, None),) * w.ndim] = ints
    for d in range(w.ndim):
        table = np.cumsum(table, axis=d)
    uniques, inverses = [], []
    for pl in plans:
        bounds = np.stack([pl.starts - pl.origin, pl.ends - pl.origin], axis=1)
        u, inv = np.unique(bounds, axis=0, return_inverse=True)
        uniques.append(u)
        inverses.append(inv.reshape(-1))
    box = 0
    for corner in itertools.product((0, 1), repeat=w.ndim):
        sign = (-1) ** (w.ndim - sum(corner))
        box = box + sign * table[np.ix_(*[u[:, c] for u, c in zip(uniques, corner)])]
    if any(v == 0 for v in box.flat):
        raise ValueError(
            "weights must not sum to zero over the part of any window inside x "
            "(with this padding and ceil_mode an edge window's weights sum to 0)")

    def rounded(v):
        try:
            return v * 2.0 ** lowest if lowest >= 0 else v / (1 << -lowest)
        except OverflowError:
            return math.copysign(math.inf, v)

    sums = np.array([rounded(v) for v in box.flat], dtype=np.float64).reshape(box.shape)
    return sums[np.ix_(*inverses)]


def _weighted_windows(arr, axes, plans, w, nthreads):
    """``sum_t arr[j*s - pad + t] * w[t]`` over the strided windows, zero outside `arr`.

    Only the strided outputs are computed: with taps ``t = q*s + r`` split by
    their phase ``r`` along each axis, output ``j`` is the sum over phases of
    a stride-1 correlation of ``arr[b::s]`` (``b = (r - pad) mod s``) with
    ``w[r::s]``, run by the direct kernel (``prod(s)`` problems whose taps add
    up to those of `w`).
    """
    ndim = arr.ndim
    batch_axes = [a for a in range(ndim) if a not in axes]
    moved = arr.transpose(batch_axes + list(axes))
    batch_shape = moved.shape[:len(batch_axes)]
    nbatch = math.prod(batch_shape)
    moved = moved.reshape((nbatch,) + moved.shape[len(batch_axes):])
    lead = [1] if len(axes) == 1 else []  # the kernel wants two axes at least
    m = lead + [pl.Lout for pl in plans]
    total = np.zeros((nbatch,) + tuple(m), arr.dtype)
    part = np.empty_like(total)
    no_kernel_offset = np.zeros(nbatch, np.intp)
    for phase in itertools.product(*[range(min(pl.s, pl.k)) for pl in plans]):
        sub = np.ascontiguousarray(w[tuple(slice(r, None, pl.s) for r, pl in zip(phase, plans))])
        starts = [(r - pl.pad) // pl.s for r, pl in zip(phase, plans)]
        firsts = [(r - pl.pad) % pl.s for r, pl in zip(phase, plans)]
        if any(b >= pl.L for b, pl in zip(firsts, plans)):
            continue  # this phase reads padding only
        xv = np.ascontiguousarray(moved[(slice(None),) + tuple(
            slice(b, None, pl.s) for b, pl in zip(firsts, plans))])
        n = lead + list(xv.shape[1:])
        xs = [int(np.prod(n[d + 1:])) for d in range(len(n))]
        x_off = np.arange(nbatch, dtype=np.intp) * math.prod(n)
        _direct.correlate_direct(xv, sub.reshape(lead + list(sub.shape)), part, n,
                                 lead + list(sub.shape), m, [0] * len(lead) + starts, xs,
                                 x_off, no_kernel_offset, _direct.BOUNDARY_CODES["fill"], 0.0,
                                 nthreads)
        total += part
    total = total.reshape(tuple(batch_shape) + tuple(pl.Lout for pl in plans))
    order = batch_axes + list(axes)
    return total.transpose([order.index(a) for a in range(ndim)])


def _argpool(x, axes, plans, op, nthreads):
    """Max/min with flat indices into the pooled axes (row-major, axes ascending)."""
    arr, back = _kernel_view(x, op)
    ndim = arr.ndim
    batch_axes = [a for a in range(ndim) if a not in axes]
    moved = np.ascontiguousarray(arr.transpose(batch_axes + list(axes)))
    batch_shape = moved.shape[:len(batch_axes)]
    nbatch = math.prod(batch_shape)
    src = moved.reshape((nbatch,) + tuple(pl.L for pl in plans))
    out_pooled = tuple(pl.Lout for pl in plans)
    dst = np.empty((nbatch,) + out_pooled, dtype=arr.dtype)
    idx = np.empty((nbatch,) + out_pooled, dtype=np.int64)
    _pool.argpool(src, dst, idx, [pl.L for pl in plans], list(out_pooled),
                  [pl.k for pl in plans], [pl.s for pl in plans], [pl.pad for pl in plans],
                  op == "max", nthreads)
    order = batch_axes + list(axes)
    inverse = [order.index(a) for a in range(ndim)]
    full_shape = tuple(batch_shape) + out_pooled
    out = back(np.ascontiguousarray(dst.reshape(full_shape).transpose(inverse)))
    return out, np.ascontiguousarray(idx.reshape(full_shape).transpose(inverse))


def pool(x, size, stride=None, op="max", *, axes=None, padding=0, ceil_mode=False, p=2,
         weights=None, count_include_pad=True, return_indices=False, workers=None):
    """Pool an N-dimensional array over windows along some of its axes.

    Parameters
    ----------
    x : array_like
        Input of any numeric dtype (complex only for 'sum', 'mean', 'lp',
        'weighted') and any number of dimensions.
    size : int or sequence of int
        Window length along every pooled axis, or one per pooled axis.
    stride : int or sequence of int, optional
        Step between windows; default `size` (non-overlapping windows).
    op : {'max', 'min', 'mean', 'sum', 'lp', 'weighted'}, optional
        Reduction over each window:

        ``max``, ``min``
            Largest / smallest element (a NaN in the window gives NaN).
        ``sum``
            Sum of the elements.
        ``mean``
            Sum divided by the window size (see `count_include_pad`).
        ``lp``
            ``(sum |x|**p) ** (1/p)``; ``p=2`` is L2 pooling. (PyTorch's
            ``lp_pool`` uses ``x**p`` without the absolute value; the two
            agree for non-negative inputs.)
        ``weighted``
            ``sum(w * x) / sum(w)`` over the input elements of the window:
            a weighted average whose weights fall with the distance from the
            window centre. By default a separable Gaussian with standard
            deviation ``size / 4`` along each pooled axis; or `weights`.
    axes : int or sequence of int, optional
        Axes to pool over; default all. Pooling over a channel axis (e.g.
        ``axes=1`` of an ``(N, C, H, W)`` array) is cross-channel pooling
        (maxout).
    padding : int or sequence of int, optional
        Implicit padding on both sides of each pooled axis, at most half the
        window (PyTorch's rule). Padding never wins a max/min and adds
        nothing to a sum.
    ceil_mode : bool, optional
        Round the number of windows up instead of down, as PyTorch; a window
        that would start inside the right padding is dropped.
    p : float, optional
        Exponent of 'lp' pooling (positive, finite); default 2.
    weights : array_like, optional
        Weights of 'weighted' pooling, of shape `size` (one length per
        pooled axis), finite, of any signs. Each output divides by the sum
        of the weights over the input elements of its window, so no window
        that occurs (given `padding` and `ceil_mode`) may have weights
        summing to zero there: such weights are refused with a
        ``ValueError`` rather than giving infinities.
    count_include_pad : bool, optional
        For 'mean': divide by the window size including padding (True, the
        default, as PyTorch) or by the number of input elements in the
        window (False).
    return_indices : bool, optional
        For 'max' and 'min': also return, for every output, the flat
        (row-major) index of the selected element within the pooled axes of
        `x` (ties: the first in row-major order; NaN: the first NaN), as
        ``torch.nn.functional.max_pool2d(..., return_indices=True)``.
    workers : int, optional
        Number of threads, as in `convolve`.

    Returns
    -------
    out : ndarray
        Pooled array. Along each pooled axis of length ``L`` its length is
        ``floor((L + 2*padding - size) / stride) + 1`` (ceil with
        `ceil_mode`); other axes are unchanged. Its dtype is that of `x` for
        'max'/'min'; as `numpy.sum` for 'sum'; float64 for integer inputs to
        'mean', 'lp' and 'weighted' (float16/32/64 and complex are kept;
        'lp' of complex is real).
    indices : ndarray of int64
        Only with ``return_indices=True``.

    Raises
    ------
    ValueError
        For sizes or strides < 1, negative padding or padding larger than
        half the window, an input too small for one window, an unknown
        `op`, invalid `p`, `weights` of the wrong shape, not finite, summing
        to zero over the in-input part of a window, or without 'weighted',
        `return_indices` with an op other than max/min, invalid `axes`,
        empty `x`.
    TypeError
        For non-numeric `x`, complex `x` with max/min, non-integer sizes or
        `workers`, a bool `p`, or `ceil_mode`, `count_include_pad` or
        `return_indices` other than True/False (NumPy bools included).

    See Also
    --------
    adaptive_pool : Windows chosen to give a fixed output size.

    Notes
    -----
    Every pooling but 'weighted' with an N-D `weights` array is computed as
    one pass per pooled axis (max, min, sums and the default Gaussian
    weights are separable); N-D weights run the direct correlation kernel
    on the strided windows only. Non-overlapping and short
    windows combine their rows directly; long windows with small strides
    use the van Herk / Gil-Werman block scans, three operations per input
    element whatever the window size. The inner loops run along contiguous
    memory, in compiled code with the GIL released, in parallel over outer
    rows.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> fastconv.pool(x, 2)                       # 2x2 max pooling
    array([[ 5.,  7.],
           [13., 15.]])
    >>> fastconv.pool(x, 2, op='mean')
    array([[ 2.5,  4.5],
           [10.5, 12.5]])

    Max pooling of a batch of images with overlapping windows and padding,
    as ``torch.nn.functional.max_pool2d(x, 3, 2, 1)``:

    >>> batch = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    >>> fastconv.pool(batch, 3, 2, axes=(2, 3), padding=1).shape
    (2, 3, 4, 4)

    Maxout: the largest of every 2 channels:

    >>> fastconv.pool(batch, 2, axes=1, op='max').shape
    (2, 1, 8, 8)
    """
    x = _as_pool_input(x)
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
        weights = np.asarray(weights, dtype=np.float64)
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
    plans = []
    for a, k, s, pad in zip(ax, sizes, strides, pads):
        Lout = _output_length(x.shape[a], k, s, pad, ceil_mode)
        if Lout < 1:
            raise ValueError(
                f"size {k} (with padding {pad}) is larger than axis {a} of x (length "
                f"{x.shape[a]}): no window fits")
        plans.append(_regular_plan(x.shape[a], k, s, pad, Lout))
    return _pool_impl(x, ax, plans, op, p, weights, count_include_pad, return_indices, workers)


def adaptive_pool(x, output_size, op="max", *, axes=None, p=2, workers=None):
    """Pool with windows chosen to give a fixed output size.

    Along an axis of length ``L`` pooled to ``n`` outputs, output ``i``
    covers the input elements ``floor(i*L/n) <= t < ceil((i+1)*L/n)``, as
    PyTorch's adaptive pooling: whatever the input size, the output has the
    requested size. ``output_size=(2, 2)`` summarises each quadrant of an
    image; ``output_size=1`` is global pooling.

    Parameters
    ----------
    x : array_like
        Input of any numeric dtype and any number of dimensions.
    output_size : int or sequence of int
        Output length of every pooled axis, or one per pooled axis (>= 1;
        may exceed the input length, in which case windows repeat). The
        output must fit in memory: its byte count at most that of this
        machine's physical memory (and of ``intp``).
    op : {'max', 'min', 'mean', 'sum', 'lp'}, optional
        Reduction over each window, as in `pool`.
    axes : int or sequence of int, optional
        Axes to pool over; default all.
    p : float, optional
        Exponent of 'lp' pooling; default 2.
    workers : int, optional
        Number of threads, as in `convolve`.

    Returns
    -------
    out : ndarray
        Array with the pooled axes resized to `output_size`, of the dtype
        `pool` gives for `op`.

    Raises
    ------
    ValueError
        For an output size < 1 or whose output is too large to allocate, an
        unknown `op`, invalid `p` or `axes`, or empty `x`.
    TypeError
        For non-numeric `x`, complex `x` with max/min, non-integer sizes, a
        bool `p`.

    See Also
    --------
    pool : Fixed-size windows.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> fastconv.adaptive_pool(x, (2, 2), op='mean')   # one value per quadrant
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    >>> fastconv.adaptive_pool(x, 1, op='max')         # global max
    array([[15.]])
    """
    x = _as_pool_input(x)
    op = _check_op(op, ADAPTIVE_OPS)
    ax = ordered_axes(axes, x.ndim)
    sizes = _per_axis(output_size, "output_size", len(ax), 1)
    ax, sizes = _sorted_by_axis(ax, sizes)
    p = _check_p(p) if op == "lp" else p
    out_shape = list(x.shape)
    for a, n in zip(ax, sizes):
        out_shape[a] = n
    check_allocatable(math.prod(out_shape), _result_dtype(x.dtype, op).itemsize,
                      f"the output of output_size={output_size!r} for x of shape {x.shape}")
    plans = [_adaptive_plan(x.shape[a], n) for a, n in zip(ax, sizes)]
    return _pool_impl(x, ax, plans, op, p, None, False, False, workers)
