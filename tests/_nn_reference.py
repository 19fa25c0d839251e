"""Slow but obviously-correct NumPy reference for fastconv.nn.conv (CNN layers).

Definitions (PyTorch's ``torch.nn.functional.conv1d/2d/3d``, extended to any
number of spatial axes, to ``(before, after)`` padding pairs and to
``padding='same'`` with stride > 1):

* ``x`` is ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)`` (unbatched iff
  ``x.ndim == weight.ndim - 1``); ``weight`` is ``(C_out, C_in // groups, *k)``.
* ``xpad`` is ``x`` padded along every spatial axis by ``(before, after)`` with
  ``np.pad``: 'zeros' -> 'constant', 'reflect' -> 'reflect', 'replicate' -> 'edge',
  'circular' -> 'wrap' (what ``F.pad`` does for these modes).
* Cross-correlation, no kernel flip, no conjugation::

      out[n, co, i] = bias[co] + sum_{c, t} xpad[n, g*Cg + c, i*stride + t*dilation]
                                            * weight[co, c, t]

  with ``g = co // (C_out // groups)`` and ``Cg = C_in // groups``.
* Output length per axis: ``floor((n + before + after - dilation*(k-1) - 1) / stride) + 1``.
* ``padding='same'``: ``total = max((ceil(n/s) - 1)*s + dilation*(k-1) + 1 - n, 0)``,
  ``before = total // 2``, ``after = total - before``.

The sum is a Python loop over the kernel taps; each tap adds one strided slice of
``xpad`` times one ``(C_out_g, C_in_g)`` slice of the weight (``np.tensordot`` over the
channel axis), group by group. Floats are accumulated in float64, complex numbers in
complex128, integers in Python ints (object arrays: exact), then cast to the result
dtype (integers wrapped modulo ``2**bits``). The result dtype is the common dtype of
``x``, ``weight`` and ``bias`` in native byte order (float16 stays float16).
"""

import itertools
import math
import operator

import numpy as np

from _helpers import assert_conv_close
from _pool_reference import _per_axis as per_axis  # int or one per axis -> tuple
from _reference import wrap_to_dtype

__all__ = [
    "NN_DTYPES",
    "NP_PAD_MODE",
    "PADDING_MODES",
    "assert_nn_close",
    "conv_bound",
    "conv_output_shape",
    "conv_reference",
    "expected_error",
    "nn_result_dtype",
    "normalize_padding",
    "per_axis",
]

# padding_mode -> np.pad mode with the same values as torch's F.pad
NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
PADDING_MODES = tuple(NP_PAD_MODE)

NN_DTYPES = [
    "float16", "float32", "float64", "complex64", "complex128",
    "int8", "uint8", "int16", "int32", "int64", "uint64",
]


def normalize_padding(padding, in_sizes, kernel_sizes, stride=1, dilation=1):
    """Padding of every spatial axis as a list of ``(before, after)`` pairs.

    ``padding`` is an int, a sequence of one int per axis, a sequence of one
    ``(before, after)`` pair per axis, ``'valid'`` or ``'same'``; ``in_sizes`` and
    ``kernel_sizes`` are the spatial lengths of the input and of the kernel.
    """
    nsp = len(in_sizes)
    stride = per_axis(stride, nsp, "stride")
    dilation = per_axis(dilation, nsp, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nsp
        if padding != "same":
            raise ValueError(f"padding: unknown {padding!r}")
        pairs = []
        for n, k, s, d in zip(in_sizes, kernel_sizes, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pairs.append((total // 2, total - total // 2))
        return pairs
    if np.ndim(padding) == 0:
        p = operator.index(padding)
        return [(p, p)] * nsp
    items = list(padding)
    if len(items) != nsp:
        raise ValueError(f"padding: expected {nsp} entries, got {len(items)}")
    pairs = []
    for item in items:
        if np.ndim(item) == 0:
            pairs.append((operator.index(item),) * 2)
        else:
            before, after = item
            pairs.append((operator.index(before), operator.index(after)))
    return pairs


def conv_output_shape(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    """Output shape, or None where some output length would be < 1."""
    nsp = len(w_shape) - 2
    batched = len(x_shape) == len(w_shape)
    spatial = tuple(x_shape[-nsp:])
    stride = per_axis(stride, nsp, "stride")
    dilation = per_axis(dilation, nsp, "dilation")
    pads = normalize_padding(padding, spatial, w_shape[2:], stride, dilation)
    lengths = []
    for n, k, s, d, (b, a) in zip(spatial, w_shape[2:], stride, dilation, pads):
        lengths.append((n + b + a - d * (k - 1) - 1) // s + 1)
    if min(lengths) < 1:
        return None
    return ((x_shape[0],) if batched else ()) + (w_shape[0],) + tuple(lengths)


def expected_error(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1,
                   padding_mode="zeros"):
    """The regex an error message must match for this valid-typed problem with
    consistent channels, or None where it must succeed: a kernel longer than the
    padded input names the kernel (weight), a reflect (circular) padding that is not
    shorter than (not at most) its axis names padding."""
    nsp = len(w_shape) - 2
    spatial = tuple(x_shape[-nsp:])
    pads = normalize_padding(padding, spatial, w_shape[2:], stride, dilation)
    too_long = conv_output_shape(x_shape, w_shape, stride, padding, dilation, groups) is None
    bad_pad = False
    for n, (b, a) in zip(spatial, pads):
        if padding_mode == "reflect" and max(b, a) >= n:
            bad_pad = True
        if padding_mode == "circular" and max(b, a) > n:
            bad_pad = True
    if too_long and bad_pad:
        return r"(?i)padding|kernel|weight"
    if bad_pad:
        return "padding"
    if too_long:
        return r"(?i)kernel|weight"
    return None


def nn_result_dtype(*arrays):
    """Result dtype of the layer: the (single) dtype of the operands, native order."""
    dtypes = {np.asarray(a).dtype.newbyteorder("=") for a in arrays if a is not None}
    assert len(dtypes) == 1, f"operands of one dtype expected, got {dtypes}"
    (dtype,) = dtypes
    if dtype.kind == "b":
        raise TypeError("bool is not a layer dtype")
    return dtype


def _work(a, kind):
    """``a`` in the accumulation type of result kind ``kind``."""
    a = np.asarray(a)
    if kind in "iu":
        return a.astype(object)
    return a.astype(np.complex128 if kind == "c" else np.float64)


def conv_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                   padding_mode="zeros", exact=False):
    """The layer of the module docstring; ``exact=True`` returns the float64 /
    complex128 (or Python-int object) accumulator instead of casting it."""
    x, weight = np.asarray(x), np.asarray(weight)
    dtype = nn_result_dtype(x, weight, bias)
    nsp = weight.ndim - 2
    unbatched = x.ndim == weight.ndim - 1
    if unbatched:
        x = x[None]
    assert x.ndim == weight.ndim and nsp >= 1
    n_img, c_in = x.shape[:2]
    c_out, c_in_g = weight.shape[:2]
    assert c_in == c_in_g * groups and c_out % groups == 0
    c_out_g = c_out // groups
    stride = per_axis(stride, nsp, "stride")
    dilation = per_axis(dilation, nsp, "dilation")
    ksize = weight.shape[2:]
    pads = normalize_padding(padding, x.shape[2:], ksize, stride, dilation)
    out_shape = conv_output_shape(x.shape, weight.shape, stride, padding, dilation, groups)
    assert out_shape is not None, "kernel longer than the padded input"
    lengths = out_shape[2:]

    # pad before the conversion: np.pad of an object array fills in NumPy scalars,
    # whose products would overflow
    xpad = _work(np.pad(x, [(0, 0), (0, 0)] + pads, mode=NP_PAD_MODE[padding_mode]),
                 dtype.kind)
    ww = _work(weight, dtype.kind)
    acc = np.zeros((n_img, c_out) + tuple(lengths), dtype=xpad.dtype)
    for g in range(groups):
        xg = xpad[:, g * c_in_g:(g + 1) * c_in_g]
        for tap in itertools.product(*(range(k) for k in ksize)):
            window = tuple(
                slice(t * d, t * d + (m - 1) * s + 1, s)
                for t, d, s, m in zip(tap, dilation, stride, lengths)
            )
            xs = xg[(slice(None), slice(None)) + window]            # (N, Cg, *out)
            wt = ww[(slice(g * c_out_g, (g + 1) * c_out_g), slice(None)) + tap]  # (Cog, Cg)
            term = np.tensordot(wt, xs, axes=([1], [1]))             # (Cog, N, *out)
            acc[:, g * c_out_g:(g + 1) * c_out_g] += np.moveaxis(term, 0, 1)
    if bias is not None:
        bw = _work(bias, dtype.kind)
        assert bw.shape == (c_out,)
        acc = acc + bw.reshape((1, c_out) + (1,) * nsp)
    if unbatched:
        acc = acc[0]
    if exact:
        return acc
    if dtype.kind in "iu":
        return wrap_to_dtype(acc, dtype)
    with np.errstate(over="ignore"):
        return acc.astype(dtype)


def conv_bound(x, weight, bias=None, *args, **kw):
    """Per-output float64 scale for tolerances: the layer (arguments as
    conv_reference's) applied to |x|, |weight|, |bias| (padding modes copy values, so
    |pad(x)| = pad(|x|))."""
    def mag(a):
        return None if a is None else np.abs(np.asarray(a).astype(np.complex128))
    return conv_reference(mag(x), mag(weight), mag(bias), *args, exact=True, **kw)


def assert_nn_close(got, expected, bound=None, err_msg="", rtol_factor=1.0, normwise=False):
    """``got`` is an ndarray of the dtype (either byte order) and shape of ``expected``;
    integer results equal, float results within ``RTOL[dtype] * rtol_factor`` times
    ``bound`` (per element, or its maximum with ``normwise=True``)."""
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"got {type(got)} {err_msg}"
    assert got.dtype.newbyteorder("=") == expected.dtype, (
        f"dtype {got.dtype} != {expected.dtype} {err_msg}")
    if bound is None:
        bound = np.abs(expected.astype(np.complex128))
    assert_conv_close(got.astype(expected.dtype), expected, np.asarray(bound) * rtol_factor,
                      err_msg=err_msg, normwise=normwise)
