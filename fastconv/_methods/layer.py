"""Convolution layers (`fastconv.nn`) as problems of the existing methods.

A layer ``out[n, o, i] = bias[o] + sum_{c, t} xpad[n, g*Cg + c, i*stride + t*dilation]
* weight[o, c, t]`` (group ``g = o // Og``, ``Cg = C_in / groups`` and ``Og =
C_out / groups`` channels per group) is a correlation over the axes
(channel-in-group, *spatial) in which the channel axis is summed whole: in
the correlation form of `ConvProblem` that axis has ``n = k = Cg`` and one
output, and the images, groups and output channels are batch axes, the
kernels broadcasting over images and the images over output channels::

    x : (N, G, 1,  Cg, *n)      a view of the input, never copied
    v : (1, G, Og, Cg, *k)      a view of the weight

so the direct kernel sums channels as it sums kernel rows (as planes), and
im2col turns each (image, group) into one GEMM with the group's Og kernels
as columns. Padding is the start offset of the window (``s = -before``)
and the boundary rule of `padding_mode`; nothing is padded or copied.

Strides and dilations the kernels do not take are changed into axes they
do: the input is padded once (in the compute dtype) and along every axis
with a stride or a dilation the view ``x'[..., t, i] = xpad[..., i*stride +
t*dilation]`` (a strided view, no copy) replaces the axis, with the taps ``t``
summed whole (``n = k`` = taps, one output) and the output positions ``i``
reached by a kernel of length 1.

The layer's convolution is a cross-correlation without conjugation (deep
learning's convention); the problem is posed as a convolution with the
flipped weight, whose correlation form is the weight itself.

Float layers by the direct method do not go through `ConvProblem`: the
multi-channel kernel (`run_direct_channels`, `fastconv._kernels._layer`)
packs each image into a padded polyphase buffer and blocks output channels
in registers; its geometry (`channels_geometry`) is kept by the layer's
plan. Winograd and the channel-summed FFT likewise run on the layer itself.
"""

import collections
import hashlib
import math
import threading

import numpy as np
import scipy.fft as sfft

from . import direct
from . import run as run_method
from .._kernels import _direct, _layer, _winograd
from .._kernels._calls import is_c_contiguous_aligned
from .problem import ConvProblem, cast_result, flip_index
from .workspace import get_workspace_limit, scratch, scratch_array

__all__ = ["LAYER_METHODS", "PADDING_MODES", "LayerPlan", "LayerProblem", "conv_problem", "plan",
           "run"]

# The methods a layer can take, by their fastconv.nn names.
LAYER_METHODS = ("direct", "gemm", "winograd", "fft")
# fastconv.nn's name -> the kernels' boundary rule (PyTorch's 'reflect' does
# not repeat the edge sample: SciPy's and fastconv's 'mirror').
PADDING_MODES = {"zeros": "fill", "reflect": "mirror", "replicate": "nearest",
                 "circular": "wrap"}
# fastconv.nn's method name -> the ConvProblem method that runs it.
_CONV_METHODS = {"direct": "direct", "gemm": "im2col", "fft": "fft"}


class LayerProblem:
    """A validated convolution-layer call.

    `x` is the input with a batch axis (``(N, C_in, *n)``, a view of the
    caller's array), `weight` ``(C_out, C_in / groups, *k)`` and `bias`
    ``(C_out,)`` or None, all of the caller's dtype and layout; the other
    attributes are per spatial axis (`n`, `k`, `stride`, `dilation`,
    `pad_before`, `pad_after`, `out_spatial`) or the call's scalars.
    """

    __slots__ = ("x", "weight", "bias", "unbatched", "batch", "c_in", "c_out", "groups",
                 "n", "k", "stride", "dilation", "pad_before", "pad_after", "padding_mode",
                 "out_spatial", "result_dtype", "compute_dtype", "nthreads")

    @property
    def out_shape(self):
        """Shape of the result (without the batch axis for an unbatched call)."""
        shape = (self.c_out, *self.out_spatial)
        return shape if self.unbatched else (self.batch, *shape)

    @property
    def macs(self):
        """Multiply-adds of the layer (bias not counted)."""
        return (self.batch * self.c_out * math.prod(self.out_spatial)
                * (self.c_in // self.groups) * math.prod(self.k))

    def with_arrays(self, x, weight, bias):
        """The same problem for other arrays of the same layouts (x as the
        caller passed it)."""
        new = LayerProblem()
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        new.x = x[np.newaxis] if self.unbatched else x
        new.weight, new.bias = weight, bias
        return new

    @property
    def plain(self):
        """Whether no axis has a stride or a dilation (the kernels take it as it is)."""
        return all(s == 1 for s in self.stride) and all(d == 1 for d in self.dilation)


def _boundary_index(length, before, after, mode):
    """Index into [0, length) of each padded position (-1: a zero)."""
    pos = np.arange(-before, length + after, dtype=np.intp)
    if mode == "zeros":
        return np.where((pos >= 0) & (pos < length), pos, -1)
    if mode == "replicate":
        return np.clip(pos, 0, length - 1)
    if mode == "circular":
        return pos % length
    if length == 1:
        return np.zeros_like(pos)
    period = 2 * length - 2
    pos = pos % period
    return np.where(pos < length, pos, period - pos)


def padded_shape(lp, at_least=None):
    """Shape of `padded_input(lp, at_least)`."""
    padded = [L + b + a for L, b, a in zip(lp.n, lp.pad_before, lp.pad_after)]
    if at_least is not None:
        padded = [max(p, size) for p, size in zip(padded, at_least)]
    return [lp.batch, lp.c_in] + padded


def padded_input(lp, at_least=None, target=None):
    """The input padded as `padding_mode` says, C-contiguous in the compute
    dtype; with `at_least` (one size per spatial axis), zeros after the
    padding of an axis shorter than that. Written into `target` when given
    (C-contiguous, of `padded_shape` and the compute dtype, any contents)."""
    x = lp.x
    shape = padded_shape(lp, at_least)
    if target is not None:
        inner = [slice(b, b + L) for L, b in zip(lp.n, lp.pad_before)]
        if lp.padding_mode == "zeros":
            source = x
        else:
            source = padded_input(lp)
            inner = [slice(0, n) for n in source.shape[2:]]
        # zeros where no sample goes: before and after the samples, per axis
        for axis, part in enumerate(inner):
            lead = (slice(None),) * (axis + 2)
            target[lead + (slice(0, part.start),)] = 0
            target[lead + (slice(part.stop, None),)] = 0
        np.copyto(target[(slice(None), slice(None)) + tuple(inner)], source, casting="unsafe")
        return target
    if lp.padding_mode == "zeros":
        xpad = np.zeros(shape, lp.compute_dtype)
        inner = (slice(None), slice(None)) + tuple(
            slice(b, b + L) for L, b in zip(lp.n, lp.pad_before))
        np.copyto(xpad[inner], x, casting="unsafe")
        return xpad
    xpad = x
    for axis, (L, b, a) in enumerate(zip(lp.n, lp.pad_before, lp.pad_after)):
        if b or a:
            xpad = xpad.take(_boundary_index(L, b, a, lp.padding_mode), axis=axis + 2)
    if list(xpad.shape) != shape:
        grown = np.zeros(shape, lp.compute_dtype)
        np.copyto(grown[tuple(slice(0, n) for n in xpad.shape)], xpad, casting="unsafe")
        return grown
    return np.require(xpad, lp.compute_dtype, ("C", "A"))


def conv_problem(lp):
    """The `ConvProblem` of layer `lp` (see the module's docstring).

    Its result, of shape ``(N, G, Og, 1, ...)``, is the layer's output
    ``(N, C_out, *out_spatial)`` once reshaped (both C-ordered).
    """
    G = lp.groups
    cg, og = lp.c_in // G, lp.c_out // G
    weight = lp.weight.reshape((G, og, cg, *lp.k))[np.newaxis]
    if lp.plain:
        x = lp.x.reshape((lp.batch, G, cg, *lp.n))[:, :, np.newaxis]
        n, k, m = [cg] + lp.n, [cg] + lp.k, [1] + lp.out_spatial
        s = [0] + [-b for b in lp.pad_before]
        bname = PADDING_MODES[lp.padding_mode] if any(lp.pad_before + lp.pad_after) else "fill"
    else:
        xpad = padded_input(lp)
        shape, strides = [lp.batch, G, 1, cg], [xpad.strides[0], cg * xpad.strides[1], 0,
                                                xpad.strides[1]]
        wshape = [1, G, og, cg]
        n, k, m = [cg], [cg], [1]
        for axis, (kd, sd, dd, od) in enumerate(zip(lp.k, lp.stride, lp.dilation,
                                                   lp.out_spatial)):
            st = xpad.strides[axis + 2]
            if sd == 1 and dd == 1:
                length = xpad.shape[axis + 2]
                shape.append(length)
                strides.append(st)
                wshape.append(kd)
                n, k, m = n + [length], k + [kd], m + [od]
            else:
                # taps summed whole, then output positions reached by a 1-tap kernel
                shape += [kd, od]
                strides += [dd * st, sd * st]
                wshape += [kd, 1]
                n, k, m = n + [kd, od], k + [kd, 1], m + [1, od]
        x = np.lib.stride_tricks.as_strided(xpad, shape, strides, writeable=False)
        weight = weight.reshape(wshape)
        s = [0] * len(n)
        bname = "fill"

    ndim = x.ndim
    conv_axes = list(range(3, ndim))
    p = ConvProblem()
    p.in1, p.in2 = x, weight[flip_index(ndim, conv_axes)]
    p.mode = "layer"
    p.bname = bname
    p.fill_is_zero = bname == "fill"
    p.nthreads = lp.nthreads
    p.is_convolve, p.swapped = True, False
    # float16 is summed in float32 and rounded once, after the bias
    p.compute_dtype = lp.compute_dtype
    p.result_dtype = lp.compute_dtype if lp.result_dtype == np.float16 else lp.result_dtype
    p.fill = np.zeros((), p.result_dtype)
    p.conv_axes, p.batch_axes = conv_axes, [0, 1, 2]
    p.batch_out = [lp.batch, G, og]
    p.x, p.v, p.n, p.k, p.m, p.s = x, weight, n, k, m, s
    return p


def _bias_shape(lp):
    return (lp.c_out,) + (1,) * len(lp.out_spatial)


def _target(out, dtype, shape):
    """`out` as the kernels' output array when they can write into it, else None."""
    if out is not None and out.dtype == dtype and is_c_contiguous_aligned(out):
        return out.reshape(shape)
    return None


def _finish(lp, result, bias, dtype, out, target):
    """The layer's result from the methods' `result` (of `dtype`): bias added,
    batch axis dropped for an unbatched call, rounded and written to `out`."""
    result = result.reshape((lp.batch, lp.c_out, *lp.out_spatial))
    if bias is not None:
        bias = bias.astype(dtype, copy=False).reshape(_bias_shape(lp))
        # integer sums wrap modulo 2**bits as the products' sums do
        np.add(result, bias, out=result, casting="unsafe")
    if lp.unbatched:
        result = result[0]
    if out is not None:
        if target is not None:
            return out
        return cast_result(result, lp.result_dtype, out)
    return cast_result(result, lp.result_dtype)


def run(lp, p, method, out=None):
    """Compute layer `lp`, whose problem is `p` (`conv_problem`), by `method`
    (a name of `LAYER_METHODS`), into `out` when given (an array of the
    result's shape and dtype, overlapping no input)."""
    if method == "direct" and direct_channels_applies(lp):
        target = _target(out, p.result_dtype, (lp.batch, lp.c_out, *lp.out_spatial))
        result = run_direct_channels(lp, None, target)
        return _finish(lp, result, None, p.result_dtype, out, target)
    if method == "fft" and channel_fft_applies(lp):
        return _finish(lp, run_fft_channels(lp), lp.bias, p.result_dtype, out, None)
    if method == "winograd":
        target = _target(out, p.result_dtype, (lp.batch, lp.c_out, *lp.out_spatial))
        return _finish(lp, run_winograd(lp, target), None, p.result_dtype, out, target)
    target = _target(out, p.result_dtype, p.out_shape)
    result = run_method(p, _CONV_METHODS[method], None, target)
    return _finish(lp, result, lp.bias, p.result_dtype, out, target)


def direct_channels_applies(lp):
    """Whether the multi-channel direct kernel (`fastconv._kernels._layer`)
    computes `lp`: float32 and float64 (float16 computed in float32), up to
    `_layer.MAX_SPATIAL_AXES` spatial axes. Integer and complex layers take
    the direct kernel of `ConvProblem` (exact integer sums)."""
    return (lp.compute_dtype in (np.float32, np.float64)
            and len(lp.k) <= _layer.MAX_SPATIAL_AXES)


def _packed_lengths(lp):
    """Positions per phase along each spatial axis of the packed input: the
    padded length over the stride, rounded up."""
    return [-(-(L + b + a) // s) for L, b, a, s in zip(lp.n, lp.pad_before, lp.pad_after,
                                                       lp.stride)]


def _run_length(out_spatial, qshape):
    """Packed positions of one run: the last two axes' rows, of which the
    last is cut at its outputs (one line in 1-D)."""
    o = out_spatial
    if len(o) == 1:
        return o[0]
    return (o[-2] - 1) * qshape[-1] + o[-1]


def _layer_threads(lp, macs):
    """Threads for `macs` multiply-adds: no more than pay for their waking."""
    return max(1, min(lp.nthreads, macs // _MACS_PER_THREAD))


def _packed_geometry(lp):
    """(phases, packed lengths, source-index tables, their starts) of the
    polyphase packing (`fastconv._kernels._layer`), per spatial axis."""
    phases, qshape, tables, starts = [], [], [], []
    start = 0
    for L, b, a, s, q in zip(lp.n, lp.pad_before, lp.pad_after, lp.stride, _packed_lengths(lp)):
        P = L + b + a
        source = _boundary_index(L, b, a, lp.padding_mode)
        padded = (np.arange(s)[:, None] + s * np.arange(q)[None, :]).ravel()
        table = np.full(s * q, -1, np.int64)
        inside = padded < P
        table[inside] = source[padded[inside]]
        phases.append(s)
        qshape.append(q)
        tables.append(table)
        starts.append(start)
        start += table.size
    # the last axis's positions inside the input, per phase: (lo, hi, source of lo)
    inner = []
    for ph in range(s):
        lo = max(0, -(-(b - ph) // s))
        hi = max(lo, min(q, -(-(b + L - ph) // s)))
        inner += [lo, hi, lo * s + ph - b]
    tables.append(np.asarray(inner, np.int64))
    starts.append(start)
    return phases, qshape, np.concatenate(tables), starts


def _tap_offsets(lp, phases, qshape):
    """Offsets from an output position to its taps in the packed input, for
    the (channel in group, *taps) of a group's weights in C order."""
    d = len(qshape)
    pitch = [math.prod(qshape[i + 1:]) for i in range(d)]
    phase_pitch = [math.prod(phases[i + 1:]) * math.prod(qshape) for i in range(d)]
    plane = math.prod(phases) * math.prod(qshape)
    off = np.zeros([1] * (d + 1), np.intp)
    for i, (kd, dd, sd) in enumerate(zip(lp.k, lp.dilation, lp.stride)):
        reach = np.arange(kd) * dd
        along = (reach % sd) * phase_pitch[i] + (reach // sd) * pitch[i]
        shape = [1] * (d + 1)
        shape[i + 1] = kd
        off = off + along.reshape(shape)
    channels = (np.arange(lp.c_in // lp.groups) * plane).reshape([-1] + [1] * d)
    return np.ascontiguousarray((off + channels).ravel(), dtype=np.intp), pitch


def _runs(lp, qshape, pitch):
    """(starts in packed positions, starts in outputs, length, row length,
    outputs per row) of the runs of one image (see `_layer`)."""
    o = lp.out_spatial
    d = len(o)
    if d == 1:
        return np.zeros(1, np.intp), np.zeros(1, np.intp), o[0], qshape[0], o[0]
    outer = [np.arange(n) for n in o[:d - 2]]
    grid = np.meshgrid(*outer, indexing="ij") if outer else []
    run_q = np.zeros(math.prod(o[:d - 2]), np.intp)
    run_o = np.zeros_like(run_q)
    for i, g in enumerate(grid):
        run_q += g.ravel() * pitch[i]
        run_o += g.ravel() * math.prod(o[i + 1:])
    return run_q, run_o, _run_length(o, qshape), qshape[d - 1], o[d - 1]


# Positions per work item are a multiple of every tile width of the kernel
# sets (16 to 128 floats), so only a run's last item has a partial tile.
_CHUNK_GRAIN = 384


class ChannelsGeometry:
    """What the multi-channel direct kernel needs of a layer beyond its
    arrays (`channels_geometry`): the same for every call of one layer
    key, so plans keep it. `kernel` is the compiled kernel's checked
    `_layer.Geometry`; the others are what this side needs of it."""

    __slots__ = ("pack", "zeros", "kernel", "result_shape")


def channels_geometry(lp, c_contiguous):
    """The `ChannelsGeometry` of layer `lp` for an input of its dtype and
    layout (`c_contiguous`: whether it is C-contiguous in the compute dtype,
    so that a layer without strides and padding reads it in place)."""
    d = len(lp.k)
    geo = ChannelsGeometry()
    pack = not (lp.plain and not any(lp.pad_before + lp.pad_after) and c_contiguous)
    if pack:
        phases, qshape, tables, starts = _packed_geometry(lp)
    else:
        phases, qshape, tables, starts = [1] * d, list(lp.n), np.zeros(1, np.int64), [0] * (d + 1)
    off, pitch = _tap_offsets(lp, phases, qshape)
    run_q, run_o, length, wq, wo = _runs(lp, qshape, pitch)
    og = lp.c_out // lp.groups
    items = lp.groups * run_q.size * -(-og // _layer.channel_block())
    nchunks = max(1, min(-(-4 * lp.nthreads // items), -(-length // _CHUNK_GRAIN)))
    # every block of output channels reads a chunk's input of all of the
    # group's channels: keep that in L2 while the blocks take their turns
    # positions past a chunk its taps reach, within one phase of a channel
    span = sum((k - 1) * dd // sd * pt for k, dd, sd, pt in zip(lp.k, lp.dilation, lp.stride,
                                                               pitch))
    per_position = (lp.c_in // lp.groups) * math.prod(phases) * lp.compute_dtype.itemsize
    fits = max(_CHUNK_GRAIN, _CHUNK_INPUT_BYTES // per_position - span)
    nchunks = max(nchunks, -(-length // fits))
    chunk = -(-length // nchunks)
    chunk = -(-chunk // _CHUNK_GRAIN) * _CHUNK_GRAIN if nchunks > 1 else length
    nthreads = _layer_threads(lp, lp.batch * lp.c_out * off.size * run_q.size * length)
    # an (image, group) per thread at a time when there are enough of them
    # and a group's packed input fits in a core's L2 cache
    group_bytes = (lp.c_in // lp.groups) * math.prod(qshape) * math.prod(phases) * (
        lp.compute_dtype.itemsize)
    per_group = lp.batch * lp.groups >= 2 * nthreads and group_bytes <= _GROUP_INPUT_BYTES
    # groups of one input channel at stride 1: the 2-D direct kernel per
    # output channel, which loads each input row once for all the output
    # rows it feeds (the implicit GEMM loads every tap's vector afresh)
    plane = (d == 2 and lp.c_in == lp.groups and per_group and lp.plain
             and lp.k[0] <= _layer.PLANE_KERNEL_MAX_ROWS)
    geo.pack = pack
    geo.result_shape = (lp.batch, lp.c_out, *lp.out_spatial)
    geo.zeros = np.zeros(lp.c_out, lp.compute_dtype)
    geo.kernel = _layer.Geometry(tables, np.asarray(starts, np.intp),
                                 np.asarray(phases, np.intp), np.asarray(qshape, np.intp), pack,
                                 off, run_q, run_o, length, wq, wo, chunk, lp.groups, nthreads,
                                 per_group, *(lp.k if plane else (0, 0)))
    return geo


# Most bytes of the input a work item's positions read (half a Zen 3
# core's L2).
_CHUNK_INPUT_BYTES = 2**18
# Most bytes of one group's packed input for work items of whole groups.
_GROUP_INPUT_BYTES = 2**18
# Multiply-adds that pay for waking one more thread (about 40 us of one
# core's work; waking a thread costs tens of microseconds).
_MACS_PER_THREAD = 2**21


# Bytes of the vectors of each SIMD level of the kernel sets.
_VECTOR_BYTES = {"baseline": 16, "AVX2+FMA": 32, "AVX-512": 64}


def direct_channel_counts(lp):
    """(vector multiply-adds, bytes moved, threads) of `run_direct_channels`
    on layer `lp`: the multiply-adds include the positions computed and
    dropped between rows, in vectors of the SIMD level in use; the bytes
    count reading the input, writing and reading its packed copy, and
    writing the output."""
    o = lp.out_spatial
    itemsize = lp.compute_dtype.itemsize
    q = _packed_lengths(lp)
    positions = math.prod(o[:-2]) * _run_length(o, q)
    reduction = (lp.c_in // lp.groups) * math.prod(lp.k)
    macs = lp.batch * lp.c_out * reduction * positions
    nbytes = (math.prod(lp.x.shape) + lp.batch * lp.c_out * math.prod(o)) * itemsize
    if not (lp.plain and not any(lp.pad_before + lp.pad_after)):
        nbytes += 2 * lp.batch * lp.c_in * math.prod(q) * math.prod(lp.stride) * itemsize
    threads = _layer_threads(lp, macs)
    lanes = _VECTOR_BYTES.get(_direct.simd_level(), 16) // itemsize
    return macs / lanes, nbytes, threads


def channels_input(x, compute):
    """Input `x` as the multi-channel kernel reads it: of the `compute` dtype
    with element-aligned strides (a copy only when it is not)."""
    if x.dtype != compute or not x.flags.aligned:
        x = np.array(x, dtype=compute)
    return x


def run_direct_channels(lp, geo=None, target=None, arrays=None):
    """Layer `lp` by the multi-channel direct kernel: the result in the
    compute dtype, bias added, ``(N, C_out, *out_spatial)``, written into
    `target` when given (C-contiguous, of that shape and dtype). `geo` is
    the layer's `ChannelsGeometry` for this input (made when None);
    `arrays` (x with its batch axis, weight, bias) replace lp's arrays, of
    the same layouts."""
    compute = lp.compute_dtype
    x, weight, bias = (lp.x, lp.weight, lp.bias) if arrays is None else arrays
    x = channels_input(x, compute)
    if geo is None or (not geo.pack and not x.flags.c_contiguous):
        geo = channels_geometry(lp, x.flags.c_contiguous)
    w = np.ascontiguousarray(weight, dtype=compute)
    init = geo.zeros if bias is None else np.ascontiguousarray(bias, dtype=compute)
    result = target if target is not None else np.empty(geo.result_shape, compute)
    _layer.direct_channels(geo.kernel, x, w, init, result)
    return result


def fft_lengths(lp):
    """Transform length along every spatial axis of the channel-summed FFT:
    the padded input (circular correlation of that length wraps no output
    it keeps), rounded up to a fast length."""
    real = lp.compute_dtype.kind != "c"
    return [sfft.next_fast_len(L + b + a, real=real)
            for L, b, a in zip(lp.n, lp.pad_before, lp.pad_after)]


def channel_fft_applies(lp):
    """Whether the channel-summed FFT computes `lp` (floats and complex;
    integers go through the exact FFT of the ConvProblem)."""
    return lp.compute_dtype.kind in "fc"


def _dilated_weight(lp, dtype):
    """The weight in `dtype` with dilation - 1 zeros between its taps."""
    w = lp.weight.astype(dtype, copy=False)
    if all(d == 1 for d in lp.dilation):
        return w
    shape = w.shape[:2] + tuple(d * (k - 1) + 1 for k, d in zip(lp.k, lp.dilation))
    dilated = np.zeros(shape, dtype)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lp.dilation)] = w
    return dilated


def run_fft_channels(lp):
    """Layer `lp` by FFTs with the channel sums in the frequency domain.

    Each input map and each kernel is transformed once; at every frequency
    bin the (images x channels) spectra times the (channels x kernels)
    conjugated kernel spectra give the output spectra
    (`_direct.spectral_channel_sum`), and one inverse transform per output
    map ends it: ``N*C_in + C_out*Cg + N*C_out`` transforms where a
    transform per (image, kernel, channel) would be ``N*C_out*Cg``.
    Strides keep every stride-th output of the stride-1 result; dilations
    insert zeros into the kernels. Returns the result in the compute dtype,
    shape ``(N, C_out, *out_spatial)``.
    """
    compute = lp.compute_dtype
    real = compute.kind != "c"
    spectrum = np.dtype(np.complex64 if compute.itemsize == 4 or compute == np.complex64
                        else np.complex128)
    lengths = fft_lengths(lp)
    nsp = len(lengths)
    axes = tuple(range(2, 2 + nsp))
    forward = sfft.rfftn if real else sfft.fftn
    xpad = padded_input(lp)
    X = forward(xpad, s=lengths, axes=axes, workers=lp.nthreads)
    nfreq = math.prod(X.shape[2:])
    G = lp.groups
    part = np.dtype(np.float32 if spectrum == np.complex64 else np.float64)
    # split form (real and imaginary parts apart): the micro-kernels then
    # multiply-add without shuffles
    xr, xi = _split(X, part)
    del X
    wr, wi = _weight_spectra(_dilated_weight(lp, compute), lengths, real, part, lp.nthreads)
    yr = np.empty((lp.batch, lp.c_out) + xr.shape[2:], part)
    yi = np.empty_like(yr)
    _direct.spectral_channel_sum(xr.reshape(-1), xi.reshape(-1), wr.reshape(-1),
                                 wi.reshape(-1), yr.reshape(-1), yi.reshape(-1), lp.batch, G,
                                 lp.c_in // G, lp.c_out // G, nfreq, lp.nthreads)
    del xr, xi, wr, wi
    Y = np.empty(yr.shape, spectrum)
    Y.real, Y.imag = yr, yi
    del yr, yi
    if real:
        y = sfft.irfftn(Y, s=lengths, axes=axes, workers=lp.nthreads, overwrite_x=True)
    else:
        y = sfft.ifftn(Y, s=lengths, axes=axes, workers=lp.nthreads, overwrite_x=True)
    keep = (slice(None), slice(None)) + tuple(
        slice(0, (o - 1) * s + 1, s) for o, s in zip(lp.out_spatial, lp.stride))
    return np.ascontiguousarray(y[keep], dtype=compute)


# Weight spectra of recent calls, by the weight's contents: a network's layer
# sees the same weights call after call (inference, or the images of one
# step), and for large kernels their transforms are most of the work.
_spectra = collections.OrderedDict()
_spectra_lock = threading.Lock()


def spectra_cache_limit():
    """Bytes of weight spectra `run_fft_channels` keeps: four times the
    workspace limit (256 MiB by default)."""
    return 4 * get_workspace_limit()


def _weight_spectra(w, lengths, real, part, nthreads):
    """Split spectra (real, imaginary) of the weights `w` (``C_out, Cg, *k``)
    conjugated, at `lengths`: the transform of ``conj(w)`` as the channel sum
    multiplies by its conjugate. Cached by the weights' bytes, so a changed
    weight array is transformed again."""
    w = np.ascontiguousarray(w)
    key = (hashlib.blake2b(w.data, digest_size=16).digest(), w.shape, w.dtype.str,
           tuple(lengths), real)
    with _spectra_lock:
        hit = _spectra.get(key)
        if hit is not None:
            _spectra.move_to_end(key)
            return hit
    source = w if real else np.conj(w)
    nsp = len(lengths)
    # one axis at a time, the last first, each padded only when it is
    # transformed: the other axes still have the kernel's few taps
    W = (sfft.rfft if real else sfft.fft)(source, n=lengths[-1], axis=-1, workers=nthreads)
    for axis in range(nsp - 2, -1, -1):
        W = sfft.fft(W, n=lengths[axis], axis=axis + 2, workers=nthreads, overwrite_x=True)
    entry = _split(W, part)
    del W
    size = entry[0].nbytes + entry[1].nbytes
    with _spectra_lock:
        if size <= spectra_cache_limit():
            _spectra[key] = entry
            total = sum(a.nbytes + b.nbytes for a, b in _spectra.values())
            while total > spectra_cache_limit():
                _, (a, b) = _spectra.popitem(last=False)
                total -= a.nbytes + b.nbytes
    return entry


def _split(spectra, part):
    """(real, imaginary) parts of complex `spectra` as C-contiguous arrays of `part`."""
    return (np.ascontiguousarray(spectra.real, dtype=part),
            np.ascontiguousarray(spectra.imag, dtype=part))


def fft_channel_counts(lp):
    """(butterflies, spectral products, bytes of spectra) of `run_fft_channels`."""
    lengths = fft_lengths(lp)
    length = math.prod(lengths)
    real = lp.compute_dtype.kind != "c"
    butterflies = length * max(math.log2(length), 1.0) / (2 if real else 1)
    points = length // lengths[-1] * (lengths[-1] // 2 + 1) if real else length
    cg = lp.c_in // lp.groups
    transforms = lp.batch * lp.c_in + lp.c_out * cg + lp.batch * lp.c_out
    products = lp.batch * lp.c_out * cg * points
    complex_bytes = 2 * (4 if lp.compute_dtype in (np.float32, np.complex64) else 8)
    nbytes = transforms * points * complex_bytes
    return transforms * butterflies, products, nbytes


def winograd_applies(lp):
    """Whether Winograd F(m x m, 3x3) computes `lp`: 2 spatial axes, a 3x3
    kernel, no stride or dilation, a floating dtype."""
    return (len(lp.k) == 2 and lp.k == [3, 3] and lp.plain
            and lp.compute_dtype.kind == "f")


# Bytes of a chunk's transformed input and products: they stay in L2 between
# the input transform, the products and the output transform.
WINOGRAD_CHUNK_BYTES = 2**20
# Fewest tiles of a chunk (its products' positions).
WINOGRAD_MIN_TILES = 64


def winograd_products_per_output(lp, m):
    """Products of F(m x m, 3x3) per output of layer `lp`: (m + 2)^2 for
    m^2 outputs, the tiles cropped at the output's edges counted whole."""
    tiled = math.prod(-(-n // m) * m for n in lp.out_spatial)
    return (m + 2) ** 2 / m**2 * tiled / max(math.prod(lp.out_spatial), 1)


# Fewest tiles per row of F(4x4, 3x3): its transforms run whole vectors of
# tiles, so narrower rows waste most of each. Measured on one Zen 4 core
# (AVX-512): F(2x2) was faster on 7x7 and 14x14 maps of 128-512 channels,
# F(4x4) from 28x28 up (1.3-2x on 28x28 to 112x112 maps of 64-256 channels).
WINOGRAD_F4_MIN_TILES = 6
# Fewest input channels per group of F(4x4, 3x3): on one (depthwise layers)
# its float32 error measured 10 times the direct sum's, on 2 to 8 channels
# 4-6 times (F(2x2): 0.7-1.2 times).
WINOGRAD_F4_MIN_CHANNELS = 2


def winograd_tile(lp):
    """m of the Winograd F(m x m, 3x3) that computes layer `lp`: 4 (36
    products for 16 outputs) on rows of at least `WINOGRAD_F4_MIN_TILES`
    tiles and groups of at least `WINOGRAD_F4_MIN_CHANNELS` input channels,
    unless its cropped tiles waste so much that 2 (16 products for 4
    outputs) multiplies less; else 2. Both keep the error within 10 times
    the direct method's in float32 (tested against float64)."""
    per4, per2 = (winograd_products_per_output(lp, m) for m in (4, 2))
    wide = -(-lp.out_spatial[-1] // 4) >= WINOGRAD_F4_MIN_TILES
    deep = lp.c_in // lp.groups >= WINOGRAD_F4_MIN_CHANNELS
    return 4 if wide and deep and per4 <= per2 else 2


# Transformed weights of recent Winograd calls, by the weights' contents (a
# network's layer sees the same weights call after call): {(shape, dtype, m,
# groups, channel block, a sample of the weights): (the weights, U)}.
_transformed = collections.OrderedDict()
_transformed_lock = threading.Lock()
# Weights sampled for the key: every this many-th element.
_WEIGHT_SAMPLE_STEP = 97


def _same_bits(a, b):
    """Whether arrays `a` and `b` of one shape and dtype hold the same bits
    (NaNs and signed zeros included)."""
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return np.array_equal(a.view(unsigned), b.view(unsigned))


def _winograd_weights(w, groups, m, nthreads):
    """The transformed weights of `w` (C-contiguous, of the compute dtype) for
    F(m x m, 3x3), packed for the kernel set in use: cached, and checked
    against a copy of the weights they came from, so that weights changed
    in place are transformed again."""
    key = (w.shape, w.dtype.str, m, groups, _layer.channel_block(),
           w.reshape(-1)[::_WEIGHT_SAMPLE_STEP].tobytes())
    with _transformed_lock:
        hit = _transformed.get(key)
        if hit is not None:
            _transformed.move_to_end(key)
    if hit is not None and _same_bits(hit[0], w):
        return hit[1]
    U = np.empty((m + 2) ** 2 * w.size // 9, w.dtype)
    _winograd.winograd_weights(w, U, groups, m, nthreads)
    size = U.nbytes + w.nbytes
    with _transformed_lock:
        if size <= spectra_cache_limit():
            _transformed[key] = (w.copy(), U)
            _transformed.move_to_end(key)
            total = sum(a.nbytes + b.nbytes for a, b in _transformed.values())
            while total > spectra_cache_limit():
                _, (a, b) = _transformed.popitem(last=False)
                total -= a.nbytes + b.nbytes
    return U


def run_winograd(lp, target=None):
    """Layer `lp` by Winograd F(m x m, 3x3) (`fastconv._kernels._winograd`,
    m from `winograd_tile`): the result in the compute dtype, bias added,
    ``(N, C_out, Ho, Wo)``, written into `target` when given (C-contiguous,
    of that shape and dtype)."""
    compute = lp.compute_dtype
    ho, wo = lp.out_spatial
    m = winograd_tile(lp)
    # the last tiles of an output that is no multiple of m read rows and
    # columns past the padding, and the input transforms whole vectors of
    # tiles: zeros (their outputs are cropped)
    tiles_h, tiles_w = -(-ho // m), -(-wo // m)
    lanes = _winograd.TRANSFORM_LANES
    G = lp.groups
    cg, og = lp.c_in // G, lp.c_out // G
    points = (m + 2) ** 2
    per_row = points * (cg + og) * compute.itemsize * tiles_w
    # and at least a few vectors of tiles: the products run along the tiles
    rows_per_chunk = max(-(-WINOGRAD_MIN_TILES // tiles_w), WINOGRAD_CHUNK_BYTES // per_row)
    rows = lp.batch * tiles_h
    rows_per_chunk = max(1, min(rows, rows_per_chunk))
    # the same number of chunks, of rows as even as whole rows allow: the
    # last chunk is no remainder of a few tiles
    rows_per_chunk = -(-rows // -(-rows // rows_per_chunk))
    # the padded input, the transformed weights and the chunks' workspace
    # on scratch buffers: fresh arrays of these sizes cost page faults on
    # every call, as much as the transforms themselves
    shape = padded_shape(lp, (m * tiles_h + 2, m * -(-tiles_w // lanes) * lanes + m))
    xpad, xraw = scratch_array(shape, compute)
    work, wraw = scratch_array((_winograd.workspace_elements(cg, og, tiles_w, rows_per_chunk,
                                                             lp.nthreads, m),), compute)
    try:
        padded_input(lp, None, xpad)
        U = _winograd_weights(np.ascontiguousarray(lp.weight, dtype=compute), G, m,
                              lp.nthreads)
        bias = None if lp.bias is None else np.ascontiguousarray(lp.bias, dtype=compute)
        if target is None:
            target = np.empty((lp.batch, lp.c_out, ho, wo), compute)
        _winograd.winograd(xpad, U, bias, target, G, rows_per_chunk, lp.nthreads, m, work)
    finally:
        for raw in (xraw, wraw):
            scratch.give(raw)
    return target


class LayerPlan:
    """A layer call's method, for every call with the same arrays' layouts and
    parameters (`fastconv._normal.layer.layer_key`).

    For the direct method on a layer without strides or dilations it also
    holds the direct kernel's plan, which runs on views of the new arrays;
    otherwise the problem is rebuilt around them. Immutable: concurrent
    calls share it.
    """

    __slots__ = ("lp", "method", "direct", "channels", "x_view", "w_view", "w_index",
                 "result_dtype", "kernel_shape")

    def run(self, x, weight, bias, out=None):
        """The layer on these arrays (of the layouts the plan was made for)."""
        lp = self.lp
        if self.channels is not None:
            xb = x[np.newaxis] if lp.unbatched else x
            target = _target(out, self.result_dtype, self.kernel_shape)
            result = run_direct_channels(lp, self.channels, target, (xb, weight, bias))
            return _finish(lp, result, None, self.result_dtype, out, target)
        if self.direct is None:
            new = lp.with_arrays(x, weight, bias)
            return run(new, conv_problem(new), self.method, out)
        xb = x[np.newaxis] if lp.unbatched else x
        in1 = xb.reshape(self.x_view)[:, :, np.newaxis]
        in2 = weight.reshape(self.w_view)[self.w_index]
        target = _target(out, self.result_dtype, self.kernel_shape)
        result = self.direct.run(in1, in2, target)
        return _finish(lp, result, bias, self.result_dtype, out, target)


def plan(lp, p, method):
    """The `LayerPlan` of layer `lp` (problem `p`) run by `method`."""
    pl = LayerPlan()
    pl.lp, pl.method, pl.result_dtype = lp, method, p.result_dtype
    pl.kernel_shape = p.out_shape
    pl.direct = pl.channels = None
    if method == "direct" and direct_channels_applies(lp):
        pl.kernel_shape = (lp.batch, lp.c_out, *lp.out_spatial)
        x = lp.x
        # a converted or realigned copy is C-contiguous
        pl.channels = channels_geometry(lp, x.flags.c_contiguous or x.dtype != lp.compute_dtype
                                        or not x.flags.aligned)
    if method == "direct" and lp.plain and not direct_channels_applies(lp):
        G = lp.groups
        pl.x_view = (lp.batch, G, lp.c_in // G, *lp.n)
        pl.w_view = (G, lp.c_out // G, lp.c_in // G, *lp.k)
        pl.w_index = (np.newaxis,) + flip_index(p.in2.ndim - 1, range(2, p.in2.ndim - 1))
        pl.direct = direct.plan(p)
    return pl
