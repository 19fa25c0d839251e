"""`convolve`, `correlate` and `choose_conv_method`.

A call takes one of two roads. Its plan cache key (`call_key`) finds a
plan made by an earlier call with the same shapes, strides, dtypes and
arguments: the kernel runs at once. Otherwise the call is validated into a
`ConvProblem`, the cost model picks a method, and plans that depend on the
shapes alone (the direct method's) are cached for the next call.
"""

import numpy as np

from .._kernels._calls import bounds_overlap
from .._methods import direct
from .._methods import run as run_method
from .._normal.conv import (call_key, check_out, conv_problem, is_problem,
                            separable_terms_required)
from .._normal.validation import check_bool
from .._plan import costmodel
from .._plan.cache import PlanCache
from .._plan.measure import best_time

__all__ = ["choose_conv_method", "convolve", "correlate"]

# Plans of recent calls whose method does not depend on the input values.
_plans = PlanCache(maxsize=256)


def _conv(in1, in2, mode, method, axes, boundary, fillvalue, workers, out, is_convolve):
    key = call_key(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve)
    if key is not None:
        plan = _plans.get(key)
        if plan is not None:
            if out is not None:
                check_out(out, plan.out_shape, plan.result_dtype)
            return plan.run(in1, in2, out)
    p = conv_problem(in1, in2, mode, method, axes, boundary, fillvalue, workers, is_convolve)
    if not is_problem(p):
        # two 0-d inputs: the product
        if out is None:
            return p
        check_out(out, p.shape, p.dtype)
        out[()] = p
        return out
    if out is not None:
        check_out(out, p.out_shape, p.result_dtype)
        if bounds_overlap(out, p.in1) or bounds_overlap(out, p.in2):
            np.copyto(out, _conv_problem(p, method, None, None), casting="unsafe")
            return out
    return _conv_problem(p, method, key, out)


def _conv_problem(p, method, key, out):
    terms = None
    static = False
    if method == "separable" and len(p.conv_axes) == 1:
        # one convolved axis: every kernel is 1-D already, the direct pass is it
        method = "direct"
    if method == "separable":
        terms = separable_terms_required(p)
    elif method == "auto":
        method, terms = costmodel.choose(p)
        static = method == "direct" and costmodel.direct_by_shape(p)
    else:
        static = method == "direct"
    if method == "direct" and key is not None and static:
        plan = direct.plan(p)
        _plans.put(key, plan)
        return plan.run(p.in1, p.in2, out)
    return run_method(p, method, terms, out)


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
    out : ndarray, optional
        Array to write the result to: of the result's shape and dtype
        (byte order aside), any memory layout, writeable. It may overlap
        the inputs (the result is then computed aside and copied). Returned.

    Returns
    -------
    out : ndarray
        The @name@, of dtype ``numpy.result_type(in1, in2)`` (see Notes);
        `out` itself when given.

    Raises
    ------
    ValueError
        For an unknown `mode`, `method` or `boundary`; inputs of different
        dimensionality or empty inputs; invalid or duplicate `axes`;
        non-broadcastable shapes; ``mode='valid'`` when neither input
        contains the other; a non-scalar `fillvalue`; ``workers=0`` or below
        minus the number of usable CPUs; an output, or a working copy of an
        input in the compute dtype (a broadcast view holds no memory until it
        is copied), whose byte count exceeds ``intp`` or this machine's
        physical memory; an `out` of the wrong
        shape or dtype, or read-only.
    TypeError
        For non-numeric or extended-precision inputs, a non-integer
        `workers`, a complex `fillvalue` with a real result, or an `out`
        that is not an ndarray.

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
             fillvalue=0, workers=None, out=None):
    return _conv(in1, in2, mode, method, axes, boundary, fillvalue, workers, out, True)


def correlate(in1, in2, mode="full", method="auto", *, axes=None, boundary="fill",
              fillvalue=0, workers=None, out=None):
    return _conv(in1, in2, mode, method, axes, boundary, fillvalue, workers, out, False)


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
    p = conv_problem(in1, in2, mode, "auto", axes, boundary, fillvalue, workers, True)
    if not is_problem(p):
        # two 0-d inputs: a product, whatever the method
        return ("direct", {"direct": 0.0}) if measure else "direct"
    if not measure:
        return costmodel.choose(p)[0]
    methods, terms = costmodel.candidates(p)
    times = {}
    for method in methods:
        guard = costmodel.GUARDS.get(method)
        if guard is not None and not guard(p):
            continue
        times[method] = best_time(lambda: run_method(p, method, terms))
    return min(times, key=times.get), times
