"""`conv`, `conv1d`, `conv2d`, `conv3d` and `choose_method`."""

import numpy as np

from .._kernels._calls import bounds_overlap
from .._methods import layer
from .._normal.layer import METHODS, check_method, layer_key, layer_problem
from .._normal.validation import check_bool, check_out
from .._plan import costmodel
from .._plan.cache import PlanCache
from .._plan.measure import best_time

__all__ = ["METHODS", "choose_method", "conv", "conv1d", "conv2d", "conv3d"]

# Plans of recent layer calls whose method does not depend on the input values.
_plans = PlanCache(maxsize=256)

# fastconv.nn's names of the ConvProblem methods the cost model knows.
_LAYER_NAME = {"direct": "direct", "im2col": "gemm", "fft": "fft", "winograd": "winograd"}


def _candidates(lp):
    # im2col's products have one column per output channel of a group: for
    # a single one they are matrix-vector products, the direct kernel's work
    many = lp.c_out // lp.groups > 1
    methods = ["direct", "fft"] + (["im2col"] if many else [])
    # Winograd's error stays within 10x the direct method's in float32 (and
    # float16, summed in float32), tested; float64 keeps its exact-er methods
    if many and layer.winograd_applies(lp) and lp.compute_dtype == np.float32:
        methods.append("winograd")
    return methods


def _auto(lp, p):
    """(method, whether the choice holds for every input of these layouts)."""
    method, by_shape = costmodel.cheapest(p, _candidates(lp), lp)
    return _LAYER_NAME[method], by_shape


def _conv(x, weight, bias, stride, padding, dilation, groups, padding_mode, method, workers,
          out, nsp):
    key = layer_key(x, weight, bias, stride, padding, dilation, groups, padding_mode, method,
                    workers, nsp)
    if key is not None:
        pl = _plans.get(key)
        if pl is not None:
            if out is not None:
                check_out(out, pl.lp.out_shape, pl.lp.result_dtype)
                if _overlaps(out, x, weight, bias):
                    out[...] = pl.run(x, weight, bias)
                    return out
            return pl.run(x, weight, bias, out)
    if not isinstance(method, str) or (method != "auto" and method not in METHODS):
        # before the arrays are looked at, as every unknown method
        check_method(method, None)
    lp = layer_problem(x, weight, bias, stride, padding, dilation, groups, padding_mode,
                       workers, nsp)
    method = check_method(method, lp)
    p = layer.conv_problem(lp)
    chosen, by_shape = _auto(lp, p) if method == "auto" else (method, True)
    pl = None
    if key is not None and by_shape:
        pl = layer.plan(lp, p, chosen)
        _plans.put(key, pl)
    if pl is not None and pl.direct is not None:
        # the direct kernel's plan was just made: run it, rather than plan again
        def compute(target=None):
            return pl.run(x, weight, bias, target)
    else:
        def compute(target=None):
            return layer.run(lp, p, chosen, target)
    if out is not None:
        check_out(out, lp.out_shape, lp.result_dtype)
        if _overlaps(out, lp.x, lp.weight, lp.bias):
            out[...] = compute()
            return out
    return compute(out)


def _overlaps(out, *arrays):
    return any(bounds_overlap(out, a) for a in arrays if a is not None)


_PARAMS = """
    stride : int or sequence of int, optional
        Step between output positions, one for every spatial axis or one
        per axis; default 1.
    padding : int, sequence, 'valid' or 'same', optional
        Padding added to the input along the spatial axes: an int (both
        sides of every axis), one int per axis (both sides), one
        ``(before, after)`` pair per axis, ``'valid'`` (none, the default
        0) or ``'same'``, which pads ``total = (ceil(n / stride) - 1) *
        stride + dilation * (k - 1) + 1 - n`` samples (at least 0),
        ``total // 2`` before and the rest after, so that the output has
        ``ceil(n / stride)`` positions: PyTorch's rule for stride 1 (which
        PyTorch alone accepts) and TensorFlow's for larger strides.
    dilation : int or sequence of int, optional
        Spacing between kernel taps; default 1.
    groups : int, optional
        Number of blocked connections from input to output channels: both
        channel counts must be divisible by it, and output channel ``o``
        sees the input channels of group ``o // (C_out // groups)``.
        ``groups == C_in == C_out`` is a depthwise convolution. Default 1.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, optional
        What the padding holds, as ``torch.nn.Conv2d``'s `padding_mode`:
        zeros, the input reflected about its edge samples (which are not
        repeated: each pad must be shorter than the input), its edge
        samples repeated, or the input repeated periodically (each pad at
        most the input's length). Default 'zeros'.
    method : {'auto', 'direct', 'gemm', 'winograd', 'fft'}, optional
        ``'direct'``: window sums by compiled kernels; for float layers
        the multi-channel kernel (an implicit GEMM: each image packed once,
        padded, into phases of the strides, several output channels
        accumulated in registers per loaded input vector), for integer and
        complex ones the direct kernel of `fastconv.correlate` with the
        channels summed as kernel rows. ``'gemm'``: each (image, group) as a
        matrix product of lowered tiles of the input (bounded by
        `fastconv.get_workspace_limit`) and the group's kernels, through
        BLAS. ``'winograd'``: Winograd F(4x4, 3x3) (4 times fewer
        multiplications) on outputs of at least 21 columns, else F(2x2,
        3x3) (2.25 times fewer), for 2-D 3x3 layers without stride or
        dilation of floating dtypes only (others are a ValueError naming
        `method`); its float32 error stays within 10 times the direct
        method's.
        ``'fft'``: the input maps and kernels transformed once each, the
        channel sums taken at every frequency bin, for large kernels
        (weight spectra are cached by the weights' contents). ``'auto'``
        (default) takes the one `choose_method` predicts fastest (Winograd
        for float32 and float16 only). Every other method accepts every
        layer and gives the same result to rounding; integers are exact
        with each.
    workers : int, optional
        Number of threads, as in `fastconv.convolve`.
    out : ndarray, optional
        Array of the result's shape and dtype (any memory layout) to write
        the result into; returned. An `out` that overlaps an input gives the
        result of a call without it.

    Returns
    -------
    ndarray
        ``(N, C_out, *out_spatial)`` (``(C_out, *out_spatial)`` for an
        unbatched `x`), with ``out_spatial = floor((n + before + after -
        dilation * (k - 1) - 1) / stride) + 1`` along each axis, of the
        dtype of the inputs.

    Raises
    ------
    ValueError
        For an input, weight or bias of the wrong shape, channel count
        (with a hint for channels-last arrays) or dtype; `groups` not
        dividing the channel counts; a stride, dilation or groups below 1;
        negative padding, or padding beyond what `padding_mode` allows; a
        kernel larger than the padded input; an unknown `method` or
        `padding_mode`; an `out` of the wrong shape or dtype.
    TypeError
        For non-numeric or boolean arrays and non-integer parameters.
"""

_NOTES = """
    Notes
    -----
    This is the convolution of deep-learning libraries, a cross-correlation:
    ``out[n, o, i] = bias[o] + sum_{c, t} xpad[n, c + g * C_in / groups, i *
    stride + t * dilation] * weight[o, c, t]`` with ``g`` the group of
    output channel ``o``. The kernel is not flipped and complex kernels are
    not conjugated (`fastconv.correlate` conjugates, as SciPy's does), and
    the sum runs over the input channels. Results, shapes and dtypes equal
    ``torch.nn.functional.conv1d/2d/3d``'s. float32, float64, complex64 and
    complex128 are computed in their own precision; float16 in float32,
    with the bias added before the one rounding to float16; integer dtypes
    (PyTorch has no integer convolution on the CPU) exactly, with the
    result wrapped modulo ``2**bits`` of the dtype as
    `fastconv.correlate` wraps it. Inputs of any memory layout and byte
    order are read as they are and never modified.
"""


def conv(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
         padding_mode="zeros", method="auto", workers=None, out=None):
    return _conv(x, weight, bias, stride, padding, dilation, groups, padding_mode, method,
                 workers, out, None)


conv.__doc__ = """Convolution layer over any number of spatial axes, channels first.

    Parameters
    ----------
    x : array_like
        Input ``(N, C_in, *spatial)``, or unbatched ``(C_in, *spatial)``,
        with as many spatial axes as the kernel.
    weight : array_like
        Kernels ``(C_out, C_in // groups, *kernel_size)``; its number of
        dimensions less two is the number of spatial axes (at least 1).
    bias : array_like, optional
        ``(C_out,)``, added to every output of its channel.""" + _PARAMS + """
    See Also
    --------
    conv1d, conv2d, conv3d : the same with PyTorch's positional parameters.
    choose_method : the method ``method='auto'`` takes.
    fastconv.correlate : SciPy's correlation (conjugated, no channel sum).
""" + _NOTES + """
    Examples
    --------
    >>> import numpy as np
    >>> import fastconv.nn as nn
    >>> x = np.ones((2, 3, 8, 8), np.float32)          # 2 images, 3 channels
    >>> w = np.ones((4, 3, 3, 3), np.float32)          # 4 kernels of 3x3
    >>> y = nn.conv(x, w, padding=1)
    >>> y.shape
    (2, 4, 8, 8)
    >>> float(y[0, 0, 4, 4]), float(y[0, 0, 0, 0])     # 27 taps inside, 12 at a corner
    (27.0, 12.0)
    >>> nn.conv(x, w, stride=2, padding='same').shape
    (2, 4, 4, 4)
    """


def _positional(nsp):
    def convnd(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
               padding_mode="zeros", method="auto", workers=None, out=None):
        return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode,
                     method, workers, out, nsp)

    name = f"conv{nsp}d"
    convnd.__name__ = convnd.__qualname__ = name
    shape = ", ".join("LHW"[3 - nsp:] if nsp < 3 else "DHW")
    kshape = ", ".join(("kL",) if nsp == 1 else ("kH", "kW") if nsp == 2 else ("kD", "kH", "kW"))
    example = {
        1: (">>> x = np.ones((1, 2, 10))\n    >>> w = np.ones((3, 2, 4))\n"
            "    >>> nn.conv1d(x, w, None, 2).shape\n    (1, 3, 4)"),
        2: (">>> x = np.ones((1, 2, 10, 10), np.float32)\n"
            "    >>> w = np.ones((3, 2, 3, 3), np.float32)\n"
            "    >>> nn.conv2d(x, w, None, 1, 1).shape\n    (1, 3, 10, 10)"),
        3: (">>> x = np.ones((1, 2, 6, 6, 6))\n    >>> w = np.ones((3, 2, 3, 3, 3))\n"
            "    >>> nn.conv3d(x, w, None, 1, 'same').shape\n    (1, 3, 6, 6, 6)"),
    }[nsp]
    convnd.__doc__ = f"""{nsp}-D convolution layer, ``torch.nn.functional.{name}``'s signature.

    `conv` with PyTorch's positional order of the parameters and a check
    that the kernel has {nsp} spatial axes.

    Parameters
    ----------
    input : array_like
        ``(N, C_in, {shape})`` or unbatched ``(C_in, {shape})``.
    weight : array_like
        ``(C_out, C_in // groups, {kshape})``.
    bias : array_like, optional
        ``(C_out,)``.""" + _PARAMS + f"""
    See Also
    --------
    conv : any number of spatial axes.
""" + _NOTES + f"""
    Examples
    --------
    >>> import numpy as np
    >>> import fastconv.nn as nn
    {example}
    """
    return convnd


conv1d = _positional(1)
conv2d = _positional(2)
conv3d = _positional(3)


def choose_method(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
                  padding_mode="zeros", workers=None, measure=False):
    """The method ``method='auto'`` takes for this layer, or the fastest measured.

    Without `measure`, the cost model of `fastconv.choose_conv_method`
    predicts each method's time from the layer's shapes and dtype and takes
    the least, after the same guards (no ``'fft'`` for inputs holding a NaN
    or an infinity, nor for integers whose exact result float64 FFTs cannot
    guarantee; no ``'gemm'`` for integers float64 sums cannot hold).

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, padding_mode, workers
        As for `conv`.
    measure : bool, optional
        If True, run the layer with every method and return the fastest
        with the times (best of a few runs, in seconds). Default False.

    Returns
    -------
    method : str
        ``'direct'``, ``'gemm'``, ``'winograd'`` or ``'fft'``.
    times : dict
        Only with ``measure=True``: the time of each method that applies.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv.nn as nn
    >>> x = np.zeros((1, 8, 32, 32), np.float32)
    >>> nn.choose_method(x, np.zeros((8, 8, 3, 3), np.float32), padding=1) in nn.METHODS
    True
    >>> method, times = nn.choose_method(x, np.zeros((8, 8, 3, 3), np.float32), measure=True)
    >>> sorted(times)
    ['direct', 'fft', 'gemm', 'winograd']
    """
    measure = check_bool(measure, "measure")
    lp = layer_problem(x, weight, bias, stride, padding, dilation, groups, padding_mode,
                       workers)
    p = layer.conv_problem(lp)
    if not measure:
        return _auto(lp, p)[0]
    times = {}
    for name in layer.LAYER_METHODS:
        if name == "winograd" and not layer.winograd_applies(lp):
            continue
        times[name] = best_time(lambda: layer.run(lp, p, name))
    return min(times, key=times.get), times
