"""The convolution problem every method takes: a call in correlation form.

`fastconv._normal` validates a public call and builds a `ConvProblem` with
`reduce_to_correlation`; the separable method derives the problems of its
1-D passes with the same function, from arrays it already trusts. Nothing
here checks its arguments.
"""

import math

import numpy as np

__all__ = ["ConvProblem", "batch_offsets", "cast_result", "compute_dtype", "kernel_ready", "layout_for_kernel",
           "reduce_to_correlation"]


NO_BATCH = np.zeros(1, dtype=np.intp)
NO_BATCH.flags.writeable = False


def batch_offsets(strides, shape, out_shape, itemsize):
    """Element offset of every broadcast batch element (C order of out_shape)."""
    if not out_shape:
        return NO_BATCH
    off = np.zeros((1,) * len(out_shape), dtype=np.intp)
    for i, (length, stride) in enumerate(zip(shape, strides)):
        if length > 1:
            idx_shape = [1] * len(out_shape)
            idx_shape[i] = length
            off = off + (np.arange(length, dtype=np.intp) * (stride // itemsize)).reshape(idx_shape)
    return np.ascontiguousarray(np.broadcast_to(off, out_shape).ravel())


def kernel_ready(arr, dtype):
    """Whether the kernels can read `arr` in place as `dtype`: same dtype,
    aligned, strides in whole elements, unit-stride last axis."""
    isz = dtype.itemsize
    return (arr.dtype == dtype and arr.flags.aligned
            and all(st % isz == 0 for st in arr.strides)
            and (arr.shape[-1] == 1 or arr.strides[-1] == isz))


def layout_for_kernel(arr, dtype):
    """View or copy of `arr` in `dtype` whose last axis is unit-stride and aligned."""
    arr = arr.astype(dtype, copy=False)
    # ascontiguousarray alone returns a contiguous but misaligned array as it is
    return arr if kernel_ready(arr, dtype) else np.require(arr, dtype, ("C", "A"))


def cast_result(result, dtype, out=None):
    """`result` in `dtype`, into `out` when given (then `out`).

    A float16 result is rounded from float32: beyond 65504 it is infinite,
    as IEEE rounding makes it, without a warning."""
    if out is None and result.dtype == dtype:
        return result  # the common case: no cast, no error state to set
    with np.errstate(over="ignore"):
        if out is not None:
            np.copyto(out, result, casting="unsafe")
            return out
        return result.astype(dtype, copy=False)


def compute_dtype(result_dtype):
    """Dtype the direct kernel computes in for a given result dtype."""
    if result_dtype.kind in "biu":
        # Integer results are exact modulo 2**64, hence equal to SciPy's
        # (wrapping) values once reduced to the result type.
        return np.dtype(np.int64)
    if result_dtype == np.float16:
        return np.dtype(np.float32)
    return result_dtype.newbyteorder("=")


def flip_index(ndim, axes):
    """Index tuple reversing `axes` of an `ndim`-dimensional array."""
    return tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(ndim))


class ConvProblem:
    """A convolution or correlation call reduced to correlation form.

    ``out[b, i] = sum_t x_ext[b, i + t + s] * v[b, t]`` along `conv_axes`,
    where ``x_ext`` is `x` extended by the boundary rule `bname` (with
    `fill` for ``'fill'``); ``n``, ``k``, ``m``, ``s`` are per convolved axis
    the lengths of `x`, `v`, the output and the start offset; `x` and `v`
    broadcast to `batch_out` along `batch_axes`.

    `x` and `v` are views: `x` is `in1` (or, when `swapped`, `in2` flipped
    and conjugated as correlation needs) and `v` the kernel. `in1`, `in2`
    are the call's arrays, `is_convolve` says which operation it was.
    """

    __slots__ = ("in1", "in2", "mode", "bname", "fill", "fill_is_zero", "nthreads",
                 "is_convolve", "swapped", "result_dtype", "compute_dtype", "conv_axes",
                 "batch_axes", "batch_out", "x", "v", "n", "k", "m", "s")

    @property
    def out_size(self):
        """Number of elements of the result."""
        return math.prod(self.batch_out) * math.prod(self.m)

    @property
    def out_shape(self):
        """Shape of the result, in the axis order of the inputs."""
        shape = [0] * self.x.ndim
        for a, length in zip(self.batch_axes, self.batch_out):
            shape[a] = length
        for a, length in zip(self.conv_axes, self.m):
            shape[a] = length
        return tuple(shape)


def reduce_to_correlation(in1, in2, mode, conv_axes, bname, fill, nthreads, is_convolve,
                          result_dtype):
    """The `ConvProblem` of ``convolve(in1, in2)`` (or ``correlate``), trusted inputs.

    `in1` and `in2` are numeric arrays of the same dimensionality whose
    lengths broadcast along the axes not in `conv_axes` (sorted); `fill` is a
    0-d array of `result_dtype`; in ``'valid'`` mode one input contains the
    other along `conv_axes`.
    """
    ndim = in1.ndim
    batch_axes = [a for a in range(ndim) if a not in conv_axes]
    fill_is_zero = bname == "fill" and not fill.any()
    size1 = math.prod(in1.shape[a] for a in conv_axes)
    size2 = math.prod(in2.shape[a] for a in conv_axes)
    if mode == "valid":
        swapped = not all(in1.shape[a] >= in2.shape[a] for a in conv_axes)
    else:
        # With a zero extension the full output is symmetric in the inputs:
        # run the kernel over the larger one (as SciPy does), since the
        # direct method costs (input size) x (kernel size) x (fraction of the
        # kernel inside the input).
        swapped = mode == "full" and fill_is_zero and size2 > size1

    # Correlation form: out[i] = sum_t x_ext[i + t + s] * v[t].
    # convolve(a, b) == convolve(b, a), correlate(a, b) == convolve(a, flip(conj(b))).
    flip = flip_index(ndim, conv_axes)
    second = np.conj(in2) if (not is_convolve and in2.dtype.kind == "c") else in2
    if not swapped:
        x = in1
        v = second[flip] if is_convolve else second
    else:
        x = second if is_convolve else second[flip]
        v = in1[flip]

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

    p = ConvProblem()
    p.in1, p.in2, p.mode, p.bname, p.fill = in1, in2, mode, bname, fill
    p.fill_is_zero, p.nthreads, p.is_convolve, p.swapped = fill_is_zero, nthreads, is_convolve, swapped
    p.result_dtype, p.compute_dtype = result_dtype, compute_dtype(result_dtype)
    p.conv_axes, p.batch_axes = list(conv_axes), batch_axes
    p.batch_out = [max(in1.shape[a], in2.shape[a]) for a in batch_axes]
    p.x, p.v, p.n, p.k, p.m, p.s = x, v, n, k, m, s
    return p


class PoolProblem:
    """A validated pooling call, for every input of its shape and dtype.

    `axes` are the pooled axes, ascending; `windows` one `AxisWindows` per
    pooled axis (see `fastconv._methods.pooling`); `op` the reduction, `p`
    its exponent for ``'lp'``; `weights` the window weights of
    ``'weighted'`` (float64, axes ascending, or None for the Gaussian) and
    `weight_sums` their sums over every window (None without weights);
    `out_shape` and `result_dtype` describe the result (for
    `return_indices`, the values; the indices are int64 of the same shape);
    `blocks` holds the compiled one-pass 2-D plan (`Blocks2D`) when it applies.
    """

    __slots__ = ("axes", "windows", "op", "p", "weights", "weight_sums", "count_include_pad",
                 "return_indices", "nthreads", "result_dtype", "out_shape", "blocks")
