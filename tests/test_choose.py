"""``fastconv.choose_conv_method`` and ``method='auto'``.

* The answer is a method ``convolve`` accepts, and running it gives the direct result.
* ``measure=True`` returns ``(method, {method: seconds})`` with the fastest method.
* Guards: no FFT for inputs with NaN/Inf or for integers float64 FFTs cannot keep exact.
* ``method='auto'`` equals ``method='direct'`` on shapes where each method is chosen.

Expected values come from ``method='direct'``; no test asserts a speed.
"""

import numpy as np
import pytest

import fastconv
from fastconv._api import convolve as api
from fastconv._plan import costmodel as _costmodel
from _helpers import assert_conv_close, fill_for, magnitude_bound, make_array

METHODS = {"direct", "separable", "fft", "im2col"}


def _gaussian(n, sigma):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _rank(rng, shape, r):
    return sum(np.multiply.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
               for _ in range(r))


# Shapes over which the model picks every method (checked below).
CASES = [
    pytest.param((512, 512), lambda rng: rng.random((3, 3)), "same", None, id="small-kernel"),
    pytest.param((256, 256), lambda rng: rng.random((61, 61)), "same", None,
                 id="large-kernel"),
    pytest.param((256, 300), lambda rng: np.outer(_gaussian(31, 5), _gaussian(31, 5)),
                 "same", None, id="gaussian"),
    pytest.param((256, 300), lambda rng: _rank(rng, (41, 41), 2), "full", None, id="rank-2"),
    pytest.param((20000,), lambda rng: rng.random(2000), "full", None, id="1d-long"),
    pytest.param((40, 40, 40), lambda rng: rng.random((15, 15, 15)), "valid", None,
                 id="3d-big"),
    pytest.param((9, 10), lambda rng: rng.random((2, 3)), "full", None, id="tiny"),
    pytest.param((1, 96, 96), lambda rng: rng.random((32, 7, 7)), "same", (1, 2),
                 id="bank-of-kernels"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
@pytest.mark.parametrize("shape,make_kernel,mode,axes", CASES)
def test_auto_equals_direct(shape, make_kernel, mode, axes, dtype, rng):
    a = make_array(rng, shape, dtype)
    b = np.asarray(make_kernel(rng)).astype(dtype)
    method = fastconv.choose_conv_method(a, b, mode, axes=axes)
    assert method in METHODS
    for op in ["convolve", "correlate"]:
        f = getattr(fastconv, op)
        exp = f(a, b, mode, method="direct", axes=axes)
        bound = magnitude_bound(op, a, b, mode, axes)
        assert_conv_close(f(a, b, mode, axes=axes), exp, bound,
                          err_msg=f"{op} auto ({method})", normwise=True)
        assert_conv_close(f(a, b, mode, method=method, axes=axes), exp, bound,
                          err_msg=f"{op} {method}", normwise=True)


def test_cases_cover_every_method(rng):
    chosen = set()
    for case in CASES:
        shape, make_kernel, mode, axes = case.values
        for dtype in ["float32", "float64", "complex64"]:
            a = make_array(rng, shape, dtype)
            kernel = np.asarray(make_kernel(rng)).astype(dtype)
            chosen.add(fastconv.choose_conv_method(a, kernel, mode, axes=axes))
    assert chosen == METHODS


def test_auto_runs_the_chosen_method(rng, monkeypatch):
    # the decision is the model's, and convolve follows it
    a = make_array(rng, (64, 64), "float64")
    b = make_array(rng, (9, 9), "float64")
    for forced in ["direct", "fft"]:
        api._plans.clear()  # a cached plan would skip the choice
        monkeypatch.setattr(_costmodel, "choose", lambda p, forced=forced: (forced, None))
        ran = []
        real_run, real_plan = api.run_method, api.direct.plan
        monkeypatch.setattr(api, "run_method",
                            lambda p, method, terms=None, out=None: ran.append(method)
                            or real_run(p, method, terms, out))
        monkeypatch.setattr(api.direct, "plan", lambda p: ran.append("direct") or real_plan(p))
        fastconv.convolve(a, b)
        assert set(ran) == {forced}
        monkeypatch.undo()


@pytest.mark.parametrize("boundary", ["fill", "reflect", "wrap"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_auto_with_boundaries_and_fill(mode, boundary, rng):
    a = make_array(rng, (200, 210), "float64")
    b = make_array(rng, (41, 41), "float64")
    kw = dict(boundary=boundary, fillvalue=1.5 if boundary == "fill" else 0)
    exp = fastconv.convolve(a, b, mode, method="direct", **kw)
    assert_conv_close(fastconv.convolve(a, b, mode, **kw), exp,
                      magnitude_bound("convolve", a, b, mode, None, **kw), normwise=True)


def test_auto_with_axes_and_batches(rng):
    a = make_array(rng, (3, 120, 130), "float32")
    b = make_array(rng, (3, 25, 25), "float32")
    for axes in [(1, 2), (-2, -1)]:
        exp = fastconv.convolve(a, b, "same", method="direct", axes=axes)
        assert_conv_close(fastconv.convolve(a, b, "same", axes=axes), exp,
                          magnitude_bound("convolve", a, b, "same", axes), normwise=True)


# ------------------------------------------------------------------ measure=True


def test_measure_returns_fastest_with_times(rng):
    a = make_array(rng, (128, 128), "float32")
    b = make_array(rng, (9, 9), "float32")
    method, times = fastconv.choose_conv_method(a, b, "same", measure=True)
    # im2col is a candidate for banks of kernels only
    assert set(times) == {"direct", "fft"}
    bank = make_array(rng, (16, 5, 5), "float32")
    method, times = fastconv.choose_conv_method(a[None], bank, "same", axes=(1, 2),
                                                measure=True)
    assert set(times) == {"direct", "fft", "im2col"} and method == min(times, key=times.get)
    assert method == min(times, key=times.get)
    assert all(isinstance(t, float) and t > 0 for t in times.values())


def test_measure_includes_separable_for_separable_kernels(rng):
    a = make_array(rng, (100, 100), "float64")
    g = _gaussian(15, 3)
    method, times = fastconv.choose_conv_method(a, np.outer(g, g), measure=True)
    assert "separable" in times and method in times


def test_measure_respects_guards():
    a = np.ones((64, 64))
    a[3, 3] = np.nan
    method, times = fastconv.choose_conv_method(a, np.ones((31, 31)), measure=True)
    assert "fft" not in times and method in times


def test_zero_dimensional_inputs():
    assert fastconv.choose_conv_method(np.float64(2), np.float64(3)) == "direct"
    method, times = fastconv.choose_conv_method(2.0, 3.0, measure=True)
    assert method == "direct" and set(times) == {"direct"}


# ------------------------------------------------------------------ guards


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["in1", "in2"])
def test_non_finite_inputs_never_use_fft(bad, where, rng):
    a = make_array(rng, (256, 256), "float32")
    b = make_array(rng, (61, 61), "float32")
    assert fastconv.choose_conv_method(a, b, "same") == "fft"
    (a if where == "in1" else b)[5, 7] = bad
    assert fastconv.choose_conv_method(a, b, "same") != "fft"
    got = fastconv.convolve(a, b, "same")
    exp = fastconv.convolve(a, b, "same", method="direct")
    # the damage stays where the direct method puts it (a bad kernel tap reaches
    # every output; a bad input sample only the outputs whose windows hold it)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(exp))
    if where == "in1":
        assert np.isfinite(got).mean() > 0.9


def test_non_finite_fillvalue_never_uses_fft(rng):
    a = make_array(rng, (256, 256), "float64")
    b = make_array(rng, (61, 61), "float64")
    assert fastconv.choose_conv_method(a, b, "same", fillvalue=1.0) == "fft"
    assert fastconv.choose_conv_method(a, b, "same", fillvalue=np.nan) != "fft"


def test_integers_beyond_float64_exactness_never_use_fft(rng):
    a = rng.integers(-2**40, 2**40, size=(256, 256), dtype=np.int64)
    b = rng.integers(-2**20, 2**20, size=(61, 61), dtype=np.int64)
    assert fastconv.choose_conv_method(a, b, "same") != "fft"
    small_a = rng.integers(-100, 100, size=(256, 256), dtype=np.int64)
    small_b = rng.integers(-100, 100, size=(61, 61), dtype=np.int64)
    assert fastconv.choose_conv_method(small_a, small_b, "same") == "fft"
    for x, y in [(a, b), (small_a, small_b)]:
        np.testing.assert_array_equal(fastconv.convolve(x, y, "same"),
                                      fastconv.convolve(x, y, "same", method="direct"))


@pytest.mark.parametrize("dtype", ["int16", "uint8", "bool", "float16"])
def test_auto_small_types_exact(dtype, rng):
    a = make_array(rng, (200, 200), dtype)
    b = make_array(rng, (45, 45), dtype)
    got = fastconv.convolve(a, b, "same", fillvalue=fill_for(dtype))
    exp = fastconv.convolve(a, b, "same", method="direct", fillvalue=fill_for(dtype))
    assert got.dtype == exp.dtype
    if dtype == "float16":
        assert_conv_close(got, exp, magnitude_bound("convolve", a, b, "same",
                                                    fillvalue=fill_for(dtype)), normwise=True)
    else:
        np.testing.assert_array_equal(got, exp)


# ------------------------------------------------------------------ low rank under auto


def test_auto_uses_low_rank_terms(rng):
    a = make_array(rng, (300, 300), "float64")
    b = _rank(rng, (31, 31), 2)
    assert fastconv.choose_conv_method(a, b, "same") == "separable"
    exp = fastconv.convolve(a, b, "same", method="direct")
    assert_conv_close(fastconv.convolve(a, b, "same"), exp,
                      magnitude_bound("convolve", a, b, "same"), normwise=True)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(mode="middle"), ValueError, "mode"),
        (dict(axes=5), ValueError, "axes|axis"),
        (dict(boundary="zero"), ValueError, "boundary"),
        (dict(workers=0), ValueError, "workers"),
        (dict(workers=1.5), TypeError, "workers"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastconv.choose_conv_method(np.ones((5, 5)), np.ones((3, 3)), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="dimensions"):
        fastconv.choose_conv_method(np.ones((5, 5)), np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        fastconv.choose_conv_method(np.ones((0, 5)), np.ones((3, 3)))
    with pytest.raises(TypeError, match="in1"):
        fastconv.choose_conv_method(np.array(["a"]), np.ones(3))
    with pytest.raises(ValueError, match="valid"):
        fastconv.choose_conv_method(np.ones((5, 3)), np.ones((3, 5)), "valid")


def test_inputs_not_modified(rng):
    a = make_array(rng, (64, 64), "float64")
    b = make_array(rng, (9, 9), "float64")
    a0, b0 = a.copy(), b.copy()
    fastconv.choose_conv_method(a, b, measure=True)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
