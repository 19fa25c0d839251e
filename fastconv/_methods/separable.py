"""The separable method: 1-D passes of the direct method, one per convolved axis.

A kernel that is an outer product of 1-D kernels (or, for floating
results, a sum of a few of them) is factored here; each pass is a
`ConvProblem` derived from the previous pass's output and run by the direct
method.
"""

import math

import numpy as np
import scipy.linalg

from . import direct
from .blas import serial_blas
from .problem import cast_result, reduce_to_correlation
from .workspace import scratch

__all__ = ["kernel_terms", "low_rank_terms", "run", "run_passes", "separable_factors"]

# A kernel with at least this many taps is worth testing for separability
# under method='auto' (the test costs an SVD per axis).
AUTO_MIN_TAPS = 64
# ... and is run as 1-D passes when its taps outnumber the passes' by this.
AUTO_TAP_RATIO = 3.0


def _precision(dtype):
    """Relative precision of values of `dtype` (0 for exact types)."""
    if dtype.kind == "f":
        return float(np.finfo(dtype).eps)
    if dtype.kind == "c":
        return float(np.finfo(dtype.type(0).real.dtype).eps)
    return 0.0


def _integer_factors(kernel):
    """Exact integer factors of a rank-1 integer kernel, or None."""
    rest = kernel.astype(np.int64)
    factors = []
    while rest.ndim > 1:
        mat = rest.reshape(rest.shape[0], -1)
        if not mat.any():
            factors.append(np.zeros(rest.shape[0], dtype=np.int64))
            rest = np.ones(rest.shape[1:], dtype=np.int64)
            continue
        col = mat[:, int(np.argmax(np.abs(mat).max(axis=0)))]
        # the primitive vector of the column space: the other factor is then integral
        u = col // np.gcd.reduce(np.abs(col))
        r = int(np.argmax(np.abs(u)))
        if np.any(mat[r] % u[r]):
            return None
        v = mat[r] // u[r]
        if not np.array_equal(np.outer(u, v), mat):
            return None
        factors.append(u)
        rest = v.reshape(rest.shape[1:])
    factors.append(rest.reshape(-1))
    return factors


def _svd(matrix):
    """Thin SVD, with SciPy's BLAS on one thread (kernels are small matrices,
    for which threads cost more than they save)."""
    with serial_blas():
        return scipy.linalg.svd(matrix, full_matrices=False, check_finite=False)


def _outer(vectors):
    """Outer product of 1-D arrays, as an array with one axis per vector."""
    out = vectors[0]
    for v in vectors[1:]:
        out = np.multiply.outer(out, v)
    return out


def _cross_factors(work, tol):
    """Factors through the largest tap (the fibres crossing it), or None.

    O(taps): for a kernel of rank 1 the fibres through any non-zero tap are
    its factors up to scale; the reconstruction is checked against `tol`.
    """
    norm = np.linalg.norm(work)
    pivot = np.unravel_index(int(np.argmax(np.abs(work))), work.shape)
    p = work[pivot]
    if p == 0:
        return [np.zeros(n, dtype=work.dtype) for n in work.shape]
    fibres = [work[pivot[:d] + (slice(None),) + pivot[d + 1:]] for d in range(work.ndim)]
    vectors = [fibres[0]] + [f / p for f in fibres[1:]]
    if not np.linalg.norm(work - _outer(vectors)) <= tol * norm:
        return None
    return vectors


def _float_factors(kernel, tol):
    """Factors of a kernel of numerical rank 1 (SVD of every unfolding), or None."""
    work = kernel.astype(np.complex128 if kernel.dtype.kind == "c" else np.float64)
    if not np.all(np.isfinite(work)):
        # NaN/Inf taps: no factorisation (and the SVD would not converge)
        return None
    norm = np.linalg.norm(work)
    if norm == 0:
        return [np.zeros(n, dtype=work.dtype) for n in work.shape]
    vectors = []
    for d in range(work.ndim):
        unfolding = np.moveaxis(work, d, 0).reshape(work.shape[d], -1)
        u, s, _ = _svd(unfolding)
        if s.size > 1 and s[1] > tol * s[0]:
            return None
        vectors.append(u[:, 0])
    outer = _outer(vectors)
    scale = np.vdot(outer, work)  # the vectors are unit: outer has norm 1
    if np.linalg.norm(work - scale * outer) > tol * norm:
        return None
    if work.dtype.kind != "c":
        scale = scale.real
    vectors[0] = vectors[0] * scale
    return vectors


def _scaled(work):
    """`work` divided by its largest real or imaginary part, and that divisor.

    Norms and SVDs of taps near the float64 limit overflow; the factors of
    the scaled kernel do not. 1 for a zero kernel.
    """
    peak = float(np.max(np.abs(work.real)))
    if work.dtype.kind == "c":
        peak = max(peak, float(np.max(np.abs(work.imag))))
    return (work, 1.0) if peak == 0 else (work / peak, peak)


def _unscaled(terms, peak):
    """Terms of the kernel `_scaled` divided by `peak`: each factor takes an
    equal share of it, so that no factor overflows where the taps do not."""
    return [[f * peak ** (1.0 / len(term)) for f in term] for term in terms]


def separable_factors(kernel, dtype=None):
    """1-D factors whose outer product is `kernel`, or None when it has rank > 1.

    Parameters
    ----------
    kernel : ndarray
        Kernel over the convolved axes only.
    dtype : dtype, optional
        Result dtype the factors will be used for: integer and bool results
        need exact integer factors; floating results accept factors whose
        outer product matches to a tolerance scaled by the dtype's precision
        (``16 * eps * max(kernel.shape)`` relative, on every unfolding).
    """
    kernel = np.asarray(kernel)
    dtype = np.dtype(dtype) if dtype is not None else kernel.dtype
    if kernel.ndim <= 1:
        return [kernel.reshape(-1)]
    if dtype.kind in "biu":
        if kernel.dtype.kind not in "biu":
            return None
        return _integer_factors(kernel)
    work = kernel.astype(np.complex128 if kernel.dtype.kind == "c" else np.float64)
    if not np.all(np.isfinite(work)):
        return None
    work, peak = _scaled(work)
    factors = _float_factors(work, _tolerance(kernel, dtype))
    return None if factors is None else _unscaled([factors], peak)[0]


def _tolerance(kernel, dtype):
    """Relative (Frobenius) error allowed in the factors of a floating kernel."""
    # A kernel stored in a lower precision than the result is separable to
    # its own precision only.
    eps = max(_precision(dtype), _precision(kernel.dtype) if kernel.dtype.kind in "fc" else 0.0)
    return 16 * eps * max(kernel.shape)


def _low_rank_split(tensor, budget, max_terms):
    """Terms (lists of 1-D factors) summing to `tensor` within `budget` (Frobenius).

    The first unfolding's SVD gives ``sum_i s_i u_i (x) V_i``; its smallest
    truncation within half the budget is kept and every ``V_i`` is split the
    same way with its share of the other half (the ``u_i`` are orthonormal,
    so the errors add in quadrature). None when more than `max_terms` are
    needed.
    """
    if tensor.ndim == 1:
        return [[tensor]]
    unfolding = tensor.reshape(tensor.shape[0], -1)
    u, s, vh = _svd(unfolding)
    tails = np.sqrt(np.cumsum((s * s)[::-1])[::-1])  # tails[r]: error of keeping r terms
    rank = next((r for r in range(1, s.size) if tails[r] <= budget / 2), s.size)
    if rank > max_terms:
        return None
    terms = []
    for i in range(rank):
        share = budget / (2 * s[i] * math.sqrt(rank)) if s[i] > 0 else np.inf
        rest = _low_rank_split(vh[i].reshape(tensor.shape[1:]), share,
                               max_terms - len(terms))
        if rest is None or len(terms) + len(rest) > max_terms:
            return None
        terms += [[u[:, i] * s[i]] + term for term in rest]
    return terms


def low_rank_terms(kernel, dtype=None, decompose=True, max_terms=None):
    """Separable terms whose sum is `kernel`, when fewer 1-D passes pay off.

    Parameters
    ----------
    kernel : ndarray
        Kernel over the convolved axes only (two or more axes).
    dtype : dtype, optional
        Result dtype. Only floating and complex results accept a sum of
        several terms; integer and bool results must be exact, so for them
        this returns the exact rank-1 factors or None.
    decompose : bool, optional
        If False, only the O(taps) test for rank 1 through the largest tap
        is made (no SVD): None unless the kernel is an outer product.
    max_terms : int, optional
        Refuse (None) a kernel needing more terms than this; by default as
        many as pay off, ``(prod(kernel.shape) - 1) // sum(kernel.shape)``.

    Returns
    -------
    terms : list of list of ndarray or None
        ``r`` lists of 1-D factors, one per axis, whose outer products sum to
        `kernel` within ``16 * eps * max(kernel.shape)`` of its Frobenius
        norm (the tolerance of `separable_factors`); a rank-1 kernel gives
        one term. None when the kernel has non-finite taps, or when its
        numerical rank ``r`` makes ``r * sum(kernel.shape)`` taps no fewer
        than ``prod(kernel.shape)``.
    """
    kernel = np.asarray(kernel)
    dtype = np.dtype(dtype) if dtype is not None else kernel.dtype
    if dtype.kind in "biu" or kernel.ndim < 2:
        factors = separable_factors(kernel, dtype)
        return None if factors is None else [factors]
    work = kernel.astype(np.complex128 if kernel.dtype.kind == "c" else np.float64)
    if not np.all(np.isfinite(work)):
        return None
    work, peak = _scaled(work)
    tol = _tolerance(kernel, dtype)
    factors = _cross_factors(work, tol)
    if factors is None and decompose:
        factors = _float_factors(work, tol)
    if factors is not None:
        return _unscaled([[f if work.dtype.kind == "c" else f.real for f in factors]], peak)
    taps, pass_taps = kernel.size, sum(kernel.shape)
    max_terms = min((taps - 1) // pass_taps,
                    max_terms if max_terms is not None else taps)
    if not decompose or max_terms < 2:
        return None
    budget = tol * np.linalg.norm(work)
    terms = _low_rank_split(work, budget, max_terms)
    if terms is None:
        return None
    if np.linalg.norm(work - sum(_outer(term) for term in terms)) > budget:
        return None
    if work.dtype.kind != "c":
        terms = [[f.real for f in term] for term in terms]
    return _unscaled(terms, peak)


def worth_trying(in2, conv_axes, batch_axes):
    """Whether method='auto' should test in2 for separability.

    A single kernel extending along two or more axes whose taps outnumber
    the taps of its 1-D passes by AUTO_TAP_RATIO; smaller kernels are not
    worth the SVDs of the test.
    """
    if any(in2.shape[a] != 1 for a in batch_axes):
        return False
    lengths = [in2.shape[a] for a in conv_axes]
    if sum(n > 1 for n in lengths) < 2:
        return False
    taps = math.prod(lengths)
    return taps >= AUTO_MIN_TAPS and taps >= AUTO_TAP_RATIO * sum(lengths)


def kernel_terms(p, decompose=True, max_terms=None):
    """Separable terms of p.in2 along p.conv_axes in the result's arithmetic, or None.

    One term (the 1-D factors) for a rank-1 kernel; several for a floating
    kernel of small numerical rank (see `low_rank_terms`). None also when
    p.in2 holds several kernels (it is longer than 1 along a batch axis).
    """
    in2 = p.in2
    if any(in2.shape[a] != 1 for a in p.batch_axes):
        return None
    kernel = in2.reshape([in2.shape[a] for a in p.conv_axes])
    terms = low_rank_terms(kernel, p.result_dtype, decompose, max_terms)
    if terms is None:
        return None
    compute = _pass_dtype(p.result_dtype)
    with np.errstate(all="ignore"):
        return [[np.asarray(f).astype(compute) for f in term] for term in terms]


def _wrap_scalar(value, dtype):
    """Python number as a scalar of integer/bool `dtype`, wrapping like the kernels."""
    if dtype == np.bool_:
        return bool(value)
    return np.array(int(value) % 2**64, dtype=np.uint64).astype(dtype)[()]


def _pass_fill(fill, kernel, dtype):
    """What a constant extension `fill` becomes after a pass with `kernel`."""
    if dtype == np.bool_:
        return bool(fill) and bool(np.any(kernel))
    if dtype.kind in "iu":
        return _wrap_scalar(int(fill) * int(np.sum(kernel.astype(np.int64))), dtype)
    # inf * 0 (and complex products of infinities) are NaN, as in the passes
    with np.errstate(invalid="ignore", over="ignore"):
        return fill * np.sum(kernel, dtype=dtype)


def output_shape(shape, kernels, axes, mode):
    """Shape of the convolution of an array of `shape` with the outer
    product of `kernels` laid along `axes`."""
    out = list(shape)
    for a, k in zip(axes, kernels):
        length = len(k)
        out[a] = {"full": out[a] + length - 1, "same": out[a],
                  "valid": abs(out[a] - length) + 1}[mode]
    return tuple(out)


def _pass_dtype(result_dtype):
    """Dtype the passes compute in: the result's, float32 for float16."""
    return np.dtype(np.float32) if result_dtype == np.float16 else result_dtype


def run_passes(in1, kernels, axes, mode, bname, fill, nthreads, result_dtype, out=None):
    """Convolve `in1` with the outer product of `kernels` (one per axis of
    `axes`) by 1-D passes of the direct method; `fill` is a 0-d array of
    `result_dtype`; the result goes to `out` when given."""
    # Every pass computes in the result's arithmetic (float16: float32), so
    # mixed inputs (say a bool input and bool and int8 kernels) are not
    # reduced in a narrower type on the way.
    compute = _pass_dtype(result_dtype)
    cur = in1.astype(compute, copy=False)
    kernels = [np.asarray(k).astype(compute, copy=False) for k in kernels]
    ndim = in1.ndim
    swapped = mode == "valid" and all(
        len(k) >= in1.shape[a] for a, k in zip(axes, kernels)) and not all(
        len(k) <= in1.shape[a] for a, k in zip(axes, kernels))
    # The extension of the input seen by pass d is what passes 0..d-1 make of
    # it: a constant fill becomes fill * (sum of each earlier kernel).
    fill_d = fill.astype(compute)
    held = []
    for i, (a, k) in enumerate(zip(axes, kernels)):
        shape = [1] * ndim
        shape[a] = len(k)
        # Along the other convolved axes the kernel has length 1 (an identity
        # in every mode); keeping them convolved spares a transpose. In
        # swapped 'valid' mode the pass must be 1-D for its own swap.
        pass_axes = [a] if swapped else sorted(axes)
        p = reduce_to_correlation(cur, k.reshape(shape), mode, pass_axes, bname, fill_d,
                                  nthreads, True, compute)
        if i < len(kernels) - 1:
            # intermediate results go to reusable scratch
            nbytes = p.out_size * compute.itemsize
            raw = scratch.take(nbytes)
            held.append(raw)
            target = raw[:nbytes].view(compute).reshape(p.out_shape)
        else:
            target = out if (out is not None and compute == result_dtype) else None
        cur = direct.run(p, target)
        if bname == "fill":
            fill_d = np.asarray(_pass_fill(fill_d[()], k, compute), dtype=compute)
        if len(held) > 1:
            # the scratch read by this pass is free again
            scratch.give(held.pop(0))
    result = out if cur is out else cast_result(cur, result_dtype, out)
    for raw in held:
        scratch.give(raw)
    return result


def run(p, terms, out=None):
    """Compute problem `p` as the sum of the separable `terms` of p.in2."""
    if not p.is_convolve:
        # correlate(a, b) == convolve(a, flip(conj(b))), factor by factor
        terms = [[(np.conj(f) if f.dtype.kind == "c" else f)[::-1] for f in term]
                 for term in terms]
    axes = list(p.conv_axes)
    if len(terms) == 1:
        return run_passes(p.in1, terms[0], axes, p.mode, p.bname, p.fill, p.nthreads,
                          p.result_dtype, out)
    # the terms are summed in the passes' arithmetic (float16: float32) and
    # the sum rounded once
    compute = _pass_dtype(p.result_dtype)
    result = run_passes(p.in1, terms[0], axes, p.mode, p.bname, p.fill, p.nthreads, compute,
                        out if compute == p.result_dtype else None)
    for term in terms[1:]:
        result += run_passes(p.in1, term, axes, p.mode, p.bname, p.fill, p.nthreads, compute)
    return cast_result(result, p.result_dtype, out) if result is not out else out
