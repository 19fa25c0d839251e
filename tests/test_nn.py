"""fastconv.nn (CNN convolution layers) against the loop reference (_nn_reference),
hand examples and PyTorch.

The first section checks the reference itself (hand examples, the padding rules,
``fastconv.correlate`` / ``scipy.signal.correlate`` on one channel, and
``torch.nn.functional.conv1d/2d/3d``). PyTorch parity tests get torch from
``_helpers.import_torch``: without torch they skip (unless ``FASTCONV_REQUIRE_TORCH=1``)
and everything else still runs.
"""

import itertools
import threading
import warnings

import numpy as np
import pytest
import scipy.signal

import fastconv
import fastconv.nn
from _helpers import LAYOUTS, import_torch, make_array, with_layout
from _nn_reference import (
    NN_DTYPES,
    NP_PAD_MODE,
    PADDING_MODES,
    assert_nn_close,
    conv_bound,
    conv_output_shape,
    conv_reference,
    expected_error,
    normalize_padding,
)

METHODS = tuple(fastconv.nn.METHODS)  # the explicit methods ('auto' is not one)
conv, conv1d, conv2d, conv3d = (fastconv.nn.conv, fastconv.nn.conv1d, fastconv.nn.conv2d,
                                fastconv.nn.conv3d)
choose_method = fastconv.nn.choose_method


def torch_conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros"):
    """torch.nn.functional.conv{1,2,3}d of NumPy arrays, the way torch.nn.ConvNd applies
    a padding mode: F.pad first (pairs reversed, last axis first), then padding 0."""
    torch = import_torch()
    F = torch.nn.functional
    nsp = weight.ndim - 2
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nsp]
    t = torch.from_numpy(np.ascontiguousarray(x))
    tw = torch.from_numpy(np.ascontiguousarray(weight))
    tb = None if bias is None else torch.from_numpy(np.ascontiguousarray(bias))
    if padding_mode != "zeros" or (not isinstance(padding, str) and np.ndim(padding) > 1):
        pads = normalize_padding(padding, x.shape[-nsp:], weight.shape[2:], stride, dilation)
        flat = [p for pair in reversed(pads) for p in pair]
        mode = "constant" if padding_mode == "zeros" else padding_mode
        t = F.pad(t, flat, mode=mode)
        padding = 0
    with warnings.catch_warnings():
        # torch's note that an even 'same' kernel makes it copy the input
        warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
        return fn(t, tw, tb, stride, padding, dilation, groups).numpy()


# ----------------------------------------------------------------------------- the reference
def test_reference_hand_examples():
    x = np.array([[[1.0, 2, 3, 4]]])
    w = np.array([[[1.0, 10]]])
    np.testing.assert_array_equal(conv_reference(x, w), [[[21, 32, 43]]])
    np.testing.assert_array_equal(conv_reference(x, w, stride=2), [[[21, 43]]])
    np.testing.assert_array_equal(conv_reference(x, w, dilation=2), [[[31, 42]]])
    np.testing.assert_array_equal(conv_reference(x, w, padding=1), [[[10, 21, 32, 43, 4]]])
    np.testing.assert_array_equal(conv_reference(x, w, padding=[(0, 1)]), [[[21, 32, 43, 4]]])
    # reflect: 2 | 1 2 3 4 | 3; replicate: 1 | 1 2 3 4 | 4; circular: 4 | 1 2 3 4 | 1
    np.testing.assert_array_equal(conv_reference(x, w, padding=1, padding_mode="reflect"),
                                  [[[12, 21, 32, 43, 34]]])
    np.testing.assert_array_equal(conv_reference(x, w, padding=1, padding_mode="replicate"),
                                  [[[11, 21, 32, 43, 44]]])
    np.testing.assert_array_equal(conv_reference(x, w, padding=1, padding_mode="circular"),
                                  [[[14, 21, 32, 43, 14]]])
    np.testing.assert_array_equal(conv_reference(x, w, np.array([5.0])), [[[26, 37, 48]]])
    np.testing.assert_array_equal(conv_reference(x[0], w), [[21, 32, 43]])  # unbatched
    # groups=2: output channel co sees input channels of group co // (C_out // groups)
    x2 = np.array([[[1.0, 2], [10, 20]]])                   # (1, 2, 2)
    w2 = np.array([[[1.0, 1]], [[2.0, 0]], [[0.0, 1]]])[[0, 1, 2, 2]]  # (4, 1, 2)
    np.testing.assert_array_equal(conv_reference(x2, w2, groups=2), [[[3], [2], [20], [20]]])
    # two input channels summed, no conjugation of complex values
    x3 = np.array([[[1j, 2], [3, 4j]]])
    w3 = np.array([[[1j, 0], [0, 1j]]])
    np.testing.assert_array_equal(conv_reference(x3, w3), [[[-1 - 4]]])


@pytest.mark.parametrize(
    "n, k, s, d, expected",
    [
        (5, 3, 1, 1, (1, 1)),
        (5, 4, 1, 1, (1, 2)),     # even kernel: the extra element goes after
        (5, 2, 1, 3, (1, 2)),     # dilated: span 4
        (7, 3, 2, 1, (1, 1)),     # ceil(7/2) = 4 outputs: 3*2 + 3 - 7 = 2
        (8, 3, 2, 1, (0, 1)),     # 4 outputs: 3*2 + 3 - 8 = 1
        (8, 4, 2, 1, (1, 1)),
        (5, 1, 3, 1, (0, 0)),     # total would be negative
        (1, 5, 1, 1, (2, 2)),
        (6, 6, 4, 1, (2, 2)),     # 2 outputs: 4 + 6 - 6 = 4
    ],
)
def test_reference_same_padding(n, k, s, d, expected):
    assert normalize_padding("same", (n,), (k,), s, d) == [expected]
    shape = conv_output_shape((1, 1, n), (1, 1, k), s, "same", d)
    assert shape == (1, 1, -(-n // s))


def test_reference_padding_forms():
    assert normalize_padding(2, (5, 6), (3, 3)) == [(2, 2), (2, 2)]
    assert normalize_padding((1, 2), (5, 6), (3, 3)) == [(1, 1), (2, 2)]
    assert normalize_padding(((0, 1), (3, 2)), (5, 6), (3, 3)) == [(0, 1), (3, 2)]
    assert normalize_padding("valid", (5, 6), (3, 3)) == [(0, 0), (0, 0)]
    assert normalize_padding([np.int64(1)], (5,), (3,)) == [(1, 1)]
    assert conv_output_shape((2, 3, 5, 6), (4, 3, 3, 2), (2, 1), ((0, 1), (3, 2)), (1, 2)) == (
        2, 4, 2, 9)
    assert conv_output_shape((3, 2), (4, 3, 3)) is None


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64", "uint64"])
def test_reference_integers_match_correlate(dtype, rng):
    """One channel, one image: the layer is fastconv.correlate(mode='valid'), exact
    modulo 2**bits (full-range values overflow every product)."""
    x = make_array(rng, (11,), dtype, kind="full")
    w = make_array(rng, (4,), dtype, kind="full")
    got = conv_reference(x[None, None], w[None, None])[0, 0]
    np.testing.assert_array_equal(got, fastconv.correlate(x, w, mode="valid"), strict=True)
    assert conv_reference(np.array([[100]], np.int8), np.array([[[2]]], np.int8))[0, 0] == -56


def test_reference_matches_scipy_per_channel_pair(rng):
    """Each (output, input) channel pair of a 2-D layer is a scipy correlation."""
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    got = conv_reference(x, w, b)
    for n, co in itertools.product(range(2), range(4)):
        exp = b[co] + sum(scipy.signal.correlate(x[n, c], w[co, c], mode="valid", method="direct")
                          for c in range(3))
        np.testing.assert_allclose(got[n, co], exp, rtol=1e-13, atol=1e-13)


# (x shape, weight shape, kwargs): every stride/padding/dilation/groups form torch has
REFERENCE_TORCH_CASES = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 4, 10), (6, 2, 4), dict(stride=3, padding=2, dilation=2, groups=2)),
    ((1, 2, 7), (2, 1, 5), dict(padding=((1, 3),), groups=2)),
    ((3, 8), (2, 3, 2), dict(padding=1)),                                     # unbatched
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ((1, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1)),                  # depthwise
    ((1, 6, 5, 7), (6, 2, 2, 3), dict(groups=3, padding=((0, 1), (2, 1)), stride=2)),
    ((1, 2, 4, 5, 6), (3, 2, 2, 3, 2), dict(stride=(1, 2, 2), padding=(1, 0, 1), dilation=2)),
    ((2, 3, 4, 5), (3, 1, 3, 1), dict(groups=3)),
]


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("case", REFERENCE_TORCH_CASES,
                         ids=[f"{len(w) - 2}d-{i}" for i, (_, w, _) in
                              enumerate(REFERENCE_TORCH_CASES)])
def test_reference_matches_torch(case, padding_mode, rng):
    x_shape, w_shape, kw = case
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    for bias in (None, b):
        exp = torch_conv(x, w, bias, padding_mode=padding_mode, **kw)
        got = conv_reference(x, w, bias, padding_mode=padding_mode, **kw)
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_reference_same_matches_torch(nsp, rng):
    """Stride-1 'same' is torch's: the extra element of an even kernel goes after."""
    for k, d in [(2, 1), (3, 1), (4, 2), (5, 1)]:
        x = rng.standard_normal((1, 2) + (5,) * nsp)
        w = rng.standard_normal((3, 2) + (k,) * nsp)
        exp = torch_conv(x, w, padding="same", dilation=d)
        got = conv_reference(x, w, padding="same", dilation=d)
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["complex128", "int64", "float32"])
def test_reference_dtypes_match_torch(dtype, rng):
    """No conjugation of complex weights; int64 exact (torch wraps too); float32 cast."""
    x = make_array(rng, (2, 4, 6, 5), dtype, kind="full")
    w = make_array(rng, (2, 2, 3, 2), dtype, kind="full")
    b = make_array(rng, (2,), dtype, kind="full")
    exp = torch_conv(x, w, b, stride=(1, 2), padding=1, groups=2)
    got = conv_reference(x, w, b, stride=(1, 2), padding=1, groups=2)
    assert got.dtype == np.dtype(dtype)
    if dtype == "int64":
        np.testing.assert_array_equal(got, exp)
    else:
        assert_nn_close(exp, got, conv_bound(x, w, b, stride=(1, 2), padding=1, groups=2))


def test_reference_pad_modes_are_torch_pad():
    torch = import_torch()
    x = np.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    for mode, np_mode in NP_PAD_MODE.items():
        tmode = "constant" if mode == "zeros" else mode
        exp = torch.nn.functional.pad(torch.from_numpy(x), (2, 1), mode=tmode).numpy()
        np.testing.assert_array_equal(np.pad(x, [(0, 0), (0, 0), (2, 1)], mode=np_mode), exp)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "int16"])
def test_comparison_can_fail(dtype, rng):
    """assert_nn_close flags one wrong element, a wrong dtype and a wrong shape."""
    x = make_array(rng, (1, 2, 8), dtype)
    w = make_array(rng, (3, 2, 3), dtype)
    exp = conv_reference(x, w)
    bound = conv_bound(x, w)
    assert_nn_close(exp.copy(), exp, bound)
    bad = exp.copy()
    step = 1 if dtype == "int16" else 0.05 * float(bound.max())
    bad[0, 1, 2] += step
    with pytest.raises(AssertionError, match="differ|Mismatch"):
        assert_nn_close(bad, exp, bound)
    other = "complex128" if dtype != "complex128" else "complex64"
    with pytest.raises(AssertionError, match="dtype"):
        assert_nn_close(exp.astype(other), exp, bound)
    with pytest.raises(AssertionError, match="shape"):
        assert_nn_close(exp[..., :-1], exp, bound)


def test_reference_4d_is_a_sum_of_3d_layers(rng):
    """A 4-D layer is, along its first spatial axis, a sum over the kernel taps of
    torch 3-D layers of input slices (the reference has no special case for 4-D)."""
    x = rng.standard_normal((2, 2, 6, 4, 3, 5))
    w = rng.standard_normal((4, 1, 3, 2, 1, 2))
    kw = dict(stride=(2, 1, 1, 2), dilation=(2, 1, 1, 1), groups=2)
    pads = [(1, 1), (0, 1), (1, 0), (0, 0)]
    got = conv_reference(x, w, padding=pads, **kw)
    xp = np.pad(x, [(0, 0), (0, 0), pads[0], (0, 0), (0, 0), (0, 0)])
    assert got.shape[2] == (6 + 2 - 2 * 2 - 1) // 2 + 1
    for i in range(got.shape[2]):
        exp = sum(torch_conv(xp[:, :, i * 2 + t * 2], w[:, :, t], stride=(1, 1, 2),
                             padding=pads[1:], groups=2) for t in range(3))
        np.testing.assert_allclose(got[:, :, i], exp, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- helpers
# methods whose rounding errors spread over the output (transforms): their tolerance
# scales with the largest sum |x||w| of the output, and is 10x the direct method's
TRANSFORM_TOLERANCE = dict(rtol_factor=10.0, normwise=True)
METHOD_TOLERANCE = {"winograd": TRANSFORM_TOLERANCE, "fft": TRANSFORM_TOLERANCE}
LAYER_KEYS = ("stride", "padding", "dilation", "groups", "padding_mode")
ALWAYS = ("auto", "direct", "gemm")  # methods that run every call
EVERY = ("auto",) + METHODS


def _copy(a):
    return None if a is None else np.array(a, copy=True)


def run_or_refuse(method, x, w, b=None, **kw):
    """conv(x, w, b, method=method, **kw), or None where a method outside ALWAYS
    refuses the call (with a ValueError naming method: anything else fails)."""
    try:
        return conv(x, w, b, method=method, **kw)
    except ValueError as exc:
        if method in ALWAYS or "method" not in str(exc):
            raise
        return None


def tolerance_of(method, x, w, b=None, **kw):
    """assert_nn_close's tolerance arguments for the method ('auto': its choice)."""
    used = choose_method(x, w, b, **kw) if method == "auto" else method
    return METHOD_TOLERANCE.get(used, {})


def check(x, w, b=None, method=EVERY, **kw):
    """conv(x, w, b, method=m, **kw) == conv_reference (values, dtype, shape) and the
    inputs unchanged, for the method or for each of a sequence of methods (where
    those not in ALWAYS may refuse the call with a ValueError naming method);
    returns the first result."""
    methods = (method,) if isinstance(method, str) else tuple(method)
    layer = {k: v for k, v in kw.items() if k in LAYER_KEYS}
    exp, bound = conv_reference(x, w, b, **layer), conv_bound(x, w, b, **layer)
    before = [_copy(a) for a in (x, w, b)]
    results = []
    for m in methods:
        msg = f"x {np.shape(x)} w {np.shape(w)} bias {b is not None} method={m} {kw}"
        got = (conv(x, w, b, method=m, **kw) if len(methods) == 1
               else run_or_refuse(m, x, w, b, **kw))
        if got is None:
            continue
        tol = tolerance_of(m, x, w, b, **layer)
        scale = bound
        if tol.get("normwise") and np.size(x) and np.size(w):
            # a transform's rounding errors scale with the values transformed:
            # outputs whose windows see only padding are zeros plus that noise
            floor = (np.max(np.abs(np.asarray(x).astype(np.complex128)))
                     * np.max(np.abs(np.asarray(w).astype(np.complex128))))
            scale = np.maximum(np.asarray(bound, dtype=np.float64), floor)
        assert_nn_close(got, exp, scale, err_msg=msg, **tol)
        for a, a0 in zip((x, w, b), before):
            assert a0 is None or np.array_equal(np.asarray(a), a0), "an input was modified " + msg
        results.append(got)
    return results[0]


def check_or_raises(x, w, b=None, method=EVERY, **kw):
    """check(), or the ValueError expected_error predicts (a kernel longer than the
    padded input, a reflect/circular padding longer than its axis) from every method
    of ALWAYS."""
    layer = {k: v for k, v in kw.items() if k in LAYER_KEYS}
    err = expected_error(np.shape(x), np.shape(w), **layer)
    if err is None:
        return check(x, w, b, method, **kw)
    for m in ALWAYS:
        with pytest.raises(ValueError, match=err):
            conv(x, w, b, method=m, **kw)
    return None


def layer_arrays(rng, x_shape, w_shape, dtype="float64", bias=True, kind="small"):
    x = make_array(rng, x_shape, dtype, kind)
    w = make_array(rng, w_shape, dtype, kind)
    b = make_array(rng, (w_shape[0],), dtype, kind) if bias else None
    return x, w, b


def run_grid(rng, n_shapes, k_shapes, strides, dilations, paddings, channel_sets,
             padding_mode, dtype="float64"):
    """check_or_raises (every method) over the product of the arguments;
    channel_sets holds (C_in, C_out, groups) triples (a bias with every grouped set).
    Fails at the end with all failing configurations."""
    failures = []
    for n, k, (c_in, c_out, groups) in itertools.product(n_shapes, k_shapes, channel_sets):
        x, w, b = layer_arrays(rng, (2, c_in) + n, (c_out, c_in // groups) + k, dtype,
                               bias=groups > 1)
        for s, d, p in itertools.product(strides, dilations, paddings):
            kw = dict(stride=s, padding=p, dilation=d, groups=groups,
                      padding_mode=padding_mode)
            try:
                check_or_raises(x, w, b, **kw)
            except Exception as exc:  # noqa: BLE001 - collected, reported below
                first = str(exc).splitlines()[0] if str(exc) else ""
                failures.append(f"x {x.shape} w {w.shape} {kw}: {type(exc).__name__} {first}")
    assert not failures, f"{len(failures)} failing configurations:\n" + "\n".join(
        failures[:25])


def test_check_can_fail(monkeypatch, rng):
    """check() flags a layer off by one element, one with the 'same' padding of an even
    kernel on the wrong side, and one that writes into its input."""
    real = fastconv.nn.conv
    x, w, b = layer_arrays(rng, (1, 2, 7, 6), (3, 2, 4, 2))
    check(x, w, b, padding="same")

    def one_off(*args, **kw):
        res = real(*args, **kw)
        res.flat[5] += 1e-3 * abs(res.flat[5]) + 1e-9
        return res

    def wrong_side(x, w, b=None, **kw):
        pads = [(a, c) for c, a in normalize_padding("same", x.shape[2:], w.shape[2:])]
        return real(x, w, b, **dict(kw, padding=pads))

    def in_place(x, w, b=None, **kw):
        res = real(x, w, b, **kw)
        x[0, 0, 0, 0] += 1.0
        return res

    for fake in (one_off, wrong_side, in_place):
        monkeypatch.setitem(globals(), "conv", fake)
        with pytest.raises(AssertionError):
            check(x.copy(), w, b, padding="same", method="direct")


# ----------------------------------------------------------------------------- grids
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_grid_1d(padding_mode, rng):
    """Every stride/dilation/padding form on short signals: kernels longer than the
    (padded) input, even kernels, strides longer than the kernel, 'same' with stride > 1."""
    run_grid(rng, [(1,), (4,), (7,)], [(1,), (2,), (3,), (5,)], [1, 2, 3], [1, 2],
             [0, 3, (2,), [(0, 1)], ((3, 1),), "valid", "same"],
             [(1, 1, 1), (4, 6, 2)], padding_mode)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_grid_2d(padding_mode, rng):
    run_grid(rng, [(5, 6), (2, 3)], [(1, 1), (2, 3), (4, 1)],
             [1, (2, 3)], [1, (1, 2)],
             [0, 2, (1, 0), ((0, 2), (1, 1)), "valid", "same"],
             [(2, 2, 1), (3, 3, 3), (4, 6, 2)], padding_mode)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_grid_3d(padding_mode, rng):
    run_grid(rng, [(3, 4, 5)], [(1, 1, 1), (2, 3, 1), (3, 3, 3)], [1, (1, 2, 3)],
             [1, (2, 1, 1)], [0, 1, ((1, 0), (0, 2), (1, 1)), "same"],
             [(2, 2, 1), (2, 2, 2), (2, 4, 2)], padding_mode)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_4d(padding_mode, rng):
    """Four spatial axes (no torch function has them)."""
    x, w, b = layer_arrays(rng, (2, 2, 3, 4, 3, 4), (2, 1, 2, 1, 2, 3))
    check(x, w, b, stride=(1, 2, 1, 1), padding=((1, 0), (0, 0), (0, 1), (1, 1)),
          dilation=(1, 1, 2, 1), groups=2, padding_mode=padding_mode)
    check(x[0], w, None, padding="same", stride=2, groups=2, padding_mode=padding_mode)


@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_same_padding_output_length(nsp, rng):
    """'same' gives ceil(n / stride) outputs for every stride, dilation, even kernel."""
    for n, k, s, d in itertools.product([1, 4, 5], [1, 2, 3, 4], [1, 2, 3], [1, 2]):
        x, w, _ = layer_arrays(rng, (1, 2) + (n,) * nsp, (2, 2) + (k,) * nsp, bias=False)
        got = check(x, w, stride=s, dilation=d, padding="same")
        assert got.shape[2:] == (-(-n // s),) * nsp


def test_unbatched_is_the_batched_first_image(rng):
    for x_shape, w_shape, kw in REFERENCE_TORCH_CASES:
        x, w, b = layer_arrays(rng, x_shape, w_shape)
        if len(x_shape) == len(w_shape):
            batched = conv(x, w, b, **kw)
            single = check(x[-1], w, b, **kw)
            assert single.shape == batched.shape[1:]
            np.testing.assert_allclose(single, batched[-1], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("dtype", NN_DTYPES)
def test_dtypes(dtype, bias, unbatched, padding_mode, rng):
    """Result dtype = input dtype; integers exact modulo 2**bits (full-range values)."""
    x, w, b = layer_arrays(rng, (2, 4, 6, 5), (6, 2, 3, 2), dtype, bias, kind="full")
    if unbatched:
        x = x[0]
    got = check(x, w, b, stride=(2, 1), padding=1, groups=2, padding_mode=padding_mode)
    assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64", "uint64"])
def test_integers_wrap_1d(dtype, rng):
    x, w, b = layer_arrays(rng, (1, 3, 9), (2, 3, 4), dtype, kind="full")
    check(x, w, b, padding=2, padding_mode="circular", dilation=2)
    check(x, w, b, stride=3, padding="same")


def test_float16_is_accumulated_in_float32(rng):
    """256 positive products per output: a float16 accumulator would be many float16
    ulps off; float32 accumulation rounds to (one of) the nearest float16 values."""
    x = rng.random((2, 16, 40)).astype(np.float16)
    w = rng.random((8, 16, 16)).astype(np.float16)
    got = conv(x, w)
    assert got.dtype == np.float16
    exact = conv_reference(x, w, exact=True)
    ulp = np.spacing(exact.astype(np.float16)).astype(np.float64)
    err = np.abs(got.astype(np.float64) - exact)
    assert np.all(err <= 0.5 * ulp + 1e-4 * exact), float(np.max(err / ulp))


def test_lists_and_numpy_integer_parameters(rng):
    x, w, b = layer_arrays(rng, (2, 4, 6, 5), (6, 2, 3, 2))
    kw = dict(stride=(2, 1), padding=1, groups=2)
    exp, bound = conv_reference(x, w, b, **kw), conv_bound(x, w, b, **kw)
    assert_nn_close(conv(x.tolist(), w.tolist(), b.tolist(), **kw), exp, bound)
    got = conv(x, w, b, stride=[np.int64(2), np.int32(1)], padding=np.int64(1),
               groups=np.int16(2), dilation=np.uint8(1))
    assert_nn_close(got, exp, bound)
    assert_nn_close(conv(x, w, b, stride=(2, 1), padding=[[1, 1], [1, 1]], groups=2), exp,
                    bound)


@pytest.mark.parametrize("method", ALWAYS)
def test_nonfinite_inputs_stay_local(method, rng):
    """A NaN or an infinity reaches only the outputs whose window holds it (as torch's
    and the reference's sums), also for a long kernel."""
    for x_shape, w_shape, kw in [((2, 3, 9, 8), (4, 3, 3, 3), dict(padding=1)),
                                 ((2, 2, 300), (2, 2, 101), dict(padding=50))]:
        x = rng.random(x_shape)
        w = rng.random(w_shape) + 0.5
        x[(0, 1) + (4,) * (len(x_shape) - 2)] = np.nan
        x[(-1, 0) + (2,) * (len(x_shape) - 2)] = np.inf
        got = conv(x, w, method=method, **kw)
        exp = conv_reference(x, w, **kw)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(exp))
        assert 0 < np.isnan(exp).sum() < exp.size and np.isinf(exp).any()
        finite = np.isfinite(exp)
        assert_nn_close(got[finite], exp[finite], conv_bound(x, w, **kw)[finite])


def test_mixed_padding_forms(rng):
    """An int next to a pair is outside the documented forms: it either means that int
    on both sides or is refused naming padding, never another exception."""
    x, w, b = layer_arrays(rng, (1, 2, 5, 6), (2, 2, 3, 3))
    for padding in [((1, 2), 1), (1, (0, 2)), ((1, 2), (1, 2, 3)), ((1,), (1, 1))]:
        try:
            got = conv(x, w, b, padding=padding)
        except (ValueError, TypeError) as exc:
            assert "padding" in str(exc), str(exc)
            continue
        pairs = [(p, p) if np.ndim(p) == 0 else tuple(p) for p in padding]
        assert_nn_close(got, conv_reference(x, w, b, padding=pairs))


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("which", ["x", "weight", "bias", "all"])
@pytest.mark.parametrize("layout, dtype", [
    pytest.param(layout, dtype, id=f"{layout}-{dtype}")
    for layout in LAYOUTS
    # np.asarray of a list gives float64 / complex128 back, not the other dtypes
    for dtype in (["float64", "complex128"] if layout == "list"
                  else ["float64", "float32", "int16", "complex64"])
])
def test_layouts(dtype, layout, which, rng):
    """Any memory layout of any operand."""
    x, w, b = layer_arrays(rng, (2, 4, 7, 6), (4, 2, 3, 2), dtype)
    arrays = {"x": x, "weight": w, "bias": b}
    for name in arrays:
        if which in (name, "all"):
            arrays[name] = with_layout(arrays[name], layout)
    got = check(arrays["x"], arrays["weight"], arrays["bias"], stride=(1, 2), padding=1,
                dilation=(2, 1), groups=2, padding_mode="replicate")
    assert got.dtype.newbyteorder("=") == np.dtype(dtype)


def test_layouts_of_a_strided_window_and_a_broadcast_weight(rng):
    """Zero strides (a broadcast weight) and overlapping rows (a sliding window view)."""
    base = rng.standard_normal(60)
    x = np.lib.stride_tricks.sliding_window_view(base, 12)[:48:4].reshape(1, 3, 4, 12)
    assert np.shares_memory(x, base)
    w = np.broadcast_to(rng.standard_normal((1, 1, 2, 3)), (2, 3, 2, 3))
    check(x, w, padding=(0, 1), stride=(1, 2))


# ----------------------------------------------------------------------------- methods
# (x shape, weight shape, dtype, bias, kwargs): the shapes every method is tried on
METHOD_CASES = [
    pytest.param((2, 3, 10), (4, 3, 3), "float64", True, {}, id="1d"),
    pytest.param((1, 4, 11), (2, 2, 4), "float32", False,
                 dict(stride=2, dilation=2, padding=((1, 2),), groups=2), id="1d-strided"),
    pytest.param((2, 5, 7), (3, 5, 1), "float32", True, {}, id="1d-k1"),
    pytest.param((1, 2, 40), (2, 2, 17), "float64", True, dict(padding=8), id="1d-longkernel"),
    pytest.param((2, 4, 8, 8), (5, 4, 3, 3), "float32", True, dict(padding=1), id="2d-3x3"),
    pytest.param((2, 4, 8, 8), (5, 4, 3, 3), "float64", False, dict(padding=1),
                 id="2d-3x3-f64"),
    pytest.param((1, 4, 9, 7), (3, 4, 3, 3), "float32", False, {}, id="2d-3x3-valid-odd"),
    pytest.param((2, 6, 5, 4), (3, 6, 1, 1), "float32", True, {}, id="2d-1x1"),
    pytest.param((1, 6, 7, 7), (3, 6, 1, 1), "float32", False, dict(stride=2),
                 id="2d-1x1-strided"),
    pytest.param((1, 3, 12, 11), (4, 3, 7, 7), "float32", True, dict(stride=2, padding=3),
                 id="2d-7x7-s2"),
    pytest.param((2, 4, 7, 6), (4, 1, 3, 3), "float32", True, dict(groups=4, padding=1),
                 id="2d-depthwise"),
    pytest.param((1, 3, 6, 6), (6, 1, 3, 3), "float64", False, dict(groups=3),
                 id="2d-depthwise-x2"),
    pytest.param((1, 6, 9, 8), (4, 3, 3, 2), "float32", True,
                 dict(groups=2, dilation=(2, 1), padding=((1, 1), (0, 1))), id="2d-grouped"),
    pytest.param((1, 2, 7, 6), (3, 2, 4, 2), "float32", False, dict(padding="same", stride=2),
                 id="2d-same-even-s2"),
    pytest.param((1, 2, 6, 6), (2, 2, 3, 3), "float64", True,
                 dict(padding=2, padding_mode="reflect"), id="2d-reflect"),
    pytest.param((1, 2, 8, 8), (2, 2, 5, 5), "float32", False,
                 dict(padding=2, padding_mode="circular"), id="2d-circular"),
    pytest.param((1, 2, 16, 16), (2, 2, 9, 9), "float32", True, dict(padding=4),
                 id="2d-bigkernel"),
    pytest.param((3, 6, 5), (2, 3, 3, 3), "float64", True, dict(padding=1), id="2d-unbatched"),
    pytest.param((1, 3, 6, 6), (2, 3, 3, 3), "int16", True, dict(padding=1), id="2d-int16"),
    pytest.param((1, 3, 6, 6), (2, 3, 3, 3), "uint64", False, dict(padding=1),
                 id="2d-uint64"),
    pytest.param((1, 3, 6, 6), (2, 3, 3, 3), "complex64", True, dict(padding=1),
                 id="2d-complex64"),
    pytest.param((1, 3, 6, 6), (2, 3, 3, 3), "float16", True, dict(padding=1),
                 id="2d-float16"),
    pytest.param((1, 2, 5, 6, 4), (3, 2, 3, 3, 3), "float32", True, dict(padding=1), id="3d"),
    pytest.param((2, 4, 6, 5, 4), (4, 2, 2, 3, 1), "float64", False,
                 dict(stride=(2, 1, 1), groups=2), id="3d-grouped"),
    pytest.param((1, 2, 3, 4, 3, 4), (2, 1, 2, 1, 2, 3), "float64", True, dict(groups=2),
                 id="4d"),
]


def run_method(case, method, rng):
    """check() the case with the method; True if it ran, False if it refused (with a
    ValueError naming method; direct and gemm never refuse)."""
    x_shape, w_shape, dtype, bias, kw = case
    x, w, b = layer_arrays(rng, x_shape, w_shape, dtype, bias, kind="full")
    if run_or_refuse(method, x, w, b, **kw) is None:
        return False
    check(x, w, b, method=method, **kw)
    return True


@pytest.mark.parametrize("method", EVERY)
@pytest.mark.parametrize("case", [pytest.param(p.values, id=p.id) for p in METHOD_CASES])
def test_every_method_on_every_shape(case, method, rng):
    run_method(case, method, rng)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_accepts_some_shape(method, rng):
    """A method refusing everything would pass the test above."""
    ran = [run_method(p.values, method, rng) for p in METHOD_CASES]
    assert any(ran), f"method {method!r} refused every case"


def test_methods_names():
    assert isinstance(fastconv.nn.METHODS, (tuple, list))
    assert {"direct", "gemm"} <= set(METHODS)
    assert "auto" not in fastconv.nn.METHODS  # the explicit methods only
    assert all(isinstance(m, str) for m in fastconv.nn.METHODS)


@pytest.mark.parametrize("method", ["foo", "DIRECT", "", None, 3])
def test_unknown_method(method):
    x, w = np.ones((1, 2, 5)), np.ones((1, 2, 3))
    with pytest.raises((ValueError, TypeError), match="method"):
        conv(x, w, method=method)


def test_choose_method(rng):
    for p in METHOD_CASES:
        x_shape, w_shape, dtype, bias, kw = p.values
        x, w, b = layer_arrays(rng, x_shape, w_shape, dtype, bias)
        name = choose_method(x, w, b, **kw)
        assert isinstance(name, str) and name in METHODS, name
        check(x, w, b, method=name, **kw)  # the chosen method runs the call
        if len(x_shape) == 4:
            # as fastconv.choose_conv_method: the fastest and every method's time
            name, times = choose_method(x, w, b, measure=True, **kw)
            assert name in METHODS and set(times) <= set(METHODS), (name, times)
            assert name == min(times, key=times.get) and min(times.values()) > 0
            check(x, w, b, method=name, **kw)


def test_choose_method_workers_and_defaults(rng):
    x, w, _ = layer_arrays(rng, (2, 4, 8, 8), (4, 4, 3, 3), "float32", False)
    assert choose_method(x, w) in METHODS
    assert choose_method(x, w, None, stride=2, padding="same", workers=1) in METHODS
    assert choose_method(x.tolist(), w.astype(np.float64).tolist()) in METHODS


# ----------------------------------------------------------------------------- workers
WORKER_CASES = [
    ((4, 8, 16, 16), (8, 8, 3, 3), "float32", dict(padding=1)),
    ((2, 16, 64), (16, 16, 5), "float64", dict(stride=2, padding="same")),
    ((4, 8, 12, 12), (8, 1, 3, 3), "float32", dict(groups=8, padding=1)),
    ((2, 4, 8, 8, 8), (4, 4, 3, 3, 3), "float32", dict(padding=1)),
    ((3, 4, 10, 10), (6, 2, 3, 3), "int32", dict(groups=2, dilation=2)),
    ((2, 8, 16, 16), (8, 8, 1, 1), "float32", {}),
    ((1, 4, 32, 32), (4, 4, 9, 9), "float32", dict(padding=4)),
]


@pytest.mark.parametrize("method", EVERY)
@pytest.mark.parametrize("case", WORKER_CASES,
                         ids=[f"{c[2]}-{len(c[1]) - 2}d-{i}" for i, c in enumerate(WORKER_CASES)])
def test_workers_bit_identical(case, method, rng):
    x_shape, w_shape, dtype, kw = case
    x, w, b = layer_arrays(rng, x_shape, w_shape, dtype)
    one = run_or_refuse(method, x, w, b, workers=1, **kw)
    if one is None:
        return
    two = conv(x, w, b, method=method, workers=2, **kw)
    np.testing.assert_array_equal(one, two, strict=True)
    exp, bound = conv_reference(x, w, b, **kw), conv_bound(x, w, b, **kw)
    assert_nn_close(one, exp, bound, **tolerance_of(method, x, w, b, workers=1, **kw))
    for workers in (-1, None, 64):
        assert_nn_close(conv(x, w, b, method=method, workers=workers, **kw), exp, bound,
                        err_msg=f"workers={workers}",
                        **tolerance_of(method, x, w, b, workers=workers, **kw))


@pytest.mark.parametrize("workers, exc", [(0, ValueError), (-10**6, ValueError),
                                          (1.5, TypeError), ("2", TypeError)])
def test_bad_workers(workers, exc):
    with pytest.raises(exc, match="workers"):
        conv(np.ones((1, 2, 5)), np.ones((1, 2, 3)), workers=workers)


# ----------------------------------------------------------------------------- out=
OUT_LAYOUTS = ["C", "F", "strided", "negative", "bigendian"]


def out_like(shape, dtype, layout):
    """A garbage-filled array of ``shape`` and ``dtype`` laid out as ``layout``."""
    dtype = np.dtype(dtype)
    fill = np.nan if dtype.kind in "fc" else 0x55
    if layout == "bigendian":
        return np.full(shape, fill, dtype.newbyteorder(">"))
    out = with_layout(np.full(shape, fill, dtype), layout)
    out[...] = fill
    return out


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int16", "complex128"])
def test_out(dtype, layout, rng):
    for x_shape, w_shape, kw in [((2, 4, 7, 6), (6, 2, 3, 2), dict(groups=2, padding=1)),
                                 ((3, 9), (2, 3, 3), dict(stride=2)),
                                 ((1, 2, 4, 5, 3), (2, 2, 1, 3, 2), {})]:
        x, w, b = layer_arrays(rng, x_shape, w_shape, dtype)
        for method in EVERY:
            expected = run_or_refuse(method, x, w, b, **kw)
            if expected is None:
                continue
            out = out_like(expected.shape, expected.dtype, layout)
            assert conv(x, w, b, method=method, out=out, **kw) is out
            np.testing.assert_array_equal(out, expected)
            assert_nn_close(out, conv_reference(x, w, b, **kw), conv_bound(x, w, b, **kw),
                            **tolerance_of(method, x, w, b, **kw))


def test_out_through_conv2d(rng):
    x, w, b = layer_arrays(rng, (2, 3, 6, 6), (4, 3, 3, 3), "float32")
    out = np.empty((2, 4, 3, 3), np.float32)
    assert conv2d(x, w, b, 2, 1, out=out) is out
    assert_nn_close(out, conv_reference(x, w, b, 2, 1))


@pytest.mark.parametrize("bad, exc", [
    (np.empty((2, 4, 5, 5)), ValueError),                 # wrong shape
    (np.empty((4, 6, 5)), ValueError),                    # unbatched shape for a batch
    (np.empty((2, 4, 6, 5), np.float32), ValueError),     # wrong dtype
    (np.empty((2, 4, 6, 5), np.complex128), ValueError),  # wrong dtype
    (np.zeros((2, 4, 6, 5)).tolist(), TypeError),         # not an array
])
def test_bad_out(bad, exc):
    x, w = np.ones((2, 3, 8, 7)), np.ones((4, 3, 3, 3))
    with pytest.raises(exc, match="out"):
        conv(x, w, out=bad)
    with pytest.raises(exc, match="out"):
        conv2d(x, w, out=bad)


def test_read_only_out():
    out = np.empty((2, 4, 6, 5))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        conv(np.ones((2, 3, 8, 7)), np.ones((4, 3, 3, 3)), out=out)


@pytest.mark.parametrize("method", METHODS)
def test_out_overlapping_the_inputs(method, rng):
    """out sharing memory with x or weight: the result of a call without out."""
    def run(x, w, out=None, **kw):
        return run_or_refuse(method, x, w, out=out, **kw)

    data = rng.standard_normal(1000)
    cases = [
        ((1, 2, 8), (2, 2, 1), {}),                         # out = x exactly (1x1)
        ((1, 2, 8), (2, 2, 3), dict(padding=1)),            # same shape, 3 taps
        ((2, 4, 5, 5), (4, 4, 3, 3), dict(padding=1)),
        ((1, 2, 6, 6), (2, 1, 3, 3), dict(padding=1, groups=2)),
    ]
    for x_shape, w_shape, kw in cases:
        nx, nw = int(np.prod(x_shape)), int(np.prod(w_shape))
        x0 = data[:nx].reshape(x_shape)
        w0 = data[nx:nx + nw].reshape(w_shape)
        expected = run(x0.copy(), w0.copy(), **kw)
        if expected is None:
            continue
        n_out = expected.size
        for start in {0, 1, max(nx - n_out, 0), nx + nw - n_out // 2}:
            # one buffer holding x, then the weight; out at several offsets into it
            buf = data[:nx + nw + n_out].copy()
            x = buf[:nx].reshape(x_shape)
            w = buf[nx:nx + nw].reshape(w_shape)
            out = buf[start:start + n_out].reshape(expected.shape)
            assert np.may_share_memory(out, x) or np.may_share_memory(out, w)
            run(x, w, out=out, **kw)
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12,
                                       err_msg=f"out at {start} {x_shape} {w_shape}")


# ----------------------------------------------------------------------------- repeated calls
@pytest.mark.parametrize("method", EVERY)
def test_repeated_calls_follow_the_data(method, rng):
    """A second call of the same layout (a plan-cache hit) computes with the new values
    of x, weight and bias, also after they were changed in place, and with out=."""
    x, w, b = layer_arrays(rng, (2, 4, 8, 8), (4, 4, 3, 3), "float32")
    kw = dict(padding=1)
    if run_or_refuse(method, x, w, b, **kw) is None:
        return
    for step in range(3):
        x[...] = make_array(rng, x.shape, x.dtype)
        w[...] = make_array(rng, w.shape, w.dtype)
        b[...] = make_array(rng, b.shape, b.dtype)
        exp = conv_reference(x, w, b, **kw)
        tol = tolerance_of(method, x, w, b, **kw)
        bound = conv_bound(x, w, b, **kw)
        assert_nn_close(conv(x, w, b, method=method, **kw), exp, bound, **tol)
        out = out_like(exp.shape, exp.dtype, OUT_LAYOUTS[step])
        assert conv(x, w, b, method=method, out=out, **kw) is out
        assert_nn_close(out, exp, bound, **tol)
        # the same layouts with other parameters
        other = dict(padding="same", stride=2, padding_mode="circular")
        got = run_or_refuse(method, x, w, b, **other)
        if got is not None:
            assert_nn_close(got, conv_reference(x, w, b, **other), conv_bound(x, w, b, **other),
                            **tolerance_of(method, x, w, b, **other))


def test_concurrent_calls_from_threads(rng):
    """Python threads calling layers of shared and of their own layouts at once."""
    cases = []
    for i in range(8):
        shape = (2, 4, 9, 8) if i % 2 else (1, 4, 6 + i, 7)
        x, w, b = layer_arrays(rng, shape, (4, 2, 3, 3), "float64")
        kw = dict(groups=2, padding=i % 3, stride=1 + i % 2)
        cases.append((x, w, b, kw, conv_reference(x, w, b, **kw), conv_bound(x, w, b, **kw)))
    errors = []

    def work(order):
        try:
            for _ in range(5):
                for i in order:
                    x, w, b, kw, exp, bound = cases[i]
                    # tolerances scaled by sum |x||w| (a sum of another order
                    # than the reference's differs by that much)
                    assert_nn_close(conv(x, w, b, workers=1 + i % 2, **kw), exp, bound)
        except Exception as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(list(np.roll(range(8), k)),))
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


# ----------------------------------------------------------------------------- conv1d/2d/3d
@pytest.mark.parametrize("fn, nsp", [(conv1d, 1), (conv2d, 2), (conv3d, 3)])
def test_convnd_positional_order(fn, nsp, rng):
    """(input, weight, bias, stride, padding, dilation, groups) as torch: values chosen
    so that swapping any two of them changes the result."""
    x, w, b = layer_arrays(rng, (2, 4) + (9,) * nsp, (6, 2) + (2,) * nsp)
    args = (2, 3, 4, 2)  # stride, padding, dilation, groups
    exp = conv_reference(x, w, b, *args)
    assert_nn_close(fn(x, w, b, *args), exp, conv_bound(x, w, b, *args))
    assert_nn_close(fn(input=x, weight=w, bias=b, stride=2, padding=3, dilation=4, groups=2),
                    exp, conv_bound(x, w, b, *args))
    assert_nn_close(fn(x[0], w, b, *args), exp[0], conv_bound(x[0], w, b, *args))
    w1 = np.concatenate([w, w[::-1]], axis=1)  # for groups=1
    assert_nn_close(fn(x, w1), conv_reference(x, w1), conv_bound(x, w1))
    got = fn(x, w1, None, 1, 1, padding_mode="circular", method="direct", workers=1)
    assert_nn_close(got, conv_reference(x, w1, None, 1, 1, padding_mode="circular"),
                    conv_bound(x, w1, None, 1, 1, padding_mode="circular"))
    with pytest.raises(TypeError):
        fn(x, w, b, 2, 3, 4, 2, "zeros")   # padding_mode is keyword-only


def test_conv_parameters_are_keyword_only():
    x, w = np.ones((1, 2, 5)), np.ones((1, 2, 3))
    with pytest.raises(TypeError):
        conv(x, w, None, 1)
    with pytest.raises(TypeError):
        choose_method(x, w, None, 1)


@pytest.mark.parametrize("fn, nsp", [(conv1d, 1), (conv2d, 2), (conv3d, 3)])
def test_convnd_checks_the_number_of_dimensions(fn, nsp):
    for other in (1, 2, 3, 4):
        if other == nsp:
            continue
        x = np.ones((1, 2) + (5,) * other)
        w = np.ones((2, 2) + (2,) * other)
        with pytest.raises(ValueError, match=r"(?i)\binput\b|\bx\b|weight|dim"):
            fn(x, w)
        with pytest.raises(ValueError, match=r"(?i)\binput\b|\bx\b|weight|dim"):
            fn(x[0], w)
    # x of two dimensions more than the layer takes (conv2d given a 5-D x)
    x = np.ones((1, 1, 2) + (5,) * nsp)
    with pytest.raises(ValueError, match=r"(?i)\binput\b|\bx\b|dim"):
        fn(x, np.ones((2, 2) + (2,) * nsp))


# ----------------------------------------------------------------------------- torch
TORCH_CASES = REFERENCE_TORCH_CASES + [
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding="same")),
    ((1, 2, 7, 6), (3, 2, 4, 2), dict(padding="same", dilation=(1, 2))),
    ((2, 4, 9), (4, 2, 4), dict(padding="same", groups=2, dilation=3)),
    ((1, 2, 5, 4, 6), (2, 2, 2, 3, 4), dict(padding="same")),
    ((2, 3, 12, 11), (8, 3, 7, 7), dict(stride=2, padding=3)),
    ((2, 8, 6, 6), (8, 8, 1, 1), {}),
    ((1, 3, 4, 4), (2, 3, 5, 5), dict(padding=(2, 3), dilation=(1, 2))),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("case", TORCH_CASES,
                         ids=[f"{len(c[1]) - 2}d-{i}" for i, c in enumerate(TORCH_CASES)])
def test_matches_torch(case, padding_mode, dtype, rng):
    x_shape, w_shape, kw = case
    x, w, b = layer_arrays(rng, x_shape, w_shape, dtype)
    fn = {1: conv1d, 2: conv2d, 3: conv3d}[len(w_shape) - 2]
    layer = dict(kw, padding_mode=padding_mode)
    for bias in (None, b):
        exp = torch_conv(x, w, bias, **layer)
        got = fn(x, w, bias, **layer)
        assert_nn_close(got, exp.astype(dtype), conv_bound(x, w, bias, **layer))


# ----------------------------------------------------------------------------- bad input
X4, W4 = np.ones((2, 4, 6, 6)), np.ones((6, 4, 3, 3))

# (id, x, weight, bias, kwargs, exception, regex of the message)
BAD_INPUTS = [
    ("channels", np.ones((2, 5, 6, 6)), W4, None, {}, ValueError, r"channels"),
    ("channels-unbatched", np.ones((5, 6, 6)), W4, None, {}, ValueError, r"channels"),
    ("groups-0", X4, W4, None, dict(groups=0), ValueError, "groups"),
    ("groups-neg", X4, W4, None, dict(groups=-2), ValueError, "groups"),
    ("groups-not-dividing-cout", np.ones((1, 6, 5, 5)), np.ones((4, 2, 3, 3)), None,
     dict(groups=3), ValueError, "groups"),
    ("groups-not-dividing-cin", np.ones((1, 5, 5, 5)), np.ones((4, 2, 3, 3)), None,
     dict(groups=2), ValueError, "groups|channels"),
    ("groups-float", X4, W4, None, dict(groups=1.0), TypeError, "groups"),
    ("groups-bool", X4, W4, None, dict(groups=True), TypeError, "groups"),
    ("stride-0", X4, W4, None, dict(stride=0), ValueError, "stride"),
    ("stride-neg", X4, W4, None, dict(stride=(1, -2)), ValueError, "stride"),
    ("stride-length", X4, W4, None, dict(stride=(1, 2, 1)), ValueError, "stride"),
    ("stride-empty", X4, W4, None, dict(stride=()), ValueError, "stride"),
    ("stride-float", X4, W4, None, dict(stride=1.5), TypeError, "stride"),
    ("stride-float-item", X4, W4, None, dict(stride=(1, 2.0)), TypeError, "stride"),
    ("stride-str", X4, W4, None, dict(stride="2"), TypeError, "stride"),
    ("stride-none", X4, W4, None, dict(stride=None), TypeError, "stride"),
    ("stride-bool", X4, W4, None, dict(stride=True), TypeError, "stride"),
    ("dilation-0", X4, W4, None, dict(dilation=0), ValueError, "dilation"),
    ("dilation-neg", X4, W4, None, dict(dilation=(1, -1)), ValueError, "dilation"),
    ("dilation-length", X4, W4, None, dict(dilation=(1,)), ValueError, "dilation"),
    ("dilation-float", X4, W4, None, dict(dilation=2.0), TypeError, "dilation"),
    ("padding-neg", X4, W4, None, dict(padding=-1), ValueError, "padding"),
    ("padding-neg-axis", X4, W4, None, dict(padding=(1, -1)), ValueError, "padding"),
    ("padding-neg-pair", X4, W4, None, dict(padding=((0, -1), (1, 1))), ValueError,
     "padding"),
    ("padding-length", X4, W4, None, dict(padding=(1, 2, 3)), ValueError, "padding"),
    ("padding-pair-length", X4, W4, None, dict(padding=((1, 2, 3), (1, 1))), ValueError,
     "padding"),
    ("padding-flat-pair-1d", np.ones((1, 2, 6)), np.ones((1, 2, 3)), None,
     dict(padding=(1, 2)), ValueError, "padding"),
    ("padding-word", X4, W4, None, dict(padding="full"), ValueError, "padding"),
    ("padding-upper", X4, W4, None, dict(padding="SAME"), ValueError, "padding"),
    ("padding-float", X4, W4, None, dict(padding=1.5), TypeError, "padding"),
    ("padding-none", X4, W4, None, dict(padding=None), TypeError, "padding"),
    ("padding_mode", X4, W4, None, dict(padding_mode="wrap"), ValueError, "padding_mode"),
    ("padding_mode-constant", X4, W4, None, dict(padding_mode="constant"), ValueError,
     "padding_mode"),
    ("reflect-too-long", np.ones((1, 1, 4)), np.ones((1, 1, 3)), None,
     dict(padding=4, padding_mode="reflect"), ValueError, "padding"),
    ("circular-too-long", np.ones((1, 1, 4)), np.ones((1, 1, 3)), None,
     dict(padding=((0, 5),), padding_mode="circular"), ValueError, "padding"),
    ("kernel-too-long", np.ones((1, 1, 3)), np.ones((1, 1, 5)), None, {}, ValueError,
     r"(?i)kernel|weight"),
    ("kernel-too-long-padded", np.ones((1, 1, 3)), np.ones((1, 1, 6)), None,
     dict(padding=1), ValueError, r"(?i)kernel|weight"),
    ("kernel-too-long-dilated", np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), None,
     dict(dilation=(1, 3)), ValueError, r"(?i)kernel|weight"),
    ("weight-1d", np.ones((1, 2, 5)), np.ones(3), None, {}, ValueError, "weight"),
    ("weight-2d", np.ones((1, 2, 5)), np.ones((2, 2)), None, {}, ValueError, "weight"),
    ("x-ndim-low", np.ones((6, 6)), W4, None, {}, ValueError, r"(?i)\binput\b|\bx\b|dim"),
    ("x-ndim-high", np.ones((1, 2, 4, 6, 6)), W4, None, {}, ValueError,
     r"(?i)\binput\b|\bx\b|dim"),
    ("x-scalar", np.float64(1.0), W4, None, {}, ValueError, r"(?i)\binput\b|\bx\b|dim"),
    ("dtype-weight", X4.astype(np.float32), W4, None, {}, ValueError, "weight"),
    ("dtype-weight-int", X4.astype(np.int16), W4.astype(np.int32), None, {}, ValueError,
     "weight"),
    ("dtype-weight-mixed-kind", X4, W4.astype(np.complex128), None, {}, ValueError, "weight"),
    ("dtype-bias", X4, W4, np.ones(6, np.float32), {}, ValueError, "bias"),
    ("bias-length", X4, W4, np.ones(7), {}, ValueError, "bias"),
    ("bias-2d", X4, W4, np.ones((6, 1)), {}, ValueError, "bias"),
    ("bias-scalar", X4, W4, np.float64(1.0), {}, ValueError, "bias"),
    ("bool", X4.astype(bool), W4.astype(bool), None, {}, TypeError, r"(?i)bool|dtype"),
    ("empty-batch", np.ones((0, 4, 6, 6)), W4, None, {}, ValueError, r"(?i)empty"),
    ("empty-spatial", np.ones((2, 4, 0, 6)), W4, None, {}, ValueError, r"(?i)empty"),
    ("empty-cout", X4, np.ones((0, 4, 3, 3)), None, {}, ValueError, r"(?i)empty"),
    ("empty-cin", np.ones((2, 0, 6, 6)), np.ones((6, 0, 3, 3)), None, {}, ValueError,
     r"(?i)empty"),
    ("empty-kernel", X4, np.ones((6, 4, 0, 3)), None, {}, ValueError, r"(?i)empty"),
]


@pytest.mark.parametrize("x, w, b, kw, exc, pattern",
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS])
def test_bad_input(x, w, b, kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        conv(x, w, b, **kw)
    with pytest.raises(exc, match=pattern):
        choose_method(x, w, b, **kw)
    if np.ndim(w) == 4:
        with pytest.raises(exc, match=pattern):
            conv2d(x, w, b, **kw)


def test_channel_count_message():
    """The numbers of the diagnosis, and the hint for a channels-last batch."""
    with pytest.raises(ValueError, match="channels") as info:
        conv(np.ones((2, 5, 6, 6)), np.ones((6, 2, 3, 3)), groups=2)
    assert "4" in str(info.value) and "5" in str(info.value)
    with pytest.raises(ValueError, match="channels") as info:
        conv(np.ones((2, 32, 32, 3), np.float32), np.ones((8, 3, 3, 3), np.float32))
    assert "transpose" in str(info.value) and "32" in str(info.value)


def test_validation_survives_a_cached_call():
    """A call like a previous valid one but with a parameter of the wrong type is not
    served from a cache of problems."""
    x, w = np.ones((1, 2, 6, 6)), np.ones((2, 2, 3, 3))
    conv(x, w, stride=2, padding=1)
    with pytest.raises(TypeError, match="stride"):
        conv(x, w, stride=2.0, padding=1)
    with pytest.raises(TypeError, match="padding"):
        conv(x, w, stride=2, padding=1.0)
    conv(x, w, padding="same", padding_mode="reflect", dilation=2)
    with pytest.raises(ValueError, match="padding"):
        conv(x, w, padding="same", padding_mode="reflect", dilation=6)  # pads of 6 >= 6


def test_fft_weight_spectra_follow_the_weights(rng):
    # the spectra are cached by the weights' bytes: a weight array changed in
    # place is transformed again, an equal one is not
    from fastconv._methods import layer as layer_method
    x = rng.standard_normal((2, 3, 20, 20))
    w = rng.standard_normal((4, 3, 9, 9))
    layer_method._spectra.clear()
    first = conv(x, w, padding=4, method="fft")
    assert len(layer_method._spectra) == 1
    np.testing.assert_allclose(conv(x, w.copy(), padding=4, method="fft"), first)
    assert len(layer_method._spectra) == 1
    w[1, 2, 3, 4] += 1.0
    changed = conv(x, w, padding=4, method="fft")
    assert len(layer_method._spectra) == 2
    np.testing.assert_allclose(changed, conv_reference(x, w, None, padding=4), atol=1e-9)
    assert not np.allclose(changed, first)


@pytest.mark.parametrize("shape, c_out, groups", [((2, 8, 17, 20), 6, 1), ((1, 6, 9, 8), 6, 3),
                                                  ((3, 16, 28, 28), 16, 1),
                                                  ((2, 8, 40, 40), 16, 4),
                                                  ((2, 6, 40, 40), 6, 6)])
def test_winograd_error_within_ten_times_direct(rng, shape, c_out, groups):
    # against float64: Winograd's transforms may add rounding error, at most
    # 10x the direct method's (normwise) for float32
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((c_out, shape[1] // groups, 3, 3)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    exact = conv_reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                           padding=1, groups=groups)
    scale = np.abs(exact).max()

    def error(method):
        got = conv(x, w, b, padding=1, groups=groups, method=method)
        assert got.dtype == np.float32
        return np.abs(got.astype(np.float64) - exact).max() / scale

    direct, winograd = error("direct"), error("winograd")
    assert 0 < direct and winograd <= 10 * direct, (direct, winograd)


def test_winograd_refuses_what_it_cannot_compute():
    x = np.ones((1, 2, 8, 8), np.float32)
    for w, kw in [(np.ones((2, 2, 5, 5), np.float32), {}),
                  (np.ones((2, 2, 3, 3), np.float32), dict(stride=2)),
                  (np.ones((2, 2, 3, 3), np.float32), dict(dilation=2)),
                  (np.ones((2, 2, 3), np.float32), {})]:
        xx = x[..., 0] if w.ndim == 3 else x
        with pytest.raises(ValueError, match="method"):
            conv(xx, w, method="winograd", **kw)
    with pytest.raises(ValueError, match="method"):
        conv(x.astype(np.int32), np.ones((2, 2, 3, 3), np.int32), method="winograd")
    with pytest.raises(ValueError, match="method"):
        conv(x.astype(np.complex64), np.ones((2, 2, 3, 3), np.complex64), method="winograd")


# ---------------------------------------------------------------------------
# The multi-channel direct kernel (fastconv._kernels._layer) on the shapes
# that take its every path, at every SIMD level the CPU has.

from fastconv._kernels import _layer as _layer_kernels  # noqa: E402

CHANNEL_KERNEL_CASES = [
    # (x shape, w shape, layer keywords): what each exercises
    ((2, 3, 20, 21), (7, 3, 3, 3), dict(padding=1)),             # rows straddling the padding
    ((1, 2, 3, 4), (5, 2, 2, 2), dict(padding=(1, 2))),           # rows narrower than a vector
    ((2, 4, 1, 5), (3, 4, 1, 3), dict()),                         # fewer outputs than a vector
    ((1, 6, 40, 37), (13, 6, 3, 3), dict(stride=(2, 3), padding=2)),  # phases, channel tails
    ((1, 8, 30, 30), (8, 4, 5, 5), dict(groups=2, dilation=2, padding="same")),
    ((2, 5, 64), (9, 5, 7), dict(stride=3, padding=4)),           # 1-D, a long run
    ((1, 4, 9, 8, 7), (6, 4, 3, 2, 3), dict(padding=1, stride=(1, 2, 1))),  # 3-D: many runs
    ((1, 2, 5, 4, 6, 5), (3, 2, 2, 3, 2, 2), dict(padding=1)),    # 4-D
    ((1, 16, 12, 12), (32, 16, 1, 1), dict()),                    # read in place, unpacked
    ((1, 3, 70, 90), (17, 3, 3, 3), dict()),                      # unpacked, chunks of a run
    ((3, 4, 11, 11), (4, 1, 3, 3), dict(groups=4, padding=1)),    # depthwise
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CHANNEL_KERNEL_CASES,
                         ids=lambda c: f"{c[0]}*{c[1]}-{sorted(c[2].items())}")
def test_channel_kernel_every_simd_level(simd_level, case, dtype, rng):
    x_shape, w_shape, kw = case
    x, w, b = layer_arrays(rng, x_shape, w_shape, dtype, kind="normal")
    for workers in (1, 2):
        check(x, w, b, method="direct", workers=workers, **kw)
    # the kernel's own blocks of output channels, whatever the level
    assert _layer_kernels.channel_block() in (6, 8)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_channel_kernel_padding_modes_and_layouts(padding_mode, rng):
    x, w, b = layer_arrays(rng, (2, 3, 13, 11), (5, 3, 3, 2), "float32", kind="normal")
    for layout in ("F", "strided", "negative", "bigendian"):
        check(with_layout(x, layout), w, b, method="direct", padding=(2, 1), stride=(1, 2),
              padding_mode=padding_mode)
    # without padding and strides a C-contiguous input is read in place
    for layout in ("C", "F", "strided", "negative", "bigendian"):
        check(with_layout(x, layout), w, b, method="direct")


def test_channel_kernel_plan_reused_and_out(rng):
    # the plan's geometry serves later calls with other arrays; out= is written
    x, w, b = layer_arrays(rng, (2, 4, 17, 19), (6, 4, 3, 3), "float32", kind="normal")
    first = conv(x, w, b, method="direct", padding=1)
    x2, w2, b2 = layer_arrays(rng, (2, 4, 17, 19), (6, 4, 3, 3), "float32", kind="normal")
    out = np.full(first.shape, np.nan, np.float32)
    got = conv(x2, w2, b2, method="direct", padding=1, out=out)
    assert got is out
    assert_nn_close(out, conv_reference(x2, w2, b2, padding=1),
                    conv_bound(x2, w2, b2, padding=1))
    assert_nn_close(conv(x, w, b, method="direct", padding=1), conv_reference(x, w, b, padding=1),
                    conv_bound(x, w, b, padding=1))
