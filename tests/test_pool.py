"""fastconv.pool against the loop reference (_pool_reference), hand examples and PyTorch.

PyTorch parity tests get torch from ``_helpers.import_torch``: without torch they
skip (unless ``FASTCONV_REQUIRE_TORCH=1``) and everything else still runs.
"""

import math
import warnings

import numpy as np
import pytest

import fastconv
from _helpers import import_torch, make_array, with_layout
from _pool_reference import (
    DTYPES,
    LAYOUTS,
    OPS,
    X_NAME,
    Failures,
    assert_pool_close,
    gaussian_weights,
    magnitude_bound,
    pool_output_length,
    pool_result_dtype,
    reference_pool,
    window_bounds,
)

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

# ----------------------------------------------------------------------------- helpers
def check(x, size, stride=None, op="max", **kw):
    """fastconv.pool == reference_pool (values, dtype, shape, indices); returns got."""
    ref_x = np.asarray(x)
    msg = f"op={op} shape={np.shape(x)} dtype={ref_x.dtype} size={size} stride={stride} {kw}"
    got = fastconv.pool(x, size, stride, op, **kw)
    exp = reference_pool(ref_x, size, stride, op, **kw)
    if kw.get("return_indices"):
        assert isinstance(got, tuple) and len(got) == 2, msg
        got, got_idx = got
        exp, exp_idx = exp
        assert isinstance(got_idx, np.ndarray) and got_idx.dtype == np.int64, msg
        np.testing.assert_array_equal(got_idx, exp_idx, err_msg="indices " + msg, strict=True)
    bound = None
    if exp.dtype.kind in "fc" and op not in ("max", "min"):
        bound = magnitude_bound(op, ref_x, size, stride, **kw)
    assert_pool_close(got, exp, bound, op=op, err_msg=msg)
    if kw.get("return_indices"):
        return got, got_idx
    return got


def out_lengths(shape, axes, size, stride, padding, ceil_mode):
    n = len(axes)
    per = lambda v: (v,) * n if np.ndim(v) == 0 else tuple(v)  # noqa: E731
    ks, ss, ps = per(size), per(size if stride is None else stride), per(padding)
    return [
        pool_output_length(shape[a], k, s, p, ceil_mode) for a, k, s, p in zip(axes, ks, ss, ps)
    ]


def check_or_raises(x, size, stride, op, axes=None, padding=0, ceil_mode=False, **kw):
    axes_n = tuple(range(np.ndim(x))) if axes is None else axes
    outs = out_lengths(np.shape(x), axes_n, size, stride, padding, ceil_mode)
    if min(outs) < 1:
        with pytest.raises(ValueError, match="size"):
            fastconv.pool(
                x, size, stride, op, axes=axes, padding=padding, ceil_mode=ceil_mode, **kw
            )
        return None
    return check(x, size, stride, op, axes=axes, padding=padding, ceil_mode=ceil_mode, **kw)


def flat_pooled(a, axes):
    """Move the pooled axes (sorted) last and flatten them into one axis."""
    pooled = sorted(a_ % a.ndim for a_ in axes)
    others = [d for d in range(a.ndim) if d not in pooled]
    t = np.transpose(a, others + pooled)
    return t.reshape(t.shape[: len(others)] + (-1,))


def _data(rng, shape, dtype, op):
    """Test data: full-range ints where the op is exact (max/min), small otherwise."""
    kind = "full" if op in ("max", "min") else "small"
    return make_array(rng, shape, dtype, kind)


# ------------------------------------------------------------------ reference self-checks
def test_reference_output_length_examples():
    # floor mode
    assert pool_output_length(10, 3, 1, 0, False) == 8
    assert pool_output_length(10, 3, 3, 0, False) == 3
    assert pool_output_length(10, 3, 3, 1, False) == 4
    assert pool_output_length(2, 3, 1, 0, False) == 0
    # ceil mode: an extra partial window ...
    assert pool_output_length(10, 3, 3, 0, True) == 4
    assert pool_output_length(5, 2, 2, 0, True) == 3
    # ... unless it would start in the right padding
    assert pool_output_length(7, 4, 3, 2, True) == 3  # ceil(7/3)+1 = 4, (4-1)*3 >= 9
    # ceil mode accepts a window larger than the input when it starts inside (PyTorch)
    assert pool_output_length(2, 3, 3, 0, True) == 1
    assert pool_output_length(2, 3, 1, 0, True) == 0


def test_reference_window_bounds_divisor():
    # L=7, k=4, s=3, pad=2: windows [-2,2) [1,5) [4,8); divisors 4, 4, min(8, 9)-4 = 4
    assert [window_bounds(j, 7, 4, 3, 2)[4] for j in range(3)] == [4, 4, 4]
    # L=6, k=3, s=2, pad=0, ceil: third window [4,7) -> divisor min(7, 6) - 4 = 2
    assert pool_output_length(6, 3, 2, 0, True) == 3
    assert window_bounds(2, 6, 3, 2, 0) == (4, 7, 4, 6, 2)


def test_reference_hand_examples():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(reference_pool(x, 3, 2, "mean", padding=1), [1.0, 3.0])
    np.testing.assert_array_equal(
        reference_pool(x, 3, 2, "mean", padding=1, count_include_pad=False), [1.5, 3.0]
    )
    np.testing.assert_array_equal(
        reference_pool(x, 3, 2, "mean", padding=1, ceil_mode=True), [1.0, 3.0, 2.0]
    )
    v, i = reference_pool(
        np.array([[1, 5, 5], [5, 0, 2]]), 2, 1, "max", padding=0, return_indices=True
    )
    np.testing.assert_array_equal(v, [[5, 5]])
    np.testing.assert_array_equal(i, [[1, 1]])
    v, i = reference_pool(np.array([1.0, np.nan, 3, np.nan]), 4, return_indices=True)
    assert np.isnan(v[0]) and i[0] == 1
    w = gaussian_weights([3, 2])
    w0 = math.exp(-0.5 * (1 / 0.75) ** 2)
    w1 = math.exp(-0.5 * (0.5 / 0.5) ** 2)
    np.testing.assert_allclose(w, np.outer([w0, 1, w0], [w1, w1]), rtol=1e-15)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_reference_matches_torch(ceil_mode):
    torch = import_torch()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 9, 8))
    t = torch.from_numpy(x)
    for k in (1, 2, 3, 4):
        for s in (1, 2, 3, 5):
            for pad in range(k // 2 + 1):
                kw = dict(axes=(2, 3), padding=pad, ceil_mode=ceil_mode)
                if min(out_lengths(x.shape, (2, 3), k, s, pad, ceil_mode)) < 1:
                    with pytest.raises(RuntimeError):
                        F.max_pool2d(t, k, s, pad, ceil_mode=ceil_mode)
                    continue
                ev, ei = F.max_pool2d(t, k, s, pad, ceil_mode=ceil_mode, return_indices=True)
                gv, gi = reference_pool(x, k, s, "max", return_indices=True, **kw)
                np.testing.assert_array_equal(gv, ev.numpy())
                np.testing.assert_array_equal(gi, ei.numpy())
                for cip in (True, False):
                    ea = F.avg_pool2d(t, k, s, pad, ceil_mode=ceil_mode, count_include_pad=cip)
                    ga = reference_pool(x, k, s, "mean", count_include_pad=cip, **kw)
                    np.testing.assert_allclose(ga, ea.numpy(), rtol=1e-13, atol=1e-15)


# ----------------------------------------------------------------------------- grids
@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
@pytest.mark.parametrize("op", OPS)
def test_grid_1d(op, ceil_mode, rng):
    """Every size/stride/padding combination on short 1-D inputs (incl. size == L,
    size > L (error, or a partial window in ceil mode), stride > size)."""
    cips = [True, False] if op == "mean" else [True]
    fails = Failures()
    for L in (1, 2, 5, 8, 11):
        x = make_array(rng, (L,), "float64")
        for k in (1, 2, 3, 4, 5, L):
            for s in (None, 1, 2, 3, 6):
                for pad in sorted({0, 1, k // 2}):
                    if pad > k // 2:
                        continue
                    for cip in cips:
                        fails.run(
                            check_or_raises,
                            x, k, s, op, padding=pad, ceil_mode=ceil_mode, count_include_pad=cip,
                        )
    fails.check()


def _random_config(rng, shape):
    n = len(shape)
    ks = [int(rng.integers(1, min(shape[d], 4) + 1)) for d in range(n)]
    ss = [int(rng.integers(1, 5)) for _ in range(n)]
    ps = [int(rng.integers(0, k // 2 + 1)) for k in ks]
    mix = rng.integers(0, 3)
    if mix == 0:  # same int for every axis
        k = min(ks)
        return k, int(ss[0]), int(rng.integers(0, k // 2 + 1))
    if mix == 1:
        return tuple(ks), list(ss), tuple(ps)
    return tuple(ks), None, ps


@pytest.mark.parametrize("ndim", [2, 3, 4])
@pytest.mark.parametrize("op", OPS)
def test_grid_nd(op, ndim, rng):
    fails = Failures()
    for _ in range(8):
        hi = {2: 9, 3: 7, 4: 5}[ndim]
        shape = tuple(int(v) for v in rng.integers(1, hi + 1, size=ndim))
        x = make_array(rng, shape, "float64")
        size, stride, padding = _random_config(rng, shape)
        ceil_mode = bool(rng.integers(0, 2))
        cip = bool(rng.integers(0, 2))
        fails.run(
            check_or_raises,
            x, size, stride, op, padding=padding, ceil_mode=ceil_mode, count_include_pad=cip,
        )
    fails.check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_dtypes(op, dtype, rng):
    x = _data(rng, (7, 9), dtype, op)
    if op in ("max", "min") and np.dtype(dtype).kind == "c":
        with pytest.raises(TypeError, match=X_NAME):
            fastconv.pool(x, 2, op=op)
        return
    got = check(x, (3, 2), (2, 1), op, padding=(1, 0), ceil_mode=True)
    assert got.dtype == pool_result_dtype(op, dtype)
    if op == "mean":
        check(x, (3, 2), (2, 1), op, padding=(1, 1), ceil_mode=True, count_include_pad=False)
    # stride 1 along a longer axis (running sums / van Herk paths)
    y = _data(rng, (3, 70), dtype, op)
    check(y, (2, 9), 1, op, padding=(0, 4))
    check(y, 5, 2, op, axes=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_big_endian_inputs(op, dtype, rng):
    # a non-native byte order (big-endian float16 for one: dtype equality sees
    # the byte order) gives the native input's result, in native byte order
    x = _data(rng, (5, 6), dtype, op)
    if op in ("max", "min") and np.dtype(dtype).kind == "c":
        return
    big = x.astype(x.dtype.newbyteorder(">"))
    for kw in (dict(size=(3, 2), padding=(1, 0)), dict(size=2, return_indices=op in ("max", "min"))):
        exp = fastconv.pool(x, op=op, **kw)
        got = fastconv.pool(big, op=op, **kw)
        np.testing.assert_array_equal(got, exp)
    exp = fastconv.adaptive_pool(x, (2, 4), op=op if op != "weighted" else "mean")
    got = fastconv.adaptive_pool(big, (2, 4), op=op if op != "weighted" else "mean")
    np.testing.assert_array_equal(got, exp)
    assert got.dtype.isnative


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_infinities_part_by_part(dtype):
    # warnings are errors here: none for inf or inf - inf
    big = np.finfo(np.dtype(dtype).char.lower()).max
    x = np.array([np.inf + 1j, 3 - 2j, 1 + 1j, 5 + 3j, -np.inf + 2j, 1 + 0j], dtype)
    # the mean divides each part by the count: (inf + 1j) / 2 is inf + 0.5j
    got = fastconv.pool(x, 2, op="mean")
    np.testing.assert_array_equal(got, np.array([np.inf - 0.5j, 3 + 2j, -np.inf + 1j], dtype))
    got = fastconv.adaptive_pool(x, 3, op="mean")
    np.testing.assert_array_equal(got, np.array([np.inf - 0.5j, 3 + 2j, -np.inf + 1j], dtype))
    # weighted: inf and -inf in one window are NaN
    got = fastconv.pool(np.array([[np.inf, -big], [-np.inf, 1.0]], dtype), 2, op="weighted",
                        weights=[[1.0, 2.0], [1.0, 1.0]])
    assert np.isnan(got.real).all()
    # lp: |x|**p overflows; the window with an infinity elsewhere must not stop
    # the rescaled redo of the finite window: ||(big, 0)|| is big
    x = np.array([big + 0j, 0j, np.inf + 0j, 1 + 0j], dtype)
    for p in (2, 2.5, 4):
        got = fastconv.pool(x, 2, op="lp", p=p)
        np.testing.assert_allclose(got, [big, np.inf], rtol=1e-6)


@pytest.mark.parametrize("op", ["sum", "mean", "lp", "weighted"])
def test_float16_result_beyond_max_is_inf_silently(op):
    # computed in float32, rounded to float16 once: beyond 65504 it is inf,
    # without an overflow warning (warnings are errors here)
    x = np.array([[60000.0, 60000.0], [60000.0, -60000.0]], np.float16)
    kw = dict(p=0.5) if op == "lp" else dict(weights=[3.0, -1.0]) if op == "weighted" else {}
    got = fastconv.pool(x, 2, op=op, axes=1, **kw)
    assert got.dtype == np.float16
    exp = {"sum": [np.inf, 0], "mean": [60000, 0], "lp": [np.inf, np.inf],
           "weighted": [60000, np.inf]}[op]
    np.testing.assert_array_equal(got, np.array(exp, np.float16).reshape(2, 1))
    if op != "weighted":
        got = fastconv.adaptive_pool(x, 1, op=op, axes=1, **kw)
        np.testing.assert_array_equal(got, np.array(exp, np.float16).reshape(2, 1))


def test_dtype_table():
    cases = {
        ("max", "int8"): "int8",
        ("min", "uint64"): "uint64",
        ("max", "bool"): "bool",
        ("max", "float16"): "float16",
        ("sum", "bool"): "int64",
        ("sum", "int8"): "int64",
        ("sum", "int32"): "int64",
        ("sum", "uint8"): "uint64",
        ("sum", "uint16"): "uint64",
        ("sum", "float16"): "float16",
        ("sum", "float32"): "float32",
        ("sum", "complex64"): "complex64",
        ("mean", "bool"): "float64",
        ("mean", "int16"): "float64",
        ("mean", "uint64"): "float64",
        ("mean", "float16"): "float16",
        ("mean", "float32"): "float32",
        ("mean", "complex64"): "complex64",
        ("weighted", "int8"): "float64",
        ("weighted", "float32"): "float32",
        ("weighted", "complex128"): "complex128",
        ("lp", "bool"): "float64",
        ("lp", "uint8"): "float64",
        ("lp", "float16"): "float16",
        ("lp", "float32"): "float32",
        ("lp", "complex64"): "float32",
        ("lp", "complex128"): "float64",
    }
    for (op, dtype), res in cases.items():
        x = np.ones((4, 4), dtype=dtype)
        got = fastconv.pool(x, 2, op=op)
        assert got.dtype == np.dtype(res), (op, dtype, got.dtype)
        assert pool_result_dtype(op, dtype) == np.dtype(res)
        # np.sum gives the same promotion
        if op == "sum":
            assert np.sum(x).dtype == np.dtype(res)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64", "uint64"])
def test_sum_full_range_integers_like_np_sum(dtype, rng):
    """Exact integer sums, wrapping modulo 2**64 like np.sum for int64/uint64."""
    x = make_array(rng, (6, 40), dtype, "full")
    got = check(x, (2, 3), (1, 2), "sum", padding=(1, 1))
    # the whole-array window agrees with np.sum bit for bit
    whole = fastconv.pool(x, x.shape, op="sum")
    assert whole.shape == (1, 1)
    assert whole[0, 0] == np.sum(x)
    assert got.dtype == np.sum(x).dtype


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", OPS)
def test_layouts(op, layout, rng):
    base = make_array(rng, (5, 6, 7), "float64")
    x = with_layout(base, layout)
    got = fastconv.pool(x, (2, 3, 2), (1, 2, 2), op, padding=(1, 1, 0), ceil_mode=True)
    exp = check(base, (2, 3, 2), (1, 2, 2), op, padding=(1, 1, 0), ceil_mode=True)
    np.testing.assert_array_equal(got, exp)  # layout does not change a single bit
    if layout == "bigendian":
        xi = with_layout(make_array(rng, (4, 9), "int16"), layout)
        if op in ("max", "min", "sum"):
            check(xi, 3, 1, op, axes=-1)


# ----------------------------------------------------------------------------- axes
@pytest.mark.parametrize("op", OPS)
def test_axes_subset_of_4d(op, rng):
    x = make_array(rng, (2, 7, 6, 3), "float32")
    got = check(x, (3, 2), (2, 1), op, axes=(1, 2), padding=(1, 0))
    assert got.shape[0] == 2 and got.shape[3] == 3
    check(x, 2, None, op, axes=[1, 2], ceil_mode=True)
    check(x, 3, 1, op, axes=(0, 3), padding=1)


@pytest.mark.parametrize("op", OPS)
def test_negative_and_unsorted_axes(op, rng):
    x = make_array(rng, (4, 5, 6, 7), "float64")
    a = fastconv.pool(x, (3, 2), (1, 2), op, axes=(-1, -3), padding=(1, 0))
    b = fastconv.pool(x, (2, 3), (2, 1), op, axes=(1, 3), padding=(0, 1))
    np.testing.assert_array_equal(a, b)
    check(x, (3, 2), (1, 2), op, axes=(-1, -3), padding=(1, 0))
    c = fastconv.pool(x, 2, op=op, axes=-2)
    d = fastconv.pool(x, 2, op=op, axes=[2])
    np.testing.assert_array_equal(c, d)
    check(x, 2, op=op, axes=2)


def test_weights_follow_axes_order(rng):
    x = make_array(rng, (6, 7), "float64")
    w = rng.random((3, 2)) + 0.1  # 3 along axis 0, 2 along axis 1
    a = fastconv.pool(x, (3, 2), 1, "weighted", weights=w)
    b = fastconv.pool(x, (2, 3), 1, "weighted", axes=(1, 0), weights=w.T)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    check(x, (2, 3), 1, "weighted", axes=(1, 0), weights=w.T, padding=1)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("op", ["max", "min", "mean", "sum"])
def test_cross_channel_maxout(op, k, rng):
    """pool(x, k, axes=1) on (N, C, H, W) pools groups of k channels."""
    n, c, h, w = 2, 6, 4, 5
    x = make_array(rng, (n, c, h, w), "float64")
    got = fastconv.pool(x, k, op=op, axes=1)
    groups = x.reshape(n, c // k, k, h, w)
    exp = {"max": groups.max(2), "min": groups.min(2), "mean": groups.mean(2), "sum": groups.sum(2)}
    assert got.shape == (n, c // k, h, w)
    if op in ("max", "min"):
        np.testing.assert_array_equal(got, exp[op])
    else:
        np.testing.assert_allclose(got, exp[op], rtol=1e-13, atol=1e-15)
    check(x, k, 1, op, axes=1)  # overlapping channel groups


# --------------------------------------------------------------- large windows / long axes
@pytest.mark.parametrize("k", [31, 101])
@pytest.mark.parametrize("op", ["max", "min", "sum", "mean"])
def test_big_windows_1d(op, k, rng):
    x = make_array(rng, (2000,), "float64")
    check(x, k, 1, op)
    check(x, k, 1, op, padding=k // 2)
    check(x, k, 1, op, padding=k // 2, ceil_mode=True, count_include_pad=False)
    check(x.astype(np.float32)[:700], k, 1, op, padding=1)
    check(x[:500], k, 3, op)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "uint64", "bool", "float16"])
@pytest.mark.parametrize("op", ["max", "min"])
def test_big_windows_exact_dtypes(op, dtype, rng):
    x = make_array(rng, (3, 900), dtype, "full")
    check(x, 31, 1, op, axes=1)
    check(x, 101, 1, op, axes=-1, padding=50, return_indices=True)


@pytest.mark.parametrize("op", ["max", "min", "mean"])
def test_big_windows_2d_3d(op, rng):
    x = make_array(rng, (100, 120), "float32")
    check(x, 31, 1, op)
    y = make_array(rng, (16, 10, 40), "float64")
    check(y, (9, 1, 31), 1, op, padding=(4, 0, 15))


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_big_windows_float16(op, rng):
    x = make_array(rng, (700,), "float16")
    check(x, 31, 1, op)
    check(x, 101, 1, op, padding=50, count_include_pad=False)


@pytest.mark.parametrize("dtype", ["int64", "uint64", "int32"])
def test_big_windows_integer_sum_exact(dtype, rng):
    """Stride-1 integer sums are exact (wrapping like np.sum), however they are computed."""
    x = make_array(rng, (2, 500), dtype, "full")
    check(x, 31, 1, "sum", axes=1)
    check(x, 101, 1, "sum", axes=1, padding=50)


@pytest.mark.parametrize("dtype,big", [("float64", 1e200), ("float32", 1e30)])
@pytest.mark.parametrize("op", ["sum", "mean", "lp", "weighted"])
def test_huge_value_does_not_spoil_other_windows(op, dtype, big, rng):
    """Each window is accurate relative to its own magnitude: a huge element must not
    leave cancellation error behind in later windows (e.g. by a plain running sum)."""
    x = make_array(rng, (1000,), dtype)
    x[100] = big if op != "lp" else np.sqrt(big)
    check(x, 11, 1, op)
    check(x, 101, 1, op, padding=50)
    y = make_array(rng, (40, 60), dtype)
    y[5, 7] = big if op != "lp" else np.sqrt(big)
    check(y, (9, 13), 1, op, padding=(4, 6))


def test_long_axes_strided(rng):
    x = make_array(rng, (1500, 3), "float64")
    for op in OPS:
        check(x, 7, 4, op, axes=0, padding=3, ceil_mode=True)


# ----------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize("op", ["max", "min", "sum", "mean", "lp", "weighted"])
@pytest.mark.parametrize("stride", [1, 3])
def test_nan_only_in_its_windows(op, stride, rng):
    x = make_array(rng, (120,), "float64")
    x[40] = np.nan
    got = check(x, 3, stride, op)
    # exactly the windows covering position 40 are NaN
    starts = np.arange(got.shape[0]) * stride
    covers = (starts <= 40) & (40 < starts + 3)
    np.testing.assert_array_equal(np.isnan(got), covers)
    # long windows: the NaN must not poison later windows of a running computation
    got = check(x, 31, 1, op, padding=15)
    covers = np.abs(np.arange(120) - 40) <= 15
    np.testing.assert_array_equal(np.isnan(got), covers)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weighted_custom_2d_weights_big_window(dtype, rng):
    x = make_array(rng, (60, 80), dtype)
    w = rng.random((15, 21)) + 0.1
    check(x, (15, 21), 1, "weighted", weights=w, padding=(7, 10))
    check(x, (15, 21), (2, 3), "weighted", weights=w, padding=(7, 10), ceil_mode=True)
    # NaN and inf stay in their windows (no transform spreads them)
    x[30, 40] = np.nan
    x[5, 70] = np.inf
    got = check(x, (15, 21), 1, "weighted", weights=w, padding=(7, 10))
    assert np.isnan(got).sum() == 15 * 21
    assert np.isinf(got).sum() == 13 * 20  # rows 0..12, columns 60..79


@pytest.mark.parametrize("op", ["max", "min"])
def test_nan_indices_long_windows(op, rng):
    x = make_array(rng, (2, 600), "float64")
    x[0, [100, 105, 130]] = np.nan
    x[1, 300] = np.nan
    x[1, 310] = np.inf if op == "max" else -np.inf
    out, idx = check(x, 31, 1, op, axes=1, padding=15, return_indices=True)
    # the first NaN of the window wins, even over an infinity
    assert idx[0, 100] == 100 and idx[0, 120] == 105 and idx[0, 134] == 130
    assert idx[1, 305] == 300 and np.isnan(out[1, 305])


@pytest.mark.parametrize("op", ["max", "min", "sum", "mean"])
def test_nan_2d_float32(op, rng):
    x = make_array(rng, (40, 50), "float32")
    x[10, 20] = np.nan
    x[30, 5] = np.nan
    got = check(x, (5, 9), 1, op, padding=(2, 4))
    assert np.isnan(got).sum() == 2 * 5 * 9


@pytest.mark.parametrize("op", ["max", "min", "sum", "mean"])
def test_infinities(op, rng):
    x = make_array(rng, (200,), "float64")
    x[50] = np.inf
    x[120] = -np.inf
    x[160] = np.inf
    x[161] = -np.inf  # inf - inf in the same window -> NaN for sum/mean
    got = check(x, 11, 1, op, padding=5)
    # windows without any infinity are finite (a running sum must not leave inf behind)
    far = np.ones(200, bool)
    for pos in (50, 120, 160, 161):
        far &= np.abs(np.arange(200) - pos) > 5
    assert np.all(np.isfinite(got[far]))


def test_all_minus_inf_window():
    x = np.array([-np.inf, -np.inf, 1.0, np.inf, np.inf])
    np.testing.assert_array_equal(fastconv.pool(x, 2, 1, "max"), [-np.inf, 1, np.inf, np.inf])
    np.testing.assert_array_equal(fastconv.pool(x, 2, 1, "min"), [-np.inf, -np.inf, 1, np.inf])
    # padding is never chosen even when the data are -inf / +inf
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 1, "max", padding=1), [-np.inf, 1, np.inf, np.inf, np.inf]
    )


# ----------------------------------------------------------------------------- indices
@pytest.mark.parametrize(
    "shape,axes,size,stride,padding",
    [
        ((17,), None, 3, 2, 1),
        ((2, 3, 9, 8), (2, 3), (3, 2), (2, 1), (1, 1)),
        ((5, 6, 7), None, 2, 1, 0),
        ((5, 6, 7), (0, 2), (3, 3), 2, 1),
        ((4, 6, 5), (2, 0), (3, 2), (1, 2), (1, 0)),
        ((3, 400), -1, 31, 1, 15),
    ],
)
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "uint8"])
def test_indices_round_trip(op, dtype, shape, axes, size, stride, padding, rng):
    x = make_array(rng, shape, dtype)  # small ints: many ties
    out, idx = check(
        x, size, stride, op, axes=axes, padding=padding, ceil_mode=True, return_indices=True
    )
    assert idx.shape == out.shape and idx.dtype == np.int64
    ax = range(x.ndim) if axes is None else np.atleast_1d(axes)
    xf = flat_pooled(x, ax)
    taken = np.take_along_axis(xf, flat_pooled(idx, ax), axis=-1)
    np.testing.assert_array_equal(taken, flat_pooled(out, ax))


def test_indices_ties_first_in_row_major_order():
    x = np.zeros((4, 4), dtype=np.int8)
    out, idx = fastconv.pool(x, 2, op="max", return_indices=True)
    np.testing.assert_array_equal(idx, [[0, 2], [8, 10]])
    # with padding: the first real element, never a padded position
    out, idx = fastconv.pool(x, 3, 2, "min", padding=1, return_indices=True)
    np.testing.assert_array_equal(out, np.zeros((2, 2)))
    np.testing.assert_array_equal(idx, [[0, 1], [4, 5]])
    x = np.array([[1.0, 7.0, 7.0], [7.0, 2.0, 7.0]])
    out, idx = fastconv.pool(x, (2, 3), op="max", return_indices=True)
    np.testing.assert_array_equal(idx, [[1]])
    out, idx = fastconv.pool(x, 2, 1, op="max", return_indices=True)
    np.testing.assert_array_equal(idx, [[1, 1]])
    # stride 1, long ties: always the leftmost element of each window
    y = np.ones(300)
    out, idx = fastconv.pool(y, 31, 1, "max", return_indices=True)
    np.testing.assert_array_equal(idx, np.arange(270))


@pytest.mark.parametrize("op", ["max", "min"])
def test_indices_nan_is_first_nan(op):
    x = np.array([1.0, np.nan, 9.0, np.nan, -9.0, 2.0])
    out, idx = fastconv.pool(x, 6, op=op, return_indices=True)
    assert np.isnan(out[0]) and idx[0] == 1
    out, idx = fastconv.pool(x, 3, 1, op=op, return_indices=True)
    np.testing.assert_array_equal(idx, [1, 1, 3, 3])
    assert np.isnan(out).all()
    x2 = np.array([[5.0, 1.0], [np.nan, np.nan]])
    out, idx = fastconv.pool(x2, 2, op=op, return_indices=True)
    assert idx[0, 0] == 2


def test_return_indices_false_gives_array():
    r = fastconv.pool(np.arange(6.0), 2, return_indices=False)
    assert isinstance(r, np.ndarray)
    np.testing.assert_array_equal(r, [1.0, 3.0, 5.0])


# ----------------------------------------------------------------------------- hand examples
def test_hand_max_min_1d():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    np.testing.assert_array_equal(fastconv.pool(x, 2), [3.0, 5.0])
    np.testing.assert_array_equal(fastconv.pool(x, 2, ceil_mode=True), [3.0, 5.0, 4.0])
    np.testing.assert_array_equal(fastconv.pool(x, 2, 1, "min"), [1.0, 2.0, 2.0, 4.0])
    # padding never wins: positive data with min, negative data with max
    np.testing.assert_array_equal(fastconv.pool(x, 3, 1, "min", padding=1), [1, 1, 2, 2, 4])
    np.testing.assert_array_equal(fastconv.pool(-x, 3, 1, "max", padding=1), [-1, -1, -2, -2, -4])
    xi = np.array([200, 100, 255], dtype=np.uint8)
    np.testing.assert_array_equal(fastconv.pool(xi, 3, 1, "min", padding=1), [100, 100, 100])
    xb = np.array([True, True, False])
    np.testing.assert_array_equal(fastconv.pool(xb, 3, 1, "min", padding=1), [True, False, False])


def test_hand_mean_divisors():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(fastconv.pool(x, 3, 2, "mean", padding=1), [1.0, 3.0])
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 2, "mean", padding=1, count_include_pad=False), [1.5, 3.0]
    )
    # ceil-mode window [3, 6): one real element, divisor min(6, 4 + 1) - 3 = 2
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 2, "mean", padding=1, ceil_mode=True), [1.0, 3.0, 2.0]
    )
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 2, "mean", padding=1, ceil_mode=True, count_include_pad=False),
        [1.5, 3.0, 4.0],
    )
    # without padding the ceil window is divided by its real size: [4, 7) of length 6
    y = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(fastconv.pool(y, 3, 2, "mean", ceil_mode=True), [2.0, 4.0, 5.5])
    # 2-D: divisors multiply: corner window of ones with padding 1, k=3 -> 4/9
    z = fastconv.pool(np.ones((4, 4)), 3, 1, "mean", padding=1)
    np.testing.assert_allclose(z[0, 0], 4 / 9, rtol=1e-15)
    np.testing.assert_allclose(z[0, 1], 6 / 9, rtol=1e-15)
    np.testing.assert_allclose(z[1, 1], 1.0, rtol=1e-15)
    z = fastconv.pool(np.ones((4, 4)), 3, 1, "mean", padding=1, count_include_pad=False)
    np.testing.assert_array_equal(z, np.ones((4, 4)))


def test_hand_sum_and_integer_mean():
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8)
    s = fastconv.pool(x, 2, 1, "sum")
    assert s.dtype == np.int64
    np.testing.assert_array_equal(s, [[12, 16]])
    m = fastconv.pool(x, 2, 1, "mean")
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m, [[3.0, 4.0]])
    b = fastconv.pool(np.array([True, True, False, True]), 2, op="sum")
    assert b.dtype == np.int64
    np.testing.assert_array_equal(b, [2, 1])
    u = fastconv.pool(np.array([250, 250], dtype=np.uint8), 2, op="sum")
    assert u.dtype == np.uint64 and u[0] == 500
    i = fastconv.pool(np.array([-128, -128], dtype=np.int8), 2, op="sum")
    assert i[0] == -256


def test_hand_lp_uses_abs():
    x = np.array([3.0, -4.0, -1.0, 2.0])
    np.testing.assert_allclose(fastconv.pool(x, 2, op="lp"), [5.0, math.sqrt(5)], rtol=1e-15)
    np.testing.assert_allclose(fastconv.pool(x, 2, op="lp", p=1), [7.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(
        fastconv.pool(x, 2, op="lp", p=3), [91 ** (1 / 3), 9 ** (1 / 3)], rtol=1e-14
    )
    np.testing.assert_allclose(
        fastconv.pool(x, 2, op="lp", p=0.5), [(math.sqrt(3) + 2) ** 2, (1 + math.sqrt(2)) ** 2],
        rtol=1e-14,
    )
    # padding contributes nothing
    np.testing.assert_allclose(
        fastconv.pool(x, 3, 2, op="lp", padding=1), [5.0, math.sqrt(16 + 1 + 4)], rtol=1e-15
    )
    c = np.array([3 + 4j, 0, 1j], dtype=np.complex64)
    r = fastconv.pool(c, 3, op="lp")
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, [math.sqrt(26)], rtol=1e-6)


def test_hand_weighted():
    w0 = math.exp(-0.5 * (1 / 0.75) ** 2)  # k=3: sigma = 0.75, offsets -1, 0, 1
    x = np.array([3.0, 0.0, 0.0])
    np.testing.assert_allclose(
        fastconv.pool(x, 3, op="weighted"), [3 * w0 / (1 + 2 * w0)], rtol=1e-14
    )
    # symmetric data -> the centre value
    np.testing.assert_allclose(fastconv.pool(np.array([0.0, 1.0, 2.0]), 3, op="weighted"), [1.0])
    # custom weights, normalised by the weights of the real elements only
    w = np.array([1.0, 2.0, 3.0])
    got = fastconv.pool(np.array([1.0, 2.0, 3.0]), 3, 1, "weighted", padding=1, weights=w)
    np.testing.assert_allclose(got, [(2 + 6) / 5, (1 + 4 + 9) / 6, (2 + 6) / 3], rtol=1e-14)
    # 2-D default weights are the outer product of the 1-D Gaussians
    x2 = np.arange(12.0).reshape(3, 4) ** 2
    g = np.outer(gaussian_weights([3])[:], gaussian_weights([4])[:])
    got = fastconv.pool(x2, (3, 4), op="weighted")
    np.testing.assert_allclose(got, [[np.sum(g * x2) / g.sum()]], rtol=1e-14)
    # integer input, float64 result
    xi = np.array([1, 2, 3, 4], dtype=np.int16)
    r = fastconv.pool(xi, 2, op="weighted", weights=[1.0, 3.0])
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, [7 / 4, 15 / 4], rtol=1e-15)


def test_hand_2d_max_with_padding_and_ceil():
    x = np.arange(1.0, 21.0).reshape(4, 5)
    # k=2, s=2, ceil: rows [0,2) [2,4); cols [0,2) [2,4) [4,6)
    np.testing.assert_array_equal(
        fastconv.pool(x, 2, ceil_mode=True), [[7, 9, 10], [17, 19, 20]]
    )
    # k=3, s=2, pad=1: rows [-1,2) [1,4); cols [-1,2) [1,4) [3,6)
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 2, padding=1), [[7, 9, 10], [17, 19, 20]]
    )
    v, i = fastconv.pool(x, 3, 2, padding=1, return_indices=True)
    np.testing.assert_array_equal(i, [[6, 8, 9], [16, 18, 19]])


def test_size_equal_to_length_is_global(rng):
    x = make_array(rng, (3, 5, 4), "float64")
    for op in OPS:
        got = check(x, (5, 4), op=op, axes=(1, 2))
        assert got.shape == (3, 1, 1)
    np.testing.assert_array_equal(fastconv.pool(x, x.shape)[(0,) * 3], x.max())


def test_size_one_is_identity_or_subsampling(rng):
    x = make_array(rng, (6, 7), "float64")
    for op in ("max", "min", "sum", "mean", "weighted"):
        np.testing.assert_array_equal(fastconv.pool(x, 1, op=op), x)
        np.testing.assert_array_equal(fastconv.pool(x, 1, 2, op=op), x[::2, ::2])
    np.testing.assert_allclose(fastconv.pool(x, 1, op="lp"), np.abs(x), rtol=1e-15)


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, 2.5, 7])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "complex128"])
def test_lp_orders(p, dtype, rng):
    x = make_array(rng, (6, 30), dtype)
    check(x, (2, 5), (1, 2), "lp", p=p, padding=(1, 2), ceil_mode=True)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int8", "complex64"])
def test_weighted_custom_weights(dtype, rng):
    x = make_array(rng, (9, 8), dtype)
    w = rng.random((3, 4)) + 0.05
    check(x, (3, 4), (2, 1), "weighted", weights=w, padding=(1, 2), ceil_mode=True)
    w1 = rng.random(5) + 0.05
    check(x, 5, 1, "weighted", axes=1, weights=w1, padding=2)
    # weights with mixed signs (total nonzero)
    wm = np.array([[1.0, -0.5], [2.0, 0.25]])
    check(x, 2, 1, "weighted", weights=wm)


# ----------------------------------------------------------------------------- PyTorch parity
def _torch():
    torch = import_torch()
    return torch, torch.nn.functional


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_torch_max_pool(nd, rng):
    torch, F = _torch()
    fn = getattr(F, f"max_pool{nd}d")
    shape = {1: (2, 3, 23), 2: (2, 2, 11, 9), 3: (1, 2, 7, 6, 8)}[nd]
    axes = tuple(range(2, 2 + nd))
    for dtype in ("float64", "float32"):
        x = make_array(rng, shape, dtype)
        t = torch.from_numpy(x)
        for k in (2, 3, 4):
            for s in (1, 2, 3, 5):
                for pad in range(k // 2 + 1):
                    for cm in (False, True):
                        ev, ei = fn(t, k, s, pad, ceil_mode=cm, return_indices=True)
                        gv, gi = fastconv.pool(
                            x, k, s, "max", axes=axes, padding=pad, ceil_mode=cm,
                            return_indices=True,
                        )
                        msg = f"{dtype} k={k} s={s} pad={pad} ceil={cm}"
                        np.testing.assert_array_equal(gv, ev.numpy(), err_msg=msg, strict=True)
                        np.testing.assert_array_equal(gi, ei.numpy(), err_msg=msg, strict=True)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_torch_avg_pool(nd, rng):
    torch, F = _torch()
    fn = getattr(F, f"avg_pool{nd}d")
    shape = {1: (2, 3, 23), 2: (2, 2, 11, 9), 3: (1, 2, 7, 6, 8)}[nd]
    axes = tuple(range(2, 2 + nd))
    x = make_array(rng, shape, "float64")
    t = torch.from_numpy(x)
    for k in (2, 3, 4):
        for s in (1, 2, 3, 5):
            for pad in range(k // 2 + 1):
                for cm in (False, True):
                    for cip in (True, False):
                        e = fn(t, k, s, pad, ceil_mode=cm, count_include_pad=cip).numpy()
                        g = fastconv.pool(
                            x, k, s, "mean", axes=axes, padding=pad, ceil_mode=cm,
                            count_include_pad=cip,
                        )
                        msg = f"k={k} s={s} pad={pad} ceil={cm} cip={cip}"
                        assert g.shape == e.shape, msg
                        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=msg)


def test_torch_avg_pool_per_axis_params(rng):
    torch, F = _torch()
    x = make_array(rng, (2, 3, 10, 13), "float32")
    t = torch.from_numpy(x)
    e = F.avg_pool2d(t, (3, 4), (2, 3), (1, 2), ceil_mode=True, count_include_pad=True)
    g = fastconv.pool(x, (3, 4), (2, 3), "mean", axes=(2, 3), padding=(1, 2), ceil_mode=True)
    np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-6)
    e = F.max_pool2d(t, (3, 4), (2, 3), (1, 2), ceil_mode=True)
    g = fastconv.pool(x, (3, 4), (2, 3), "max", axes=(2, 3), padding=(1, 2), ceil_mode=True)
    np.testing.assert_array_equal(g, e.numpy())


def test_torch_ceil_window_larger_than_input():
    """ceil_mode: a single window larger than the input (starting inside it) is valid."""
    torch, F = _torch()
    x = np.array([[[1.0, 2.0]]])
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(
        fastconv.pool(x, 3, 3, "max", axes=2, ceil_mode=True),
        F.max_pool1d(t, 3, 3, ceil_mode=True).numpy(),
    )
    np.testing.assert_allclose(
        fastconv.pool(x, 3, 3, "mean", axes=2, ceil_mode=True),
        F.avg_pool1d(t, 3, 3, ceil_mode=True).numpy(),
        rtol=1e-15,
    )


def test_torch_max_pool_nan_values(rng):
    torch, F = _torch()
    x = make_array(rng, (1, 2, 12, 12), "float64")
    x[0, 0, 3, 4] = np.nan
    x[0, 1, 7, 7] = np.nan
    t = torch.from_numpy(x)
    for k, s, pad in [(3, 1, 1), (2, 2, 0), (5, 3, 2)]:
        e = F.max_pool2d(t, k, s, pad).numpy()
        g = fastconv.pool(x, k, s, "max", axes=(2, 3), padding=pad)
        np.testing.assert_array_equal(g, e)
        # torch's CPU kernel returns the *last* NaN of a window; fastconv the first:
        # with one NaN per window both agree
        _, ei = F.max_pool2d(t, k, s, pad, return_indices=True)
        _, gi = fastconv.pool(x, k, s, "max", axes=(2, 3), padding=pad, return_indices=True)
        np.testing.assert_array_equal(gi, ei.numpy())


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2), ((2, 3), (1, 2))])
def test_torch_lp_pool2d(k, s, rng):
    torch, F = _torch()
    x = np.abs(make_array(rng, (2, 2, 9, 11), "float64"))  # torch uses x**p, not |x|**p
    e = F.lp_pool2d(torch.from_numpy(x), 2, k, s).numpy()
    g = fastconv.pool(x, k, s, "lp", axes=(2, 3), p=2)
    np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    e1 = F.lp_pool1d(torch.from_numpy(x[:, :, 0]), 3, 3, 2).numpy()
    g1 = fastconv.pool(x[:, :, 0], 3, 2, "lp", axes=2, p=3)
    np.testing.assert_allclose(g1, e1, rtol=1e-12, atol=1e-14)


def test_torch_lp_pool_ceil_mode_differs_on_partial_windows():
    """Documented difference: torch's lp_pool scales a partial ceil-mode window by
    k/real (it is avg_pool * k); fastconv sums the real elements only."""
    torch, F = _torch()
    x = np.ones((1, 1, 6))
    e = F.lp_pool1d(torch.from_numpy(x), 2, 3, 2, ceil_mode=True).numpy()
    g = fastconv.pool(x, 3, 2, "lp", axes=2, ceil_mode=True)
    np.testing.assert_allclose(g[..., :2], e[..., :2], rtol=1e-15)
    np.testing.assert_allclose(g[..., 2], math.sqrt(2), rtol=1e-15)


# ----------------------------------------------------------------------------- errors
A2 = np.arange(30.0).reshape(5, 6)


@pytest.mark.parametrize(
    "x",
    [
        pytest.param(np.zeros((0,)), id="empty1d"),
        pytest.param(np.zeros((3, 0)), id="empty2d"),
    ],
)
def test_bad_x_value(x):
    with pytest.raises(ValueError, match=X_NAME):
        fastconv.pool(x, 1)


def test_bad_x_zero_dim():
    with pytest.raises((ValueError, TypeError), match=X_NAME):
        fastconv.pool(np.float64(3.0), 1)
    with pytest.raises((ValueError, TypeError), match=X_NAME):
        fastconv.pool(np.array(3.0), 1, axes=None)


def test_bad_x_empty_non_pooled_axis():
    with pytest.raises(ValueError, match=X_NAME):
        fastconv.pool(np.zeros((0, 4)), 2, axes=1)


@pytest.mark.parametrize(
    "x,op",
    [
        (np.array([1, 2, 3], dtype=object), "max"),
        (np.array([1, 2, 3], dtype=object), "mean"),
        (np.array(["a", "b"]), "max"),
        (np.array(["a", "b"]), "sum"),
        (np.array([1 + 1j, 2]), "max"),
        (np.array([1 + 1j, 2], dtype=np.complex64), "min"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "max"),
    ],
)
def test_bad_x_type(x, op):
    with pytest.raises(TypeError, match=X_NAME):
        fastconv.pool(x, 1, op=op)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(size=0), ValueError, "size"),
        (dict(size=-1), ValueError, "size"),
        (dict(size=(2, 0)), ValueError, "size"),
        (dict(size=(2, 2, 2)), ValueError, "size"),
        (dict(size=(2,)), ValueError, "size"),
        (dict(size=7), ValueError, "size"),  # larger than the 5 x 6 input
        (dict(size=(2, 7)), ValueError, "size"),
        (dict(size=(2, 7), stride=1, ceil_mode=True), ValueError, "size"),
        (dict(size=2.5), (TypeError, ValueError), "size"),
        (dict(size=2, stride=0), ValueError, "stride"),
        (dict(size=2, stride=-1), ValueError, "stride"),
        (dict(size=2, stride=(1, 0)), ValueError, "stride"),
        (dict(size=2, stride=(1, 1, 1)), ValueError, "stride"),
        (dict(size=2, stride=1.5), (TypeError, ValueError), "stride"),
        (dict(size=2, padding=-1), ValueError, "padding"),
        (dict(size=2, padding=2), ValueError, "padding"),
        (dict(size=3, padding=2), ValueError, "padding"),
        (dict(size=(3, 4), padding=(1, 3)), ValueError, "padding"),
        (dict(size=(3, 4), padding=(2, 0)), ValueError, "padding"),
        (dict(size=2, padding=(1, 1, 1)), ValueError, "padding"),
        (dict(size=1, padding=1), ValueError, "padding"),
        (dict(size=2, axes=2), ValueError, "axes"),
        (dict(size=2, axes=-3), ValueError, "axes"),
        (dict(size=2, axes=(0, 0)), ValueError, "axes"),
        (dict(size=2, axes=(1, -1)), ValueError, "axes"),
        (dict(size=2, axes=()), ValueError, "axes"),
        (dict(size=(2, 2), axes=1), ValueError, "size"),
        (dict(size=2, op="median"), ValueError, r"\bop\b"),
        (dict(size=2, op="avg"), ValueError, r"\bop\b"),
        (dict(size=2, op=""), ValueError, r"\bop\b"),
        (dict(size=2, op=None), (TypeError, ValueError), r"\bop\b"),
        (dict(size=2, op="lp", p=0), ValueError, r"\bp\b"),
        (dict(size=2, op="lp", p=-1), ValueError, r"\bp\b"),
        (dict(size=2, op="lp", p=np.inf), ValueError, r"\bp\b"),
        (dict(size=2, op="lp", p=np.nan), ValueError, r"\bp\b"),
        (dict(size=2, op="lp", p="2"), TypeError, r"\bp\b"),
        (dict(size=2, op="lp", p=np.array(2j)), TypeError, r"\bp\b"),
        (dict(size=2, op="lp", p=10**400), ValueError, r"\bp\b"),
        (dict(size=2, stride=2**70), ValueError, "stride"),
        (dict(size=2, stride=(1, 2**63)), ValueError, "stride"),
        (dict(size=2**64), ValueError, "size"),
        (dict(size=2, padding=2**70), ValueError, "padding"),
        (dict(size=2, op="weighted", weights=np.ones((2, 2)) * (1 + 1j)), TypeError, "weights"),
        (dict(size=(2, 1), op="weighted", weights=[[1j], [2 + 1j]]), TypeError, "weights"),
        (dict(size=1, op="weighted", weights=np.array([["-1.0"]])), TypeError, "weights"),
        (dict(size=2, op="weighted", weights=[[1, 2], [3]]), ValueError, "weights"),
        (dict(size=2, op="max", weights=np.ones((2, 2))), ValueError, "weights"),
        (dict(size=2, op="mean", weights=np.ones((2, 2))), ValueError, "weights"),
        (dict(size=2, op="weighted", weights=np.ones(2)), ValueError, "weights"),
        (dict(size=2, op="weighted", weights=np.ones((2, 3))), ValueError, "weights"),
        (dict(size=(2, 3), op="weighted", weights=np.ones((3, 2))), ValueError, "weights"),
        (dict(size=2, op="weighted", weights=np.ones((2, 2, 1))), ValueError, "weights"),
        (dict(size=2, op="weighted", weights=np.zeros((2, 2))), ValueError, "weights"),
        (
            dict(size=2, op="weighted", weights=np.array([[1.0, -1.0], [2.0, -2.0]])),
            ValueError,
            "weights",
        ),
        (dict(size=2, op="mean", return_indices=True), ValueError, "return_indices"),
        (dict(size=2, op="sum", return_indices=True), ValueError, "return_indices"),
        (dict(size=2, op="lp", return_indices=True), ValueError, "return_indices"),
        (dict(size=2, op="weighted", return_indices=True), ValueError, "return_indices"),
        (dict(size=2, workers=0), ValueError, "workers"),
        (dict(size=2, workers=True), TypeError, "workers"),
        (dict(size=2, workers=1.5), TypeError, "workers"),
        (dict(size=2, workers="2"), TypeError, "workers"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    kwargs = dict(kwargs)
    size = kwargs.pop("size")
    with pytest.raises(exc, match=match):
        fastconv.pool(A2, size, **kwargs)


def test_size_too_large_1d_messages():
    with pytest.raises(ValueError, match="size"):
        fastconv.pool(np.ones(2), 3)
    with pytest.raises(ValueError, match="size"):
        fastconv.pool(np.ones(2), 3, 1, ceil_mode=True)
    with pytest.raises(ValueError, match="size"):
        fastconv.pool(np.ones((5, 2)), (2, 3))


# ----------------------------------------------------------------------------- workers / purity
@pytest.mark.parametrize("op", OPS)
def test_workers_1_and_2_identical(op, rng):
    x = make_array(rng, (4, 64, 65), "float32")
    kw = dict(axes=(1, 2), padding=1, ceil_mode=True)
    r1 = fastconv.pool(x, 3, 2, op, workers=1, **kw)
    r2 = fastconv.pool(x, 3, 2, op, workers=2, **kw)
    np.testing.assert_array_equal(r1, r2, strict=True)
    r1 = fastconv.pool(x, 15, 1, op, workers=1, axes=(1, 2))
    r2 = fastconv.pool(x, 15, 1, op, workers=2, axes=(1, 2))
    rn = fastconv.pool(x, 15, 1, op, workers=-1, axes=(1, 2))
    np.testing.assert_array_equal(r1, r2, strict=True)
    np.testing.assert_array_equal(r1, rn, strict=True)
    if op in ("max", "min"):
        a = fastconv.pool(x, 15, 1, op, workers=1, axes=(1, 2), return_indices=True)
        b = fastconv.pool(x, 15, 1, op, workers=2, axes=(1, 2), return_indices=True)
        np.testing.assert_array_equal(a[1], b[1], strict=True)
    with fastconv.set_workers(2):
        r3 = fastconv.pool(x, 15, 1, op, axes=(1, 2))
    np.testing.assert_array_equal(r1, r3, strict=True)


@pytest.mark.parametrize("op", OPS)
def test_inputs_not_modified(op, rng):
    x = make_array(rng, (6, 7), "float64")
    x[2, 3] = np.nan
    x0 = x.copy()
    kw = dict(padding=1, ceil_mode=True)
    if op == "weighted":
        w = rng.random((3, 3)) + 0.1
        w0 = w.copy()
        kw["weights"] = w
    if op in ("max", "min"):
        kw["return_indices"] = True
    fastconv.pool(x, 3, 2, op, **kw)
    fastconv.pool(x, 3, 1, op, **kw)
    np.testing.assert_array_equal(x, x0, strict=True)
    if op == "weighted":
        np.testing.assert_array_equal(w, w0, strict=True)
    xi = make_array(rng, (50,), "int16")
    xi0 = xi.copy()
    fastconv.pool(xi, 9, 1, op, padding=4)
    np.testing.assert_array_equal(xi, xi0)


def test_result_does_not_alias_input():
    x = np.arange(10.0)
    r = fastconv.pool(x, 1)
    assert not np.shares_memory(r, x)
    r[...] = -1
    np.testing.assert_array_equal(x, np.arange(10.0))


# ----------------------------------------------------------------------------- property test
if given is not None:

    @given(
        data=st.data(),
        op=st.sampled_from(OPS),
        ndim=st.integers(1, 3),
        ceil_mode=st.booleans(),
        cip=st.booleans(),
    )
    def test_property_matches_reference(data, op, ndim, ceil_mode, cip):
        shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
        ks = [data.draw(st.integers(1, 5)) for _ in range(ndim)]
        ss = [data.draw(st.integers(1, 4)) for _ in range(ndim)]
        ps = [data.draw(st.integers(0, k // 2)) for k in ks]
        seed = data.draw(st.integers(0, 2**32 - 1))
        x = make_array(np.random.default_rng(seed), shape, "float64")
        check_or_raises(
            x, tuple(ks), tuple(ss), op, padding=tuple(ps), ceil_mode=ceil_mode,
            count_include_pad=cip,
        )


@pytest.mark.parametrize("dtype, big", [(np.float64, 1e200), (np.float32, 1e30)])
def test_lp_of_huge_values_is_finite_where_representable(dtype, big):
    # |x|**2 overflows, the L2 norm does not; small windows stay exact.
    x = np.array([big, big, 3.0, 4.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastconv.pool(x, 2, op="lp")
    np.testing.assert_allclose(got, np.array([big * np.sqrt(2.0), 5.0], dtype=dtype),
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("p", [1, 2, 0.5, 3])
def test_lp_of_most_negative_integer(dtype, p):
    # np.abs(int8(-128)) is -128: the magnitude must be taken after the conversion to float
    lo = int(np.iinfo(dtype).min)
    x = np.array([lo, lo, 3, lo, -1, 2], dtype=dtype)
    mag = np.abs(x.astype(np.float64))
    exp = np.array([(mag[i:i + 2] ** p).sum() ** (1 / p) for i in range(0, 6, 2)])
    np.testing.assert_allclose(fastconv.pool(x, 2, op="lp", p=p), exp, rtol=1e-14)
    np.testing.assert_allclose(fastconv.adaptive_pool(x, 3, op="lp", p=p), exp, rtol=1e-14)
    x2 = np.full((4, 4), lo, dtype=dtype)
    exp2 = np.full((2, 2), (4 * float(abs(lo)) ** p) ** (1 / p))
    np.testing.assert_allclose(fastconv.pool(x2, 2, op="lp", p=p), exp2, rtol=1e-14)
    np.testing.assert_allclose(fastconv.adaptive_pool(x2, 2, op="lp", p=p), exp2, rtol=1e-14)


# ----------------------------------------------------------------------------- weighted, N-D weights
def _weighted_reference(x, w, stride, padding, ceil_mode):
    """sum(w * x) / sum(w) over the in-input part of every window (all axes pooled)."""
    x = np.asarray(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64)
    w = np.asarray(w, dtype=np.float64)
    louts = [pool_output_length(L, k, s, pad, ceil_mode)
             for L, k, s, pad in zip(x.shape, w.shape, stride, padding)]
    # zeros beyond the input: the padding and whatever a ceil-mode window reaches
    right = [(lo - 1) * s + k - L - pad for L, k, s, pad, lo in
             zip(x.shape, w.shape, stride, padding, louts)]
    widths = [(pad, max(r, 0)) for pad, r in zip(padding, right)]
    xp = np.pad(x, widths)
    inside = np.pad(np.ones(x.shape), widths)
    index = tuple(slice(0, (lo - 1) * s + 1, s) for lo, s in zip(louts, stride))
    xw = np.lib.stride_tricks.sliding_window_view(xp, w.shape)[index]
    iw = np.lib.stride_tricks.sliding_window_view(inside, w.shape)[index]
    axes = tuple(range(x.ndim, 2 * x.ndim))
    return (xw * w).sum(axis=axes) / (iw * w).sum(axis=axes)


WEIGHTED_CASES = [
    ((17,), (4,), (1,), (2,)),
    ((17,), (5,), (3,), (2,)),
    ((12, 11), (3, 4), (2, 3), (1, 2)),
    ((12, 11), (5, 2), (3, 1), (2, 0)),
    ((9, 8, 7), (3, 2, 3), (2, 2, 3), (1, 1, 1)),
    ((9, 8, 7), (2, 3, 4), (1, 3, 2), (0, 1, 2)),
]


@pytest.mark.parametrize("shape,size,stride,padding", WEIGHTED_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_weighted_nd_weights_strided(shape, size, stride, padding, dtype, ceil_mode, rng):
    x = make_array(rng, shape, dtype)
    # mixed signs; strictly positive sums over every partial window
    w = rng.random(size) + 0.5
    w.flat[0] = -0.25
    got = fastconv.pool(x, size, stride, "weighted", weights=w, padding=padding,
                        ceil_mode=ceil_mode)
    exp = _weighted_reference(x, w.astype(np.float32) if dtype != "float64" and
                              dtype != "complex128" else w, stride, padding, ceil_mode)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == exp.shape
    rtol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, exp, rtol=rtol, atol=rtol * np.abs(exp).max())


def test_weighted_computes_only_the_strided_outputs(monkeypatch, rng):
    # the direct kernel runs once per stride phase, each on outputs of the pooled size
    # only, and the public correlate is never called
    from fastconv._kernels import _direct
    from fastconv._api import convolve as api

    calls = []
    real = _direct.correlate_direct

    def spy(x, w, out, n, k, m, *args):
        calls.append((tuple(m), tuple(k)))
        return real(x, w, out, n, k, m, *args)

    def forbidden(*args, **kwargs):
        raise AssertionError("pooling called the public convolution functions")

    monkeypatch.setattr(_direct, "correlate_direct", spy)
    monkeypatch.setattr(api, "_conv", forbidden)
    x = rng.standard_normal((30, 40))
    w = rng.random((4, 6)) + 0.1
    got = fastconv.pool(x, (4, 6), (2, 3), "weighted", weights=w, padding=(1, 2))
    assert got.shape == (15, 13)
    assert [c[0] for c in calls] == [(15, 13)] * 6
    # the phases' kernels hold every tap once
    assert sum(math.prod(c[1]) for c in calls) == w.size


@pytest.mark.parametrize("kw,ok", [
    # the full window sums to 2, the padded edge window [pad, 1, -1] to 0
    (dict(size=3, stride=1, padding=1, weights=[2.0, 1.0, -1.0]), False),
    (dict(size=3, stride=1, padding=0, weights=[2.0, 1.0, -1.0]), True),
    # only ceil mode forms the window [4, 7) of a length-6 input, whose in-input
    # taps [1, -1] sum to 0
    (dict(size=3, stride=2, padding=0, weights=[1.0, -1.0, 5.0]), True),
    (dict(size=3, stride=2, padding=0, weights=[1.0, -1.0, 5.0], ceil_mode=True), False),
    # sums exactly zero although rounded left-to-right they give -1
    (dict(size=4, stride=1, padding=0, weights=[1e16, 1.0, -1e16, -1.0]), False),
    (dict(size=4, stride=1, padding=0, weights=[1e16, 1.0, -1e16, 1.0]), True),
])
def test_weighted_zero_sum_edge_window_is_refused(kw, ok):
    x = np.arange(1.0, 7.0)
    w = np.asarray(kw.pop("weights"))
    for xx, ww, extra in [(x, w, {}), (np.outer(x, x[:4]), w[:, None] * [[1.0, 2.0]],
                                        dict(size=(kw["size"], 2), padding=(kw["padding"], 0),
                                             stride=(kw["stride"], 1)))]:
        args = {**kw, **extra}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if ok:
                got = fastconv.pool(xx, op="weighted", weights=ww, **args)
                assert np.all(np.isfinite(got))
            else:
                with pytest.raises(ValueError, match="weights"):
                    fastconv.pool(xx, op="weighted", weights=ww, **args)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.complex64])
def test_weighted_zero_sum_as_given_is_refused_in_single_precision(dtype):
    # 0.1 + 0.2 - 0.3 - ... : zero in float64 decimals is not zero exactly, so the
    # weights are built from float64 values whose exact sum is 0 but whose
    # float32 roundings do not cancel: 1 + 2**-30 - 1 - 2**-30
    w = np.array([1.0 + 2.0**-30, -1.0, -2.0**-30, 0.0])
    assert np.float32(w).astype(np.float64).sum() != 0 and w.sum() == 0
    x = np.arange(1.0, 9.0).astype(dtype)
    with pytest.raises(ValueError, match="weights"):
        fastconv.pool(x, 4, op="weighted", weights=w)


def test_weighted_overflow_is_infinite_without_a_warning():
    # the weighted sum 0.9 * max is finite, its quotient by the weights' sum
    # 0.125 is not
    big = np.finfo(np.float64).max
    x = np.array([big, 0.0, 0.0, 2.0, 0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastconv.pool(x, 3, op="weighted", weights=[0.875, -0.5, -0.25])
    assert np.isinf(got[0]) and np.isfinite(got[1])
