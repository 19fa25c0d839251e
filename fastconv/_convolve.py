"""`convolve` and `correlate`: validate, reduce to correlation form, run a kernel."""

import math
import sys

import numpy as np

from . import _direct, _fft, _separable
from ._threads import resolve_workers
from ._validation import (
    MODES,
    as_numeric_array,
    check_boundary,
    check_choice,
    check_fillvalue,
    normalize_axes,
)

__all__ = ["convolve", "correlate"]

METHODS = ("auto", "direct", "separable", "fft")


def _compute_dtype(result_dtype):
    """Dtype the kernels compute in for a given result dtype."""
    if result_dtype.kind in "biu":
        # Integer results are exact modulo 2**64, hence equal to SciPy's
        # (wrapping) values once reduced to the result type.
        return np.dtype(np.int64)
    if result_dtype == np.float16:
        return np.dtype(np.float32)
    return result_dtype.newbyteorder("=")


def _flip(arr, axes):
    return arr[tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(arr.ndim))]


def _layout_for_kernel(arr, dtype):
    """View or copy of `arr` in `dtype` whose last axis is unit-stride and aligned."""
    arr = arr.astype(dtype, copy=False)
    isz = dtype.itemsize
    ok = (
        arr.flags.aligned
        and all(st % isz == 0 for st in arr.strides)
        and (arr.shape[-1] == 1 or arr.strides[-1] == isz)
    )
    return arr if ok else np.ascontiguousarray(arr)


_NO_BATCH = np.zeros(1, dtype=np.intp)
_NO_BATCH.flags.writeable = False


def _batch_offsets(strides, shape, out_shape, itemsize):
    """Element offset of every broadcast batch element (C order of out_shape)."""
    if not out_shape:
        return _NO_BATCH
    off = np.zeros((1,) * len(out_shape), dtype=np.intp)
    for i, (length, stride) in enumerate(zip(shape, strides)):
        if length > 1:
            idx_shape = [1] * len(out_shape)
            idx_shape[i] = length
            off = off + (np.arange(length, dtype=np.intp) * (stride // itemsize)).reshape(idx_shape)
    return np.ascontiguousarray(np.broadcast_to(off, out_shape).ravel())


def _check_valid_shapes(in1, in2, conv_axes):
    ok1 = all(in1.shape[a] >= in2.shape[a] for a in conv_axes)
    ok2 = all(in2.shape[a] >= in1.shape[a] for a in conv_axes)
    if not (ok1 or ok2):
        raise ValueError(
            "For 'valid' mode, one of in1 and in2 must be at least as large as the "
            f"other along every convolved axis; got {in1.shape} and {in2.shape}")
    return ok1


def _separable_kernel_factors(in2, conv_axes, batch_axes, result_dtype, required):
    """1-D factors of in2 along conv_axes in the result's arithmetic, or None."""
    if any(in2.shape[a] != 1 for a in batch_axes):
        if required:
            raise ValueError("method='separable' needs a single kernel: in2 must have "
                             "length 1 along the axes that are not convolved")
        return None
    kernel = in2.reshape([in2.shape[a] for a in conv_axes])
    factors = _separable.separable_factors(kernel, result_dtype)
    if factors is None:
        if required:
            raise ValueError("method='separable' needs a separable in2 (an outer product of "
                             "1-D kernels, to the precision of the result dtype)")
        return None
    compute = np.dtype(np.float32) if result_dtype == np.float16 else result_dtype
    with np.errstate(all="ignore"):
        return [np.asarray(f).astype(compute) for f in factors]


def _convolve_impl(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve,
                   out=None):
    """convolve/correlate; `out` (internal) is a C-contiguous array the result
    may be written to when its shape and dtype are those of the result and no
    axis reordering is needed, else it is ignored."""
    in1 = as_numeric_array(in1, "in1")
    in2 = as_numeric_array(in2, "in2")
    check_choice(mode, "mode", MODES)
    check_choice(method, "method", METHODS)
    bname = check_boundary(boundary)
    nthreads = resolve_workers(workers)
    result_dtype = np.result_type(in1.dtype, in2.dtype)
    fill = check_fillvalue(fillvalue, result_dtype)

    if in1.ndim == 0 and in2.ndim == 0:
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
    conv_axes = normalize_axes(axes, ndim)
    batch_axes = [a for a in range(ndim) if a not in conv_axes]
    for a in batch_axes:
        if in1.shape[a] != in2.shape[a] and 1 not in (in1.shape[a], in2.shape[a]):
            raise ValueError(
                f"incompatible shapes for in1 and in2 along axis {a} (not convolved, must be "
                f"equal or 1 to broadcast): {in1.shape} and {in2.shape}"
            )

    if method == "separable" and len(conv_axes) == 1:
        # one convolved axis: every kernel is 1-D already, the direct pass is it
        method = "direct"
    if method == "separable" or (
            method == "auto" and _separable.worth_trying(in2, conv_axes, batch_axes)):
        factors = _separable_kernel_factors(in2, conv_axes, batch_axes, result_dtype,
                                            required=method == "separable")
        if factors is not None:
            if mode == "valid":
                _check_valid_shapes(in1, in2, conv_axes)
            if not is_convolve:
                # correlate(a, b) == convolve(a, flip(conj(b))), factor by factor
                factors = [(np.conj(f) if f.dtype.kind == "c" else f)[::-1] for f in factors]
            fill_value = fill[()] if result_dtype.kind in "biu" else fill.item()
            return _separable._passes(in1, factors, list(conv_axes), mode, bname, fill_value,
                                      workers, result_dtype)

    swapped = False
    if mode == "valid":
        swapped = not _check_valid_shapes(in1, in2, conv_axes)
    elif mode == "full" and bname == "fill" and fill == 0:
        # With a zero extension the full output is symmetric in the inputs:
        # run the kernel over the larger one (as SciPy does), since the
        # direct method costs (input size) x (kernel size) x (fraction of the
        # kernel inside the input).
        swapped = math.prod(in2.shape[a] for a in conv_axes) > math.prod(
            in1.shape[a] for a in conv_axes)

    # Correlation form: out[i] = sum_t x_ext[i + t + s] * v[t].
    # convolve(a, b) == convolve(b, a) and correlate(a, b) == convolve(a, flip(conj(b))).
    second = np.conj(in2) if (not is_convolve and in2.dtype.kind == "c") else in2
    if not swapped:
        x = in1
        v = _flip(second, conv_axes) if is_convolve else second
    else:
        x = second if is_convolve else _flip(second, conv_axes)
        v = _flip(in1, conv_axes)

    n = [x.shape[a] for a in conv_axes]
    k = [v.shape[a] for a in conv_axes]
    if mode == "full":
        m = [ni + ki - 1 for ni, ki in zip(n, k)]
        s = [-(ki - 1) for ki in k]
    elif mode == "same":
        m = list(n)
        s = [-(ki // 2) for ki in k]
    else:
        m = [ni - ki + 1 for ni, ki in zip(n, k)]
        s = [0] * len(k)

    batch_out = [max(in1.shape[a], in2.shape[a]) for a in batch_axes]
    compute_dtype = _compute_dtype(result_dtype)
    if math.prod(batch_out) * math.prod(m) > sys.maxsize // max(compute_dtype.itemsize, 8):
        raise ValueError(
            f"the output of shapes in1={in1.shape} and in2={in2.shape} is too large to allocate"
        )

    if method == "fft":
        result = _fft.correlate_fft(
            x, v, list(conv_axes), batch_axes, n, k, m, s, bname,
            fill[()].item() if fill.ndim == 0 else fill, nthreads, result_dtype, batch_out)
        if result is not None:
            return result
        # integers too large for exact float64 FFTs: the direct method is exact

    order = batch_axes + list(conv_axes)
    identity_order = order == list(range(ndim))
    xt = x if identity_order else x.transpose(order)
    vt = v if identity_order else v.transpose(order)
    if len(conv_axes) == 1:
        # The kernel works on (rows, columns); a 1-D problem is a single row.
        xt = xt[..., np.newaxis, :]
        vt = vt[..., np.newaxis, :]
        n, k, m, s = [1] + n, [1] + k, [1] + m, [0] + s
    xt = _layout_for_kernel(xt, compute_dtype)
    vc = np.ascontiguousarray(vt, dtype=compute_dtype)

    nb = len(batch_axes)
    isz = compute_dtype.itemsize
    xs = [st // isz for st in xt.strides[nb:]]
    xs[-1] = 1
    x_off = _batch_offsets(xt.strides[:nb], xt.shape[:nb], batch_out, isz)
    ksize = math.prod(k)
    if nb:
        w_index = np.arange(math.prod(vc.shape[:nb]), dtype=np.intp).reshape(vc.shape[:nb])
        w_off = np.ascontiguousarray(np.broadcast_to(w_index, batch_out).ravel() * ksize)
    else:
        w_off = _NO_BATCH

    kernel_shape = tuple(batch_out) + tuple(m)
    if (out is not None and identity_order and compute_dtype == result_dtype
            and out.dtype == result_dtype and out.flags.c_contiguous
            and out.size == math.prod(kernel_shape)):
        out = out.reshape(kernel_shape)
    else:
        out = np.empty(kernel_shape, dtype=compute_dtype)
    fill_value = fill.astype(compute_dtype).item()
    bcode = _direct.BOUNDARY_CODES[bname]
    _direct.correlate_direct(xt, vc, out, n, k, m, s, xs, x_off, w_off, bcode, fill_value, nthreads)

    if len(conv_axes) == 1:
        out = out[..., 0, :]
    if not identity_order:
        out = out.transpose([order.index(a) for a in range(ndim)])
    if result_dtype == np.bool_:
        out = out != 0
    elif out.dtype != result_dtype:
        out = out.astype(result_dtype)
    return np.ascontiguousarray(out)


_PARAMS_DOC = """
    Parameters
    ----------
    in1 : array_like
        First input, of any numeric dtype and any number of dimensions.
    in2 : array_like
        Second input, with the same number of dimensions as `in1`.
    mode : {'full', 'valid', 'same'}, optional
        Size of the output:

        ``full``
            The full discrete linear @name@ (default).
        ``valid``
            Only the elements that do not depend on the boundary extension.
            One input must be at least as large as the other along every
            convolved axis; if `in2` is the larger one the inputs are swapped,
            as in SciPy.
        ``same``
            The same size as `in1` along the convolved axes, centred with
            respect to the ``full`` output as in SciPy (for an even kernel
            length ``k`` the window starts ``k // 2`` samples before the
            output sample).
    method : {'auto', 'direct', 'separable', 'fft'}, optional
        Algorithm. ``'direct'`` sums the products in our compiled,
        multithreaded, vectorised kernel. ``'fft'`` multiplies spectra
        (`scipy.fft` transforms of fast lengths, ``workers`` threads; the
        products and the overlap-add in our compiled loops), cutting a
        long input into blocks (overlap-add) when that costs less than one
        transform: float32 stays in single precision, so its error is
        about ``1e-6`` times the largest output magnitude rather than per
        output; integer results are rounded and exact, and when float64
        cannot guarantee that the direct method is used instead; a NaN or
        infinity in `in2` spreads over the whole output, one in `in1` over
        the outputs of the blocks that read it. ``'separable'`` factors `in2` into
        one 1-D kernel per convolved axis (it must be an outer product, to
        the precision of the result dtype; integer kernels are factored
        exactly in integers) and runs one 1-D direct pass per axis
        (``ValueError`` if `in2` is not separable). ``'auto'`` uses
        ``'separable'`` for a single kernel of at least 64 taps spanning two
        or more axes, with three times the taps of its passes, when it is
        separable; ``'direct'`` otherwise.
    axes : int or sequence of int, optional
        Axes along which to @verb@; default all axes. Along the other axes
        the input lengths must be equal or 1, and they broadcast, as in
        `scipy.signal.fftconvolve`. Unlike `scipy.signal.fftconvolve`, an
        axis of length 1 listed here is convolved like any other.
    boundary : {'fill', 'wrap', 'symm', 'reflect', 'mirror', 'nearest'}, optional
        How `in1` is extended beyond its edges (``mode='valid'`` never
        reads the extension):

        ``fill``
            ``f f f | a b c d | f f f`` with ``f = fillvalue`` (default).
        ``wrap``
            ``b c d | a b c d | a b c`` (periodic).
        ``symm`` or ``reflect``
            ``c b a | a b c d | d c b`` (edge sample repeated).
        ``mirror``
            ``d c b | a b c d | c b a`` (edge sample not repeated).
        ``nearest``
            ``a a a | a b c d | d d d``.

        In 2-D, ``fill``, ``wrap`` and ``symm`` give the results of
        `scipy.signal.convolve2d`; ``reflect``, ``mirror``, ``nearest`` and
        ``wrap`` follow `scipy.ndimage`, repeating periodically when the
        extension is longer than the input.
    fillvalue : scalar, optional
        Value of `in1` outside its edges when ``boundary='fill'``;
        default 0. Cast to the result dtype.
    workers : int, optional
        Number of threads. ``None`` (default) uses `get_workers`, i.e. all
        usable cores unless limited by ``OMP_NUM_THREADS``, `threadpoolctl`
        or `set_workers`; negative values count back from the number of
        usable CPUs (``-1`` is all of them). Results do not depend on it.

    Returns
    -------
    out : ndarray
        The @name@, of dtype ``numpy.result_type(in1, in2)`` (see Notes).

    Raises
    ------
    ValueError
        For an unknown `mode`, `method` or `boundary`; inputs of different
        dimensionality or empty inputs; invalid or duplicate `axes`;
        non-broadcastable shapes; ``mode='valid'`` when neither input
        contains the other; a non-scalar `fillvalue`; ``workers=0``.
    TypeError
        For non-numeric or extended-precision inputs, a non-integer
        `workers`, or a complex `fillvalue` with a real result.

    Notes
    -----
    Integer inputs give an integer result equal to SciPy's: the sums are
    computed exactly modulo ``2**64`` and reduced to the result type, so an
    overflow wraps around exactly as ``scipy.signal.@name2@`` with
    ``method='direct'`` does. Boolean inputs give a boolean result (the
    logical OR of the ANDs, as `numpy.convolve` gives in 1-D). float16
    inputs are computed in float32 and the result rounded to float16.
    Inputs are never modified; any memory layout and byte order is accepted.
"""


def convolve(in1, in2, mode="full", method="auto", *, axes=None, boundary="fill",
             fillvalue=0, workers=None):
    return _convolve_impl(in1, in2, mode, method, axes, boundary, fillvalue, workers, True)


def correlate(in1, in2, mode="full", method="auto", *, axes=None, boundary="fill",
              fillvalue=0, workers=None):
    return _convolve_impl(in1, in2, mode, method, axes, boundary, fillvalue, workers, False)


convolve.__doc__ = (
    """Convolve two N-dimensional arrays.

    Computes ``out[i] = sum_t in1[i - t] * in2[t]`` over the convolved axes,
    with `in1` extended beyond its edges as `boundary` says. Results, output
    shapes and dtypes match `scipy.signal.convolve` for every input SciPy
    accepts.
"""
    + _PARAMS_DOC.replace("@name@", "convolution").replace("@verb@", "convolve").replace("@name2@", "convolve")
    + """
    See Also
    --------
    correlate : Cross-correlation.
    scipy.signal.convolve : The SciPy function with the same semantics.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])

    Smooth an image with a 3x3 box, keeping its size and reflecting it at
    the edges:

    >>> img = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> out = fastconv.convolve(img, np.full((3, 3), 1 / 9, np.float32),
    ...                         mode='same', boundary='reflect')
    >>> out.shape, out.dtype
    ((4, 4), dtype('float32'))
    >>> round(float(out[1, 1]), 4)
    5.0

    Convolve each row of a batch with its own kernel (axis 0 broadcasts):

    >>> x = np.ones((3, 10))
    >>> kernels = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> fastconv.convolve(x, kernels, mode='valid', axes=1)[:, 0]
    array([2., 0., 2.])
"""
)

correlate.__doc__ = (
    """Cross-correlate two N-dimensional arrays.

    Computes ``out[i] = sum_t in1[i + t] * conj(in2[t])`` (shifted as
    `mode` says), which equals ``convolve(in1, flip(conj(in2)))``: what
    deep-learning libraries call convolution. Results, output shapes and
    dtypes match `scipy.signal.correlate` for every input SciPy accepts.
"""
    + _PARAMS_DOC.replace("@name@", "cross-correlation").replace("@verb@", "correlate").replace("@name2@", "correlate")
    + """
    See Also
    --------
    convolve : Convolution.
    scipy.signal.correlate : The SciPy function with the same semantics.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.correlate([1, 2, 3], [0, 1, 0.5])
    array([0.5, 2. , 3.5, 3. , 0. ])

    Locate a template in a signal:

    >>> sig = np.array([0, 0, 1, 2, 1, 0, 0], dtype=float)
    >>> int(np.argmax(fastconv.correlate(sig, [1.0, 2.0, 1.0], mode='same')))
    3
"""
)
