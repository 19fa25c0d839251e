"""FFT method: spectra from `scipy.fft`, their products in our compiled loop."""

import math
from collections import namedtuple

import numpy as np
import scipy.fft as sfft

from . import _direct

__all__ = ["correlate_fft"]


def _boundary_index(pos, n, bname):
    """Indices into [0, n) that boundary rule `bname` reads at positions `pos`."""
    if bname == "wrap":
        return pos % n
    if bname == "nearest":
        return np.clip(pos, 0, n - 1)
    if bname == "reflect":
        c = pos % (2 * n)
        return np.where(c < n, c, 2 * n - 1 - c)
    if bname == "mirror":
        if n == 1:
            return np.zeros_like(pos)
        c = pos % (2 * n - 2)
        return np.where(c < n, c, 2 * n - 2 - c)
    raise AssertionError(bname)


def _extended(x, axes, starts, lengths, bname, fill):
    """x extended by the boundary rule over [start, start + length) of each axis."""
    out = x
    for ax, start, length in zip(axes, starts, lengths):
        n = x.shape[ax]
        pos = np.arange(start, start + length)
        if bname == "fill":
            inside = (pos >= 0) & (pos < n)
            out = np.take(out, np.clip(pos, 0, n - 1), axis=ax)
            if not inside.all():
                index = [slice(None)] * out.ndim
                index[ax] = ~inside
                out[tuple(index)] = fill
        else:
            out = np.take(out, _boundary_index(pos, n, bname), axis=ax)
    return out


def _exact_in_float64(x, v, fill, nfft):
    """Whether float64 FFTs of these integers round back to the exact sums.

    The error of an FFT convolution is about eps * log2(N) * |x|_2 * |v|_2;
    with a safety factor of 8 it must stay below 1/2.
    """
    xf = np.abs(x.astype(np.float64))
    norm_x = math.sqrt(float(np.sum(xf * xf)) + float(fill) ** 2 * nfft)
    vf = np.abs(v.astype(np.float64))
    norm_v = math.sqrt(float(np.sum(vf * vf)))
    eps = np.finfo(np.float64).eps
    return 8 * eps * max(1.0, math.log2(max(nfft, 2))) * norm_x * norm_v < 0.5


FFTPlan = namedtuple("FFTPlan", "nfft nblocks real")


def fft_plan(n, k, m, s, bname, fill_is_zero, complex_work):
    """Transform lengths of the FFT method for one batch element.

    Returns an `FFTPlan`: ``nfft``, the transform length per convolved axis
    (fast lengths); ``nblocks``, the number of transforms of the input per
    batch element; ``real``, whether the transforms are real ones.
    """
    if fill_is_zero:
        ext = n
    else:
        ext = [md + kd - 1 for md, kd in zip(m, k)]
    nfft = tuple(sfft.next_fast_len(e + kd - 1, real=not complex_work)
                 for e, kd in zip(ext, k))
    return FFTPlan(nfft, 1, not complex_work)


def correlate_fft(x, v, conv_axes, batch_axes, n, k, m, s, bname, fill, nthreads,
                  result_dtype, batch_out):
    """out[i] = sum_t x_ext[i + t + s] v[t] along conv_axes, by FFTs.

    Same problem as the direct kernel gets (see `_convolve._convolve_impl`);
    returns None when integer inputs are too large for float64 FFTs to give
    the exact result, so the caller falls back to the direct method.
    """
    D = len(conv_axes)
    integer = result_dtype.kind in "biu"
    if result_dtype.kind == "c":
        work = result_dtype.newbyteorder("=")
    elif result_dtype in (np.float16, np.float32):
        work = np.dtype(np.float32)
    else:
        work = np.dtype(np.float64)
    complex_work = work.kind == "c"

    order = list(batch_axes) + list(conv_axes)
    xt = np.asarray(x).transpose(order)
    vt = np.asarray(v).transpose(order)
    nb = len(batch_axes)
    last = tuple(range(nb, nb + D))
    # Extend in the result's arithmetic (int64 for integer results), so the
    # fill value, already cast to the result dtype, is stored unchanged.
    xt = xt.astype(np.int64 if integer else work, copy=False)
    fill_is_zero = bname == "fill" and fill == 0
    if fill_is_zero:
        # Linear convolution zero-pads implicitly; output i is full index i + s + k - 1.
        xe = xt
        offsets = [sd + kd - 1 for sd, kd in zip(s, k)]
    else:
        xe = _extended(xt, last, s, [md + kd - 1 for md, kd in zip(m, k)], bname, fill)
        offsets = [kd - 1 for kd in k]
    full = [xe.shape[nb + d] + k[d] - 1 for d in range(D)]
    fast = [sfft.next_fast_len(L, real=not complex_work) for L in full]
    if integer and not _exact_in_float64(xe, vt, 0 if fill_is_zero else fill,
                                         math.prod(fast)):
        return None

    xe = xe.astype(work, copy=False)
    # convolution form of the kernel: flipped along the convolved axes
    g = np.ascontiguousarray(vt[(Ellipsis,) + (slice(None, None, -1),) * D], dtype=work)
    if complex_work:
        X = sfft.fftn(xe, fast, axes=last, workers=nthreads)
        G = sfft.fftn(g, fast, axes=last, workers=nthreads)
    else:
        X = sfft.rfftn(xe, fast, axes=last, workers=nthreads)
        G = sfft.rfftn(g, fast, axes=last, workers=nthreads)
    X = np.ascontiguousarray(X)
    G = np.ascontiguousarray(G)
    nfreq = math.prod(X.shape[nb:])
    out_batch = tuple(batch_out)
    x_index = np.arange(math.prod(X.shape[:nb]), dtype=np.intp).reshape(X.shape[:nb])
    g_index = np.arange(math.prod(G.shape[:nb]), dtype=np.intp).reshape(G.shape[:nb])
    x_off = np.broadcast_to(x_index, out_batch).ravel() * nfreq
    g_off = np.broadcast_to(g_index, out_batch).ravel() * nfreq
    # Multiply in place when the input's spectra already span the output batch.
    Y = X if X.shape[:nb] == out_batch else np.empty(out_batch + X.shape[nb:], X.dtype)
    _direct.spectral_multiply(X.reshape(-1), G.reshape(-1), Y.reshape(-1), x_off, g_off,
                              nfreq, nthreads)
    if complex_work:
        y = sfft.ifftn(Y, fast, axes=last, workers=nthreads)
    else:
        y = sfft.irfftn(Y, fast, axes=last, workers=nthreads)
    index = (Ellipsis,) + tuple(slice(o, o + md) for o, md in zip(offsets, m))
    out = y[index]
    out = out.transpose([order.index(a) for a in range(len(order))])
    if result_dtype == np.bool_:
        return np.ascontiguousarray(out > 0.5)
    if integer:
        # exact sums, reduced modulo 2**bits like the direct method
        return np.ascontiguousarray(np.rint(out).astype(np.int64).astype(result_dtype))
    return np.ascontiguousarray(out.astype(result_dtype, copy=False))
