"""im2col method: lowered tiles of the input times the kernel matrix through BLAS ?gemm.

The problem arrives in the correlation form of `ConvProblem` (see
`fastconv._methods.problem`): ``out[b, i] = sum_t x_ext[b, i + t + s] * v[b, t]`` over the
convolved axes. Batch elements that share one input (the axes where `x` has
length 1 and `v` does not) become the N columns of one matrix product, so a
bank of kernels over one image is a real GEMM::

    C (M x N) = A (M x K) @ W (K x N)

with M output positions, K taps and N kernels. A is the lowered input
("im2col"): column t of A holds, for every output position of the tile, the
input sample that tap t reads. Column-major (BLAS) storage makes each column
a run of consecutive output positions, so for one tap and one output row the
column is a shifted, contiguous copy of one input row; only the few samples
past the row's ends go through the boundary rule. Rows outside the input
along the other axes are resolved once per row, by the same index rules as
the direct kernel, so the input is never padded or copied whole.

Tiles. A is never built for the whole output: output positions are cut
into tiles (ranges of the flat output index) and, when a single position's
taps do not fit, taps into chunks accumulated with ``beta = 1``, so A never
exceeds `get_workspace_limit` bytes. C is the output array itself (leading
dimension: positions per kernel), so no other scratch is needed. When there
is one kernel for every batch element (N = 1), tiles run across batch
elements of the input, so many small images still make a few large GEMMs.

Threads. One level of parallelism, never one inside the other: an OpenMP
``prange`` (GIL released) over tiles, each thread lowering a tile into its
own slot of the workspace and multiplying it at once with a single-threaded
GEMM, while the tile is still in its cache. BLAS is held at one thread for
the duration of the call (threadpoolctl, only when its count differs, and
only the BLAS SciPy's cython_blas calls). The alternative, lowering in
OpenMP and then calling a BLAS-threaded GEMM, alternates two thread pools
that each spin-wait while the other works: measured 4x slower than serial
on two cores with libgomp's default wait policy. Calling a BLAS from several
threads at once is supported by OpenBLAS (its documented recipe for
threaded applications: the application's threads, BLAS on one thread) and
by MKL and BLIS.

Integers. BLAS has no exact integer products. Integer and boolean inputs are
computed in float64 when a bound shows every partial sum is an integer below
``2**53`` (``max|x| * max|v| * taps``, the fill value counted in ``x``), and
so exact whatever the summation order; otherwise `correlate_im2col` returns
None and the caller uses the direct method. float16 is computed in float32.
"""

import math
from collections import namedtuple

import numpy as np

from .._kernels._direct import BOUNDARY_CODES
from .._kernels._im2col import run_tiles
from .blas import serial_blas
from .problem import batch_offsets, cast_result, layout_for_kernel
from .workspace import get_workspace_limit

__all__ = ["Im2colPlan", "correlate_im2col", "im2col_plan", "run"]


# BLAS dimensions and leading dimensions are C ints.
INT_MAX_PY = 2147483647

# Tiles stay below this size even when the workspace limit allows more: a
# tile about the size of the last-level cache is still hot when the GEMM
# reads it back, and a few tiles cost only a few thread hand-overs.
TARGET_TILE_BYTES = 2**20
# A problem is cut into at least this many tiles (when they keep MIN_TILE_M
# positions), so that the threads of a large machine share the work evenly.
TILES_PER_PROBLEM = 64
# Fewest output positions per tile before the taps are split into chunks.
MIN_TILE_M = 256
# Below this many multiply-adds per thread, extra threads cost more than they save.
MIN_WORK_PER_THREAD = 262144


# ----------------------------------------------------------------- planning

Im2colPlan = namedtuple("Im2colPlan", [
    "dtype", "groups", "kernels", "taps", "positions", "merged", "tile_m", "tile_k",
    "n_block", "threads", "gemm_calls", "gemm_shape", "workspace_bytes", "flops"])
Im2colPlan.__doc__ = """How the im2col method computes one problem (see `im2col_plan`)."""


def _compute_dtype(result_dtype):
    """dtype of the GEMMs for a result dtype (integers and bool: float64)."""
    result_dtype = np.dtype(result_dtype)
    if result_dtype.kind == "c":
        return np.dtype(np.complex64 if result_dtype.itemsize <= 8 else np.complex128)
    if result_dtype.kind == "f" and result_dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _batch_split(x_batch, v_batch):
    """Batch axes (indices) that index the input, and those that index kernels sharing one."""
    kernel_axes = [i for i, (a, b) in enumerate(zip(x_batch, v_batch)) if a == 1 and b > 1]
    input_axes = [i for i in range(len(x_batch)) if i not in kernel_axes]
    return input_axes, kernel_axes


def im2col_plan(x_batch, v_batch, k, m, dtype, nthreads=1, workspace_limit=None):
    """Tiles and matrix products the im2col method uses for one problem.

    The problem is the correlation form of `fastconv._convolve`: kernels of
    shape `k` slid over inputs to give outputs of shape `m` along the
    convolved axes, with broadcast batch axes of lengths `x_batch` (input)
    and `v_batch` (kernels). `correlate_im2col` computes with exactly this
    plan.

    Parameters
    ----------
    x_batch, v_batch : sequence of int
        Lengths of the input and of the kernels along the batch (not
        convolved) axes, in the same order; each pair equal or one is 1.
    k, m : sequence of int
        Kernel and output lengths along the convolved axes.
    dtype : dtype
        Result dtype (``numpy.result_type`` of the inputs).
    nthreads : int, optional
        Threads available (the resolved ``workers``); default 1.
    workspace_limit : int, optional
        Bytes allowed for the lowered tiles of all threads together;
        default `get_workspace_limit`.

    Returns
    -------
    Im2colPlan
        A named tuple with fields

        ``dtype``
            dtype the GEMMs compute in (float32 for float16, float64 for
            integers and bool, whose results are exact only when
            `correlate_im2col`'s bound holds; else the direct method runs).
        ``groups``
            P, input batch elements lowered separately (1 when ``merged``).
        ``kernels``
            N, kernels that share one lowered input: GEMM columns.
        ``taps``
            K, taps per kernel (``prod(k)``).
        ``positions``
            Output positions per kernel and input batch element
            (``prod(m)``).
        ``merged``
            True when a single kernel serves every batch element: tiles then
            run across input batch elements (GEMM rows span several).
        ``tile_m``, ``tile_k``
            Output positions and taps per lowered tile (the last tile along
            each may be smaller). Tiles are the units of work of the
            threads; each tile is one GEMM per chunk of taps and of kernels.
        ``n_block``
            Kernels per GEMM call (N, or 1 when an output is too long for a
            BLAS int leading dimension).
        ``threads``
            OpenMP threads used (fewer than `nthreads` for small problems),
            each lowering its own tiles and calling a single-threaded GEMM.
        ``gemm_calls``
            Number of ?gemm calls.
        ``gemm_shape``
            (M, N, K) of the first (largest) call.
        ``workspace_bytes``
            Bytes of the lowered-tile buffers,
            ``threads * tile_m * tile_k * itemsize``, at most the limit.
        ``flops``
            ``8 * M * N * K`` summed over calls for complex dtypes, ``2 * ...``
            for real ones.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> from fastconv._methods.im2col import im2col_plan
    >>> plan = im2col_plan([1], [64], (5, 5), (512, 512), np.float32)
    >>> plan.kernels, plan.taps, plan.gemm_shape[1:]
    (64, 25, (64, 25))
    >>> plan.gemm_calls == plan.groups * -(-plan.positions // plan.tile_m)
    True
    >>> plan.workspace_bytes <= fastconv.get_workspace_limit()
    True
    """
    x_batch = [int(a) for a in x_batch]
    v_batch = [int(b) for b in v_batch]
    k = [int(a) for a in k]
    m = [int(a) for a in m]
    if len(x_batch) != len(v_batch):
        raise ValueError("x_batch and v_batch must have the same length")
    if not k or len(k) != len(m) or min(k + m) < 1 or min(x_batch + v_batch, default=1) < 1:
        raise ValueError("k and m must be non-empty sequences of positive lengths of one length")
    for a, b in zip(x_batch, v_batch):
        if a != b and 1 not in (a, b):
            raise ValueError(f"batch lengths {x_batch} and {v_batch} do not broadcast")
    work = _compute_dtype(dtype)
    limit = get_workspace_limit() if workspace_limit is None else int(workspace_limit)
    input_axes, kernel_axes = _batch_split(x_batch, v_batch)
    P = math.prod(max(x_batch[i], v_batch[i]) for i in input_axes)
    N = math.prod(v_batch[i] for i in kernel_axes)
    K = math.prod(k)
    Mtot = math.prod(m)
    merged = all(b == 1 for b in v_batch) and P > 1
    span = P * Mtot if merged else Mtot
    groups = 1 if merged else P
    isz = work.itemsize
    # Tiles do not depend on the number of threads: BLAS may sum a product
    # in another order for another tile shape, and results must not depend
    # on `workers`. The threads are then as many as the limit has room for.
    slot = max(1, min(limit, TARGET_TILE_BYTES) // isz)
    # Keep every tap of a position in one tile when at least MIN_TILE_M
    # positions fit; otherwise split the taps (accumulating GEMMs).
    if K * min(span, MIN_TILE_M) <= slot:
        tile_k = K
        tile_m = min(span, slot // K, INT_MAX_PY)
        # enough tiles for the threads of a large machine to stay busy to the
        # end, each worth a thread's while
        tiles = max(1, min(TILES_PER_PROBLEM, groups * span * N * K // MIN_WORK_PER_THREAD))
        per_group = -(-tiles // groups)
        tile_m = min(tile_m, max(-(-span // per_group), MIN_TILE_M))
        # (no negative indices in this module: it is compiled with wraparound=False)
        if tile_m >= m[len(m) - 1]:
            tile_m -= tile_m % m[len(m) - 1]  # whole output rows: fewer, longer copies
    else:
        tile_m = min(span, MIN_TILE_M, slot)
        tile_k = min(K, max(1, slot // tile_m), INT_MAX_PY)
    n_block = N if Mtot <= INT_MAX_PY else 1
    n_block = min(n_block, INT_MAX_PY)
    tiles_m = -(-span // tile_m)
    tiles_k = -(-K // tile_k)
    threads = max(1, min(int(nthreads), groups * span * N * K // MIN_WORK_PER_THREAD,
                         groups * tiles_m, limit // (tile_m * tile_k * isz)))
    calls_per_tile = -(-N // n_block)
    per_mac = 8 if work.kind == "c" else 2
    return Im2colPlan(
        dtype=work, groups=groups, kernels=N, taps=K, positions=Mtot, merged=merged,
        tile_m=tile_m, tile_k=tile_k, n_block=n_block, threads=threads,
        gemm_calls=groups * tiles_m * tiles_k * calls_per_tile,
        gemm_shape=(tile_m, n_block, tile_k),
        workspace_bytes=threads * tile_m * tile_k * isz,
        flops=per_mac * groups * span * N * K)


# ----------------------------------------------------------------- driver

def _exact_in_float64(x, v, fill, taps):
    """Whether every partial sum of these integers is an integer below 2**53."""
    def maxabs(a):
        return max(abs(int(a.max())), abs(int(a.min()))) if a.size else 0

    xmax = max(maxabs(x), abs(int(fill)))
    return xmax * maxabs(v) * taps < 2**53


def correlate_im2col(x, v, conv_axes, batch_axes, n, k, m, s, bname, fill, nthreads,
                     result_dtype, batch_out):
    """out[b, i] = sum_t x_ext[b, i + t + s] v[b, t] along conv_axes, by GEMMs.

    Same problem and arguments as `fastconv._fft.correlate_fft` (see
    `fastconv._convolve._convolve_impl`); the result has dtype `result_dtype`
    and the axis order of the inputs. Returns None when integer inputs are
    too large for float64 products to be exact, so the caller falls back to
    the direct method.
    """

    result_dtype = np.dtype(result_dtype)
    integer = result_dtype.kind in "biu"
    x = np.asarray(x)
    v = np.asarray(v)
    conv_axes = list(conv_axes)
    batch_axes = list(batch_axes)
    x_batch = [x.shape[a] for a in batch_axes]
    v_batch = [v.shape[a] for a in batch_axes]
    plan = im2col_plan(x_batch, v_batch, k, m, result_dtype, nthreads)
    work = plan.dtype
    if integer and not _exact_in_float64(x, v, fill if bname == "fill" else 0, plan.taps):
        return None

    input_axes, kernel_axes = _batch_split(x_batch, v_batch)
    ni = len(input_axes)
    batch_order = input_axes + kernel_axes
    order = [batch_axes[i] for i in batch_order] + conv_axes
    xt = layout_for_kernel(x.transpose(order), work)
    vt = v.transpose(order)
    W = np.require(vt, work, ("C", "A")).reshape(-1)
    isz = work.itemsize
    nb = len(batch_axes)
    D = len(conv_axes)

    in_shape = [batch_out[i] for i in input_axes]
    x_off = batch_offsets(xt.strides[:ni], xt.shape[:ni], in_shape, isz)
    w_index = np.arange(math.prod(vt.shape[:ni]), dtype=np.intp).reshape(vt.shape[:ni])
    w_off = np.ascontiguousarray(
        np.broadcast_to(w_index, in_shape).ravel() * (plan.kernels * plan.taps))
    xs = [st // isz for st in xt.strides[nb:]]
    xs[D - 1] = 1

    out_shape = tuple(in_shape) + tuple(batch_out[i] for i in kernel_axes) + tuple(m)
    out = np.empty(out_shape, dtype=work)
    # the workspace (np.empty, so that tracemalloc accounts for it)
    A = np.empty(plan.threads * plan.tile_m * plan.tile_k, dtype=work)
    fill_arr = np.array([fill], dtype=result_dtype if integer else work).astype(work)

    def ints(seq):
        return np.asarray(seq, dtype=np.intp)

    with serial_blas():
        run_tiles(fill_arr, out.reshape(-1), W, A, xt.ctypes.data,
                   ints(n), ints(k), ints(m), ints(s), ints(xs), x_off, w_off,
                   math.prod(in_shape), plan.kernels, plan.taps, plan.merged, plan.tile_m,
                   plan.tile_k, plan.n_block, BOUNDARY_CODES[bname], plan.threads)

    out = out.transpose(np.argsort(order))
    if result_dtype == np.bool_:
        return np.ascontiguousarray(out > 0.5)
    if integer:
        # exact integers below 2**53, reduced modulo 2**bits like the direct method
        return np.ascontiguousarray(out.astype(np.int64).astype(result_dtype))
    return np.ascontiguousarray(cast_result(out, result_dtype))


def run(p):
    """Compute problem `p` (a `ConvProblem`) by this method; None when its
    integers are too large for exact float64 arithmetic."""
    return correlate_im2col(p.x, p.v, p.conv_axes, p.batch_axes, p.n, p.k, p.m, p.s, p.bname,
                            p.fill[()].item(), p.nthreads, p.result_dtype, p.batch_out)
