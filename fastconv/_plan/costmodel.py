"""The automatic choice of method: a cost model of our own kernels, guards first.

Every method's time is predicted as a sum of terms, each the product of a
fitted constant (seconds per unit, in `_cost_constants`) and a count the
method's work is made of: calls and passes, multiply-adds, FFT butterflies
(``L log2 L`` per transform of ``L`` points), bytes written. The counts
follow the plans the methods run, so the model and the methods never
disagree about what is computed; ``benchmarks/fit_cost_model.py`` times the
methods over a training grid and fits the constants by non-negative least
squares on relative error.

Before the cheapest method is taken, guards rule out the ones that would be
wrong or wasteful for these inputs rather than these shapes:

* ``'fft'`` for an input with a NaN or an infinity (it would spread over the
  whole output, where the other methods keep the damage local);
* ``'fft'`` for integers whose exact result float64 FFTs cannot guarantee
  (the FFT path would fall back to direct after transforming);
* ``'fft'`` whose spectra would take more than four times the memory of the
  input and output (and more than `get_workspace_limit`);
* ``'im2col'`` for integers whose GEMM sums float64 cannot hold exactly.
"""

import collections
import math
import threading

import numpy as np

from .._methods import fft as _fft
from .._methods import im2col as _im2col
from .._methods import layer as _layer
from .._methods import separable as _separable
from .._methods.workspace import get_workspace_limit
from .cost_constants import CONSTANTS, FIT_THREADS

__all__ = ["candidates", "cheapest", "choose", "features", "predict"]

# Multiply-adds are counted per compute dtype (their own constants: the
# vector kernels run float32/float64 several times faster than complex and
# int64). FFT butterflies: complex data's transforms do twice the work of
# real data's half spectra; float64 about 1.7 times float32's.
_DTYPE_KEYS = ("f4", "f8", "c8", "c16", "i8")
_FFT_FACTOR = {"f4": 1.0, "f8": 1.7, "c8": 2.0, "c16": 3.4, "i8": 1.7}


def _per_dtype(key, value):
    """`value` in the column of dtype `key`, zeros in the others."""
    return [value if k == key else 0.0 for k in _DTYPE_KEYS]


# The model predicts times for this many threads, whatever `workers` is: the
# methods round differently, so a choice that followed `workers` would make
# results depend on it. The constants were fitted at this thread count.
MODEL_THREADS = FIT_THREADS


def _dtype_key(dtype):
    if dtype.kind in "biu":
        return "i8"
    return {4: "f4", 8: "f8"}[dtype.itemsize] if dtype.kind == "f" else (
        {8: "c8", 16: "c16"}[dtype.itemsize])


def _direct_counts(dtype, m, k):
    """(vector multiply-adds, bytes written, row passes, plane passes) of one
    run of the direct kernel with outputs `m` and kernel `k` per convolved
    axis (batch elements folded into `m`'s first axis), per thread.

    Multiply-adds are counted as the vector kernel does them: output rows in
    whole 64-byte vectors (a short row leaves lanes idle), one kernel row
    slid along an output row per row pass, which has its own set-up cost,
    as has each plane pass (3-D and up: a kernel plane over an output plane).
    """
    out = math.prod(m)
    rows = out // max(m[-1], 1)
    threads = max(1, min(MODEL_THREADS, rows))
    lanes = max(1, 64 // dtype.itemsize)
    row_passes = rows * math.prod(k[:-1])
    vector_macs = row_passes * -(-m[-1] // lanes) * lanes * k[-1]
    plane_passes = rows // max(m[-2], 1) * math.prod(k[:-2]) if len(k) > 2 else 0
    return [vector_macs / threads, out * dtype.itemsize / threads, row_passes / threads,
            plane_passes / threads]


def _direct_features(p):
    batch = math.prod(p.batch_out)
    macs, nbytes, rows, planes = _direct_counts(p.compute_dtype, [batch * p.m[0]] + p.m[1:],
                                                p.k)
    return [1.0, *_per_dtype(_dtype_key(p.compute_dtype), macs), nbytes, rows, planes]


def _separable_features(p, terms):
    """Counts of the 1-D passes (per term, one direct pass per convolved axis,
    in order), as `_direct_features` counts one direct run."""
    shape = [max(a, b) for a, b in zip(p.in1.shape, p.in2.shape)]
    for ax in p.conv_axes:
        shape[ax] = p.in1.shape[ax]
    k = [p.in2.shape[a] for a in p.conv_axes]
    batch = math.prod(shape[a] for a in p.batch_axes)
    totals = [0.0] * 4
    for _ in range(len(terms)):
        cur = list(shape)
        for i, (ax, kd) in enumerate(zip(p.conv_axes, k)):
            if p.mode == "full":
                cur[ax] = cur[ax] + kd - 1
            elif p.mode == "valid":
                cur[ax] = abs(cur[ax] - kd) + 1
            m = [cur[a] for a in p.conv_axes]
            m[0] *= batch
            pass_k = [1] * len(k)
            pass_k[i] = kd
            totals = [t + c for t, c in zip(totals, _direct_counts(p.compute_dtype, m, pass_k))]
    calls = len(terms) * len(k)
    # the sums of the terms' outputs: one more output written per extra term
    totals[1] += (len(terms) - 1) * p.out_size * p.compute_dtype.itemsize / MODEL_THREADS
    return [calls, *_per_dtype(_dtype_key(p.compute_dtype), totals[0]), *totals[1:]]


def _fft_plan(p):
    return _fft.plan_for(p.n, p.k, p.m, p.s, p.bname, p.fill_is_zero, p.result_dtype)


def fft_counts(p):
    """Counts of the FFT plan: (butterflies, spectral points, bytes of spectra,
    the plan's own relative cost), over all batch elements."""
    plan = _fft_plan(p)
    nb_x = math.prod(p.x.shape[a] for a in p.batch_axes)
    nb_v = math.prod(p.v.shape[a] for a in p.batch_axes)
    nb_out = math.prod(p.batch_out)
    length = math.prod(plan.transform)
    butterflies = length * max(math.log2(length), 1.0)
    if plan.real:
        butterflies /= 2
        points = length // plan.transform[-1] * (plan.transform[-1] // 2 + 1)
    else:
        points = length
    forward = (nb_x * plan.nblocks + nb_v) * butterflies
    inverse = nb_out * plan.nblocks * butterflies
    spectra = nb_out * plan.nblocks * points
    complex_bytes = 2 * (4 if p.compute_dtype in (np.float32, np.complex64) else 8)
    nbytes = (nb_x + nb_out) * plan.nblocks * points * complex_bytes
    return forward + inverse, spectra, nbytes, plan.cost * nb_out


def _fft_features(p):
    key = _dtype_key(p.compute_dtype)
    butterflies, spectra, nbytes, plan_cost = fft_counts(p)
    t = MODEL_THREADS
    return [1.0, butterflies * _FFT_FACTOR[key] / t, spectra * _FFT_FACTOR[key] / t,
            nbytes / t, plan_cost * _FFT_FACTOR[key] / t, float(len(p.k))]


def _im2col_features(p):
    """Counts of the im2col plan: GEMM calls and flops, lowered and output bytes."""
    x_batch = [p.x.shape[a] for a in p.batch_axes]
    v_batch = [p.v.shape[a] for a in p.batch_axes]
    plan = _im2col.im2col_plan(x_batch, v_batch, p.k, p.m, p.result_dtype, MODEL_THREADS)
    key = _dtype_key(plan.dtype)
    t = plan.threads
    lowered = plan.positions * plan.taps * (math.prod(x_batch) if plan.merged else plan.groups)
    itemsize = plan.dtype.itemsize
    return [1.0, plan.gemm_calls / t, *_per_dtype(key, plan.flops / t),
            lowered * itemsize / t, p.out_size * itemsize / t]


def features(p, method, terms=None):
    """Counts the predicted time of `method` on problem `p` is linear in."""
    if method == "direct":
        return _direct_features(p)
    if method == "separable":
        return _separable_features(p, terms)
    if method == "fft":
        return _fft_features(p)
    if method == "im2col":
        return _im2col_features(p)
    raise ValueError(method)


def predict(p, method, terms=None):
    """Predicted seconds of `method` on problem `p`.

    Separable passes are runs of the direct kernel: their work is predicted
    with the direct constants times a fitted factor, plus a fitted cost per
    pass (the training grid has too few separable kernels to fit constants
    of their own for every count).
    """
    feats = features(p, method, terms)
    if method == "separable":
        per_pass, scale = CONSTANTS["separable"]
        return per_pass * feats[0] + scale * math.fsum(
            c * f for c, f in zip(CONSTANTS["direct"][1:], feats[1:]))
    return math.fsum(c * f for c, f in zip(CONSTANTS[method], feats))


def _svd_seconds(k):
    """Rough time of the SVDs a low-rank test of a kernel of shape `k` makes."""
    flops = sum(4.0 * kd * (math.prod(k) // kd) * min(kd, math.prod(k) // kd) for kd in k)
    # measured with one BLAS thread: 0.13 ms for 31 x 31, 0.4 ms for 61 x 61
    return 2 * (2e-5 + 1e-10 * flops)


# The SVDs of a low-rank test are made only when the other methods are
# predicted to take this many times longer (the test's cost is a loss when
# the kernel turns out to be of full rank).
SVD_PAYOFF = 5.0


def _separable_eligible(p):
    """Whether p.in2 is a single kernel whose 1-D passes could cost less."""
    if len(p.conv_axes) < 2 or any(p.in2.shape[a] != 1 for a in p.batch_axes):
        return False
    k = [p.in2.shape[a] for a in p.conv_axes]
    return sum(kd > 1 for kd in k) >= 2 and math.prod(k) >= 2 * sum(k)


def separable_terms_for_auto(p, decompose=True, max_terms=None):
    """Separable terms of p.in2 when a separable run could pay off, else None.

    Without `decompose` only the O(taps) test for rank 1 is made; with it,
    kernels needing more than `max_terms` terms are refused.
    """
    if not _separable_eligible(p):
        return None
    return _separable.kernel_terms(p, decompose=decompose, max_terms=max_terms)


# Outcomes of the low-rank test for recent kernels: (kernel copy, result
# dtype, axes, terms). Users apply one kernel to many inputs; its SVDs need
# not be repeated. Entries are matched by value, exactly.
_low_rank_seen = collections.deque(maxlen=16)
_low_rank_lock = threading.Lock()


def _low_rank_terms_cached(p, max_terms):
    key = (p.result_dtype, tuple(p.conv_axes), max_terms)
    with _low_rank_lock:
        seen = list(_low_rank_seen)
    for kernel, seen_key, terms in seen:
        if (seen_key == key and kernel.shape == p.in2.shape and kernel.dtype == p.in2.dtype
                and np.array_equal(kernel, p.in2)):
            return terms
    terms = separable_terms_for_auto(p, max_terms=max_terms)
    with _low_rank_lock:
        _low_rank_seen.append((p.in2.copy(), key, terms))
    return terms


def _kernel_bank(p):
    """Whether several kernels share an input (im2col's matrix products then
    have several columns; for one kernel they are matrix-vector products,
    where the direct kernel does the same work without the lowering)."""
    return any(p.v.shape[a] > 1 and p.x.shape[a] == 1 for a in p.batch_axes)


def candidates(p, decompose=True):
    """Methods that can compute `p`, with the separable terms (or None)."""
    methods = ["direct", "fft"] + (["im2col"] if _kernel_bank(p) else [])
    terms = separable_terms_for_auto(p, decompose)
    if terms is not None:
        methods.append("separable")
    return methods, terms


def _fft_guard(p):
    """Whether an FFT of these inputs fits the memory budget, is exact enough and
    does not spread a NaN or infinity."""
    _, _, spectra_bytes, _ = fft_counts(p)
    data_bytes = (p.x.size + p.out_size) * p.compute_dtype.itemsize
    if spectra_bytes > max(get_workspace_limit(), 4 * data_bytes):
        return False
    if p.result_dtype.kind in "biu":
        return _integer_fft_exact(p)
    # a NaN or an infinity makes the sum non-finite (a sum that overflows
    # does too: then the FFT is declined though it was not needed)
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.sum(p.x)) and np.isfinite(np.sum(p.v))
                    and (p.bname != "fill" or np.isfinite(p.fill).all()))


def _integer_fft_exact(p):
    """`_fft`'s exactness bound, with the norms of the extended input bounded
    from the input's: each sample appears at most once per period of the
    extension, and fill samples add their own."""
    plan = _fft_plan(p)
    nx = _fft.norms(p.x)
    one, two2, inf = nx.one, nx.two ** 2, nx.inf
    if plan.extend:
        if p.bname == "fill":
            extra = max(math.prod(plan.source_len) - math.prod(p.n), 0)
            fill = abs(float(p.fill))
            one += fill * extra
            two2 += fill ** 2 * extra
            inf = max(inf, fill)
        else:
            periods = math.prod(-(-ln // nd) + 1 for ln, nd in zip(plan.source_len, p.n))
            one *= periods
            two2 *= periods
    return _fft.exact_bound_holds(_fft.Norms(one, math.sqrt(two2), inf), _fft.norms(p.v),
                                  plan, p.k)


def _im2col_guard(p):
    """Whether float64 GEMMs of these integers are exact (else im2col runs direct)."""
    if p.result_dtype.kind not in "biu":
        return True
    return _im2col._exact_in_float64(p.x, p.v, p.fill[()] if p.bname == "fill" else 0,
                                     math.prod(p.k))


GUARDS = {"fft": _fft_guard, "im2col": _im2col_guard}


def _fixed_costs(ndim):
    """Least time of each method but direct whatever its size, for `ndim`
    convolved axes: calls, passes and per-axis costs only."""
    return {"fft": CONSTANTS["fft"][0] + CONSTANTS["fft"][5] * ndim,
            "im2col": CONSTANTS["im2col"][0] + CONSTANTS["im2col"][1],
            "separable": CONSTANTS["separable"][0] * 2}


_shape_costs = collections.OrderedDict()  # (problem shape key) -> {method: seconds}
_SHAPE_COSTS_MAX = 512
_shape_costs_lock = threading.Lock()


def _shape_key(p):
    # n, k, m, s and the batch shapes follow from these
    return (p.x.shape, p.v.shape, p.mode, tuple(p.conv_axes), p.bname, p.fill_is_zero,
            p.result_dtype)


def _costs_by_shape(p):
    """Predicted seconds of the methods whose cost depends on shapes only.

    Cached by problem shape: repeated calls on arrays of the same shapes
    (the usual case) skip the planning. A method whose fixed cost alone
    exceeds the best prediction so far is not planned (planning an FFT
    takes tens of microseconds).
    """
    key = _shape_key(p)
    with _shape_costs_lock:
        costs = _shape_costs.get(key)
        if costs is not None:
            _shape_costs.move_to_end(key)
            return costs
    costs = {"direct": predict(p, "direct")}
    fixed = _fixed_costs(len(p.k))
    others = ("fft", "im2col") if _kernel_bank(p) else ("fft",)
    for method in sorted(others, key=fixed.get):
        if fixed[method] < min(costs.values()):
            costs[method] = predict(p, method)
    with _shape_costs_lock:
        _shape_costs[key] = costs
        while len(_shape_costs) > _SHAPE_COSTS_MAX:
            _shape_costs.popitem(last=False)
    return costs


def _shape_choice(p):
    """(predicted costs, best of them, whether separable passes may pay)."""
    costs = _costs_by_shape(p)
    best = min(costs, key=costs.get)
    separable = (_separable_eligible(p)
                 and costs[best] > _fixed_costs(len(p.k))["separable"])
    return costs, best, separable


def direct_by_shape(p):
    """Whether `choose` picks the direct method for `p` whatever the input
    values (so the choice holds for every call with these shapes)."""
    _, best, separable = _shape_choice(p)
    return best == "direct" and not separable


def choose(p):
    """(method, separable terms) with the least predicted time that passes its guard."""
    costs, best, separable = _shape_choice(p)
    if best == "direct" and not separable:
        return "direct", None  # the usual case for small kernels: no copy, no sort
    costs = dict(costs)
    terms = None
    if separable:
        terms = separable_terms_for_auto(p, decompose=False)
        # not an outer product: a sum of a few may still pay for the SVDs,
        # if as few as `useful` terms beat the best other method
        useful = int(costs[best] / predict(p, "separable", [None]))
        if terms is None and useful >= 2 and costs[best] > SVD_PAYOFF * _svd_seconds(p.k):
            terms = _low_rank_terms_cached(p, useful)
        if terms is not None:
            costs["separable"] = predict(p, "separable", terms)
    for method in sorted(costs, key=costs.get):
        guard = GUARDS.get(method)
        if guard is None or guard(p):
            return method, terms
    return "direct", terms


def _finite_inputs(p):
    """Whether no input value (nor the fill) is a NaN or an infinity."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.sum(p.x)) and np.isfinite(np.sum(p.v))
                    and (p.bname != "fill" or np.isfinite(p.fill).all()))


def predict_layer_fft(lp):
    """Predicted seconds of the channel-summed FFT of layer `lp`
    (`fastconv._methods.layer.run_fft_channels`), with the FFT constants."""
    butterflies, products, nbytes = _layer.fft_channel_counts(lp)
    key = _dtype_key(lp.compute_dtype)
    t = MODEL_THREADS
    feats = [1.0, butterflies * _FFT_FACTOR[key] / t, products * _FFT_FACTOR[key] / t,
             nbytes / t, 0.0, float(len(lp.k))]
    return math.fsum(c * f for c, f in zip(CONSTANTS["fft"], feats))


# The multi-channel direct kernel of layers (`_layer.run_direct_channels`):
# seconds per call, per vector multiply-add on one thread, and per byte
# moved. Measured on the layers of benchmarks/compare_nn.py and small ones
# (2-core Zen 3, AVX2): 35-45 ps per float32 multiply-add and thread (0.32
# ns per 8-lane vector) on layers of many channels, about 0.1 ns per byte
# where few multiply-adds meet each byte (depthwise, 1x1), 15 us for the
# smallest calls. The kernel is FMA-bound, so other vector widths scale the
# time per multiply-add by their lanes (AVX-512: twice as many).
LAYER_DIRECT = (1.5e-5, 3.2e-10, 1.0e-10)


def predict_layer_direct(lp):
    """Predicted seconds of the multi-channel direct kernel on layer `lp`."""
    vector_macs, nbytes, threads = _layer.direct_channel_counts(lp)
    call, per_vector_mac, per_byte = LAYER_DIRECT
    return (call + per_vector_mac * vector_macs / min(threads, MODEL_THREADS)
            + per_byte * nbytes)


def _layer_fft_guard(lp, p):
    """The FFT guard for the channel-summed FFT: its spectra fit the memory
    budget (that of the weight spectra it caches, or four times the data)
    and no input value is a NaN or an infinity."""
    _, _, nbytes = _layer.fft_channel_counts(lp)
    data = (lp.x.size + lp.weight.size + math.prod(lp.out_shape)) * lp.compute_dtype.itemsize
    return nbytes <= max(_layer.spectra_cache_limit(), 4 * data) and _finite_inputs(p)


# Corrections of the predictions for convolution layers, whose problems
# (a whole channel axis summed as planes, many kernels per image) lie outside
# the grid the constants were fitted on. Measured/predicted time on the ten
# layers of benchmarks/compare_nn.py (2-core Xeon, AVX-512): direct 1.6-2.4,
# im2col 0.4-0.85, the channel-summed FFT 1.1 for large kernels and several
# times more for 3x3 ones; the factors keep each layer's choice on its
# fastest method where the predictions are that far apart.
LAYER_FACTORS = {"direct": 1.8, "im2col": 0.5, "fft": 1.5}
# Winograd F(m x m, 3x3) runs the multi-channel kernel on its products, so
# it is predicted from the direct kernel's time: scaled by its products per
# output against the direct sum's 9, times the cost of its transforms,
# workspace and weight transform, which grows as the channels (the products'
# sizes) shrink: WINOGRAD_OF_DIRECT * (1 + WINOGRAD_CHANNELS / channels),
# fitted to Winograd / direct times of 0.55-0.7 on the 3x3 layers of 64 and
# 256 channels of benchmarks/compare_nn.py and about 1.1 on layers of 3 and
# 16 channels (2-core Zen 4, AVX-512); plus a longer call (30 us more than
# the direct kernel's measured on a tiny layer).
WINOGRAD_OF_DIRECT = 1.6
WINOGRAD_CHANNELS = 16
WINOGRAD_CALL = 3.0e-5


def predict_layer_winograd(lp):
    """Predicted seconds of Winograd (`_layer.run_winograd`) on layer `lp`."""
    call = LAYER_DIRECT[0]
    work = predict_layer_direct(lp) - call
    per_output = _layer.winograd_products_per_output(lp, _layer.winograd_tile(lp))
    channels = max(1, min(lp.c_in, lp.c_out) // lp.groups)
    factor = WINOGRAD_OF_DIRECT * (1 + WINOGRAD_CHANNELS / channels)
    return call + WINOGRAD_CALL + factor * work * per_output / 9


def cheapest(p, methods, layer=None):
    """(method, by_shape): the method of `methods` ('direct', 'fft', 'im2col',
    and for layers 'winograd')
    with the least predicted time on `p` that passes its guard ('direct'
    when none does), and whether that choice holds for every input of these
    shapes and dtypes (no guard that looks at the values was consulted).

    For problems the public functions do not make themselves, so no cache by
    shape and no separable terms. With `layer` (the `LayerProblem` of a
    convolution layer whose problem is `p`), 'fft' of floating layers means
    the channel-summed FFT, with its own prediction and guard.
    """
    channel_fft = layer is not None and _layer.channel_fft_applies(layer)
    channel_direct = layer is not None and _layer.direct_channels_applies(layer)
    costs = {}
    for method in methods:
        if method == "fft" and channel_fft:
            costs[method] = predict_layer_fft(layer)
        elif method == "direct" and channel_direct:
            continue
        elif method != "winograd":
            costs[method] = predict(p, method)
    if layer is not None:
        # the factors scale the work, not the fixed cost of a call
        costs = {method: CONSTANTS[method][0]
                 + LAYER_FACTORS[method] * (cost - CONSTANTS[method][0])
                 for method, cost in costs.items()}
        if "direct" in methods and channel_direct:
            costs["direct"] = predict_layer_direct(layer)
        if "winograd" in methods:
            costs["winograd"] = predict_layer_winograd(layer)
    order = sorted(costs, key=costs.get)
    for method in order:
        if method == "fft" and channel_fft:
            passed = _layer_fft_guard(layer, p)
        else:
            guard = GUARDS.get(method)
            passed = guard is None or guard(p)
        if passed:
            break
    else:
        return "direct", False
    # im2col's guard reads the values of integers only; Winograd runs floats
    by_shape = method == order[0] and (
        method in ("direct", "winograd")
        or (method == "im2col" and p.result_dtype.kind not in "biu"))
    return method, by_shape
