"""`pool` and `adaptive_pool`.

As for convolution, a call whose key (`pool_key`) finds a problem made by an
earlier call with the same shape, dtype and arguments runs at once;
otherwise it is validated into a `PoolProblem` first, and cached.
"""

import numpy as np

from .._kernels._calls import bounds_overlap
from .._methods import pooling
from .._normal.pool import adaptive_problem, check_pool_out, pool_key, pool_problem
from .._plan.cache import PlanCache

__all__ = ["adaptive_pool", "pool"]

# Problems of recent calls (they depend on shapes and arguments only).
_problems = PlanCache(maxsize=256)


def _overlaps(out, x):
    if isinstance(out, tuple):
        return any(bounds_overlap(o, x) for o in out)
    return bounds_overlap(out, x)


def _run(key, make, x, out):
    q = _problems.get(key) if key is not None else None
    if q is None:
        x, q = make()
        if key is not None:
            _problems.put(key, q)
    if out is None:
        return pooling.run(q, x)
    check_pool_out(out, q)
    if _overlaps(out, x):
        result = pooling.run(q, x)
        if q.return_indices:
            np.copyto(out[0], result[0], casting="unsafe")
            np.copyto(out[1], result[1], casting="unsafe")
        else:
            np.copyto(out, result, casting="unsafe")
        return out
    return pooling.run(q, x, out)


def pool(x, size, stride=None, op="max", *, axes=None, padding=0, ceil_mode=False, p=2,
         weights=None, count_include_pad=True, return_indices=False, workers=None, out=None):
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
    out : ndarray, optional
        Array to write the result to, of its shape and dtype, as in
        `convolve`; returned. With `return_indices`, a
        pair ``(values, indices)`` of such arrays (indices int64).

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
    key = pool_key(x, size, stride, op, axes, padding, ceil_mode, p, weights, count_include_pad,
                   return_indices, workers, False)
    return _run(key, lambda: pool_problem(x, size, stride, op, axes, padding, ceil_mode, p,
                                          weights, count_include_pad, return_indices, workers),
                x, out)


def adaptive_pool(x, output_size, op="max", *, axes=None, p=2, workers=None, out=None):
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
    out : ndarray, optional
        Array to write the result to, of its shape and dtype, as in
        `convolve`; returned.

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
    key = pool_key(x, output_size, None, op, axes, 0, False, p, None, False, False, workers,
                   True)
    return _run(key, lambda: adaptive_problem(x, output_size, op, axes, p, workers), x, out)
