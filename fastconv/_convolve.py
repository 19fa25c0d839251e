"""`convolve` and `correlate`: validate, reduce to correlation form, run a kernel."""

import math
import time

import numpy as np

from . import _costmodel, _direct, _fft, _im2col, _separable
from ._threads import resolve_workers
from ._validation import (
    MODES,
    as_numeric_array,
    check_allocatable,
    check_bool,
    check_boundary,
    check_choice,
    check_fillvalue,
    normalize_axes,
)

__all__ = ["choose_conv_method", "convolve", "correlate"]

METHODS = ("auto", "direct", "separable", "fft", "im2col")


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


def _separable_kernel_terms(in2, conv_axes, batch_axes, result_dtype, required,
                            decompose=True, max_terms=None):
    """Separable terms of in2 along conv_axes in the result's arithmetic, or None.

    One term (the 1-D factors) for a rank-1 kernel; several for a floating
    kernel of small numerical rank (see `_separable.low_rank_terms`).
    """
    if any(in2.shape[a] != 1 for a in batch_axes):
        if required:
            raise ValueError("method='separable' needs a single kernel: in2 must have "
                             "length 1 along the axes that are not convolved")
        return None
    kernel = in2.reshape([in2.shape[a] for a in conv_axes])
    terms = _separable.low_rank_terms(kernel, result_dtype, decompose, max_terms)
    if terms is None:
        if required:
            raise ValueError(
                "method='separable' needs a separable in2: an outer product of 1-D kernels "
                "(to the precision of the result dtype), or for floating results a sum of r "
                "of them with r * sum(in2.shape) < in2.size")
        return None
    compute = np.dtype(np.float32) if result_dtype == np.float16 else result_dtype
    with np.errstate(all="ignore"):
        return [[np.asarray(f).astype(compute) for f in term] for term in terms]


class _Problem:
    """A validated call reduced to correlation form (see `_prepare`)."""

    __slots__ = ("in1", "in2", "mode", "bname", "fill", "fill_is_zero", "workers", "nthreads",
                 "is_convolve", "result_dtype", "compute_dtype", "conv_axes", "batch_axes",
                 "batch_out", "x", "v", "n", "k", "m", "s")

    @property
    def out_size(self):
        return math.prod(self.batch_out) * math.prod(self.m)


def _prepare(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve):
    """Validate a call and reduce it to correlation form.

    Returns the 0-d result for two 0-d inputs, else a `_Problem` with
    ``out[b, i] = sum_t x_ext[b, i + t + s] * v[b, t]`` along ``conv_axes``,
    where ``x_ext`` is ``x`` extended by the boundary rule; ``n``, ``k``,
    ``m``, ``s`` are per convolved axis the lengths of ``x``, ``v``, the
    output and the start offset; ``x`` and ``v`` broadcast to ``batch_out``
    along ``batch_axes``.
    """
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
    conv_axes = list(normalize_axes(axes, ndim))
    batch_axes = [a for a in range(ndim) if a not in conv_axes]
    for a in batch_axes:
        if in1.shape[a] != in2.shape[a] and 1 not in (in1.shape[a], in2.shape[a]):
            raise ValueError(
                f"incompatible shapes for in1 and in2 along axis {a} (not convolved, must be "
                f"equal or 1 to broadcast): {in1.shape} and {in2.shape}"
            )

    fill_is_zero = bname == "fill" and not fill.any()
    swapped = False
    if mode == "valid":
        swapped = not _check_valid_shapes(in1, in2, conv_axes)
    elif mode == "full" and fill_is_zero:
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

    p = _Problem()
    p.in1, p.in2, p.mode, p.bname, p.fill = in1, in2, mode, bname, fill
    p.fill_is_zero = fill_is_zero
    p.workers, p.nthreads, p.is_convolve = workers, nthreads, is_convolve
    p.result_dtype, p.compute_dtype = result_dtype, _compute_dtype(result_dtype)
    p.conv_axes, p.batch_axes = conv_axes, batch_axes
    p.batch_out = [max(in1.shape[a], in2.shape[a]) for a in batch_axes]
    p.x, p.v, p.n, p.k, p.m, p.s = x, v, n, k, m, s
    check_allocatable(p.out_size, p.compute_dtype.itemsize,
                      f"the output of shapes in1={in1.shape} and in2={in2.shape}")
    return p


def _convolve_impl(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve,
                   out=None):
    """convolve/correlate; `out` (internal) is a C-contiguous array the result
    may be written to when its shape and dtype are those of the result and no
    axis reordering is needed, else it is ignored."""
    p = _prepare(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve)
    if not isinstance(p, _Problem):
        return p
    terms = None
    if method == "separable" and len(p.conv_axes) == 1:
        # one convolved axis: every kernel is 1-D already, the direct pass is it
        method = "direct"
    if method == "separable":
        terms = _separable_kernel_terms(p.in2, p.conv_axes, p.batch_axes, p.result_dtype,
                                        required=True)
    elif method == "auto":
        method, terms = _costmodel.choose(p)
    return _run(p, method, terms, out)


def _run(p, method, terms=None, out=None):
    """Compute problem `p` by `method` (`terms`: the separable terms of p.in2)."""
    if method == "separable":
        return _run_separable(p, terms)
    if method in ("fft", "im2col"):
        run = _fft.correlate_fft if method == "fft" else _im2col.correlate_im2col
        result = run(
            p.x, p.v, p.conv_axes, p.batch_axes, p.n, p.k, p.m, p.s, p.bname,
            p.fill[()].item() if p.fill.ndim == 0 else p.fill, p.nthreads, p.result_dtype,
            p.batch_out)
        if result is not None:
            return result
        # integers too large for exact float64 arithmetic: the direct method is exact
    return _run_direct(p, out)


def _run_separable(p, terms):
    terms_run = terms
    if not p.is_convolve:
        # correlate(a, b) == convolve(a, flip(conj(b))), factor by factor
        terms_run = [[(np.conj(f) if f.dtype.kind == "c" else f)[::-1] for f in term]
                     for term in terms]
    fill = p.fill
    fill_value = fill[()] if p.result_dtype.kind in "biu" else fill.item()
    return _separable._sum_of_passes(p.in1, terms_run, list(p.conv_axes), p.mode, p.bname,
                                     fill_value, p.workers, p.result_dtype)


def _run_direct(p, out=None):
    ndim = p.x.ndim
    conv_axes, batch_axes, batch_out = p.conv_axes, p.batch_axes, p.batch_out
    n, k, m, s = list(p.n), list(p.k), list(p.m), list(p.s)
    compute_dtype, result_dtype = p.compute_dtype, p.result_dtype
    order = batch_axes + list(conv_axes)
    identity_order = order == list(range(ndim))
    xt = p.x if identity_order else p.x.transpose(order)
    vt = p.v if identity_order else p.v.transpose(order)
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
    fill_value = p.fill.astype(compute_dtype).item()
    bcode = _direct.BOUNDARY_CODES[p.bname]
    _direct.correlate_direct(xt, vc, out, n, k, m, s, xs, x_off, w_off, bcode, fill_value,
                             p.nthreads)

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
    method : {'auto', 'direct', 'separable', 'fft', 'im2col'}, optional
        Algorithm; every one gives the direct result within the precision
        of the dtype (see Notes).

        ``'direct'``
            Sums the products window by window in our compiled,
            multithreaded, vectorised kernel. Each output depends on its own
            window only.
        ``'separable'``
            Factors `in2` into one 1-D kernel per convolved axis (an outer
            product to the precision of the result dtype; integer kernels are
            factored exactly in integers) and runs one 1-D direct pass per
            axis. For floating results it also takes a kernel of small
            numerical rank ``r`` as a sum of ``r`` such terms (SVDs of its
            unfoldings) when ``r * sum(k) < prod(k)`` taps. ``ValueError``
            for any other `in2`.
        ``'fft'``
            Multiplies spectra (`scipy.fft` transforms of fast lengths with
            ``workers`` threads; products and overlap-add in our compiled
            loops), cutting a long input into blocks (overlap-add) when that
            costs less than one transform. float32 stays in single
            precision, so its error is about ``1e-6`` times the largest
            output magnitude rather than per output. Integer results are
            rounded and exact; when float64 cannot guarantee that, the
            direct method runs instead. A NaN or infinity in `in2` spreads
            over the whole output, one in `in1` over the outputs of the
            blocks that read it.
        ``'im2col'``
            Lowers tiles of the extended input into a matrix (one column per
            kernel tap, at most `get_workspace_limit` bytes) and multiplies
            it by the kernels with BLAS ``?gemm``: all the kernels that share
            one input (broadcast along the other axes) in one product, which
            suits banks of kernels. ``workers`` OpenMP threads each lower a
            tile and multiply it with a single-threaded BLAS call (BLAS is
            held at one thread meanwhile). Integer results are exact:
            computed in float64 when ``max|in1| * max|in2| * taps < 2**53``,
            else by the direct method.
        ``'auto'``
            The method `choose_conv_method` predicts to be fastest for these
            shapes and dtypes (default). It never picks ``'fft'``
            for inputs holding a NaN or an infinity, nor for integers beyond
            float64's exact range.
    axes : int or sequence of int, optional
        Axes along which to @verb@; default all axes. Along the other axes
        the input lengths must be equal or 1, and they broadcast, as in
        SciPy's FFT convolution (see See Also). Unlike there, an axis of
        length 1 listed here is convolved like any other.
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

        In 2-D, ``fill``, ``wrap`` and ``symm`` give the results of SciPy's
        2-D convolution; ``reflect``, ``mirror``, ``nearest`` and ``wrap``
        follow SciPy's n-dimensional image filters, repeating periodically
        when the extension is longer than the input (see See Also).
    fillvalue : scalar, optional
        Value of `in1` outside its edges when ``boundary='fill'``;
        default 0. Cast to the result dtype.
    workers : int, optional
        Number of threads. ``None`` (default) uses `get_workers`, i.e. all
        usable cores unless limited by ``OMP_NUM_THREADS``, `threadpoolctl`
        or `set_workers`; negative values count back from the number of
        usable CPUs (``-1`` is all of them); values above the number of
        usable CPUs are capped at it. Results do not depend on it.

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
        contains the other; a non-scalar `fillvalue`; ``workers=0`` or below
        minus the number of usable CPUs; an output whose byte count exceeds
        ``intp`` or this machine's physical memory.
    TypeError
        For non-numeric or extended-precision inputs, a non-integer
        `workers`, or a complex `fillvalue` with a real result.

    Notes
    -----
    Integer inputs give an integer result equal to SciPy's: the sums are
    computed exactly modulo ``2**64`` and reduced to the result type, so an
    overflow wraps around exactly as SciPy's direct method does. Boolean
    inputs give a boolean result (the logical OR of the ANDs, as NumPy's
    1-D convolution gives). float16
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
    shapes and dtypes match SciPy's `convolve` (see See Also) for every
    input SciPy accepts.
"""
    + _PARAMS_DOC.replace("@name@", "convolution").replace("@verb@", "convolve")
    + """
    See Also
    --------
    correlate : Cross-correlation.
    scipy.signal.convolve : The SciPy function with the same semantics.
    scipy.signal.fftconvolve : Broadcasting along the axes not convolved.
    scipy.signal.convolve2d : The 2-D boundaries ``fill``, ``wrap``, ``symm``.
    scipy.ndimage.convolve : The boundaries ``reflect``, ``mirror``,
        ``nearest``, ``wrap``.

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
    dtypes match SciPy's `correlate` (see See Also) for every input SciPy
    accepts.
"""
    + _PARAMS_DOC.replace("@name@", "cross-correlation").replace("@verb@", "correlate")
    + """
    See Also
    --------
    convolve : Convolution.
    scipy.signal.correlate : The SciPy function with the same semantics.
    scipy.signal.fftconvolve : Broadcasting along the axes not convolved.
    scipy.signal.correlate2d : The 2-D boundaries ``fill``, ``wrap``, ``symm``.
    scipy.ndimage.correlate : The boundaries ``reflect``, ``mirror``,
        ``nearest``, ``wrap``.

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


def choose_conv_method(in1, in2, mode="full", *, axes=None, boundary="fill", fillvalue=0,
                       workers=None, measure=False):
    """Find the fastest method for `convolve` or `correlate` on these inputs.

    ``method='auto'`` makes the same choice. Without `measure`, a cost model
    of fastconv's own kernels predicts each method's time from the shapes,
    dtypes, mode and boundary (operation counts and memory
    traffic, with constants fitted on this library's benchmarks), after
    guards that look at the values: ``'fft'`` is not chosen for an input
    holding a NaN or an infinity (the FFT would spread it over the whole
    output, where the other methods keep the damage local), nor for integers
    whose exact result float64 FFTs cannot guarantee; ``'separable'`` only
    when `in2` is an outer product of 1-D kernels, or a sum of a few of
    them, to the precision of the result.

    Parameters
    ----------
    in1, in2 : array_like
        The inputs, as for `convolve`.
    mode : {'full', 'valid', 'same'}, optional
        As for `convolve`.
    axes : int or sequence of int, optional
        As for `convolve`.
    boundary : {'fill', 'wrap', 'symm', 'reflect', 'mirror', 'nearest'}, optional
        As for `convolve` (extensions other than a zero fill change the
        cost of the FFT method).
    fillvalue : scalar, optional
        As for `convolve`.
    workers : int, optional
        Number of threads, as for `convolve`: the runs of ``measure=True``
        use it. The model itself predicts times for a fixed number of
        threads (2, the count its constants were fitted at) whatever
        `workers` is, so that ``method='auto'`` makes the same choice for
        every `workers` and results do not depend on it.
    measure : bool, optional
        If True, run `convolve` with every method that can compute these
        inputs (the guards above still apply; ``'im2col'`` is tried for
        banks of kernels, several kernels broadcast over one input, where its
        matrix products have several columns), and return the fastest with
        the times. Default False. Must be a bool (NumPy's too): TypeError
        otherwise.

    Returns
    -------
    method : str
        ``'direct'``, ``'separable'``, ``'fft'`` or ``'im2col'``. Convolution and
        correlation cost the same, so the answer holds for both.
    times : dict
        Only with ``measure=True``: the best of several runs, in seconds,
        of each method tried.

    See Also
    --------
    convolve, correlate : ``method='auto'`` uses this choice.
    scipy.signal.choose_conv_method : SciPy's choice, for SciPy's methods.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> img = np.zeros((512, 512), np.float32)
    >>> fastconv.choose_conv_method(img, np.ones((3, 3), np.float32), 'same')
    'direct'
    >>> fastconv.choose_conv_method(img, np.ones((101, 101), np.float32), 'same')
    'separable'
    >>> rng = np.random.default_rng(0)
    >>> fastconv.choose_conv_method(img, rng.random((101, 101), np.float32), 'same')
    'fft'
    >>> method, times = fastconv.choose_conv_method(
    ...     img, rng.random((5, 5), np.float32), 'same', measure=True)
    >>> method in times
    True
    """
    measure = check_bool(measure, "measure")
    p = _prepare(in1, in2, mode, "auto", axes, boundary, fillvalue, workers, True)
    if not isinstance(p, _Problem):
        # two 0-d inputs: a product, whatever the method
        return ("direct", {"direct": 0.0}) if measure else "direct"
    if not measure:
        return _costmodel.choose(p)[0]
    methods, terms = _costmodel.candidates(p)
    times = {}
    for method in methods:
        guard = _costmodel.GUARDS.get(method)
        if guard is not None and not guard(p):
            continue
        times[method] = _best_time(lambda: _run(p, method, terms))
    return min(times, key=times.get), times


def _best_time(call, budget=0.2, repeats=5):
    """Best of up to `repeats` timed runs after one warm-up, within about `budget` s."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    best = first
    spent = first
    for _ in range(repeats):
        if spent > budget:
            break
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
    return best
