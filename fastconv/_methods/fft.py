"""FFT method: spectra from `scipy.fft`, products and overlap-add in our compiled loops.

The caller (`_convolve._convolve_impl`) reduces every problem to correlation
form along the convolved axes, ``out[b, i] = sum_t x_ext[b, i + t + s] v[b, t]``
for ``0 <= i < m``. With ``g`` the kernel flipped and ``S`` the *source* (the
part of ``x_ext`` the output reads, starting at position ``p``), the output
is a slice of the linear convolution ``c = S * g``: ``out[i] = c[i + o]`` with
``o = s + k - 1 - p``. ``c`` is computed block by block (overlap-add): the
source is cut into blocks of ``B`` samples per axis, each block is
transformed at length ``L >= B + k - 1`` (so the circular convolution of a
block is its linear one), multiplied by the kernel's spectrum and
transformed back, and every output element sums the block outputs that
reach it. One block per axis is the plain FFT convolution.
"""

import collections
import concurrent.futures
import functools
import itertools
import math
import threading

import numpy as np
import scipy.fft as sfft

from .._kernels import _direct
from .problem import cast_result
from .workspace import scratch, scratch_array

__all__ = ["FFTPlan", "correlate_fft", "fft_plan"]

FFTPlan = collections.namedtuple(
    "FFTPlan",
    ["transform", "block", "blocks", "nblocks", "real", "extend", "source_start",
     "source_len", "offset", "cost"],
)

# Elements of transform length (prod(L) per block) one batch of blocks may
# hold: bounds the working set (buffer, spectra, block outputs) whatever the
# input size, and keeps it within the last-level cache.
_CHUNK_ELEMENTS = 1 << 20
# Tests set this to a small number to cap the block length of every axis,
# so small inputs go through many blocks and partial last blocks.
_MAX_BLOCK = None
# Relative cost of the passes over a block that are not FFTs (copying it in,
# the spectral product, the overlap-add), in units of log2(L) per element.
_PASS_COST = 4.0


def _line_penalty(nbytes):
    """Slow-down of FFTs whose lines no longer fit the per-core cache.

    Measured with scipy.fft on a 2-core x86-64 machine (float64, batched
    1-D transforms): the time per element and log2(L) is flat up to lines of
    about 256 KiB, 1.25x at 512 KiB and about 2.4x from 1 MiB on.
    """
    e = math.log2(max(nbytes, 1))
    return 1.0 + 1.5 * min(max(e - 18.5, 0.0), 1.0)


def _fast(length, real):
    return sfft.next_fast_len(int(length), real=real)


def _axis_candidates(N, k, real, itemsize):
    """(cost, L, B, nblocks) for the block lengths worth considering on one axis."""
    single = _fast(N + k - 1, real)
    lengths = {single}
    L = _fast(max(k, 2), real)
    while L < single:
        lengths.add(L)
        L = _fast(2 * L, real)
    out = []
    for L in sorted(lengths):
        B = min(L - k + 1, N)
        nb = -(-N // B)
        # the same number of blocks, evened out, may fit a shorter transform
        B = -(-N // nb)
        L = _fast(B + k - 1, real)
        out.append((nb * L, L, B, nb))
    return out


def fft_plan(n, k, m, s, bname, fill_is_zero, complex_work, itemsize=8):
    """How `correlate_fft` computes a problem in correlation form.

    Plans are cached (the search over block lengths takes tens of
    microseconds, as long as a small convolution).

    Parameters
    ----------
    n, k, m, s : sequence of int
        Per convolved axis: input length, kernel length, output length and
        start offset (``out[i] = sum_t x_ext[i + t + s] v[t]``).
    bname : str
        Boundary rule ('fill', 'wrap', 'reflect', 'mirror', 'nearest').
    fill_is_zero : bool
        Whether the fill value is zero (only used with ``bname == 'fill'``).
    complex_work : bool
        Whether the arithmetic is complex (complex transforms).
    itemsize : int, optional
        Bytes per real element of the working precision (4 or 8); the
        cost model uses it for cache effects.

    Returns
    -------
    FFTPlan
        Named tuple with fields, all per-axis tuples unless said otherwise:

        ``transform``
            Transform length ``L`` of a block (a fast length of
            `scipy.fft.next_fast_len`).
        ``block``
            Block length ``B`` (source samples per block), ``B + k - 1 <= L``.
        ``blocks``
            Number of blocks, ``ceil(source_len / block)``.
        ``nblocks`` : int
            Blocks per batch element, ``prod(blocks)``; 1 means a single
            transform (no overlap-add).
        ``real`` : bool
            Whether real transforms (`scipy.fft.rfftn`) are used.
        ``extend`` : bool
            Whether the boundary extension of the input is built
            explicitly (it is implicit for a zero fill and never read in
            'valid' mode).
        ``source_start``
            Position in the extended input of the first source sample.
        ``source_len``
            Source samples transformed (the input, clipped to what the
            output reads, or its extension); 0 if the output reads only
            zero fill.
        ``offset``
            Output ``i`` is sample ``i + offset`` of the linear convolution
            of the source with the flipped kernel.
        ``cost`` : float
            Model cost per batch element, in units of one element-pass
            (transforms counted as ``2 log2(L)`` per element of every
            block, kernel transform and other passes included); for
            comparing plans and methods, not seconds.
    """
    return _cached_plan(tuple(int(v) for v in n), tuple(int(v) for v in k),
                        tuple(int(v) for v in m), tuple(int(v) for v in s), bname,
                        bool(fill_is_zero), bool(complex_work), int(itemsize), _MAX_BLOCK)


@functools.lru_cache(maxsize=256)
def _cached_plan(n, k, m, s, bname, fill_is_zero, complex_work, itemsize, max_block):
    """`fft_plan` for hashable arguments (`max_block`: `_MAX_BLOCK`, in the key)."""
    D = len(n)
    real = not complex_work
    extend = not (bname == "fill" and fill_is_zero) and any(
        sd < 0 or sd + md + kd - 1 > nd for nd, kd, md, sd in zip(n, k, m, s))
    start, length, offset = [], [], []
    for nd, kd, md, sd in zip(n, k, m, s):
        if extend:
            p, N = sd, md + kd - 1
        else:
            p = max(0, sd)
            N = max(min(nd, sd + md + kd - 1) - p, 0)
        start.append(p)
        length.append(N)
        offset.append(sd + kd - 1 - p)
    if min(length) == 0:
        return FFTPlan((1,) * D, (1,) * D, (0,) * D, 0, real, extend, tuple(start),
                       tuple(length), tuple(offset), 0.0)

    line_bytes = itemsize * (2 if complex_work else 1)
    cands = [_axis_candidates(N, kd, real, itemsize) for N, kd in zip(length, k)]

    def cost(choice):
        total = math.prod(c[0] for c in choice)
        per = sum(2 * math.log2(c[1]) * _line_penalty(c[1] * line_bytes) for c in choice)
        kernel = math.prod(c[1] for c in choice) * per / 2
        return total * (per + _PASS_COST) + kernel

    combos = math.prod(len(c) for c in cands)
    if combos <= 4096:
        best = min(itertools.product(*cands), key=cost)
    else:  # many axes with many candidates: choose axis by axis
        best = tuple(min(c, key=lambda e: cost((e,))) for c in cands)
    if max_block is not None:
        capped = []
        for (_, L, B, nb), N, kd in zip(best, length, k):
            if B > max_block:
                B = max_block
                nb = -(-N // B)
                L = _fast(B + kd - 1, real)
            capped.append((nb * L, L, B, nb))
        best = tuple(capped)
    return FFTPlan(
        transform=tuple(c[1] for c in best), block=tuple(c[2] for c in best),
        blocks=tuple(c[3] for c in best), nblocks=math.prod(c[3] for c in best),
        real=real, extend=extend, source_start=tuple(start), source_len=tuple(length),
        offset=tuple(offset), cost=float(cost(best)))


# Below this many elements per thread, another thread costs more than it saves.
_MIN_ELEMENTS_PER_THREAD = 1 << 16
# Transform points per call (all blocks and batch elements) below which the
# FFT method runs on one thread. Measured on 2 cores, interleaved with other
# work: 512^2 * 101^2 'same' (450k points) 3.2 ms on one thread, 4.7 ms on
# two; 64^3 * 31^3 'full' (885k points) 9.5 ms on one, 8.3 ms on two.
_MIN_POINTS_FOR_THREADS = 1 << 19
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _in_parts(fn, nelements, nthreads):
    """Run ``fn(part, nparts)`` for every part, on up to `nthreads` threads.

    Our loops between two `scipy.fft` calls run on plain threads that block
    when idle, not in OpenMP regions: libgomp's idle threads spin for
    milliseconds after a region, and would take the cores that the threads
    of the next `scipy.fft` call need.
    """
    global _pool, _pool_size
    nparts = max(1, min(nthreads, nelements // _MIN_ELEMENTS_PER_THREAD))
    if nparts == 1:
        fn(0, 1)
        return
    with _pool_lock:
        if _pool_size < nparts - 1:
            # The smaller pool's threads would otherwise idle for the life of
            # the process; its queued work still runs after the shutdown.
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = concurrent.futures.ThreadPoolExecutor(nparts - 1, "fastconv-fft")
            _pool_size = nparts - 1
        # submitted under the lock: no other call shuts this pool down meanwhile
        futures = [_pool.submit(fn, part, nparts) for part in range(1, nparts)]
    try:
        fn(0, nparts)
    finally:
        # Every part writes into the caller's scratch buffers: none may still
        # run when an exception hands them back to the pool.
        concurrent.futures.wait(futures)
    for f in futures:
        f.result()


def _boundary_index(pos, n, bname):
    """Indices into [0, n) that boundary rule `bname` reads at positions `pos`."""
    if bname == "wrap":
        return pos % n
    if bname == "nearest":
        return np.clip(pos, 0, n - 1)
    if bname == "reflect":
        c = pos % (2 * n)
        return np.where(c < n, c, 2 * n - 1 - c)
    if bname == "mirror":
        if n == 1:
            return np.zeros_like(pos)
        c = pos % (2 * n - 2)
        return np.where(c < n, c, 2 * n - 2 - c)
    raise AssertionError(bname)


def _extended(xt, nb, starts, lengths, bname, fill, dtype):
    """`xt` extended over [start, start + length) of each of its last axes, in `dtype`.

    One allocation: the inside is copied once, then the margins of one axis
    after the other are filled (over the whole extent of the other axes, so
    corners come out right), from the inside for the reflecting rules.
    """
    D = xt.ndim - nb
    E = np.empty(xt.shape[:nb] + tuple(lengths), dtype)
    inside_e, inside_x = [], []
    for d, (st, ln) in enumerate(zip(starts, lengths)):
        nd = xt.shape[nb + d]
        a, b = min(max(st, 0), nd), max(min(st + ln, nd), 0)
        if bname != "fill" and not (a == 0 and b == nd):
            # only reachable when the window does not cover the input:
            # gather through the boundary rule instead
            pos = np.arange(st, st + ln)
            return _extended(np.take(xt, _boundary_index(pos, nd, bname), axis=nb + d),
                             nb, [0 if e == d else s0 for e, s0 in enumerate(starts)],
                             lengths, bname, fill, dtype)
        inside_e.append(slice(a - st, max(b - st, a - st)))
        inside_x.append(slice(a, max(a, b)))
    head = (slice(None),) * nb
    E[head + tuple(inside_e)] = xt[head + tuple(inside_x)]
    for d, (st, ln) in enumerate(zip(starts, lengths)):
        nd = xt.shape[nb + d]
        pre = head + (slice(None),) * d
        for lo_e, hi_e in [(0, inside_e[d].start), (inside_e[d].stop, ln)]:
            if hi_e <= lo_e:
                continue
            if bname == "fill":
                E[pre + (slice(lo_e, hi_e),)] = fill
            else:
                src = _boundary_index(np.arange(st + lo_e, st + hi_e), nd, bname) - st
                E[pre + (slice(lo_e, hi_e),)] = np.take(E, src, axis=nb + d)
    return E


Norms = collections.namedtuple("Norms", ["one", "two", "inf"])


def norms(a):
    """1-, 2- and max-norm of array `a` (in float64)."""
    mag = np.abs(a.astype(np.float64))
    if mag.size == 0:
        return Norms(0.0, 0.0, 0.0)
    return Norms(float(np.sum(mag)), math.sqrt(float(np.sum(mag * mag))), float(np.max(mag)))


def blocks_per_output(plan, k):
    """Most blocks of `plan` whose outputs one output element sums (overlap-add)."""
    if plan.nblocks <= 1:
        return 1
    return math.prod(min(nb, -(-(kd - 1) // B) + 1)
                     for nb, B, kd in zip(plan.blocks, plan.block, k))


def exact_bound_holds(nx, nv, plan, k):
    """Whether float64 FFTs of integers round back to the exact sums.

    `nx` and `nv` are the `Norms` of the source (the extended input the
    transforms read) and of the kernel; `plan` is the `FFTPlan` and `k` the
    kernel lengths. True only when the proven error bound below is < 1/2,
    so that rounding gives the exact integer sums.
    """
    # Exact sums: |y_i| <= ||x||_inf * ||v||_1 for every output i.
    #
    # Rounding (u = 2**-53, N = prod(L) points per block): a computed FFT
    # satisfies ||fl(F z) - F z||_2 <= delta * ||F z||_2 with
    # delta = lg * eta / (1 - lg * eta), lg = log2(N) and
    # eta = mu + gamma_4 * (sqrt(2) + mu), mu = u the twiddle error
    # (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    # Thm 24.2, radix 2); eta is doubled for pocketfft's other radices and
    # Bluestein passes. With X = F x_b, V = F v (||F z||_2 = sqrt(N) ||z||_2,
    # ||X||_inf <= ||x_b||_1, ||V||_inf <= ||v||_1), a complex product
    # rounded with relative error <= 3u, and the inverse transform, a block
    # b's output has
    #   ||err_b||_inf <= ||err_b||_2 <= (1+3u)(1+delta) T + (3u + delta(1+3u)) a_b,
    #   T = delta (1 + delta sqrt(N)) (a_b + b_b),
    #   a_b = ||x_b||_2 ||v||_1,  b_b = ||x_b||_1 ||v||_2.
    # An output sums the outputs of at most c blocks (overlap-add), whose
    # inputs are disjoint: sum a_b <= sqrt(c) ||x||_2 ||v||_1 and
    # sum b_b <= ||x||_1 ||v||_2; adding them in float64 adds at most
    # gamma_{c-1} * c * (||x||_inf ||v||_1 + max err_b).
    u = 2.0 ** -53
    gamma = lambda n: n * u / (1 - n * u)  # noqa: E731
    nfft = math.prod(plan.transform)
    lg = max(1.0, math.log2(max(nfft, 2)))
    eta = 2 * (u + gamma(4) * (math.sqrt(2) + u))
    delta = lg * eta / (1 - lg * eta)
    c = blocks_per_output(plan, k)
    a = math.sqrt(c) * nx.two * nv.one
    b = nx.one * nv.two
    block_err = ((1 + 3 * u) * (1 + delta) * delta * (1 + delta * math.sqrt(nfft)) * (a + b)
                 + (3 * u + delta * (1 + 3 * u)) * a)
    total = block_err + gamma(c - 1) * c * (nx.inf * nv.one + block_err)
    return total < 0.5


# Transform the last axis before padding the others when the data covers
# less than this fraction of the padded cross-section (measured: a 101x101
# kernel padded to 625x625 transforms 1.5x faster so, a 64^3 input padded
# to 96^3 1.35x slower, as the padding copies of the spectra then dominate).
_PRUNE_BELOW = 0.3


def _probe_pocketfft():
    """SciPy's pocketfft binding, when its transforms take an output array.

    `scipy.fft`'s public functions allocate every result; the binding under
    them writes into a given array, so that block buffers and spectra can
    live in scratch memory kept between calls (fresh arrays of a few MB cost
    more in page faults than the transforms themselves). Without it (another
    SciPy layout) the public functions are used and their results copied.
    """
    try:
        from scipy.fft._pocketfft import pypocketfft as binding

        probe = binding.r2c(np.arange(4, dtype=np.float32), (0,), True, 0,
                            np.empty(3, np.complex64), 1)
        back = binding.c2r(probe, (0,), 4, False, 2, np.empty(4, np.float32), 1)
        spectrum = binding.c2c(np.arange(4, dtype=np.complex64), (0,), True, 0,
                               np.empty(4, np.complex64), 1)
        ok = (np.allclose(back, np.arange(4))
              and np.allclose(spectrum, [6, -2 + 2j, -2, -2 - 2j]))
    except Exception:  # any other layout or signature: use the public API
        return None
    return binding if ok else None


_pocketfft = _probe_pocketfft()


def _spectrum_into(a, axes, real, out, nthreads):
    """`out` = the FFT of `a` over `axes` (`a` already padded); returns `out`."""
    if _pocketfft is not None:
        if real:
            return _pocketfft.r2c(a, axes, True, 0, out, nthreads)
        return _pocketfft.c2c(a, axes, True, 0, out, nthreads)
    out[...] = (sfft.rfftn if real else sfft.fftn)(a, axes=axes, workers=nthreads)
    return out


def _inverse_into(Y, axes, last_length, real, held, nthreads):
    """Inverse FFT of `Y` over `axes` (normalised), overwriting `Y`.

    Real results go to scratch memory (its buffer appended to `held`);
    complex ones are computed in place.
    """
    if not real:
        return sfft.ifftn(Y, axes=axes, workers=nthreads, overwrite_x=True)
    if len(axes) > 1:
        # all but the last axis in place, then the real transform along it
        Y = sfft.ifftn(Y, axes=axes[:-1], workers=nthreads, overwrite_x=True)
    last = axes[-1]
    if _pocketfft is None:
        return sfft.irfft(Y, last_length, axis=last, workers=nthreads)
    out, raw = scratch_array(Y.shape[:last] + (last_length,) + Y.shape[last + 1:],
                             Y.real.dtype)
    held.append(raw)
    return _pocketfft.c2r(Y, (last,), last_length, False, 2, out, nthreads)


def _forward(a, L, first_axis, real, nthreads, held):
    """Spectrum of `a` over its axes from `first_axis` on, zero-padded to lengths `L`.

    Spectra (and padded copies) are built in scratch memory, whose buffers
    are appended to `held` for the caller to give back.
    """
    D = len(L)
    axes = tuple(range(first_axis, first_axis + D))
    lead = a.shape[:first_axis]
    last_len = L[-1] // 2 + 1 if real else L[-1]
    spectrum, raw = scratch_array(lead + tuple(L[:-1]) + (last_len,),
                                  np.result_type(a.dtype, np.complex64))
    held.append(raw)
    covered = math.prod(a.shape[first_axis:first_axis + D - 1]) / math.prod(L[:-1])
    if D == 1 or covered >= _PRUNE_BELOW:
        if a.shape[first_axis:] != tuple(L):
            padded, raw = scratch_array(lead + tuple(L), a.dtype)
            held.append(raw)
            padded[...] = 0
            padded[tuple(slice(0, n) for n in a.shape)] = a
            a = padded
        return _spectrum_into(a, axes, real, spectrum, nthreads)
    # The padding is never transformed along the axes done before it is
    # added: most of the work of the first passes is saved; the passes run
    # in place in the spectrum.
    last = axes[-1]
    if real:
        A = sfft.rfft(a, L[-1], axis=last, workers=nthreads)
    else:
        A = sfft.fft(a, L[-1], axis=last, workers=nthreads)
    spectrum[...] = 0
    spectrum[tuple(slice(0, n) for n in A.shape)] = A
    for d in range(D - 2, -1, -1):
        # along axis d only the rows that the earlier axes' data reach
        part = spectrum[tuple(slice(None) for _ in range(first_axis))
                        + tuple(slice(0, a.shape[first_axis + e]) for e in range(d))]
        done = sfft.fft(part, axis=first_axis + d, workers=nthreads, overwrite_x=True)
        if not np.shares_memory(done, part):
            part[...] = done
    return spectrum


def _fill_blocks(buf, src, B):
    """buf[x, j_0.., j_{D-1}, t_0.., t_{D-1}] = src[x, j_d * B_d + t_d...] for t_d < B_d.

    `src` (one batch axis, then D axes) may have any dtype and strides; the
    samples of a partial last block beyond `src`'s end are set to zero.
    Every full-block region is one strided NumPy copy (2**D of them at most).
    """
    D = len(B)
    parts = []
    for d, Bd in enumerate(B):
        N = src.shape[1 + d]
        f, r = divmod(N, Bd)
        axis_parts = []
        if f:
            axis_parts.append((slice(0, f), slice(0, f * Bd), f, Bd))
        if r:
            axis_parts.append((slice(f, f + 1), slice(f * Bd, N), 1, r))
        parts.append(axis_parts)
    nx = src.shape[0]
    for combo in itertools.product(*parts):
        piece = src[(slice(None),) + tuple(c[1] for c in combo)]
        shape = [nx]
        for c in combo:
            shape += [c[2], c[3]]
        piece = piece.reshape(shape).transpose(
            [0] + [1 + 2 * d for d in range(D)] + [2 + 2 * d for d in range(D)])
        buf[(slice(None),) + tuple(c[0] for c in combo)
            + tuple(slice(0, c[3]) for c in combo)] = piece
    for d, axis_parts in enumerate(parts):
        blk, _, _, r = axis_parts[-1]
        if r < B[d]:
            index = [slice(None)] * buf.ndim
            index[1 + d] = blk
            index[1 + D + d] = slice(r, B[d])
            buf[tuple(index)] = 0


def plan_for(n, k, m, s, bname, fill_is_zero, result_dtype):
    """`fft_plan` of a problem whose result has dtype `result_dtype`."""
    work = _work_dtype(result_dtype)
    complex_work = work.kind == "c"
    return fft_plan(n, k, m, s, bname, fill_is_zero, complex_work,
                    work.itemsize // (2 if complex_work else 1))


def _work_dtype(result_dtype):
    if result_dtype.kind == "c":
        return result_dtype.newbyteorder("=")
    if result_dtype in (np.float16, np.float32):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _flat_index(batch_shape, out_batch):
    """Flat index of the (broadcast) batch element feeding each output batch element."""
    index = np.arange(math.prod(batch_shape), dtype=np.intp).reshape(batch_shape)
    return np.ascontiguousarray(np.broadcast_to(index, out_batch).ravel())


def correlate_fft(x, v, conv_axes, batch_axes, n, k, m, s, bname, fill, nthreads,
                  result_dtype, batch_out):
    """out[i] = sum_t x_ext[i + t + s] v[t] along conv_axes, by FFTs.

    Same problem as the direct kernel gets (see `_convolve._convolve_impl`);
    the plan is `fft_plan`'s. Returns None when integer inputs are too large
    for float64 FFTs to give the exact result, so the caller falls back to
    the direct method.
    """
    D = len(conv_axes)
    integer = result_dtype.kind in "biu"
    work = _work_dtype(result_dtype)
    complex_work = work.kind == "c"
    plan = plan_for(n, k, m, s, bname, bname == "fill" and fill == 0, result_dtype)

    order = list(batch_axes) + list(conv_axes)
    nb = len(batch_axes)
    xt = np.asarray(x).transpose(order)
    vt = np.asarray(v).transpose(order)
    if plan.extend:
        # in the result's arithmetic (int64 for integer results, exact modulo
        # 2**64): a fill value above int64's range (uint64) is stored as its
        # representative modulo 2**64, as the direct method computes with it
        if integer:
            fill = (int(fill) + 2**63) % 2**64 - 2**63
        S = _extended(xt, nb, plan.source_start, plan.source_len, bname, fill,
                      np.dtype(np.int64) if integer else work)
    else:
        S = xt[(slice(None),) * nb + tuple(
            slice(p, p + N) for p, N in zip(plan.source_start, plan.source_len))]

    out_shape = [0] * (nb + D)
    for i, a in enumerate(order):
        out_shape[a] = (list(batch_out) + list(m))[i]
    if plan.nblocks == 0:
        return np.zeros(out_shape, result_dtype)
    L, B = plan.transform, plan.block
    if integer and not exact_bound_holds(norms(S), norms(vt), plan, k):
        return None
    if math.prod(L) * plan.nblocks * math.prod(S.shape[:nb]) < _MIN_POINTS_FOR_THREADS:
        # every threaded phase (transforms, products, overlap-add) wakes
        # threads that slept since the last call; on small problems the
        # wake-ups cost more than the threads save
        nthreads = 1

    held = []  # scratch buffers to give back
    try:
        # the kernel in convolution form (flipped), one spectrum per batch element
        g = vt[(Ellipsis,) + (slice(None, None, -1),) * D].astype(work)
        G = np.ascontiguousarray(
            _forward(g.reshape((-1,) + g.shape[nb:]), L, 1, plan.real, nthreads, held))

        direct_out = work == result_dtype
        out = np.empty(out_shape, work)
        out_t = out.transpose(order)
        isz = work.itemsize
        out_strides = [st // isz for st in out_t.strides[nb:]]
        out_off = np.zeros(1, np.intp)
        for length, st in zip(out_t.shape[:nb], out_t.strides[:nb]):
            out_off = (out_off[:, None] + np.arange(length, dtype=np.intp) * (st // isz)).ravel()

        S = S.reshape((-1,) + S.shape[nb:])
        xmap = _flat_index(xt.shape[:nb], batch_out)
        gmap = _flat_index(vt.shape[:nb], batch_out)
        nbx = S.shape[0]
        by_x = np.argsort(xmap, kind="stable")
        xmap_sorted = xmap[by_x]
        fanout = len(xmap) // nbx

        # Batches of blocks: several batch elements whole, or block rows (along
        # the first convolved axis) of one batch element.
        row_elems = math.prod(plan.blocks[1:]) * math.prod(L)
        budget = max(_CHUNK_ELEMENTS // (1 + fanout), 1)
        if plan.blocks[0] * row_elems <= budget:
            x_step, j_step = max(1, budget // (plan.blocks[0] * row_elems)), plan.blocks[0]
        else:
            x_step, j_step = 1, max(1, budget // row_elems)
        x_step = min(x_step, nbx)
        # the padding beyond each block is never written: zero once
        buf, raw = scratch_array((x_step, j_step) + plan.blocks[1:] + tuple(L), work)
        held.append(raw)
        buf[...] = 0
        Lv = [min(Ld, Bd + kd - 1) for Ld, Bd, kd in zip(L, B, k)]
        o0, B0, Lv0, m0 = plan.offset[0], B[0], Lv[0], m[0]
        nfreq = math.prod(L[:-1]) * (L[-1] // 2 + 1 if plan.real else L[-1])

        for xa in range(0, nbx, x_step):
            xe = min(nbx, xa + x_step)
            sel = by_x[np.searchsorted(xmap_sorted, xa):np.searchsorted(xmap_sorted, xe)]
            for ja in range(0, plan.blocks[0], j_step):
                jb = min(plan.blocks[0], ja + j_step)
                bufv = buf[:xe - xa, :jb - ja]
                _fill_blocks(bufv, S[xa:xe, ja * B0:jb * B0], B)
                # this batch's spectra and block outputs: scratch given back below
                batch_held = []
                X = np.ascontiguousarray(_forward(bufv, L, 1 + D, plan.real, nthreads,
                                                  batch_held))
                nblk = math.prod(X.shape[1:1 + D])
                xin = xmap[sel] - xa
                in_place = len(sel) == xe - xa and np.array_equal(xin, np.arange(xe - xa))
                Y = X if in_place else np.empty((len(sel),) + X.shape[1:], X.dtype)
                x_off = ((xin[:, None] * nblk + np.arange(nblk)) * nfreq).ravel()
                g_off = np.repeat(gmap[sel] * nfreq, nblk)
                _in_parts(lambda part, nparts: _direct.spectral_multiply(
                    X.reshape(-1), G.reshape(-1), Y.reshape(-1), x_off, g_off, nfreq, part, nparts),
                    Y.size, nthreads)
                axes = tuple(range(1 + D, 1 + 2 * D))
                yb = _inverse_into(Y, axes, L[-1], plan.real, batch_held, nthreads)
                # output rows along axis 0 that these blocks reach; rows below
                # `keep` were reached by the previous batch of blocks too
                lo0 = 0 if ja == 0 else min(max(ja * B0 - o0, 0), m0)
                hi0 = m0 if jb == plan.blocks[0] else min(max((jb - 1) * B0 + Lv0 - o0, lo0), m0)
                keep = lo0 if ja == 0 else min(max((ja - 1) * B0 + Lv0 - o0, lo0), hi0)
                geometry = [B, L, Lv, plan.offset, [ja] + [0] * (D - 1),
                            [jb - ja] + list(plan.blocks[1:]), [lo0] + [0] * (D - 1),
                            [hi0] + list(m[1:]), out_strides]
                if plan.nblocks == 1 and nb == 0:
                    # one transform, no batch: the output is a slice of it
                    out[...] = yb[(0,) * (1 + D) + tuple(
                        slice(od, od + md) for od, md in zip(plan.offset, m))].transpose(
                        [order.index(a) for a in range(D)])
                else:
                    yflat = np.ascontiguousarray(yb).reshape(-1)
                    _in_parts(lambda part, nparts: _direct.overlap_add(
                        yflat, out.reshape(-1), out_off[sel], geometry, keep, part, nparts),
                        len(sel) * math.prod(m), nthreads)
                for raw in batch_held:
                    scratch.give(raw)
    finally:
        for raw in held:
            scratch.give(raw)

    if result_dtype == np.bool_:
        return out > 0.5
    if integer:
        # exact sums, reduced modulo 2**bits like the direct method
        return np.rint(out).astype(np.int64).astype(result_dtype)
    if not direct_out:
        return cast_result(out, result_dtype)
    return out


def run(p):
    """Compute problem `p` (a `ConvProblem`) by this method; None when its
    integers are too large for exact float64 arithmetic."""
    return correlate_fft(p.x, p.v, p.conv_axes, p.batch_axes, p.n, p.k, p.m, p.s, p.bname,
                         p.fill[()].item(), p.nthreads, p.result_dtype, p.batch_out)
