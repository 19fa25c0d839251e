"""fastconv.nn (CNN convolution layers) against the loop reference (_nn_reference),
hand examples and PyTorch.

The first section checks the reference itself (hand examples, the padding rules,
``fastconv.correlate`` / ``scipy.signal.correlate`` on one channel, and
``torch.nn.functional.conv1d/2d/3d``). PyTorch parity tests get torch from
``_helpers.import_torch``: without torch they skip (unless ``FASTCONV_REQUIRE_TORCH=1``)
and everything else still runs.
"""

import itertools
import warnings

import numpy as np
import pytest
import scipy.signal

import fastconv
from _helpers import import_torch, make_array
from _nn_reference import (
    NP_PAD_MODE,
    PADDING_MODES,
    assert_nn_close,
    conv_bound,
    conv_output_shape,
    conv_reference,
    normalize_padding,
)


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
