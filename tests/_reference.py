"""Slow but obviously-correct NumPy reference for fastconv.convolve / correlate.

Definitions (matching ``scipy.signal.convolve`` / ``correlate``):

* ``full`` correlation along the convolved axes::

      C[k] = sum_j x_ext[k + j - (m - 1)] * w[j],   k = 0 .. n + m - 2

  where ``x_ext`` is ``in1`` extended on both sides by ``m - 1`` samples with the
  chosen boundary rule (``np.pad``), computed with ``sliding_window_view`` + ``einsum``.
* ``convolve(in1, in2)`` is that correlation with ``in2`` flipped along the
  convolved axes; ``correlate(in1, in2) := convolve(in1, conj(flip(in2)))``
  (this is how SciPy defines it, including the ``valid``-mode swap).
* ``same`` is the centred part of ``full``: start ``(m - 1) // 2``, length ``n``.
* ``valid`` is ``full[m - 1 : n]``; if ``in2`` is at least as large as ``in1`` along
  every convolved axis (and strictly larger somewhere) the inputs are swapped first;
  if neither contains the other it is an error. ``valid`` ignores ``boundary``.
* Non-convolved axes broadcast (sizes equal or 1).

Float results are computed in float64 / complex128 and cast to
``np.result_type(in1, in2)``. Integer and bool results are computed exactly with
Python integers (object arrays) and then wrapped modulo ``2**bits`` (what SciPy's
direct method gives); bool results are ``count > 0``.
"""

import operator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "BOUNDARIES",
    "MODES",
    "PAD_MODE",
    "reference_convolve",
    "reference_correlate",
    "result_dtype",
    "wrap_to_dtype",
]

MODES = ("full", "same", "valid")

# fastconv boundary name -> np.pad mode
PAD_MODE = {
    "fill": "constant",
    "wrap": "wrap",
    "symm": "symmetric",
    "reflect": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
}
BOUNDARIES = tuple(PAD_MODE)

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def result_dtype(in1, in2):
    return np.result_type(np.asarray(in1).dtype, np.asarray(in2).dtype)


def wrap_to_dtype(values, dtype):
    """Python-int object array -> integer ``dtype`` array, modulo 2**bits."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    modulus = 1 << info.bits
    flat = [((int(v) - info.min) % modulus) + info.min for v in np.asarray(values).ravel()]
    return np.array(flat, dtype=dtype).reshape(np.shape(values))


def _normalize_axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if np.ndim(axes) == 0:
        axes = [axes]
    axes = [operator.index(a) for a in axes]
    if len(axes) == 0:
        raise ValueError("axes must not be empty")
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axes: axis {a} out of range for ndim {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("axes: duplicate axes")
    return tuple(sorted(out))


def _flip(a, axes):
    idx = [slice(None)] * a.ndim
    for ax in axes:
        idx[ax] = slice(None, None, -1)
    return a[tuple(idx)]


def _conj(a):
    return np.conj(a) if np.iscomplexobj(a) else a


def _work_dtype(dtype):
    """dtype used for the computation: object (exact ints/bool) or float64/complex128."""
    if dtype.kind in "biu":
        return np.dtype(object)
    if dtype.kind == "c":
        return np.dtype(np.complex128)
    if dtype.kind == "f":
        return np.dtype(np.float64)
    raise TypeError(f"reference: unsupported dtype {dtype}")


def _to_work(a, work):
    if work == object:
        # Python ints (bool -> 0/1), exact
        return np.array([int(v) for v in a.ravel()], dtype=object).reshape(a.shape)
    return a.astype(work)


def _fill_scalar(fillvalue, out_dtype, work):
    fv = np.asarray(fillvalue)
    if fv.ndim != 0:
        raise ValueError("fillvalue must be a scalar")
    if np.iscomplexobj(fv) and out_dtype.kind != "c":
        raise TypeError("complex fillvalue with a real result dtype")
    if work == object:
        # cast to the integer (or bool) result dtype, as an explicit C cast
        return int(fv.astype(out_dtype))
    return fv.astype(out_dtype).astype(work)[()]


def _swap_needed(s1, s2, axes):
    ok1 = all(s1[a] >= s2[a] for a in axes)
    ok2 = all(s2[a] >= s1[a] for a in axes)
    if not (ok1 or ok2):
        raise ValueError(
            "valid mode: in1 and in2 must be at least as large as the other "
            "along every convolved axis"
        )
    return not ok1


def _core_correlate(x, w, axes, mode, boundary, fillvalue, out_dtype, work):
    """sum_j x_ext[k + j - (m-1)] * w[j] (no conjugation), sliced for ``mode``."""
    ndim = x.ndim
    nconv = len(axes)
    others = [a for a in range(ndim) if a not in axes]
    # broadcast the non-convolved axes
    bshape = []
    for a in others:
        n1, n2 = x.shape[a], w.shape[a]
        if n1 != n2 and n1 != 1 and n2 != 1:
            raise ValueError(f"non-convolved axis {a}: sizes {n1} and {n2} do not broadcast")
        bshape.append(max(n1, n2))
    # move convolved axes last
    order = others + list(axes)
    x = np.transpose(x, order)
    w = np.transpose(w, order)
    nb = len(others)
    n = x.shape[nb:]
    m = w.shape[nb:]
    x = np.broadcast_to(x, tuple(bshape) + tuple(n))
    w = np.broadcast_to(w, tuple(bshape) + tuple(m))

    pads = [(0, 0)] * nb + [(k - 1, k - 1) for k in m]
    if mode == "valid":
        xp = x
    elif boundary == "fill":
        xp = np.pad(x, pads, mode="constant", constant_values=fillvalue)
    else:
        xp = np.pad(x, pads, mode=PAD_MODE[boundary])
    xp = np.ascontiguousarray(xp)
    if work == object:
        xp = _to_work(xp, work)  # np.pad inserts numpy ints; make them Python ints again
    win = sliding_window_view(xp, tuple(m), axis=tuple(range(nb, ndim)))
    L = _LETTERS[:nconv]
    M = _LETTERS[nconv : 2 * nconv]
    if work == object:
        # np.einsum would convert object arrays to C longs: sum Python ints explicitly
        full = np.zeros(win.shape[: nb + nconv], dtype=object)
        wexp = w.reshape(w.shape[:nb] + (1,) * nconv + w.shape[nb:])
        for j in np.ndindex(*m):
            full = full + win[(Ellipsis,) + j] * wexp[(Ellipsis,) + j]
    else:
        full = np.einsum(f"...{L}{M},...{M}->...{L}", win, w)
    if mode == "same":
        sl = tuple(slice((k - 1) // 2, (k - 1) // 2 + nn) for k, nn in zip(m, n))
        full = full[(Ellipsis,) + sl]
    # back to the original axis order
    inv = np.argsort(order)
    res = np.transpose(full, inv)

    if out_dtype.kind == "b":
        return np.asarray(res != 0, dtype=bool) if res.size else res.astype(bool)
    if out_dtype.kind in "iu":
        return wrap_to_dtype(res, out_dtype)
    return np.asarray(res).astype(out_dtype)


def reference_convolve(in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0):
    in1 = np.asarray(in1)
    in2 = np.asarray(in2)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if boundary not in PAD_MODE:
        raise ValueError(f"boundary must be one of {BOUNDARIES}")
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    out_dtype = result_dtype(in1, in2)
    work = _work_dtype(out_dtype)
    fv = _fill_scalar(fillvalue, out_dtype, work)
    if in1.size == 0 or in2.size == 0:
        raise ValueError("empty input")
    if in1.ndim == 0:
        res = reference_convolve(in1.reshape(1), in2.reshape(1), mode, None, boundary, fillvalue)
        return res.reshape(())
    axes = _normalize_axes(axes, in1.ndim)
    if mode == "valid" and _swap_needed(in1.shape, in2.shape, axes):
        in1, in2 = in2, in1
    x = _to_work(in1, work)
    w = _to_work(in2, work)
    return _core_correlate(x, _flip(w, axes), axes, mode, boundary, fv, out_dtype, work)


def reference_correlate(in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0):
    in1 = np.asarray(in1)
    in2 = np.asarray(in2)
    if in1.ndim != in2.ndim:
        raise ValueError("in1 and in2 should have the same dimensionality")
    ax = _normalize_axes(axes, in1.ndim) if in1.ndim else ()
    return reference_convolve(in1, _conj(_flip(in2, ax)), mode, axes, boundary, fillvalue)
