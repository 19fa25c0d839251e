"""fastconv.adaptive_pool: PyTorch's adaptive bins, global pooling, output sizes larger
than the input, per-axis sizes, dtypes and errors."""

import numpy as np
import pytest

import fastconv
from _helpers import import_torch, make_array, with_layout
from _pool_reference import (
    ADAPTIVE_OPS,
    DTYPES,
    LAYOUTS,
    X_NAME,
    Failures,
    assert_pool_close,
    adaptive_bins,
    pool_result_dtype,
    reference_adaptive_pool,
    reference_pool,
)


def check(x, output_size, op="max", **kw):
    ref_x = np.asarray(x)
    msg = f"op={op} shape={np.shape(x)} dtype={ref_x.dtype} output_size={output_size} {kw}"
    got = fastconv.adaptive_pool(x, output_size, op, **kw)
    exp = reference_adaptive_pool(ref_x, output_size, op, **kw)
    bound = None
    if exp.dtype.kind in "fc" and op not in ("max", "min"):
        a = np.abs(ref_x.astype(np.complex128 if np.iscomplexobj(ref_x) else np.float64))
        bound = reference_adaptive_pool(a, output_size, op, **kw)
    assert_pool_close(got, exp, bound, op=op, err_msg=msg)
    return got


# ----------------------------------------------------------------------------- the bins
def test_reference_bins():
    assert adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_bins(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert adaptive_bins(3, 5) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    assert adaptive_bins(7, 1) == [(0, 7)]
    assert adaptive_bins(4, 4) == [(i, i + 1) for i in range(4)]
    assert adaptive_bins(1, 3) == [(0, 1)] * 3
    for L in range(1, 30):
        for n in range(1, 35):
            bins = adaptive_bins(L, n)
            assert bins[0][0] == 0 and bins[-1][1] == L
            assert all(lo < hi for lo, hi in bins)
            # every element is covered, bins are ordered
            assert all(b[0] <= c[0] and b[1] <= c[1] for b, c in zip(bins, bins[1:]))
            assert all(c[0] <= b[1] for b, c in zip(bins, bins[1:]))


def test_reference_equals_pool_when_divisible(rng):
    """L divisible by out: the bins are the non-overlapping windows of size L/out."""
    x = make_array(rng, (12, 10), "float64")
    for op in ADAPTIVE_OPS:
        a = reference_adaptive_pool(x, (4, 5), op)
        b = reference_pool(x, (3, 2), None, op)
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_reference_matches_torch(rng):
    torch = import_torch()
    F = torch.nn.functional
    x = make_array(rng, (2, 3, 7, 10), "float64")
    t = torch.from_numpy(x)
    for out in [(1, 1), (3, 4), (7, 10), (9, 13), (2, 25)]:
        np.testing.assert_array_equal(
            reference_adaptive_pool(x, out, "max", axes=(2, 3)),
            F.adaptive_max_pool2d(t, out).numpy(),
        )
        np.testing.assert_allclose(
            reference_adaptive_pool(x, out, "mean", axes=(2, 3)),
            F.adaptive_avg_pool2d(t, out).numpy(),
            rtol=1e-13,
            atol=1e-15,
        )


# ----------------------------------------------------------------------------- hand examples
def test_hand_1d():
    x = np.arange(5.0)  # bins [0,2) [1,4) [3,5)
    np.testing.assert_array_equal(fastconv.adaptive_pool(x, 3), [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(fastconv.adaptive_pool(x, 3, "min"), [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(fastconv.adaptive_pool(x, 3, "sum"), [1.0, 6.0, 7.0])
    np.testing.assert_array_equal(fastconv.adaptive_pool(x, 3, "mean"), [0.5, 2.0, 3.5])
    np.testing.assert_allclose(
        fastconv.adaptive_pool(np.array([3.0, -4.0, 0.0, -12.0]), 2, "lp"), [5.0, 12.0], rtol=1e-15
    )
    # output larger than the input: overlapping bins [0,1) [0,2) [1,2) [1,3) [2,3)
    y = np.array([1.0, 5.0, 3.0])
    np.testing.assert_array_equal(fastconv.adaptive_pool(y, 5), [1, 5, 5, 5, 3])
    np.testing.assert_array_equal(fastconv.adaptive_pool(y, 5, "mean"), [1, 3, 5, 4, 3])
    np.testing.assert_array_equal(fastconv.adaptive_pool(y, 5, "sum"), [1, 6, 5, 8, 3])


def test_hand_quadrants():
    x = np.arange(48.0).reshape(6, 8)
    got = fastconv.adaptive_pool(x, (2, 2), "max")
    np.testing.assert_array_equal(got, [[19, 23], [43, 47]])
    got = fastconv.adaptive_pool(x, 2, "mean")
    exp = [[x[:3, :4].mean(), x[:3, 4:].mean()], [x[3:, :4].mean(), x[3:, 4:].mean()]]
    np.testing.assert_allclose(got, exp, rtol=1e-15)
    # the docstring example
    z = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(
        fastconv.adaptive_pool(z, (2, 2), op="mean"), [[2.5, 4.5], [10.5, 12.5]]
    )


def test_hand_integer_dtypes():
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int8)
    s = fastconv.adaptive_pool(x, 1, "sum")
    assert s.dtype == np.int64 and s.shape == (1, 1) and s[0, 0] == 21
    m = fastconv.adaptive_pool(x, (1, 2), "mean")  # column bins [0,2) [1,3)
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m, [[3.0, 4.0]])
    u = fastconv.adaptive_pool(np.array([255, 255, 255], dtype=np.uint8), 1, "sum")
    assert u.dtype == np.uint64 and u[0] == 765
    b = fastconv.adaptive_pool(np.array([True, False, True, True]), 2, "sum")
    assert b.dtype == np.int64
    np.testing.assert_array_equal(b, [1, 2])
    mx = fastconv.adaptive_pool(np.array([True, False, False, False]), 2, "max")
    assert mx.dtype == np.bool_
    np.testing.assert_array_equal(mx, [True, False])


# ----------------------------------------------------------------------------- global pooling
@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_global_pooling(op, rng):
    x = make_array(rng, (3, 5, 7), "float64")
    got = fastconv.adaptive_pool(x, 1, op)
    assert got.shape == (1, 1, 1)
    exp = {
        "max": x.max(),
        "min": x.min(),
        "sum": x.sum(),
        "mean": x.mean(),
        "lp": np.sqrt((x**2).sum()),
    }[op]
    if op in ("max", "min"):
        assert got[0, 0, 0] == exp
    else:
        np.testing.assert_allclose(got[0, 0, 0], exp, rtol=1e-13)
    # global pooling over the spatial axes of an (N, C, H, W) batch
    y = make_array(rng, (2, 3, 6, 5), "float32")
    got = check(y, 1, op, axes=(2, 3))
    assert got.shape == (2, 3, 1, 1)
    check(y, 1, op, axes=(-1, -2))


@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_output_size_equal_to_input_is_identity(op, rng):
    x = make_array(rng, (4, 6), "float64")
    got = fastconv.adaptive_pool(x, x.shape, op)
    if op == "lp":
        np.testing.assert_allclose(got, np.abs(x), rtol=1e-15)
    else:
        np.testing.assert_array_equal(got, x)


# ----------------------------------------------------------------------------- grids
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_grid(op, ndim, rng):
    fails = Failures()
    for _ in range({1: 25, 2: 12, 3: 6}[ndim]):
        shape = tuple(int(v) for v in rng.integers(1, {1: 40, 2: 12, 3: 7}[ndim], size=ndim))
        x = make_array(rng, shape, "float64")
        outs = tuple(int(rng.integers(1, 2 * L + 3)) for L in shape)  # smaller and larger
        fails.run(check, x, outs if rng.integers(0, 2) else outs[0], op)
    fails.check()


@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_lengths_sweep_1d(op, rng):
    fails = Failures()
    for L in (1, 2, 3, 5, 7, 10, 16, 33):
        x = make_array(rng, (2, L), "float32")
        for n in sorted({1, 2, 3, L - 1, L, L + 1, 2 * L, 3 * L + 1} - {0}):
            fails.run(check, x, n, op, axes=1)
    fails.check()


@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_long_axes(op, rng):
    x = make_array(rng, (2000,), "float64")
    for n in (1, 7, 64, 333, 1999, 2500):
        check(x, n, op)
    y = make_array(rng, (300, 200), "float32")
    check(y, (7, 9), op)


@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_axes_and_per_axis_sizes(op, rng):
    x = make_array(rng, (3, 7, 8, 5), "float64")
    got = check(x, (3, 2), op, axes=(1, 2))
    assert got.shape == (3, 3, 2, 5)
    got = check(x, 4, op, axes=-1)
    assert got.shape == (3, 7, 8, 4)
    got = check(x, (2, 9), op, axes=[0, 3])
    assert got.shape == (2, 7, 8, 9)
    # output_size follows the order of axes: (5, 2) for axes (3, 1) == (2, 5) for (1, 3)
    a = fastconv.adaptive_pool(x, (5, 2), op, axes=(3, 1))
    b = fastconv.adaptive_pool(x, (2, 5), op, axes=(1, 3))
    assert a.shape == (3, 2, 8, 5)
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------- dtypes / NaN / layouts
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_dtypes(op, dtype, rng):
    kind = "full" if op in ("max", "min") else "small"
    x = make_array(rng, (7, 9), dtype, kind)
    if op in ("max", "min") and np.dtype(dtype).kind == "c":
        with pytest.raises(TypeError, match=X_NAME):
            fastconv.adaptive_pool(x, 2, op)
        return
    got = check(x, (3, 4), op)
    assert got.dtype == pool_result_dtype(op, dtype)
    check(x, (10, 2), op)
    check(make_array(rng, (3, 500), dtype, kind), 37, op, axes=1)


@pytest.mark.parametrize("op", ["max", "min", "sum", "mean", "lp"])
def test_nan_only_in_its_bins(op, rng):
    x = make_array(rng, (100,), "float64")
    x[37] = np.nan
    got = check(x, 9, op)
    bins = adaptive_bins(100, 9)
    np.testing.assert_array_equal(np.isnan(got), [lo <= 37 < hi for lo, hi in bins])
    got = check(x, 150, op)  # overlapping bins
    bins = adaptive_bins(100, 150)
    np.testing.assert_array_equal(np.isnan(got), [lo <= 37 < hi for lo, hi in bins])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts(layout, rng):
    base = make_array(rng, (5, 6, 7), "float64")
    x = with_layout(base, layout)
    for op in ADAPTIVE_OPS:
        got = fastconv.adaptive_pool(x, (2, 4, 9), op)
        exp = check(base, (2, 4, 9), op)
        np.testing.assert_array_equal(got, exp)


# ----------------------------------------------------------------------------- PyTorch parity
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_torch_adaptive_max_and_avg(nd, rng):
    torch = import_torch()
    F = torch.nn.functional
    shape = {1: (2, 3, 17), 2: (2, 2, 9, 11), 3: (1, 2, 5, 6, 7)}[nd]
    axes = tuple(range(2, 2 + nd))
    x = make_array(rng, shape, "float64")
    t = torch.from_numpy(x)
    spatial = shape[2:]
    sizes = [
        (1,) * nd,
        tuple(max(1, s // 2) for s in spatial),
        tuple(s - 1 if s > 1 else 1 for s in spatial),
        spatial,
        tuple(s + 3 for s in spatial),
        tuple(2 * s + 1 for s in spatial),
    ]
    for out in sizes:
        e = getattr(F, f"adaptive_max_pool{nd}d")(t, out).numpy()
        g = fastconv.adaptive_pool(x, out, "max", axes=axes)
        np.testing.assert_array_equal(g, e, err_msg=str(out), strict=True)
        e = getattr(F, f"adaptive_avg_pool{nd}d")(t, out).numpy()
        g = fastconv.adaptive_pool(x, out, "mean", axes=axes)
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=str(out))


def test_torch_adaptive_float32_and_nan(rng):
    torch = import_torch()
    F = torch.nn.functional
    x = make_array(rng, (2, 3, 13, 10), "float32")
    x[0, 1, 4, 4] = np.nan
    t = torch.from_numpy(x)
    for out in [(4, 3), (20, 7), (13, 10)]:
        np.testing.assert_array_equal(
            fastconv.adaptive_pool(x, out, "max", axes=(2, 3)),
            F.adaptive_max_pool2d(t, out).numpy(),
        )
        np.testing.assert_allclose(
            fastconv.adaptive_pool(x, out, "mean", axes=(2, 3)),
            F.adaptive_avg_pool2d(t, out).numpy(),
            rtol=2e-6,
            atol=1e-6,
        )


# ----------------------------------------------------------------------------- errors
A2 = np.arange(30.0).reshape(5, 6)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(output_size=0), ValueError, "output_size"),
        (dict(output_size=-2), ValueError, "output_size"),
        (dict(output_size=(2, 0)), ValueError, "output_size"),
        (dict(output_size=(2, -1)), ValueError, "output_size"),
        (dict(output_size=(2, 2, 2)), ValueError, "output_size"),
        (dict(output_size=(2,)), ValueError, "output_size"),
        (dict(output_size=(2, 2), axes=1), ValueError, "output_size"),
        (dict(output_size=2.5), (TypeError, ValueError), "output_size"),
        (dict(output_size=2, op="weighted"), ValueError, r"\bop\b"),
        (dict(output_size=2, op="median"), ValueError, r"\bop\b"),
        (dict(output_size=2, op=""), ValueError, r"\bop\b"),
        (dict(output_size=2, op=None), (TypeError, ValueError), r"\bop\b"),
        (dict(output_size=2, axes=2), ValueError, "axes"),
        (dict(output_size=2, axes=-3), ValueError, "axes"),
        (dict(output_size=2, axes=(1, 1)), ValueError, "axes"),
        (dict(output_size=2, axes=(0, -2)), ValueError, "axes"),
        (dict(output_size=2, axes=()), ValueError, "axes"),
        (dict(output_size=2, op="lp", p=0), ValueError, r"\bp\b"),
        (dict(output_size=2, op="lp", p=-2), ValueError, r"\bp\b"),
        (dict(output_size=2, op="lp", p=np.inf), ValueError, r"\bp\b"),
        (dict(output_size=2, op="lp", p=np.nan), ValueError, r"\bp\b"),
        (dict(output_size=2, op="lp", p="2"), TypeError, r"\bp\b"),
        (dict(output_size=2, op="lp", p=b"2"), TypeError, r"\bp\b"),
        (dict(output_size=2**70), ValueError, "output_size"),
        (dict(output_size=2, workers=0), ValueError, "workers"),
        (dict(output_size=2, workers=False), TypeError, "workers"),
        (dict(output_size=2, workers=2.0), TypeError, "workers"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    kwargs = dict(kwargs)
    out = kwargs.pop("output_size")
    with pytest.raises(exc, match=match):
        fastconv.adaptive_pool(A2, out, **kwargs)


@pytest.mark.parametrize(
    "x,op,exc",
    [
        (np.zeros((0,)), "max", ValueError),
        (np.zeros((4, 0)), "mean", ValueError),
        (np.array([1, 2], dtype=object), "max", TypeError),
        (np.array(["a", "b"]), "sum", TypeError),
        (np.array([1 + 2j, 3j]), "max", TypeError),
        (np.array([1 + 2j, 3j], dtype=np.complex64), "min", TypeError),
    ],
)
def test_bad_x(x, op, exc):
    with pytest.raises(exc, match=X_NAME):
        fastconv.adaptive_pool(x, 1, op)


# ----------------------------------------------------------------------------- workers / purity
@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_workers_1_and_2_identical(op, rng):
    x = make_array(rng, (4, 130, 97), "float32")
    r1 = fastconv.adaptive_pool(x, (7, 50), op, axes=(1, 2), workers=1)
    r2 = fastconv.adaptive_pool(x, (7, 50), op, axes=(1, 2), workers=2)
    rn = fastconv.adaptive_pool(x, (7, 50), op, axes=(1, 2), workers=-1)
    np.testing.assert_array_equal(r1, r2, strict=True)
    np.testing.assert_array_equal(r1, rn, strict=True)
    with fastconv.set_workers(2):
        r3 = fastconv.adaptive_pool(x, (7, 50), op, axes=(1, 2))
    np.testing.assert_array_equal(r1, r3, strict=True)


@pytest.mark.parametrize("op", ADAPTIVE_OPS)
def test_inputs_not_modified(op, rng):
    x = make_array(rng, (9, 11), "float64")
    x[3, 3] = np.nan
    x0 = x.copy()
    fastconv.adaptive_pool(x, (4, 20), op)
    fastconv.adaptive_pool(x, 1, op)
    np.testing.assert_array_equal(x, x0, strict=True)
    xi = make_array(rng, (40,), "uint8")
    xi0 = xi.copy()
    fastconv.adaptive_pool(xi, 7, op)
    np.testing.assert_array_equal(xi, xi0, strict=True)
