"""FFT convolution: ``convolve`` / ``correlate`` with ``method='fft'``.

``method='fft'`` has the semantics of ``method='direct'`` (mode, axes with broadcasting,
boundary and fillvalue, workers, the valid-mode swap, every dtype) and computes with
real/complex FFTs. The expected values always come from ``method='direct'``:

* float / complex results: FFT rounding errors are spread over the whole output, so the
  check is global, ``|fft - direct| <= tol * max(sum |x_ext| |w|)`` (``magnitude_bound``),
  with ``tol`` by result dtype (``FFT_TOL``);
* integer and bool results: exactly equal (fastconv rounds the float64 FFT result, or falls
  back to the direct method when float64 cannot hold the exact answer); overflow wraps
  modulo ``2**bits`` exactly as the direct method does;
* dtype and shape always identical to the direct method's.
"""

import concurrent.futures
import math
import threading
import time

import numpy as np
import pytest
import scipy.fft as scipy_fft

import fastconv
from _helpers import (
    watch_direct_kernel,
    INTEGER_FILL_CASTS,
    METHOD_GRID_SHAPES,
    LAYOUTS,
    conv_axes_of,
    fill_for,
    valid_ok,
    ALL_DTYPES,
    BOUNDARIES,
    MODES,
    make_array,
    magnitude_bound,
    with_layout,
)

OPS = ["convolve", "correlate"]

# global tolerance, relative to max(sum |x_ext| |w|), by result dtype
FFT_TOL = {
    np.dtype("float16"): 2e-2,
    np.dtype("float32"): 2e-5,
    np.dtype("complex64"): 2e-5,
    np.dtype("float64"): 1e-12,
    np.dtype("complex128"): 1e-12,
}

def assert_fft_close(got, exp, bound, err_msg=""):
    """Same dtype and shape; exact for bool/int, global scaled tolerance for floats."""
    got = np.asarray(got)
    exp = np.asarray(exp)
    assert got.dtype == exp.dtype, f"dtype {got.dtype} != {exp.dtype} {err_msg}"
    assert got.shape == exp.shape, f"shape {got.shape} != {exp.shape} {err_msg}"
    if exp.dtype.kind in "biu":
        np.testing.assert_array_equal(got, exp, err_msg=err_msg)
        return
    tol = FFT_TOL[exp.dtype]
    scale = float(np.max(bound)) if np.size(bound) else 0.0
    limit = tol * scale + 1e-300
    err = np.abs(got.astype(np.complex128) - exp.astype(np.complex128))
    worst = float(np.max(err)) if err.size else 0.0
    if not worst <= limit:  # also catches NaN
        idx = np.unravel_index(int(np.nanargmax(err)) if np.any(~np.isnan(err)) else 0,
                               err.shape)
        raise AssertionError(
            f"max |fft - direct| = {worst:.3g} > {tol} * max(bound) = {limit:.3g} "
            f"at {tuple(int(i) for i in idx)}: fft {got[idx]!r} direct {exp[idx]!r} {err_msg}"
        )


def check_fft(op, in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0, **kw):
    """<op>(method='fft') == <op>(method='direct'); crossed valid shapes raise ValueError."""
    f = getattr(fastconv, op)
    a, b = np.asarray(in1), np.asarray(in2)
    kwargs = dict(axes=axes, boundary=boundary, fillvalue=fillvalue, **kw)
    msg = (f"{op} {a.dtype}{a.shape} {b.dtype}{b.shape} mode={mode} axes={axes} "
           f"boundary={boundary} fillvalue={fillvalue} {kw}")
    if mode == "valid" and a.ndim and not valid_ok(a.shape, b.shape, conv_axes_of(axes, a.ndim)):
        with pytest.raises(ValueError, match="in1|in2|valid"):
            f(in1, in2, mode, method="fft", **kwargs)
        return None
    got = f(in1, in2, mode, method="fft", **kwargs)
    exp = f(a, b, mode, method="direct", **kwargs)
    assert isinstance(got, np.ndarray) or np.ndim(got) == 0, msg
    bound = None
    if exp.dtype.kind in "fc":
        bound = magnitude_bound(op, a, b, mode, axes, boundary, fillvalue)
    assert_fft_close(got, exp, bound, err_msg=msg)
    return got


def check_every_mode_and_boundary(a, b, axes=None):
    """check_fft for both ops, every mode and boundary (and a nonzero fill); the results."""
    dtype = np.result_type(a, b)
    results = []
    for boundary in BOUNDARIES:
        for fv in [0, fill_for(dtype)] if boundary == "fill" else [0]:
            for op in OPS:
                for mode in MODES:
                    results.append(
                        check_fft(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fv))
    return [r for r in results if r is not None]


# ======================================================= modes x boundaries x shapes


@pytest.mark.parametrize("s1,s2", METHOD_GRID_SHAPES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_matches_direct_all_modes_boundaries(dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for got in check_every_mode_and_boundary(a, b):
        assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "d1,d2",
    [("int16", "float32"), ("int64", "float32"), ("int8", "complex64"), ("float32", "float64"),
     ("float32", "complex64"), ("uint8", "int8"), ("uint64", "int64"), ("bool", "int8"),
     ("bool", "float32"), ("float16", "float32"), ("float16", "int8"), ("uint32", "int32"),
     ("bool", "complex128"), ("float64", "complex64")],
)
def test_mixed_dtypes(d1, d2, rng):
    for s1, s2 in [((11,), (4,)), ((6, 7), (3, 2)), ((3, 4), (5, 6))]:
        for x, y in [(d1, d2), (d2, d1)]:
            a = make_array(rng, s1, x)
            b = make_array(rng, s2, y)
            rdt = np.result_type(a, b)
            for boundary in ["fill", "reflect", "wrap"]:
                fv = fill_for(rdt) if boundary == "fill" else 0
                for op in OPS:
                    for mode in MODES:
                        got = check_fft(op, a, b, mode, boundary=boundary, fillvalue=fv)
                        if got is not None:
                            assert got.dtype == rdt


# ---------------------------------------------------------------- larger problems

LARGE = [
    pytest.param((2000,), (301,), id="1d-2000_301"),
    pytest.param((997,), (64,), id="1d-prime997_64"),
    pytest.param((60, 70), (31, 31), id="2d-60x70_31x31"),
    pytest.param((33, 17), (40, 9), id="2d-kernel-longer-on-axis0"),
    pytest.param((12, 13, 14), (5, 6, 7), id="3d"),
    pytest.param((30,), (200,), id="1d-kernel-much-larger"),
]


@pytest.mark.parametrize("s1,s2", LARGE)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
def test_large_kernels(dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for boundary in BOUNDARIES:
        fv = fill_for(dtype) if boundary == "fill" else 0
        for mode in MODES:
            check_fft("convolve", a, b, mode, boundary=boundary, fillvalue=fv)
        check_fft("correlate", a, b, "same", boundary=boundary, fillvalue=fv)


def test_large_kernel_float16(rng):
    # float16 result: computed in (at least) float32, rounded once
    a = (rng.standard_normal(500) * 0.1).astype(np.float16)
    b = (rng.standard_normal(80) * 0.1).astype(np.float16)
    for boundary in BOUNDARIES:
        for mode in MODES:
            check_fft("convolve", a, b, mode, boundary=boundary)
    A = (rng.standard_normal((20, 30)) * 0.1).astype(np.float16)
    B = (rng.standard_normal((9, 11)) * 0.1).astype(np.float16)
    for op in OPS:
        for mode in MODES:
            check_fft(op, A, B, mode, boundary="mirror")


def test_constant_kernel_impulse_exact_shape(rng):
    # delta kernel: result is in1 (shifted); fft error stays below the tolerance
    a = make_array(rng, (50, 40), "float64")
    d = np.zeros((7, 5))
    d[3, 2] = 1.0
    for boundary in BOUNDARIES:
        got = fastconv.convolve(a, d, "same", method="fft", boundary=boundary)
        assert got.shape == a.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, a, rtol=0, atol=1e-12 * np.abs(a).max())


# ======================================================= axes and broadcasting

AXES = [
    pytest.param((4, 9), (1, 3), [1], id="2d-ax1"),
    pytest.param((4, 9), (1, 3), 1, id="2d-int-axis"),
    pytest.param((4, 9), (5, 1), [-2], id="2d-ax-2"),
    pytest.param((3, 20), (3, 5), [1], id="2d-batch-of-kernels"),
    pytest.param((1, 20), (4, 5), [1], id="2d-in1-broadcasts"),
    pytest.param((4, 20), (1, 25), [1], id="2d-batch-bigkernel"),
    pytest.param((5, 2, 7), (3, 2, 4), [0, 2], id="3d-ax02-batch"),
    pytest.param((5, 2, 7), (4, 1, 3), [2, 0], id="3d-ax20-bcast"),
    pytest.param((5, 1, 7), (4, 3, 3), (-1, 0), id="3d-ax-10-in1-bcast"),
    pytest.param((6, 5, 4, 3), (2, 5, 1, 2), [0, 3], id="4d-ax03"),
    pytest.param((3, 6, 1), (1, 3, 2), [2, 1], id="3d-len1-convolved"),
    pytest.param((2, 3, 4), (2, 5, 6), [1, 2], id="3d-bigkernel-batch"),
    pytest.param((2, 3, 4), (1, 5, 2), [1, 2], id="3d-crossed"),
    pytest.param((3, 4, 5, 6), (3, 3, 2, 4), [3, 1, 2], id="4d-ax312"),
    pytest.param((3, 4, 5, 6), (1, 4, 5, 2), [3], id="4d-ax3-batch"),
]


@pytest.mark.parametrize("s1,s2,axes", AXES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex64", "int32", "bool"])
def test_axes_and_broadcasting(dtype, s1, s2, axes, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    ca = conv_axes_of(axes, len(s1))
    for boundary in BOUNDARIES:
        fills = [0, fill_for(dtype)] if boundary == "fill" else [0]
        for fv in fills:
            for op in OPS:
                for mode in MODES:
                    got = check_fft(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fv)
                    if got is None:
                        continue
                    for i in range(len(s1)):
                        if i not in ca:
                            assert got.shape[i] == max(s1[i], s2[i])


def test_batch_of_kernels_each_row_its_own(rng):
    # independent of the batching: row r of the result is the 1-D fft result of row r
    a = make_array(rng, (5, 64), "float64")
    ks = make_array(rng, (5, 9), "float64")
    for boundary in BOUNDARIES:
        for mode in MODES:
            got = fastconv.convolve(a, ks, mode, method="fft", axes=1, boundary=boundary)
            bound = magnitude_bound("convolve", a, ks, mode, 1, boundary)
            for r in range(5):
                row = fastconv.convolve(a[r], ks[r], mode, method="direct", boundary=boundary)
                assert_fft_close(got[r], row, bound[r])


def test_axes_equivalent_spellings(rng):
    a = make_array(rng, (6, 5, 7), "float64")
    b = make_array(rng, (3, 1, 4), "float64")
    for mode in MODES:
        x = fastconv.convolve(a, b, mode, method="fft", axes=[0, 2], boundary="reflect")
        y = fastconv.convolve(a, b, mode, method="fft", axes=[2, 0], boundary="reflect")
        z = fastconv.convolve(a, b, mode, method="fft", axes=(-1, -3), boundary="reflect")
        bound = magnitude_bound("convolve", a, b, mode, [0, 2], "reflect")
        assert_fft_close(y, x, bound)
        assert_fft_close(z, x, bound)


# ======================================================= memory layouts


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128", "int16", "uint8"])
def test_layouts(dtype, layout, rng):
    a0 = make_array(rng, (9, 12), dtype)
    b0 = make_array(rng, (4, 3), dtype)
    for which in ["in1", "in2", "both"]:
        a = with_layout(a0, layout) if which in ("in1", "both") else a0
        b = with_layout(b0, layout) if which in ("in2", "both") else b0
        for op in OPS:
            for boundary in ["fill", "wrap", "mirror"]:
                fv = fill_for(dtype) if boundary == "fill" else 0
                for mode in MODES:
                    got = check_fft(op, a, b, mode, boundary=boundary, fillvalue=fv)
                    if layout == "list":  # lists carry no dtype (float64 / int64)
                        continue
                    # same values as with plain C-contiguous inputs
                    ref = getattr(fastconv, op)(a0, b0, mode, method="direct",
                                                boundary=boundary, fillvalue=fv)
                    bound = None
                    if ref.dtype.kind in "fc":
                        bound = magnitude_bound(op, a0, b0, mode, None, boundary, fv)
                    assert_fft_close(got, ref, bound)
                    assert got.dtype == ref.dtype  # native byte order


def test_layout_3d_with_axes(rng):
    a0 = make_array(rng, (6, 5, 8), "float32")
    b0 = make_array(rng, (3, 5, 4), "float32")
    for layout in LAYOUTS[:-1]:
        a, b = with_layout(a0, layout), with_layout(b0, layout)
        for mode in MODES:
            check_fft("correlate", a, b, mode, axes=[0, 2], boundary="nearest")
            check_fft("convolve", a, b, mode, axes=[2, 0], boundary="fill", fillvalue=-1.5)


@pytest.mark.parametrize("dtype", ["float64", "complex64", "int16", "bool"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_inputs_not_modified(dtype, boundary, rng):
    a = make_array(rng, (7, 9), dtype)
    b = make_array(rng, (3, 4), dtype)
    a_copy, b_copy = a.copy(), b.copy()
    for op in OPS:
        for mode in MODES:
            getattr(fastconv, op)(a, b, mode, method="fft", boundary=boundary)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)


# ======================================================= integers: exact

INT_ONLY = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


@pytest.mark.parametrize("dtype", INT_ONLY + ["bool"])
@pytest.mark.parametrize("kind", ["small", "full"])
def test_integers_exact(dtype, kind, rng):
    for s1, s2 in [((50,), (7,)), ((200,), (50,)), ((13, 11), (5, 4)), ((4, 3), (6, 5)),
                   ((3, 4, 5), (2, 3, 2))]:
        a = make_array(rng, s1, dtype, kind=kind)
        b = make_array(rng, s2, dtype, kind=kind)
        for boundary in BOUNDARIES:
            fv = fill_for(dtype) if boundary == "fill" else 0
            for op in OPS:
                for mode in MODES:
                    got = check_fft(op, a, b, mode, boundary=boundary, fillvalue=fv)
                    if got is not None:
                        assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_integer_overflow_wraps_like_direct(dtype, rng):
    # values near the top of the range, big kernels: every sum overflows and must wrap
    # modulo 2**bits exactly as the direct method's does
    info = np.iinfo(dtype)
    for n, m in [(100, 40), (300, 120), (40, 100)]:
        a = rng.integers(info.max - 5, info.max, n, endpoint=True).astype(dtype)
        b = rng.integers(info.max - 5, info.max, m, endpoint=True).astype(dtype)
        for boundary in BOUNDARIES:
            for op in OPS:
                for mode in MODES:
                    check_fft(op, a, b, mode, boundary=boundary, fillvalue=info.max)
        # the sums really do overflow here
        assert int(np.convolve(a.astype(np.int64), b.astype(np.int64)).max()) > info.max
    A = np.full((20, 30), info.max, dtype=dtype)
    B = np.full((9, 11), info.max - 1, dtype=dtype)
    for mode in MODES:
        check_fft("convolve", A, B, mode, boundary="reflect")


def test_int8_near_127_by_hand():
    # 127 * 127 * 50 = 806450 = 0xC4E32 -> low byte 0x32 = 50
    a = np.full(60, 127, dtype=np.int8)
    b = np.full(50, 127, dtype=np.int8)
    got = fastconv.convolve(a, b, "valid", method="fft")
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, np.full(11, 50, dtype=np.int8))
    check_fft("convolve", a, b, "full")


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_int64_beyond_float64_precision(dtype, rng):
    # values near 2**40 with a 50-tap kernel: sums ~2**46 * 50, products need > 53 bits
    a = (2**40 + rng.integers(-1000, 1000, 300)).astype(dtype)
    b = rng.integers(1, 2**10, 50).astype(dtype)
    for boundary in BOUNDARIES:
        for op in OPS:
            for mode in MODES:
                check_fft(op, a, b, mode, boundary=boundary, fillvalue=3)
    # exact against Python integers too (no wrap: the sums fit in 63 bits)
    got = fastconv.convolve(a, b, "full", method="fft")
    exact = np.convolve(a.astype(object), b.astype(object))
    assert got.dtype == np.dtype(dtype)
    assert [int(v) for v in got] == [int(v) for v in exact]
    # both operands near 2**40: products ~2**80 wrap modulo 2**64
    b2 = (2**40 + rng.integers(-1000, 1000, 50)).astype(dtype)
    for mode in MODES:
        check_fft("convolve", a, b2, mode)
        check_fft("correlate", a, b2, mode, boundary="wrap")
    # small in1, a huge fill value: the extension alone needs more than 53 bits
    small = rng.integers(0, 5, 80).astype(dtype)
    big_k = rng.integers(2**19, 2**20, 50).astype(dtype)
    for op in OPS:
        for mode in ["full", "same"]:
            check_fft(op, small, big_k, mode, boundary="fill", fillvalue=2**40 + 7)
    # 2-D
    A = (2**40 + rng.integers(-99, 99, (20, 25))).astype(dtype)
    B = rng.integers(1, 2**12, (7, 8)).astype(dtype)
    for mode in MODES:
        check_fft("convolve", A, B, mode, boundary="symm")


def test_int32_full_range_long_kernel(rng):
    # |sum| up to 2**62 * 64: float64 cannot be exact, result must still equal direct
    info = np.iinfo(np.int32)
    a = rng.integers(info.min, info.max, 500, endpoint=True).astype(np.int32)
    b = rng.integers(info.min, info.max, 64, endpoint=True).astype(np.int32)
    for op in OPS:
        for mode in MODES:
            check_fft(op, a, b, mode)
            check_fft(op, a, b, mode, boundary="wrap")
    # int32 sums that fit in 53 bits but not in int32 (wrap), big kernel
    a = rng.integers(2**20, 2**21, 1000).astype(np.int32)
    b = rng.integers(2**10, 2**11, 300).astype(np.int32)
    for mode in MODES:
        check_fft("convolve", a, b, mode, boundary="nearest")


def test_int16_wide_exact(rng, monkeypatch):
    # full range: exact, by the FFT or by the direct fallback
    a = make_array(rng, (64, 80), "int16", kind="full")
    b = make_array(rng, (15, 17), "int16", kind="full")
    for mode in MODES:
        check_fft("convolve", a, b, mode, boundary="mirror")
        check_fft("correlate", a, b, mode)
    # a large case within the proven bound: the FFT's rounding must be right everywhere
    a = rng.integers(-2**13, 2**13 + 1, (64, 80)).astype(np.int16)
    b = rng.integers(-2**13, 2**13 + 1, (15, 17)).astype(np.int16)
    for mode in MODES:
        for op, boundary in [("convolve", "mirror"), ("correlate", "fill")]:
            exp = getattr(fastconv, op)(a, b, mode, method="direct", boundary=boundary)
            calls = _direct_calls(monkeypatch)
            got = getattr(fastconv, op)(a, b, mode, method="fft", boundary=boundary)
            monkeypatch.undo()
            assert not calls, "the FFT method fell back to the direct method"
            np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize(
    "dtype,fillvalue,cast",
    INTEGER_FILL_CASTS,
)
def test_integer_fillvalue_cast_first(dtype, fillvalue, cast, rng):
    a = make_array(rng, (6, 5), dtype)
    b = make_array(rng, (3, 4), dtype)
    for mode in ["full", "same"]:
        got = fastconv.convolve(a, b, mode, method="fft", fillvalue=fillvalue)
        exp = fastconv.convolve(a, b, mode, method="direct", fillvalue=cast)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize(
    "d1,d2,fillvalue",
    [("int16", "float32", 2.5), ("bool", "int8", 2), ("uint8", "int8", -2),
     ("float32", "complex64", 1j), ("int8", "float16", 0.25), ("bool", "float64", -1.5)],
)
def test_fillvalue_is_cast_to_the_result_dtype(d1, d2, fillvalue):
    # the fill value belongs to the result dtype (np.result_type(in1, in2)), not to in1's
    a = np.ones(3, dtype=d1)
    b = np.ones(2, dtype=d2)
    for op in OPS:
        for mode in ["full", "same"]:
            got = getattr(fastconv, op)(a, b, mode, method="fft", fillvalue=fillvalue)
            exp = getattr(fastconv, op)(a, b, mode, method="direct", fillvalue=fillvalue)
            assert_fft_close(got, exp, magnitude_bound(op, a, b, mode, None, "fill", fillvalue),
                             err_msg=f"{op} {mode}")


def test_bool_is_logical_or_of_and(rng):
    a = rng.random((30, 40)) < 0.05
    b = rng.random((9, 9)) < 0.3
    for boundary in BOUNDARIES:
        for mode in MODES:
            got = check_fft("convolve", a, b, mode, boundary=boundary, fillvalue=False)
            assert got.dtype == np.bool_
    # one True sample in in1, all-True kernel
    x = np.zeros(20, bool)
    x[7] = True
    got = fastconv.convolve(x, np.ones(5, bool), "same", method="fft")
    np.testing.assert_array_equal(got, np.abs(np.arange(20) - 7) <= 2)


# ======================================================= complex, 0-d, valid swap

@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_correlate_conjugates(dtype, rng):
    a = make_array(rng, (8, 11), dtype)
    b = make_array(rng, (3, 4), dtype)
    for boundary in BOUNDARIES:
        fv = fill_for(dtype) if boundary == "fill" else 0
        for mode in MODES:
            got = fastconv.correlate(a, b, mode, method="fft", boundary=boundary, fillvalue=fv)
            flipped = np.conj(b[::-1, ::-1])
            exp = fastconv.convolve(a, flipped, mode, method="direct", boundary=boundary,
                                    fillvalue=fv)
            bound = magnitude_bound("convolve", a, flipped, mode, None, boundary, fv)
            assert_fft_close(got, exp, bound)
            # correlate(a, b) != convolve(a, flip(b)) when b is complex
            no_conj = fastconv.convolve(a, b[::-1, ::-1], mode, method="fft",
                                        boundary=boundary, fillvalue=fv)
            assert np.max(np.abs(no_conj - got)) > 1e-2 * np.max(bound)


def test_real_and_complex_mixed_correlate(rng):
    a = make_array(rng, (40,), "float64")
    b = make_array(rng, (7,), "complex128")
    for mode in MODES:
        check_fft("correlate", a, b, mode)
        check_fft("correlate", b, a, mode)
        check_fft("convolve", a, b, mode, boundary="reflect")
    got = fastconv.correlate([1.0, 2.0, 3.0], [1j], method="fft")
    np.testing.assert_allclose(got, [-1j, -2j, -3j], rtol=0, atol=1e-12)


def test_zero_d_inputs():
    for op in OPS:
        for x, y in [(2.0, 3.0), (np.float32(2), np.float32(-1.5)), (2, 3j), (1 + 1j, 2 - 1j),
                     (np.int8(100), np.int8(3)), (True, True)]:
            got = getattr(fastconv, op)(x, y, method="fft")
            exp = getattr(fastconv, op)(x, y, method="direct")
            assert np.ndim(got) == 0
            assert np.asarray(got).dtype == np.asarray(exp).dtype
            assert got == exp
    assert fastconv.correlate(2, 3j, method="fft") == -6j
    with pytest.raises(ValueError):
        fastconv.convolve(np.float64(1.0), np.ones(3), method="fft")


@pytest.mark.parametrize("op", OPS)
def test_valid_mode_swap(op, rng):
    for s1, s2, axes in [((3,), (9,), None), ((4, 5), (6, 9), None), ((4, 5), (4, 5), None),
                         ((2, 3, 4), (2, 7, 8), [1, 2]), ((5, 3), (1, 10), [1])]:
        for dtype in ["float64", "complex64", "int16"]:
            a = make_array(rng, s1, dtype)
            b = make_array(rng, s2, dtype)
            for boundary in ["fill", "wrap"]:
                got = check_fft(op, a, b, "valid", axes=axes, boundary=boundary, fillvalue=1)
                assert got is not None


@pytest.mark.parametrize("op", OPS)
def test_valid_mode_crossed_shapes_raise(op):
    for s1, s2, axes in [((5, 8), (6, 3), None), ((2, 3, 4), (1, 5, 2), [1, 2]),
                         ((4, 9, 2), (5, 3, 2), [0, 1])]:
        with pytest.raises(ValueError, match="in1|in2|valid"):
            getattr(fastconv, op)(np.ones(s1), np.ones(s2), "valid", method="fft", axes=axes)
        with pytest.raises(ValueError, match="in1|in2|valid"):
            getattr(fastconv, op)(np.ones(s1), np.ones(s2), "valid", method="direct", axes=axes)


# ======================================================= NaN / Inf

def _correlation_form(n, k, mode):
    """Output length and start offset of one axis (out[i] reads x[i + s : i + s + k])."""
    if mode == "full":
        return n + k - 1, -(k - 1)
    if mode == "same":
        return n, -(k // 2)
    return n - k + 1, 0


def _outer_and(masks):
    """Boolean array true where every per-axis mask is."""
    out = np.ones([len(m) for m in masks], bool)
    for d, m in enumerate(masks):
        out &= m.reshape([-1 if e == d else 1 for e in range(len(masks))])
    return out


def _window_mask(shape, kshape, mode, position):
    """Outputs whose window holds the input sample at `position`."""
    masks = []
    for n, k, p in zip(shape, kshape, position):
        m, s = _correlation_form(n, k, mode)
        i = np.arange(m)
        masks.append((i + s <= p) & (p < i + s + k))
    return _outer_and(masks)


def _fft_block_mask(shape, kshape, mode, positions, dtype, fill_is_zero=True):
    """Outputs that the FFT method's blocks holding any of the source samples at
    `positions` (tuples of input indices, possibly outside the input) add into.

    A non-finite sample makes its block's spectrum, hence the whole output of
    that block (``block + k - 1`` samples per axis), non-finite; the other
    blocks stay finite.
    """
    ms = [_correlation_form(n, k, mode) for n, k in zip(shape, kshape)]
    plan = _fft.plan_for(list(shape), list(kshape), [m for m, _ in ms], [s for _, s in ms],
                         "fill", fill_is_zero, np.dtype(dtype))
    mask = np.zeros([m for m, _ in ms], bool)
    for position in positions:
        per_axis = []
        for d, (p, k, (m, _)) in enumerate(zip(position, kshape, ms)):
            q = p - plan.source_start[d]
            B, o = plan.block[d], plan.offset[d]
            i = np.arange(m)
            hit = 0 <= q < plan.source_len[d]
            j = q // B
            per_axis.append(hit & (j * B <= i + o) & (i + o < j * B + B + k - 1))
        mask |= _outer_and(per_axis)
    return mask


@pytest.fixture(params=[None, 7], ids=["one-block", "blocks-of-7"])
def max_block(request, monkeypatch):
    """Plain FFT convolution, or overlap-add with blocks of at most 7 samples."""
    monkeypatch.setattr(_fft, "_MAX_BLOCK", request.param)
    return request.param


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "complex128"])
@pytest.mark.parametrize("where", ["in1", "in2", "fill"])
def test_nan_input_gives_nan_where_documented(dtype, where, max_block, rng):
    # method='fft': a NaN in in2 spreads over the whole output, one in in1 (or in the
    # fill) over the outputs of the blocks that read it; method='direct': exactly the
    # outputs whose windows hold it
    a = make_array(rng, (30,), dtype)
    b = make_array(rng, (5,), dtype)
    fv = 0
    if where == "in1":
        a[10] = np.nan
    elif where == "in2":
        b[2] = np.nan
    else:
        fv = np.nan
    for op in OPS:
        for mode in ["full", "same"]:
            m, s = _correlation_form(30, 5, mode)
            got = getattr(fastconv, op)(a, b, mode, method="fft", fillvalue=fv)
            direct = getattr(fastconv, op)(a, b, mode, method="direct", fillvalue=fv)
            assert got.dtype == np.dtype(dtype)
            if where == "in2":
                expected, in_window = np.ones(m, bool), np.ones(m, bool)
            elif where == "in1":
                expected = _fft_block_mask((30,), (5,), mode, [(10,)], dtype)
                in_window = _window_mask((30,), (5,), mode, (10,))
            else:
                outside = [(q,) for q in range(s, s + m + 4) if not 0 <= q < 30]
                expected = _fft_block_mask((30,), (5,), mode, outside, dtype, False)
                in_window = np.logical_or.reduce([_window_mask((30,), (5,), mode, q)
                                                  for q in outside])
            assert in_window.any() and not (in_window & ~expected).any()
            np.testing.assert_array_equal(np.isnan(got), expected, err_msg=f"{op} {mode}")
            np.testing.assert_array_equal(np.isnan(direct), in_window, err_msg=f"{op} {mode}")
    if where == "in1":
        for boundary in BOUNDARIES:
            got = fastconv.convolve(a, b, "valid", method="fft", boundary=boundary)
            np.testing.assert_array_equal(
                np.isnan(got), _fft_block_mask((30,), (5,), "valid", [(10,)], dtype))
            direct = fastconv.convolve(a, b, "valid", method="direct", boundary=boundary)
            np.testing.assert_array_equal(np.isnan(direct),
                                          _window_mask((30,), (5,), "valid", (10,)))
        A = make_array(rng, (8, 9), dtype)
        A[3, 4] = np.nan
        K = make_array(rng, (3, 3), dtype)
        got = fastconv.convolve(A, K, "same", method="fft")
        np.testing.assert_array_equal(
            np.isnan(got), _fft_block_mask((8, 9), (3, 3), "same", [(3, 4)], dtype))
        direct = fastconv.convolve(A, K, "same", method="direct")
        np.testing.assert_array_equal(np.isnan(direct),
                                      _window_mask((8, 9), (3, 3), "same", (3, 4)))


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex64"])
def test_inf_input_no_error(dtype, max_block, rng):
    # an infinity makes the outputs of the blocks that read it non-finite (FFT), or
    # those whose windows hold it (direct); every other output stays finite
    a = make_array(rng, (30,), dtype)
    b = make_array(rng, (5,), dtype)
    a[4] = np.inf
    for op in OPS:
        for mode in MODES:
            got = getattr(fastconv, op)(a, b, mode, method="fft")
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(~np.isfinite(got),
                                          _fft_block_mask((30,), (5,), mode, [(4,)], dtype))
            direct = getattr(fastconv, op)(a, b, mode, method="direct")
            np.testing.assert_array_equal(~np.isfinite(direct),
                                          _window_mask((30,), (5,), mode, (4,)))


# ======================================================= workers

@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "int16", "int64"])
def test_workers_agree(dtype, rng):
    for s1, s2, axes in [((300, 200), (15, 9), None), ((16, 500), (16, 33), [1]),
                         ((40, 30, 20), (5, 4, 3), None)]:
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        for mode, boundary in [("full", "fill"), ("same", "reflect"), ("valid", "fill")]:
            kw = dict(axes=axes, boundary=boundary)
            r1 = fastconv.convolve(a, b, mode, method="fft", workers=1, **kw)
            bound = None
            if r1.dtype.kind in "fc":
                bound = magnitude_bound("convolve", a, b, mode, axes, boundary)
            for w in [2, -1, None]:
                rw = fastconv.convolve(a, b, mode, method="fft", workers=w, **kw)
                assert_fft_close(rw, r1, bound, err_msg=f"workers={w}")
            assert_fft_close(
                r1, fastconv.convolve(a, b, mode, method="direct", **kw), bound)


# ======================================================= method argument

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("method", ["FFT", "Fft", "fft ", "ffts", "", None, 3, "oa"])
def test_bad_method_still_rejected(op, method):
    with pytest.raises(ValueError, match="method"):
        getattr(fastconv, op)(np.ones((3, 4)), np.ones((2, 2)), method=method)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("method", ["auto", "direct", "separable", "fft", "im2col"])
def test_good_methods(op, method):
    r = getattr(fastconv, op)(np.arange(12.0).reshape(3, 4), np.ones((2, 2)), "valid",
                              method=method)
    assert r.shape == (2, 3)
    np.testing.assert_allclose(r, [[10, 14, 18], [26, 30, 34]], rtol=0, atol=1e-12)


def test_method_fft_positional(rng):
    a = make_array(rng, (20,), "float64")
    b = make_array(rng, (4,), "float64")
    got = fastconv.convolve(a, b, "same", "fft")
    exp = fastconv.convolve(a, b, "same", "direct")
    assert_fft_close(got, exp, magnitude_bound("convolve", a, b, "same"))


# ======================================================= seeded random sweep

def test_random_sweep(rng):
    dtypes = ["float64", "float32", "complex128", "complex64", "int32", "int8", "bool",
              "float16", "uint16"]
    for _ in range(150):
        ndim = int(rng.integers(1, 5))
        s1 = [int(rng.integers(1, 9 if ndim > 2 else 25)) for _ in range(ndim)]
        s2 = [int(rng.integers(1, 9 if ndim > 2 else 25)) for _ in range(ndim)]
        if rng.random() < 0.5:
            k = int(rng.integers(1, ndim + 1))
            axes = sorted(rng.choice(ndim, k, replace=False).tolist())
            if rng.random() < 0.5:
                axes = axes[::-1]
        else:
            axes = None
        for ax in range(ndim):  # broadcast axes: equal or 1
            if axes is not None and ax not in axes:
                r = rng.random()
                s2[ax] = 1 if r < 0.4 else s1[ax]
                if r > 0.8:
                    s1[ax], s2[ax] = 1, s1[ax]
        dtype = dtypes[int(rng.integers(len(dtypes)))]
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        boundary = BOUNDARIES[int(rng.integers(len(BOUNDARIES)))]
        fv = fill_for(dtype) if boundary == "fill" and rng.random() < 0.5 else 0
        op = OPS[int(rng.integers(2))]
        mode = MODES[int(rng.integers(3))]
        check_fft(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fv)


def test_fft_method_does_not_run_the_direct_kernel(monkeypatch):
    # method='fft' must really use FFTs for floats (a silent fallback to the
    # direct kernel would pass every accuracy test above)
    watch_direct_kernel(monkeypatch, refuse=True)
    x = np.random.default_rng(5).standard_normal((40, 50))
    out = fastconv.convolve(x, np.ones((5, 5)), "same", method="fft", boundary="reflect")
    assert out.shape == (40, 50)
    with pytest.raises(AssertionError, match="direct kernel ran"):
        fastconv.convolve(x, np.ones((5, 5)), "same", method="direct")


# ======================================================= overlap-add (blocks)
#
# fft_plan picks one transform for small problems, so the block machinery is
# exercised by capping the block length (fastconv._methods.fft._MAX_BLOCK) and the
# batch budget (_CHUNK_ELEMENTS, so one batch element's blocks are split
# over several batches). `blocked` records every plan used, so each test
# can check that it really ran several blocks (and partial last blocks).

from fastconv._kernels import _direct  # noqa: E402
from fastconv._methods import fft as _fft  # noqa: E402
from _reference import reference_convolve, reference_correlate  # noqa: E402


@pytest.fixture
def blocked(monkeypatch):
    plans = []
    real_plan = _fft.fft_plan

    def recording_plan(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        plans.append(plan)
        return plan

    def setup(max_block, chunk_elements=1 << 20):
        monkeypatch.setattr(_fft, "_MAX_BLOCK", max_block)
        monkeypatch.setattr(_fft, "_CHUNK_ELEMENTS", chunk_elements)
        monkeypatch.setattr(_fft, "fft_plan", recording_plan)
        return plans

    return setup


def _assert_blocks_ran(plans, partial=True):
    assert plans, "method='fft' did not run"
    assert max(p.nblocks for p in plans) > 1
    if partial:
        assert any(N % B for p in plans for N, B in zip(p.source_len, p.block) if B)


BLOCK_SHAPES = [
    pytest.param((23,), (4,), None, id="1d"),
    pytest.param((3, 17), (3, 5), [1], id="1d-batch-of-kernels"),
    pytest.param((13, 11), (4, 3), None, id="2d"),
    pytest.param((4, 12, 9), (1, 3, 4), [1, 2], id="2d-batch-bcast"),
    pytest.param((7, 6, 9), (3, 2, 4), None, id="3d"),
    pytest.param((9, 2, 10), (2, 1, 3), [2, 0], id="2d-axes20-bcast"),
]


@pytest.mark.parametrize("s1,s2,axes", BLOCK_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex64", "complex128", "int16",
                                   "bool", "float16"])
def test_overlap_add_matches_direct(blocked, dtype, s1, s2, axes, rng):
    plans = blocked(3, chunk_elements=64)
    results = check_every_mode_and_boundary(make_array(rng, s1, dtype),
                                            make_array(rng, s2, dtype), axes)
    assert all(r.dtype == np.dtype(dtype) for r in results)
    _assert_blocks_ran(plans)


@pytest.mark.parametrize("max_block", [1, 2, 5])
def test_overlap_add_matches_reference(blocked, max_block, rng):
    # the independent reference implementation, not only method='direct'
    plans = blocked(max_block, chunk_elements=128)
    for s1, s2, axes, dtype in [((31,), (6,), None, "float64"), ((9, 14), (4, 5), None,
                                "complex128"), ((2, 8, 7), (2, 3, 3), [1, 2], "float64")]:
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        for boundary, fv in [("fill", 0), ("fill", -1.5), ("reflect", 0), ("wrap", 0),
                             ("mirror", 0), ("nearest", 0), ("symm", 0)]:
            for op, ref in [("convolve", reference_convolve),
                            ("correlate", reference_correlate)]:
                for mode in MODES:
                    got = getattr(fastconv, op)(a, b, mode, method="fft", axes=axes,
                                                boundary=boundary, fillvalue=fv)
                    exp = ref(a, b, mode, axes=axes, boundary=boundary, fillvalue=fv)
                    bound = magnitude_bound(op, a, b, mode, axes, boundary, fv)
                    assert_fft_close(got, exp, bound, err_msg=f"{op} {mode} {boundary}")
    _assert_blocks_ran(plans, partial=max_block > 1)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int32", "int64"])
def test_overlap_add_integers_exact(blocked, dtype, rng):
    plans = blocked(4, chunk_elements=100)
    for kind in ["small", "full"]:  # 'full' int32/int64 ranges fall back to direct
        a = make_array(rng, (40,), dtype, kind=kind)
        b = make_array(rng, (6,), dtype, kind=kind)
        A = make_array(rng, (11, 9), dtype, kind=kind)
        B = make_array(rng, (3, 4), dtype, kind=kind)
        for boundary in ["fill", "wrap", "mirror"]:
            fv = fill_for(dtype) if boundary == "fill" else 0
            for mode in MODES:
                check_fft("convolve", a, b, mode, boundary=boundary, fillvalue=fv)
                check_fft("correlate", A, B, mode, boundary=boundary, fillvalue=fv)
    _assert_blocks_ran(plans)


@pytest.mark.parametrize("layout", LAYOUTS[:-1])
def test_overlap_add_layouts(blocked, layout, rng):
    plans = blocked(3, chunk_elements=64)
    a0 = make_array(rng, (10, 12, 3), "float64")
    b0 = make_array(rng, (4, 3, 3), "float64")
    a, b = with_layout(a0, layout), with_layout(b0, layout)
    a_copy, b_copy = np.array(a, copy=True), np.array(b, copy=True)
    for mode in MODES:
        for boundary in ["fill", "reflect"]:
            got = fastconv.correlate(a, b, mode, method="fft", axes=[0, 1], boundary=boundary,
                                     fillvalue=0.5)
            exp = fastconv.correlate(a0, b0, mode, method="direct", axes=[0, 1],
                                     boundary=boundary, fillvalue=0.5)
            bound = magnitude_bound("correlate", a0, b0, mode, [0, 1], boundary, 0.5)
            assert_fft_close(got, exp, bound)
            assert got.flags.c_contiguous
    np.testing.assert_array_equal(a, a_copy)  # inputs never modified
    np.testing.assert_array_equal(b, b_copy)
    _assert_blocks_ran(plans)


def test_overlap_add_inputs_not_modified(blocked, rng):
    # one batch element whose spectra are multiplied in place, and a
    # broadcast input whose spectra feed several kernels
    blocked(4, chunk_elements=64)
    for s1, s2 in [((50,), (7,)), ((1, 40), (3, 5)), ((3, 40), (3, 5))]:
        a = make_array(rng, s1, "float32")
        b = make_array(rng, s2, "float32")
        a.flags.writeable = False
        b.flags.writeable = False
        a_copy, b_copy = a.copy(), b.copy()
        for mode in MODES:
            fastconv.convolve(a, b, mode, method="fft", axes=-1, boundary="wrap")
            fastconv.convolve(a, b, mode, method="fft", axes=-1)
        np.testing.assert_array_equal(a, a_copy)
        np.testing.assert_array_equal(b, b_copy)


def test_overlap_add_workers_independent(blocked, rng):
    plans = blocked(None, chunk_elements=1 << 12)
    a = make_array(rng, (200_000,), "float64")
    b = make_array(rng, (300,), "float64")
    A = make_array(rng, (3, 400, 300), "complex64")
    B = make_array(rng, (1, 9, 33), "complex64")
    for x, w, axes in [(a, b, None), (A, B, [1, 2])]:
        r1 = fastconv.convolve(x, w, "same", method="fft", workers=1, axes=axes)
        for workers in [2, 3, -1]:
            rw = fastconv.convolve(x, w, "same", method="fft", workers=workers, axes=axes)
            np.testing.assert_array_equal(rw, r1)
    assert plans[0].nblocks > 1  # chosen by the cost model, not forced


def test_overlap_add_nan_stays_in_its_blocks(blocked, rng):
    # a NaN in in1 spreads over the outputs of the blocks that read it (the
    # whole output with one transform), never further; a NaN in in2 reaches
    # every output
    plans = blocked(8)
    a = make_array(rng, (200,), "float64")
    b = make_array(rng, (5,), "float64")
    a[100] = np.nan
    got = fastconv.convolve(a, b, "same", method="fft")
    assert np.isnan(got[98:103]).all()
    finite = np.isfinite(got)
    assert finite[:80].all() and finite[120:].all()
    exp = fastconv.convolve(a, b, "same", method="direct")
    np.testing.assert_allclose(got[finite], exp[finite], rtol=0, atol=1e-12)
    b[2] = np.nan
    assert np.isnan(fastconv.convolve(make_array(rng, (200,), "float64"), b, "same",
                                      method="fft")).all()
    _assert_blocks_ran(plans, partial=False)


def test_long_signal_memory_stays_near_linear(rng):
    # 2e6 samples * 1e3 taps: blocks are transformed a batch at a time, so the
    # peak is the input, the output and one bounded batch, not several full
    # length transforms
    import tracemalloc

    x = rng.standard_normal(2_000_000)
    k = rng.standard_normal(1000)
    tracemalloc.start()
    try:
        out = fastconv.convolve(x, k, "same", method="fft", workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # (one 2e6-point transform peaks near 5x the input: 81 MB here, this 33 MB)
    assert peak < out.nbytes + 3 * 8 * _fft._CHUNK_ELEMENTS
    np.testing.assert_allclose(out[5000:5010], np.convolve(x[4000:6010], k, "valid")[500:510],
                               rtol=0, atol=1e-9)


# ======================================================= the plan


PLAN_CASES = [
    ([512, 512], [101, 101], [512, 512], [-50, -50]),  # 'same'
    ([64] * 3, [31] * 3, [94] * 3, [-30] * 3),  # 'full'
    ([1_000_000], [10_000], [1_000_000], [-5000]),
    ([10_000_000], [1000], [10_000_000], [-500]),
    ([5000, 37], [40, 37], [4961, 1], [0, 0]),  # 'valid'
    ([4], [9], [4], [-4]),  # kernel longer than the input
    ([1], [1], [1], [0]),
]


@pytest.mark.parametrize("n,k,m,s", PLAN_CASES)
@pytest.mark.parametrize("bname,fill_is_zero", [("fill", True), ("fill", False),
                                                ("reflect", True), ("wrap", True)])
@pytest.mark.parametrize("complex_work", [False, True])
def test_plan_invariants(n, k, m, s, bname, fill_is_zero, complex_work):
    plan = _fft.fft_plan(n, k, m, s, bname, fill_is_zero, complex_work)
    assert plan.real is (not complex_work)
    reads_outside = any(sd < 0 or sd + md + kd - 1 > nd for nd, kd, md, sd in zip(n, k, m, s))
    assert plan.extend is (reads_outside and not (bname == "fill" and fill_is_zero))
    assert plan.nblocks == int(np.prod(plan.blocks)) >= 1
    assert plan.cost > 0
    for d, (nd, kd, md, sd) in enumerate(zip(n, k, m, s)):
        L, B, nb, N = plan.transform[d], plan.block[d], plan.blocks[d], plan.source_len[d]
        assert scipy_fft.next_fast_len(L, real=not complex_work) == L
        assert 1 <= B and B + kd - 1 <= L  # no circular wrap inside a block
        assert (nb - 1) * B < N <= nb * B  # the blocks cover the source, none is empty
        # the output is a slice of the source's linear convolution
        assert plan.offset[d] >= 0 and plan.offset[d] + md <= N + kd - 1
        p = plan.source_start[d]
        if not plan.extend:  # the source is a slice of the input
            assert 0 <= p and p + N <= nd
        assert plan.offset[d] == sd + kd - 1 - p


def test_plan_choices():
    one = _fft.fft_plan([64] * 3, [31] * 3, [94] * 3, [-30] * 3, "fill", True, False)
    assert one.nblocks == 1 and one.transform == (96, 96, 96)
    long = _fft.fft_plan([10_000_000], [1000], [10_000_000], [-500], "fill", True, False)
    assert long.nblocks > 100 and long.transform[0] < 1 << 16
    # a 'valid' output reads only what it needs: no extension, source clipped
    v = _fft.fft_plan([100], [10], [91], [0], "reflect", True, False)
    assert not v.extend and v.source_len == (100,) and v.offset == (9,)
    same_small = _fft.fft_plan([100], [10], [100], [-5], "fill", True, False)
    assert same_small.source_start == (0,) and same_small.offset == (4,)


def test_plan_used_by_correlate_fft(blocked, rng):
    plans = blocked(7)
    x = make_array(rng, (60, 50), "float32")
    fastconv.correlate(x, make_array(rng, (5, 4), "float32"), "same", method="fft",
                       boundary="nearest")
    (plan,) = plans
    # extended source: m + k - 1 = (64, 53) samples in blocks of 7
    assert plan.block == (7, 7) and plan.blocks == (10, 8) and plan.extend
    assert plan.transform == tuple(scipy_fft.next_fast_len(7 + kd - 1, real=True)
                                   for kd in (5, 4))


# ------------------------------------------------ public scipy.fft path, scratch memory


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "int16"])
@pytest.mark.parametrize("s1,s2,mode", [((40, 50), (9, 31), "same"), ((3000,), (101,), "full"),
                                        ((12, 14, 10), (5, 7, 3), "valid")])
def test_public_scipy_fft_path_gives_the_same_results(dtype, s1, s2, mode, rng, monkeypatch):
    # without the pocketfft binding's output arrays the public functions are used
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for op in ["convolve", "correlate"]:
        with_binding = getattr(fastconv, op)(a, b, mode, method="fft", boundary="reflect")
        monkeypatch.setattr(_fft, "_pocketfft", None)
        public = getattr(fastconv, op)(a, b, mode, method="fft", boundary="reflect")
        monkeypatch.undo()
        check_fft(op, a, b, mode, boundary="reflect")
        assert_fft_close(public, with_binding,
                         magnitude_bound(op, a, b, mode, None, "reflect") if dtype[0] in "fc"
                         else None)


def test_scratch_memory_is_given_back(rng):
    from fastconv._methods.workspace import scratch

    a = make_array(rng, (300, 200), "float32")
    b = make_array(rng, (41, 41), "float32")
    fastconv.convolve(a, b, "same", method="fft")
    held = sum(buf.nbytes for buf in scratch._free)
    for _ in range(3):
        fastconv.convolve(a, b, "same", method="fft")
    # the same buffers serve every call: the pool neither grows nor lends them out
    assert sum(buf.nbytes for buf in scratch._free) == held


# ======================================================= extreme integer fill values

INTEGER_RESULT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                         "uint64", "bool"]


def _extreme_fills(dtype):
    """Fill values at and beyond the range of integer `dtype` (cast as the direct method does)."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.iinfo(np.uint8)
    return [int(info.min), int(info.max), 2**63, 2**64 - 1, -1, -2**63, -(2**63) + 1]


@pytest.mark.parametrize("dtype", INTEGER_RESULT_DTYPES)
def test_extreme_integer_fill_is_exact_for_every_method(dtype):
    # fills beyond int64 (uint64's upper half) used to overflow the FFT path's int64
    # extension; every method must give the direct method's wrapped result
    one_d = (np.arange(10).astype(dtype), np.ones(3, dtype))
    two_d = ((np.arange(42) % 5).reshape(7, 6).astype(dtype), np.ones((3, 2), dtype))
    for fill in _extreme_fills(dtype):
        for a, b in [one_d, two_d]:
            methods = ["fft", "im2col", "auto"] + (["separable"] if a.ndim == 2 else [])
            for op in OPS:
                for mode in ["full", "same"]:
                    exp = getattr(fastconv, op)(a, b, mode, method="direct", fillvalue=fill)
                    for method in methods:
                        got = getattr(fastconv, op)(a, b, mode, method=method, fillvalue=fill)
                        assert got.dtype == exp.dtype
                        np.testing.assert_array_equal(
                            got, exp, err_msg=f"{op} {mode} {method} fill={fill}")


# ======================================================= pocketfft probe, thread pool


def test_probe_rejects_a_binding_whose_c2c_changed(monkeypatch):
    # complex FFTs call c2c: a changed signature must make the probe fall back to the
    # public scipy.fft rather than let complex convolutions raise
    binding = _fft._probe_pocketfft()
    if binding is None:
        pytest.skip("this SciPy has no usable pocketfft binding")

    def c2c(a, axes, forward):  # another signature
        raise AssertionError("not reached")

    monkeypatch.setattr(binding, "c2c", c2c)
    assert _fft._probe_pocketfft() is None
    monkeypatch.undo()  # scipy.fft's public functions call the binding too
    monkeypatch.setattr(_fft, "_pocketfft", None)
    a = np.arange(30.0) * (1 + 1j)
    b = np.array([1.0, 2j, -1.0])
    np.testing.assert_allclose(fastconv.convolve(a, b, method="fft"),
                               fastconv.convolve(a, b, method="direct"), rtol=1e-13, atol=1e-12)


def _fft_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fastconv-fft")]


def test_replaced_thread_pools_are_shut_down(monkeypatch):
    # every pool stays referenced here, as by a call still using it: only a
    # shutdown lets its threads go
    pools = []

    class Recorded(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(_fft, "_pool", None)
    monkeypatch.setattr(_fft, "_pool_size", 0)
    nelements = 16 * _fft._MIN_ELEMENTS_PER_THREAD
    for nthreads in list(range(2, 12)) * 2:
        _fft._in_parts(lambda part, nparts: None, nelements, nthreads)
    assert len(pools) == 10
    deadline = time.monotonic() + 10
    while len(_fft_threads()) > _fft._pool_size and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_fft_threads()) <= _fft._pool_size
    for pool in pools:
        pool.shutdown()


@pytest.mark.parametrize("failing_part", [0, 1])
def test_failing_part_waits_for_the_others(failing_part):
    # scratch buffers go back to the pool when an exception leaves correlate_fft:
    # no part may still be writing into them then
    finished = []

    def fn(part, nparts):
        if part == failing_part:
            raise RuntimeError("boom")
        if part:  # the pool's parts are still busy when the calling thread's part ends
            time.sleep(0.2)
        finished.append(part)

    nparts = 3
    with pytest.raises(RuntimeError, match="boom"):
        _fft._in_parts(fn, nparts * _fft._MIN_ELEMENTS_PER_THREAD, nparts)
    assert sorted(finished) == [p for p in range(nparts) if p != failing_part]


# ======================================================= integer exactness bound


def _direct_calls(monkeypatch):
    return watch_direct_kernel(monkeypatch)


def test_exactness_bound_scales_with_the_kernels_1_norm(monkeypatch):
    # A constant kernel has ||v||_1 = k but ||v||_2 = sqrt(k): its spectrum is one
    # peak of height ||x||_1 ||v||_1, and the rounding errors scale with it. A bound
    # in 2-norms only (8 eps log2(N) ||x||_2 ||v||_2 < 1/2) accepts these inputs.
    n = k = 4096
    plan = _fft.plan_for([n], [k], [n + k - 1], [-(k - 1)], "fill", True, np.dtype(np.int64))
    nfft = math.prod(plan.transform)
    eps = np.finfo(np.float64).eps
    M = int(0.5 / (8 * eps * math.log2(nfft) * math.sqrt(n) * math.sqrt(k)))
    x = np.full(n, M, np.int64)
    v = np.ones(k, np.int64)
    assert 8 * eps * math.log2(nfft) * np.linalg.norm(x) * np.linalg.norm(v) < 0.5
    assert not _fft.exact_bound_holds(_fft.norms(x), _fft.norms(v), plan, [k])
    calls = _direct_calls(monkeypatch)
    got = fastconv.convolve(x, v, method="fft")
    assert calls, "the FFT method did not fall back to the direct method"
    np.testing.assert_array_equal(got, M * np.convolve(np.ones(n, np.int64), v))
    assert fastconv.choose_conv_method(x, v) != "fft"


def test_exactness_bound_accepts_small_integers(monkeypatch, rng):
    # the bound still lets typical 8-bit data through the FFT, and those results are exact
    a = rng.integers(0, 256, (300, 280)).astype(np.uint8)
    b = rng.integers(-128, 128, (41, 37)).astype(np.int8)
    calls = _direct_calls(monkeypatch)
    got = fastconv.convolve(a, b, "same", method="fft")
    assert not calls
    monkeypatch.undo()
    np.testing.assert_array_equal(got, fastconv.convolve(a, b, "same", method="direct"))
