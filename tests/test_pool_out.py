"""`out=` of `pool` and `adaptive_pool`, and their cache of problems."""

import threading

import numpy as np
import pytest

import fastconv
from fastconv._api import pooling as pooling_api
from _pool_reference import reference_adaptive_pool, reference_pool

OUT_LAYOUTS = ["C", "F", "strided", "negative", "bigendian"]


def _out_like(shape, dtype, layout):
    """An uninitialised (NaN or 0x55-filled) array of `shape` and `dtype` laid out as `layout`."""
    dtype = np.dtype(dtype)
    fill = np.nan if dtype.kind in "fc" else 0x55
    if layout == "C":
        return np.full(shape, fill, dtype)
    if layout == "F":
        return np.asfortranarray(np.full(shape, fill, dtype))
    if layout == "strided":
        big = np.full(tuple(2 * s + 1 for s in shape), fill, dtype)
        return big[tuple(slice(1, None, 2) for _ in shape)]
    if layout == "negative":
        rev = tuple(slice(None, None, -1) for _ in shape)
        return np.full(shape, fill, dtype)[rev]
    if layout == "bigendian":
        return np.full(shape, fill, dtype.newbyteorder(">"))
    raise ValueError(layout)


CASES = [
    # (x shape, dtype, args, kwargs)
    ((2, 3, 8, 8), "float32", (2,), dict(axes=(2, 3))),          # one streaming 2-D pass
    ((2, 3, 8, 8), "float64", (2,), dict(axes=(2, 3), op="sum")),
    ((2, 3, 9, 8), "int16", (3, 2), dict(axes=(2, 3), padding=1, op="min")),
    ((2, 3, 8, 8), "int32", ((1, 2),), dict(axes=(2, 3))),       # one-row windows
    ((2, 5, 9, 13), "uint16", ((3, 4),), dict(axes=(2, 3), op="min")),  # ragged edges
    ((3, 7, 10), "int64", ((2, 5),), dict(axes=(1, 2), op="sum")),
    ((5, 12), "uint8", (3, 1), dict(op="max")),
    ((4, 7, 6), "float32", (2,), dict(op="mean", ceil_mode=True)),
    ((6, 10), "complex64", (2,), dict(op="lp", p=3.0)),
    ((16,), "float64", (4, 2), dict(op="weighted")),
    ((6, 10), "bool", (2,), dict(op="max", axes=1)),
    ((6, 10), "float16", (2,), dict(op="sum")),
]


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
@pytest.mark.parametrize("shape,dtype,args,kwargs", CASES)
def test_pool_out_equals_the_result(shape, dtype, args, kwargs, layout):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    expected = fastconv.pool(x, *args, **kwargs)
    out = _out_like(expected.shape, expected.dtype, layout)
    got = fastconv.pool(x, *args, **kwargs, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)
    # and both equal the independent reference
    if kwargs.get("op", "max") in ("max", "min", "sum"):
        ref = reference_pool(x, *args, **kwargs)
        np.testing.assert_allclose(out.astype(np.float64), np.asarray(ref, np.float64),
                                   rtol=1e-3 if dtype == "float16" else 1e-6)


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
def test_adaptive_pool_out(layout):
    x = np.random.default_rng(1).standard_normal((3, 10, 7)).astype(np.float32)
    for op in ("max", "mean", "sum", "lp"):
        expected = fastconv.adaptive_pool(x, (4, 3), op, axes=(1, 2))
        out = _out_like(expected.shape, expected.dtype, layout)
        assert fastconv.adaptive_pool(x, (4, 3), op, axes=(1, 2), out=out) is out
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_allclose(
            out, reference_adaptive_pool(x, (4, 3), op, axes=(1, 2)), rtol=1e-5, atol=1e-5)


def test_pool_out_with_indices():
    x = np.random.default_rng(2).standard_normal((2, 6, 6))
    values, indices = fastconv.pool(x, 3, 2, axes=(1, 2), padding=1, return_indices=True)
    out = (np.empty_like(values), np.empty(indices.shape, np.int64))
    got = fastconv.pool(x, 3, 2, axes=(1, 2), padding=1, return_indices=True, out=out)
    assert got is out
    np.testing.assert_array_equal(out[0], values)
    np.testing.assert_array_equal(out[1], indices)
    with pytest.raises(TypeError, match="out"):
        fastconv.pool(x, 3, 2, axes=(1, 2), padding=1, return_indices=True, out=out[0])
    with pytest.raises(ValueError, match="out"):
        fastconv.pool(x, 3, 2, axes=(1, 2), padding=1, return_indices=True,
                      out=(out[0], np.empty(indices.shape, np.int32)))


def test_pool_out_overlapping_the_input():
    # out is a view of x: the result must be that of a call without out
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 8, 8)).astype(np.float32)
    expected = fastconv.pool(x, 2, axes=(2, 3))
    for start in (0, 32, 64, 96):
        # C-contiguous views the one-pass kernel could write into directly
        buf = x.copy()
        out = buf.reshape(-1)[start:start + 32].reshape(1, 2, 4, 4)
        assert np.may_share_memory(out, buf)
        fastconv.pool(buf, 2, axes=(2, 3), out=out)
        np.testing.assert_array_equal(out, expected)
    # a sliding max and a sliding sum written into their own input
    y = rng.standard_normal(50)
    for op in ("max", "sum"):
        buf = y.copy()
        expected = fastconv.pool(buf, 5, 1, op, padding=2)
        fastconv.pool(buf, 5, 1, op, padding=2, out=buf)
        np.testing.assert_array_equal(buf, expected)


def test_pool_out_in_place_without_a_copy(monkeypatch):
    # the small-call road writes the kernel's output straight into a fitting out
    from fastconv._methods import pooling

    x = np.random.default_rng(4).standard_normal((1, 8, 8, 8)).astype(np.float32)
    out = np.empty((1, 8, 4, 4), np.float32)

    def refuse(*args, **kwargs):
        raise AssertionError("out was filled by a copy")

    monkeypatch.setattr(pooling.np, "copyto", refuse)
    fastconv.pool(x, 2, axes=(2, 3), out=out)
    np.testing.assert_array_equal(out, reference_pool(x, 2, axes=(2, 3)))


@pytest.mark.parametrize("bad,exc", [
    (np.empty((2, 2)), ValueError),                  # wrong shape
    (np.empty((2, 3), np.float32), ValueError),      # wrong dtype
    ([[0.0] * 3] * 2, TypeError),                    # not an array
])
def test_pool_bad_out(bad, exc):
    x = np.arange(24.0).reshape(4, 6)
    with pytest.raises(exc, match="out"):
        fastconv.pool(x, 2, out=bad)
    with pytest.raises(exc, match="out"):
        fastconv.adaptive_pool(x, (2, 3), out=bad)


def test_pool_read_only_out():
    x = np.arange(24.0).reshape(4, 6)
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        fastconv.pool(x, 2, out=out)


def test_pool_cache_keeps_validation():
    # a cached problem is not reused for arguments that differ in type only
    x = np.arange(64.0).reshape(8, 8)
    fastconv.pool(x, 2, ceil_mode=False)
    with pytest.raises(TypeError, match="ceil_mode"):
        fastconv.pool(x, 2, ceil_mode=0)
    fastconv.pool(x, 2, axes=1)
    with pytest.raises(TypeError, match="axes"):
        fastconv.pool(x, 2, axes=True)
    with pytest.raises(TypeError, match="size"):
        fastconv.pool(x, True)
    fastconv.pool(x, 2, op="lp", p=1)
    with pytest.raises(TypeError, match="p"):
        fastconv.pool(x, 2, op="lp", p=True)
    fastconv.pool(x, 2, workers=1)
    with pytest.raises(TypeError, match="workers"):
        fastconv.pool(x, 2, workers=1.0)
    # same shape, another dtype: its own problem (complex max is refused)
    with pytest.raises(TypeError, match="complex"):
        fastconv.pool(x.astype(np.complex128), 2)


def test_pool_cache_bounded_and_thread_safe():
    pooling_api._problems.clear()
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((1, 2, 4 + i, 6 + i)).astype(np.float32) for i in range(12)]
    args = [(2, dict(axes=(2, 3))), (3, dict(axes=(2, 3), op="sum", padding=1)),
            (2, dict(op="mean", axes=3)), (2, dict(axes=(2, 3), workers=1))]
    expected = [[fastconv.pool(x, size, **kw) for size, kw in args] for x in inputs]
    pooling_api._problems.clear()
    errors = []

    def work(seed):
        order = np.random.default_rng(seed).permutation(len(inputs) * len(args))
        for _ in range(20):
            for flat in order:
                i, j = divmod(int(flat), len(args))
                size, kw = args[j]
                got = fastconv.pool(inputs[i], size, **kw)
                if not np.array_equal(got, expected[i][j]):
                    errors.append((i, j))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(600):
        fastconv.pool(np.ones(4 + i), 2)
    assert len(pooling_api._problems) <= pooling_api._problems.maxsize


def _misaligned(a):
    """A C-contiguous copy of `a` whose data starts one byte off its alignment."""
    raw = np.empty(a.nbytes + 1, np.uint8)[1:]
    view = raw.view(a.dtype).reshape(a.shape)
    view[...] = a
    assert view.flags.c_contiguous and not view.flags.aligned
    return view


@pytest.mark.parametrize("op", ["max", "sum", "mean", "lp", "weighted"])
def test_misaligned_contiguous_input(op):
    # the kernels get an aligned copy (a contiguous but misaligned array is
    # not handed to them as it is; the sanitizer build checks it)
    x = np.random.default_rng(6).standard_normal((2, 8, 8))
    expected = fastconv.pool(x, 2, axes=(1, 2), op=op)
    np.testing.assert_array_equal(fastconv.pool(_misaligned(x), 2, axes=(1, 2), op=op),
                                  expected)
    if op != "weighted":
        np.testing.assert_array_equal(
            fastconv.adaptive_pool(_misaligned(x), 3, op, axes=(1, 2)),
            fastconv.adaptive_pool(x, 3, op, axes=(1, 2)))
    k = np.ones((1, 3, 2))
    for method in ("direct", "im2col", "fft"):
        np.testing.assert_allclose(
            fastconv.convolve(_misaligned(x), _misaligned(k), "same", method=method,
                              axes=(1, 2)),
            fastconv.convolve(x, k, "same", method=method, axes=(1, 2)), rtol=1e-12)
