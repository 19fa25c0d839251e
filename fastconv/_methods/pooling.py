"""The pooling method: one compiled pass per pooled axis.

Every pooling (max, min, sums and means, Lp norms, weighted averages) is
computed as passes of the compiled kernels of `fastconv._kernels._pool`
(compiled once per SIMD level; the variant of the level in use is loaded)
over a C-contiguous array seen as ``(outer, L, inner)``, one per pooled
axis; non-overlapping 2-D windows take one streaming pass. N-D weights run
the direct correlation kernel once per stride phase. `run` computes a
`PoolProblem` (see `fastconv._methods.problem`).
"""

import itertools
import math

import numpy as np

from .._kernels import _direct
from .problem import cast_result

__all__ = ["AxisWindows", "adaptive_windows", "pool_result_dtype", "regular_windows", "run",
           "window_weight_sums"]


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
            return importlib.import_module("fastconv._kernels." + modules[level])
        except ImportError:  # this build has no pooling kernels for the level
            pass
    return importlib.import_module("fastconv._kernels._pool")


_pool = _load_pool_kernels()

# van Herk / Gil-Werman pays once a window covers several strides.
_VANHERK_MIN_SIZE = 5


def pool_result_dtype(dtype, op):
    """Result dtype of `op` on `dtype` (NumPy-like reductions), native byte order."""
    dtype = dtype.newbyteorder("=")
    if op in ("max", "min"):
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
    # a big-endian float16 is float16 too (dtype equality sees the byte order)
    dt = arr.dtype.newbyteorder("=")
    if op in ("max", "min"):
        if dt == np.bool_:
            return np.require(arr, None, ("C", "A")).view(np.uint8), lambda r: r.view(np.bool_)
        if dt == np.float16:
            return np.require(arr, np.float32, ("C", "A")), lambda r: cast_result(r, dt)
        # (require, not ascontiguousarray: a misaligned contiguous array is copied too)
        return np.require(arr, dt, ("C", "A")), lambda r: r
    raise AssertionError(op)


class AxisWindows:
    """Windows of one pooled axis."""

    def __init__(self, L, Lout, starts, ends, origin, k, s, pad, regular):
        self.L, self.Lout = L, Lout
        self.starts, self.ends, self.origin = starts, ends, origin
        self.k, self.s, self.pad, self.regular = k, s, pad, regular


def regular_windows(L, k, s, pad, Lout):
    j = np.arange(Lout, dtype=np.intp)
    origin = j * s - pad
    starts = np.clip(origin, 0, L)
    ends = np.clip(origin + k, 0, L)
    return AxisWindows(L, Lout, starts, ends, origin, k, s, pad, True)


def adaptive_windows(L, Lout):
    j = np.arange(Lout, dtype=np.intp)
    starts = (j * L) // Lout
    ends = -((-(j + 1) * L) // Lout)
    return AxisWindows(L, Lout, starts, ends, starts, int(np.max(ends - starts)), 1, 0, False)


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
        work = np.require(arr, np.int64, ("C", "A"))
        return work, (lambda r: r.view(result_dtype) if result_dtype != np.int64 else r)
    if result_dtype.kind == "c":
        real = np.dtype(np.float32 if result_dtype == np.complex64 else np.float64)
        work = np.require(arr, result_dtype.newbyteorder("="), ("C", "A"))
        pairs = work.view(real).reshape(work.shape + (2,))
        return pairs, (lambda r: np.ascontiguousarray(r).view(result_dtype)[..., 0])
    if result_dtype == np.float16:
        return np.require(arr, np.float32, ("C", "A")), (lambda r: cast_result(r, result_dtype))
    return np.require(arr, result_dtype.newbyteorder("="), ("C", "A")), (lambda r: r)


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


def _pool_impl(x, axes, plans, op, p, weights, count_include_pad, return_indices, nthreads,
               weight_sums=None):
    result_dtype = pool_result_dtype(x.dtype, op)
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
        if total.dtype.kind == "c":
            # part by part: a complex division by (count + 0j) turns an
            # infinite part into NaN
            pairs = np.ascontiguousarray(total).view(div.dtype).reshape(total.shape + (2,))
            return (pairs / div[..., np.newaxis]).view(result_dtype)[..., 0]
        return cast_result(total / div, result_dtype)

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
        # redo those windows on |x| / max|x| (the largest finite |x|: an
        # infinite one elsewhere keeps its own windows infinite) and scale back.
        if np.isinf(root).any() and 0 < (largest := float(np.max(
                mag, where=np.isfinite(mag), initial=0.0))) < math.inf:
            with np.errstate(over="ignore"):
                rescaled = lp_of(mag / real.type(largest)) * real.type(largest)
            root = np.where(np.isinf(root), rescaled, root)
        return cast_result(root, result_dtype)

    # weighted average over the input elements of each window
    if result_dtype.kind == "c":
        arr = np.require(x, result_dtype.newbyteorder("="), ("C", "A"))
        real = np.float32 if result_dtype == np.complex64 else np.float64
        pairs = arr.view(real).reshape(arr.shape + (2,))
        out = _pool_impl(pairs, axes, plans, op, p, weights, count_include_pad, False,
                         nthreads, weight_sums)
        return np.ascontiguousarray(out).view(result_dtype)[..., 0]
    real = np.float32 if result_dtype in (np.float32, np.float16) else np.float64
    arr = np.require(x, real, ("C", "A"))
    if weights is None:
        # the default Gaussian is separable: one weighted pass per axis
        w1d = [_gaussian_weights(pl.k) for pl in plans]
        total = _run_passes(arr, axes, plans, "wsum", nthreads, weights=w1d)
        norms = []
        for pl, w in zip(plans, w1d):
            csum = np.concatenate([[0.0], np.cumsum(w)])
            norms.append(csum[pl.ends - pl.origin] - csum[pl.starts - pl.origin])
        div = _separable_divisor(plans, axes, ndim, norms)
        with np.errstate(over="ignore"):
            return cast_result(total / div, result_dtype)
    # the weights as the kernels multiply by them, so that the divisor is
    # their sum over each window and a constant input is returned unchanged
    w = np.asarray(weights).astype(real)
    div = weight_sums if weight_sums is not None else window_weight_sums(w, plans)
    if len(axes) == 1:
        total = _run_passes(arr, axes, plans, "wsum", nthreads,
                            weights=[w.astype(np.float64)])
    else:
        total = _weighted_windows(arr, axes, plans, w, nthreads)
    shape = [1] * ndim
    for ax, pl in zip(axes, plans):
        shape[ax] = pl.Lout
    # a weighted sum beyond the range over a weight sum below one is infinite,
    # as IEEE division makes it, without a warning
    with np.errstate(over="ignore"):
        return cast_result(total / div.reshape(shape), result_dtype)


def window_weight_sums(w, plans):
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
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, as in the kernels
            total += part
    total = total.reshape(tuple(batch_shape) + tuple(pl.Lout for pl in plans))
    order = batch_axes + list(axes)
    return total.transpose([order.index(a) for a in range(ndim)])


def _argpool(x, axes, plans, op, nthreads):
    """Max/min with flat indices into the pooled axes (row-major, axes ascending)."""
    arr, back = _kernel_view(x, op)
    ndim = arr.ndim
    batch_axes = [a for a in range(ndim) if a not in axes]
    moved = np.require(arr.transpose(batch_axes + list(axes)), None, ("C", "A"))
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


def blocks_plan(q, shape, dtype):
    """The compiled one-pass plan (`Blocks2D`) of non-overlapping 2-D windows
    over the last two axes, or None when `q` is not such a pooling of arrays
    of `shape` and `dtype` the kernel takes as they are."""
    ndim = len(shape)
    if q.return_indices or q.op not in ("max", "min", "sum") or list(q.axes) != [ndim - 2,
                                                                               ndim - 1]:
        return None
    if not all(pl.regular and pl.k == pl.s and pl.pad == 0 and pl.Lout == pl.L // pl.k
               for pl in q.windows):
        return None
    if dtype.kind not in "fiu" or dtype == np.float16 or not dtype.isnative \
            or q.result_dtype != dtype:
        return None
    return _pool.Blocks2D(tuple(shape), q.out_shape, dtype, q.windows[0].k, q.windows[1].k,
                          q.op, q.nthreads)


def run(q, x, out=None):
    """Pool `x` as problem `q` says, into `out` when given (an array of the
    result's shape and dtype, or for `return_indices` a pair of them, that
    overlaps nothing of `x`)."""
    if q.blocks is not None:
        # the small-call road: one streaming pass, straight into `out` if it can be
        result = q.blocks.run(x, out)
        if result is not None:
            return result
    result = _pool_impl(x, q.axes, q.windows, q.op, q.p, q.weights, q.count_include_pad,
                        q.return_indices, q.nthreads, q.weight_sums)
    if out is None:
        return result
    if q.return_indices:
        np.copyto(out[0], result[0], casting="unsafe")
        np.copyto(out[1], result[1], casting="unsafe")
        return out
    np.copyto(out, result, casting="unsafe")
    return out

