"""The layer kernels: the multi-channel kernel's entry point checks its arrays
itself; Winograd's tiles are exact at every SIMD level.

`fastconv._kernels._layer.direct_channels` is not a fused-type function (its
dispatch would cost more than a small layer's work), so it checks dtypes,
contiguity and sizes by hand: every wrong array must be refused with a
ValueError, never read or written out of bounds.
"""

import numpy as np
import pytest

from fastconv._kernels import _layer
from fastconv._methods.layer import channels_geometry, winograd_tile
from fastconv._normal.layer import layer_problem
from fastconv import nn

from _nn_reference import assert_nn_close, conv_bound, conv_reference


def _layer_arrays(dtype, padding):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 9, 8)).astype(dtype)
    weight = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    lp = layer_problem(x, weight, bias, 1, padding, 1, 2, "zeros", 1)
    return x, weight, bias, lp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [0, 1])
def test_kernel_matches_the_reference(dtype, padding):
    x, weight, bias, lp = _layer_arrays(dtype, padding)
    geo = channels_geometry(lp, True)
    assert geo.pack == (padding != 0)
    out = np.full(geo.result_shape, np.nan, dtype)
    assert _layer.direct_channels(geo.kernel, x, weight, bias, out) is out
    expected = conv_reference(x, weight, bias, stride=1, padding=padding, dilation=1, groups=2)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(nn.conv(x, weight, bias, padding=padding, groups=2,
                                       method="direct"), out, rtol=tol, atol=tol)


def _bad_calls(x, weight, bias, out):
    other = np.float64 if x.dtype == np.float32 else np.float32
    readonly = out.copy()
    readonly.flags.writeable = False
    yield "x dtype", (x.astype(other), weight, bias, out)
    yield "x int", (x.astype(np.int32), weight, bias, out)
    yield "x byte order", (x.astype(x.dtype.newbyteorder()), weight, bias, out)
    yield "x 1-d", (x.reshape(-1), weight, bias, out)
    yield "x scalar", (np.float32(1.0), weight, bias, out)
    yield "weight dtype", (x, weight.astype(other), bias, out)
    yield "weight strided", (x, np.repeat(weight, 2, axis=3)[..., ::2], bias, out)
    yield "weight size", (x, weight[:3], bias, out)
    yield "bias size", (x, weight, bias[:3], out)
    yield "bias 2-d", (x, weight, bias.reshape(2, 2), out)
    yield "bias dtype", (x, weight, bias.astype(other), out)
    yield "out dtype", (x, weight, bias, out.astype(other))
    yield "out strided", (x, weight, bias, np.repeat(out, 2, axis=3)[..., ::2])
    yield "out batch", (x, weight, bias, out[:1])
    yield "out channels", (x, weight, bias, out[:, :2])
    yield "out 1-d", (x, weight, bias, out.reshape(-1))
    yield "out read-only", (x, weight, bias, readonly)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_refuses_wrong_arrays(dtype):
    x, weight, bias, lp = _layer_arrays(dtype, 1)
    geo = channels_geometry(lp, True)
    out = np.zeros(geo.result_shape, dtype)
    before = [a.copy() for a in (x, weight, bias)]
    refused = 0
    for what, args in _bad_calls(x, weight, bias, out):
        with pytest.raises((ValueError, TypeError), match="direct_channels|ndarray|Argument"):
            _layer.direct_channels(geo.kernel, *args)
        refused += 1
    assert refused == 17
    assert not out.any(), "a refused call wrote into out"
    for a, b in zip((x, weight, bias), before):
        np.testing.assert_array_equal(a, b)


# Output widths and heights around every vector length of the transforms
# (2, 4, 8 and 16 tiles of 2 or 4 outputs: lanes of float64/float32 at each
# SIMD level), with partial tiles at the right and bottom edges.
WINOGRAD_SIZES = [(1, 1), (2, 3), (3, 7), (5, 9), (4, 16), (7, 33), (9, 64), (6, 65),
                  (13, 70), (2, 130)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_tiles_at_every_simd_level(simd_level, dtype):
    rng = np.random.default_rng(3)
    tiles = set()
    for ho, wo in WINOGRAD_SIZES:
        x = rng.standard_normal((2, 3, ho, wo)).astype(dtype)
        weight = rng.standard_normal((5, 3, 3, 3)).astype(dtype)
        bias = rng.standard_normal(5).astype(dtype)
        lp = layer_problem(x, weight, bias, 1, 1, 1, 1, "zeros", 2)
        tiles.add(winograd_tile(lp))
        got = nn.conv(x, weight, bias, padding=1, method="winograd", workers=2)
        expected = conv_reference(x, weight, bias, padding=1)
        bound = conv_bound(x, weight, bias, padding=1)
        assert_nn_close(got, expected, bound, err_msg=f"{simd_level} {ho}x{wo}",
                        rtol_factor=10.0, normwise=True)
    # both F(2x2, 3x3) (the 1x1, 2x3 maps) and F(4x4, 3x3) ran
    assert tiles == {2, 4}


def test_winograd_tile_rule():
    def tile(ho, wo):
        x = np.zeros((1, 2, ho, wo), np.float32)
        return winograd_tile(layer_problem(x, np.zeros((2, 2, 3, 3), np.float32), None, 1,
                                           1, 1, 1, "zeros", 1))
    # F(4x4) from rows of 6 tiles (21 outputs) where it multiplies less
    assert [tile(1, 1), tile(4, 4), tile(14, 14), tile(40, 20), tile(24, 24), tile(56, 56),
            tile(8, 40), tile(2, 40)] == [2, 2, 2, 2, 4, 4, 4, 2]
    # and with two input channels per group at least
    depthwise = layer_problem(np.zeros((1, 4, 56, 56), np.float32),
                              np.zeros((4, 1, 3, 3), np.float32), None, 1, 1, 1, 4, "zeros", 1)
    assert winograd_tile(depthwise) == 2



# Output widths around the vector lengths of every SIMD level (2 to 16
# lanes): rows narrower than a vector, exactly one, and rows whose vectors
# straddle the padding between rows (the masked stores of the
# multi-channel kernel, the overlapping last vector of the plane kernel).
ROW_WIDTHS = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 56]


def _check_direct(x, weight, bias, err_msg, **kw):
    got = nn.conv(x, weight, bias, method="direct", workers=2, **kw)
    expected = conv_reference(x, weight, bias, **kw)
    assert_nn_close(got, expected, conv_bound(x, weight, bias, **kw), err_msg=err_msg)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multichannel_rows_at_every_simd_level(simd_level, dtype):
    rng = np.random.default_rng(11)
    for wo in ROW_WIDTHS:
        # 1 to 16 output channels: one block and several, the last partial
        for c_out, groups, stride in ((1, 1, 1), (5, 1, 1), (9, 1, 2), (16, 2, 1)):
            x = rng.standard_normal((2, 4, 6, wo * stride)).astype(dtype)
            weight = rng.standard_normal((c_out, 4 // groups, 3, 3)).astype(dtype)
            bias = rng.standard_normal(c_out).astype(dtype)
            lp = layer_problem(x, weight, bias, stride, 1, 1, groups, "zeros", 2)
            assert channels_geometry(lp, True).kernel.plane_kh == 0
            _check_direct(x, weight, bias, f"{simd_level} wo={wo} c_out={c_out}",
                          stride=stride, padding=1, groups=groups)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multichannel_short_runs_at_every_simd_level(simd_level, dtype):
    """Runs shorter than a vector (one line of a 1-D layer): masked vectors
    with AVX-512, scalar sums below it."""
    rng = np.random.default_rng(13)
    for length in (1, 2, 5, 7, 9, 15, 16):
        for c_out in (1, 3, 8, 11):
            x = rng.standard_normal((3, 5, length + 2)).astype(dtype)
            weight = rng.standard_normal((c_out, 5, 3)).astype(dtype)
            bias = rng.standard_normal(c_out).astype(dtype)
            _check_direct(x, weight, bias, f"{simd_level} length={length} c_out={c_out}")
            _check_direct(x, weight, bias, f"{simd_level} length={length} c_out={c_out} pad",
                          padding=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plane_kernel_at_every_simd_level(simd_level, dtype):
    """Groups of one input channel at stride 1 (depthwise layers, and their
    channel multipliers) take the 2-D direct kernel per output channel."""
    rng = np.random.default_rng(12)
    cases = [((3, 3), 1, 1), ((1, 1), 0, 1), ((2, 5), (0, 2), 2), ((5, 2), (2, 0), 1),
             ((7, 7), 3, 3), ((16, 3), (8, 1), 1)]
    for wo in ROW_WIDTHS:
        for k, padding, multiplier in cases:
            for with_bias in (True, False):
                pad = (padding, padding) if isinstance(padding, int) else padding
                x = rng.standard_normal((3, 4, 17 - 2 * pad[0] + k[0] - 1,
                                         wo - 2 * pad[1] + k[1] - 1)).astype(dtype)
                weight = rng.standard_normal((4 * multiplier, 1, *k)).astype(dtype)
                bias = rng.standard_normal(4 * multiplier).astype(dtype) if with_bias else None
                lp = layer_problem(x, weight, bias, 1, padding, 1, 4, "zeros", 2)
                assert channels_geometry(lp, True).kernel.plane_kh == k[0]
                _check_direct(x, weight, bias, f"{simd_level} wo={wo} k={k} pad={padding}",
                              padding=padding, groups=4)


def test_plane_kernel_takes_what_it_computes():
    def plane_rows(k, stride=1, dilation=1, groups=4, c_in=4):
        x = np.zeros((4, c_in, 40, 40), np.float32)
        lp = layer_problem(x, np.zeros((4, c_in // groups, k, 3), np.float32), None, stride,
                           0, dilation, groups, "zeros", 2)
        return channels_geometry(lp, True).kernel.plane_kh

    assert plane_rows(16) == 16
    assert plane_rows(17) == 0
    assert plane_rows(3, stride=2) == 0
    assert plane_rows(3, dilation=2) == 0
    assert plane_rows(3, groups=2) == 0


def test_winograd_weights_changed_in_place_are_transformed_again():
    """The transformed weights are cached by the weights' contents: a weight
    array changed in place (here at an element the cache's key does not
    sample) gives the new layer, not the old one."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 12, 12)).astype(np.float32)
    weight = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    for _ in range(2):
        first = nn.conv(x, weight, padding=1, method="winograd")
        assert_nn_close(first, conv_reference(x, weight, padding=1),
                        conv_bound(x, weight, padding=1), rtol_factor=10.0, normwise=True)
        weight[0, 0, 0, 1] += 1.0
        weight[5, 3, 2, 2] = -0.0 if weight[5, 3, 2, 2] == 0 else 0.0
        second = nn.conv(x, weight, padding=1, method="winograd")
        assert_nn_close(second, conv_reference(x, weight, padding=1),
                        conv_bound(x, weight, padding=1), rtol_factor=10.0, normwise=True)
        assert not np.array_equal(first, second)
