"""The direct method: window sums by the compiled SIMD kernel.

`plan(p)` turns a `ConvProblem` into a `DirectPlan`, which holds everything
that depends only on the shapes, strides, dtypes and flags of the call (the
kernel's geometry, which input is read in place, how the kernels are
gathered) and runs it on any arrays that share those properties: repeated
calls reuse the plan and only hand the kernel new data pointers.
"""

import math

import numpy as np

from .._kernels import _calls, _direct
from .problem import NO_BATCH, batch_offsets, cast_result, flip_index, kernel_ready

__all__ = ["DirectPlan", "plan", "run"]

def _signed_view(shape, strides, flipped):
    """(byte strides, byte offset of element 0) of a view reversing `flipped`."""
    signed = list(strides)
    offset = 0
    for a in flipped:
        offset += (shape[a] - 1) * strides[a]
        signed[a] = -strides[a]
    return signed, offset


class DirectPlan:
    """The direct method for arrays of given shapes, strides and dtypes.

    Built by `plan` from a `ConvProblem`; `run(in1, in2, out)` computes the
    problem for any `in1`, `in2` with the shapes, strides, dtypes and
    alignment of the problem's. Immutable, so one plan serves concurrent
    calls.
    """

    __slots__ = ("kernel", "order", "inverse", "x_from_in1", "x_flip", "x_conj", "x_copy",
                 "x_shape", "x_byte_offset", "w_from_in1", "w_flip", "w_conj", "w_direct",
                 "w_shape", "w_strides", "w_byte_offset", "kernel_shape", "out_shape",
                 "compute_dtype", "result_dtype", "fill", "writes_result")

    def run(self, in1, in2, out=None):
        """The result for these arrays (written into `out` when given)."""
        x_src = in1 if self.x_from_in1 else in2
        if self.x_copy:
            x = self._materialise(x_src, self.x_flip, self.x_conj)
            x_offset = 0
        else:
            x, x_offset = x_src, self.x_byte_offset
        w_src = in1 if self.w_from_in1 else in2
        if self.w_direct:
            w, w_offset, w_strides = w_src, self.w_byte_offset, self.w_strides
        else:
            w = self._materialise(w_src, self.w_flip, self.w_conj)
            w_offset, w_strides = 0, _c_strides(self.w_shape, w.itemsize)
        conj = self.w_conj and self.w_direct
        if self.writes_result:
            target = out if _writable_in_place(out, self.result_dtype, in1, in2) else None
            if target is None:
                target = np.empty(self.out_shape, dtype=self.compute_dtype)
            self.kernel.run(x, x_offset, w, w_offset, self.w_shape, w_strides, conj, target,
                            self.fill)
            if target is not out and out is not None:
                return cast_result(target, self.result_dtype, out)
            return target
        raw = np.empty(self.kernel_shape, dtype=self.compute_dtype)
        self.kernel.run(x, x_offset, w, w_offset, self.w_shape, w_strides, conj, raw, self.fill)
        result = raw
        if self.inverse is not None:
            result = result.transpose(self.inverse)
        if self.result_dtype == np.bool_:
            result = result != 0
        if out is not None:
            return cast_result(result, self.result_dtype, out)
        return np.ascontiguousarray(cast_result(result, self.result_dtype))

    def _materialise(self, src, flipped, conj):
        view = src[flip_index(src.ndim, flipped)] if flipped else src
        if conj:
            view = np.conj(view)
        if self.order is not None:
            view = view.transpose(self.order)
        # ascontiguousarray alone returns a contiguous but misaligned array as it is
        return np.require(view, self.compute_dtype, ("C", "A"))


def _c_strides(shape, itemsize):
    strides = []
    step = itemsize
    for length in reversed(shape):
        strides.append(step)
        step *= length
    return strides[::-1]


def _writable_in_place(out, dtype, in1, in2):
    """Whether the kernel may write straight into `out` (its shape and
    writeability were checked by validation)."""
    if out is None or out.dtype != dtype:
        return False
    return (_calls.is_c_contiguous_aligned(out) and not _calls.bounds_overlap(out, in1)
            and not _calls.bounds_overlap(out, in2))


def plan(p):
    """The `DirectPlan` of problem `p`."""
    ndim = p.x.ndim
    conv_axes, batch_axes = list(p.conv_axes), list(p.batch_axes)
    order = batch_axes + conv_axes
    identity = order == list(range(ndim))
    compute = p.compute_dtype
    isz = compute.itemsize
    pl = DirectPlan()
    pl.order = None if identity else order
    pl.inverse = None if identity else [order.index(a) for a in range(ndim)]
    pl.compute_dtype, pl.result_dtype = compute, p.result_dtype
    complex_corr = not p.is_convolve and p.in2.dtype.kind == "c"

    # x: in1, or when swapped in2 (flipped and conjugated for a correlation)
    pl.x_from_in1 = not p.swapped
    x_src = p.in1 if not p.swapped else p.in2
    pl.x_flip = conv_axes if (p.swapped and not p.is_convolve) else []
    pl.x_conj = p.swapped and complex_corr
    signed, offset = _signed_view(x_src.shape, x_src.strides, pl.x_flip)
    ordered_strides = [signed[a] for a in order]
    ordered_shape = [x_src.shape[a] for a in order]
    view = x_src[flip_index(ndim, pl.x_flip)].transpose(order)
    pl.x_copy = pl.x_conj or not kernel_ready(view, compute)
    if pl.x_copy:
        ordered_strides = _c_strides(ordered_shape, isz)
        offset = 0
    pl.x_byte_offset = offset
    nb = len(batch_axes)
    xs = [st // isz for st in ordered_strides[nb:]]
    xs[-1] = 1
    x_off = batch_offsets(ordered_strides[:nb], ordered_shape[:nb], p.batch_out, isz)

    # v: flip(in2) (convolve), conj(in2) (correlate), or flip(in1) (swapped)
    pl.w_from_in1 = p.swapped
    w_src = p.in1 if p.swapped else p.in2
    pl.w_flip = conv_axes if (p.swapped or p.is_convolve) else []
    pl.w_conj = complex_corr and not p.swapped
    w_signed, w_offset = _signed_view(w_src.shape, w_src.strides, pl.w_flip)
    pl.w_shape = [w_src.shape[a] for a in order]
    # the gather copies element by element (memcpy): any alignment will do
    pl.w_direct = w_src.dtype == compute
    pl.w_strides = [w_signed[a] for a in order]
    pl.w_byte_offset = w_offset
    ksize = math.prod(p.k)
    if nb:
        w_index = np.arange(math.prod(pl.w_shape[:nb]), dtype=np.intp).reshape(pl.w_shape[:nb])
        w_off = np.ascontiguousarray(np.broadcast_to(w_index, p.batch_out).ravel() * ksize)
    else:
        w_off = NO_BATCH

    n, k, m, s = list(p.n), list(p.k), list(p.m), list(p.s)
    if len(conv_axes) == 1:
        # The kernel works on (rows, columns); a 1-D problem is a single row.
        n, k, m, s, xs = [1] + n, [1] + k, [1] + m, [0] + s, [0] + xs
    pl.kernel = _direct.DirectKernel(compute, n, k, m, s, xs, x_off, w_off,
                                     _direct.BOUNDARY_CODES[p.bname], p.nthreads)
    pl.kernel_shape = tuple(p.batch_out) + tuple(p.m)
    pl.out_shape = p.out_shape
    pl.writes_result = identity and compute == p.result_dtype
    pl.fill = p.fill.astype(compute).tobytes()
    return pl


def run(p, out=None):
    """Compute problem `p` by the direct method."""
    return plan(p).run(p.in1, p.in2, out)
