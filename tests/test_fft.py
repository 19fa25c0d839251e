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

import numpy as np
import pytest

import fastconv
from _helpers import (
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


# ======================================================= modes x boundaries x shapes

SHAPES = [
    pytest.param((10,), (3,), id="1d-10_3"),
    pytest.param((9,), (4,), id="1d-9_4even"),
    pytest.param((1,), (1,), id="1d-1_1"),
    pytest.param((4,), (9,), id="1d-bigkernel"),
    pytest.param((7, 6), (3, 2), id="2d-7x6_3x2"),
    pytest.param((5, 4), (6, 7), id="2d-bigkernel"),
    pytest.param((5, 8), (6, 3), id="2d-crossed"),
    pytest.param((4, 5, 6), (2, 3, 3), id="3d"),
    pytest.param((3, 4, 2, 5), (2, 1, 2, 3), id="4d"),
]


@pytest.mark.parametrize("s1,s2", SHAPES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_matches_direct_all_modes_boundaries(dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for boundary in BOUNDARIES:
        fills = [0, fill_for(dtype)] if boundary == "fill" else [0]
        for fv in fills:
            for op in OPS:
                for mode in MODES:
                    got = check_fft(op, a, b, mode, boundary=boundary, fillvalue=fv)
                    if got is not None:
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


def test_int16_wide_exact(rng):
    # a large exact-in-float64 case: rounding of the FFT result must be correct everywhere
    a = make_array(rng, (64, 80), "int16", kind="full")
    b = make_array(rng, (15, 17), "int16", kind="full")
    for mode in MODES:
        check_fft("convolve", a, b, mode, boundary="mirror")
        check_fft("correlate", a, b, mode)


@pytest.mark.parametrize(
    "dtype,fillvalue,cast",
    [("int16", 2.7, 2), ("int16", -2.7, -2), ("int8", 1000, -24), ("uint8", 3.9, 3),
     ("bool", 2.5, True)],
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

@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "complex128"])
@pytest.mark.parametrize("where", ["in1", "in2", "fill"])
def test_nan_input_gives_nan(dtype, where, rng):
    # with method='fft' a NaN may spread over the whole output; only NaN somewhere, no error
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
            got = getattr(fastconv, op)(a, b, mode, method="fft", fillvalue=fv)
            assert got.dtype == np.dtype(dtype)
            assert np.any(np.isnan(got))
    if where == "in1":
        for boundary in BOUNDARIES:
            got = fastconv.convolve(a, b, "valid", method="fft", boundary=boundary)
            assert np.any(np.isnan(got))
        A = make_array(rng, (8, 9), dtype)
        A[3, 4] = np.nan
        got = fastconv.convolve(A, make_array(rng, (3, 3), dtype), "same", method="fft")
        assert np.any(np.isnan(got))


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex64"])
def test_inf_input_no_error(dtype, rng):
    a = make_array(rng, (30,), dtype)
    b = make_array(rng, (5,), dtype)
    a[4] = np.inf
    for op in OPS:
        for mode in MODES:
            got = getattr(fastconv, op)(a, b, mode, method="fft")
            assert got.dtype == np.dtype(dtype)
            assert not np.all(np.isfinite(got))


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
    from fastconv import _direct

    def refuse(*args, **kwargs):
        raise AssertionError("the direct kernel ran for method='fft'")

    monkeypatch.setattr(_direct, "correlate_direct", refuse)
    x = np.random.default_rng(5).standard_normal((40, 50))
    out = fastconv.convolve(x, np.ones((5, 5)), "same", method="fft", boundary="reflect")
    assert out.shape == (40, 50)
    with pytest.raises(AssertionError, match="direct kernel ran"):
        fastconv.convolve(x, np.ones((5, 5)), "same", method="direct")
