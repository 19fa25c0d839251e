"""`convolve_separable`: a kernel given by its 1-D factors."""

import numpy as np

from .._kernels._calls import bounds_overlap
from .._methods import separable
from .._normal.conv import check_out, separable_call

__all__ = ["convolve_separable"]


def convolve_separable(in1, kernels, mode="full", *, axes=None, boundary="fill", fillvalue=0,
                       workers=None, out=None):
    """Convolve with a separable kernel given by its 1-D factors.

    Equivalent to ``convolve(in1, K, mode, axes=axes, ...)`` where ``K`` is the
    outer product of `kernels` laid along `axes`, but computed as one 1-D
    pass per axis: ``sum(len(k))`` multiply-adds per output instead of
    ``prod(len(k))``.

    Parameters
    ----------
    in1 : array_like
        Input array.
    kernels : sequence of array_like
        One 1-D kernel per convolved axis, in the order of `axes`.
    mode : {'full', 'valid', 'same'}, optional
        As in `convolve`.
    axes : int or sequence of int, optional
        Axes to convolve along; default all axes of `in1`.
    boundary : {'fill', 'wrap', 'symm', 'reflect', 'mirror', 'nearest'}, optional
        As in `convolve`.
    fillvalue : scalar, optional
        As in `convolve`.
    workers : int, optional
        As in `convolve`.
    out : ndarray, optional
        Array to write the result to, as in `convolve`.

    Returns
    -------
    out : ndarray
        Of dtype ``numpy.result_type(in1, *kernels)``; `out` itself when
        given.

    Raises
    ------
    ValueError
        For a number of kernels different from the number of axes, a kernel
        that is not 1-D or is empty, and as `convolve`.
    TypeError
        For non-numeric kernels, and as `convolve`.

    See Also
    --------
    convolve : ``method='separable'`` finds the factors of a 2-D/N-D kernel.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> img = np.arange(20.0).reshape(4, 5)
    >>> smooth = np.array([1.0, 2.0, 1.0]) / 4
    >>> out = fastconv.convolve_separable(img, [smooth, smooth], mode='same')
    >>> bool(np.allclose(out, fastconv.convolve(img, np.outer(smooth, smooth), mode='same')))
    True
    """
    in1, kernels, axes, mode, bname, fill, nthreads, result_dtype = separable_call(
        in1, kernels, mode, axes, boundary, fillvalue, workers)
    if out is None:
        return separable.run_passes(in1, kernels, axes, mode, bname, fill, nthreads,
                                    result_dtype)
    check_out(out, separable.output_shape(in1.shape, kernels, axes, mode), result_dtype)
    overlaps = bounds_overlap(out, in1) or any(bounds_overlap(out, k) for k in kernels)
    if overlaps:
        np.copyto(out, separable.run_passes(in1, kernels, axes, mode, bname, fill, nthreads,
                                            result_dtype), casting="unsafe")
        return out
    return separable.run_passes(in1, kernels, axes, mode, bname, fill, nthreads, result_dtype,
                                out)
