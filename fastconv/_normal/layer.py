"""Validation of convolution-layer calls (`fastconv.nn`) into a `LayerProblem`.

Every check of a `fastconv.nn.conv` argument happens here; the errors say
what PyTorch's would, name the parameter and, where a common mistake
explains them, add a hint (a channels-last array, a kernel larger than the
padded input).
"""

import math
import sys

import numpy as np

from .._kernels import _calls, _direct
from .._methods.layer import LAYER_METHODS, PADDING_MODES, LayerProblem, winograd_applies
from .._methods.problem import compute_dtype
from .threads import resolve_workers
from .validation import as_numeric_array, check_allocatable, check_int, per_axis_ints

__all__ = ["METHODS", "check_method", "layer_key", "layer_problem"]

# the values `method` takes besides "auto"
METHODS = LAYER_METHODS


def _per_axis(value, name, nsp, minimum):
    """One int per spatial axis from an int or a sequence of `nsp` ints (a
    quarter of the index range at most: output sizes multiply them)."""
    return per_axis_ints(value, name, nsp, minimum, "spatial", sys.maxsize // 4)


def _is_sequence(value):
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0)


def _padding(padding, nsp, n, k, stride, dilation):
    """(before, after) lists of the padding, from every accepted form."""
    if isinstance(padding, str):
        if padding == "valid":
            return [0] * nsp, [0] * nsp
        if padding == "same":
            before, after = [], []
            for L, kd, sd, dd in zip(n, k, stride, dilation):
                total = max((-(-L // sd) - 1) * sd + dd * (kd - 1) + 1 - L, 0)
                before.append(total // 2)
                after.append(total - total // 2)
            return before, after
        raise ValueError(f"padding must be an int, a sequence, 'valid' or 'same'; got {padding!r}")
    if not _is_sequence(padding):
        p = _per_axis(padding, "padding", nsp, 0)
        return p, list(p)
    values = list(padding)
    if len(values) != nsp:
        raise ValueError(f"padding must be an int, one value per spatial axis ({nsp}) or one "
                         f"(before, after) pair per spatial axis; got {padding!r}")
    before, after = [], []
    for v in values:
        # per axis: an int pads both sides, a pair each side
        if _is_sequence(v):
            if len(v) != 2 or any(_is_sequence(e) for e in v):
                raise ValueError("padding must be an int, one value per spatial axis or one "
                                 f"(before, after) pair per spatial axis; got {padding!r}")
            b, a = _per_axis(list(v), "padding", 2, 0)
        else:
            b = a = _per_axis(v, "padding", 1, 0)[0]
        before.append(b)
        after.append(a)
    return before, after


def _check_dtypes(x, weight, bias):
    if x.dtype.kind == "b":
        raise TypeError("x must be a numeric array, got dtype bool (convert it, e.g. with "
                        "x.astype(np.float32))")
    if weight.dtype.newbyteorder("=") != x.dtype.newbyteorder("="):
        raise ValueError(f"weight must have the dtype of x ({x.dtype}), got {weight.dtype}: "
                         f"convert one of them, e.g. weight.astype(x.dtype)")
    if bias is not None and bias.dtype.newbyteorder("=") != x.dtype.newbyteorder("="):
        raise ValueError(f"bias must have the dtype of x ({x.dtype}), got {bias.dtype}")


def layer_problem(x, weight, bias, stride, padding, dilation, groups, padding_mode, workers,
                  nsp=None):
    """Validate a convolution-layer call and return its `LayerProblem`.

    `nsp` is the number of spatial axes the caller requires (``conv2d``: 2),
    or None for any.
    """
    x = as_numeric_array(x, "x")
    weight = as_numeric_array(weight, "weight")
    bias = None if bias is None else as_numeric_array(bias, "bias")
    if weight.ndim < 3:
        raise ValueError("weight must have shape (out_channels, in_channels // groups, "
                         f"*kernel_size) with at least one spatial axis; got shape "
                         f"{weight.shape}")
    spatial = weight.ndim - 2
    if nsp is not None and spatial != nsp:
        raise ValueError(f"weight must be {nsp + 2}-D for a {nsp}-D convolution "
                         f"(out_channels, in_channels // groups, *kernel_size), got shape "
                         f"{weight.shape}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"x must be {spatial + 2}-D (batch, channels, *spatial) or {spatial + 1}-D "
            f"(channels, *spatial) for a weight of shape {weight.shape}, got shape {x.shape}")
    _check_dtypes(x, weight, bias)
    unbatched = x.ndim == spatial + 1
    xb = x[np.newaxis] if unbatched else x
    groups = check_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups}")
    c_out, c_group = weight.shape[:2]
    c_in = xb.shape[1]
    if c_out % groups:
        raise ValueError(f"groups ({groups}) must divide the number of output channels "
                         f"(weight.shape[0] = {c_out})")
    if c_in != c_group * groups:
        hint = ""
        if xb.shape[-1] == c_group * groups:
            axes = (0, xb.ndim - 1) + tuple(range(1, xb.ndim - 1))
            if unbatched:
                axes = tuple(a - 1 for a in axes[1:])
            hint = f": is the array channels-last? use x.transpose{axes}"
        raise ValueError(
            f"expected x with {c_group * groups} channels (weight.shape[1] * groups = "
            f"{c_group} * {groups}) along axis {0 if unbatched else 1}, got {c_in}{hint}")
    if 0 in xb.shape:
        raise ValueError(f"x is empty (shape {x.shape})")
    if 0 in weight.shape:
        raise ValueError(f"weight is empty (shape {weight.shape})")
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (one value per output channel), "
                         f"got {bias.shape}")
    k = list(weight.shape[2:])
    n = list(xb.shape[2:])
    stride = _per_axis(stride, "stride", spatial, 1)
    dilation = _per_axis(dilation, "dilation", spatial, 1)
    before, after = _padding(padding, spatial, n, k, stride, dilation)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}; "
                         f"got {padding_mode!r}")
    for axis, (L, b, a) in enumerate(zip(n, before, after)):
        if padding_mode == "reflect" and max(b, a) >= L:
            raise ValueError(f"padding ({b}, {a}) along spatial axis {axis} must be smaller "
                             f"than the input's length {L} for padding_mode='reflect'")
        if padding_mode == "circular" and max(b, a) > L:
            raise ValueError(f"padding ({b}, {a}) along spatial axis {axis} must be at most "
                             f"the input's length {L} for padding_mode='circular'")
    out_spatial = []
    for axis, (L, kd, sd, dd, b, a) in enumerate(zip(n, k, stride, dilation, before, after)):
        span = dd * (kd - 1) + 1
        if L + b + a < span:
            raise ValueError(
                f"the kernel ({kd} taps with dilation {dd}: {span} samples) is larger than "
                f"the padded input ({L} + {b} + {a} = {L + b + a}) along spatial axis {axis}: "
                f"pad more (padding='same') or use a smaller kernel")
        out_spatial.append((L + b + a - span) // sd + 1)
    nthreads = resolve_workers(workers)
    result = np.dtype(x.dtype).newbyteorder("=")
    compute = compute_dtype(result)

    lp = LayerProblem()
    lp.x, lp.weight, lp.bias, lp.unbatched = xb, weight, bias, unbatched
    lp.batch, lp.c_in, lp.c_out, lp.groups = xb.shape[0], c_in, c_out, groups
    lp.n, lp.k, lp.stride, lp.dilation = n, k, stride, dilation
    lp.pad_before, lp.pad_after, lp.padding_mode = before, after, padding_mode
    lp.out_spatial = out_spatial
    lp.result_dtype, lp.compute_dtype, lp.nthreads = result, compute, nthreads
    check_allocatable(math.prod(lp.out_shape), compute.itemsize, "the result")
    return lp


_UNCACHED = object()


def _param_key(value):
    """`value` when it is an int, a str, or a tuple/list of ints or of pairs of
    ints (as a tuple), else a marker no valid call's key holds."""
    kind = type(value)
    if kind is int or kind is str:
        return value
    if kind is tuple or kind is list:
        items = []
        for v in value:
            vk = type(v)
            if vk is int:
                items.append(v)
            elif (vk is tuple or vk is list) and len(v) == 2 and all(type(e) is int for e in v):
                items.append((v[0], v[1]))
            else:
                return _UNCACHED
        return (kind is list, tuple(items))
    return _UNCACHED


def layer_key(x, weight, bias, stride, padding, dilation, groups, padding_mode, method,
              workers, nsp):
    """Key of a layer call's plan, or None when the call is not cached.

    Only ndarray arrays and plain Python parameters are cached; the key holds
    the arrays' layouts (dtype, byte order, alignment, shape, strides), the
    parameters with their types, the thread count and the SIMD kernels in
    use: a call with an equal key would validate exactly as the one that
    made the plan.
    """
    if type(x) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    if bias is not None and type(bias) is not np.ndarray:
        return None
    if type(groups) is not int or type(padding_mode) is not str or type(method) is not str:
        return None
    params = (_param_key(stride), _param_key(padding), _param_key(dilation))
    if params[0] is _UNCACHED or params[1] is _UNCACHED or params[2] is _UNCACHED:
        return None
    return (_calls.layout_key(x, weight), None if bias is None else _calls.layout_key(bias),
            params, groups, padding_mode, method, nsp, resolve_workers(workers),
            _direct.simd_generation())


def check_method(method, lp):
    """`method` ('auto' or a name of METHODS) once it can compute layer `lp`."""
    if not isinstance(method, str) or (method != "auto" and method not in METHODS):
        raise ValueError(f"method must be one of {', '.join(map(repr, ('auto',) + METHODS))}; "
                         f"got {method!r}")
    if method == "winograd" and not winograd_applies(lp):
        raise ValueError(
            "method='winograd' computes 2-D layers with 3x3 kernels, stride 1 and dilation 1 "
            f"of floating dtypes; got kernel {tuple(lp.k)}, stride {tuple(lp.stride)}, "
            f"dilation {tuple(lp.dilation)}, dtype {lp.result_dtype}: use method='direct' "
            "or 'gemm'")
    return method
