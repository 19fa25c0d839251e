"""fastconv.convolve / correlate against the NumPy reference and SciPy."""

import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps

import fastconv
from _helpers import (
    LAYOUT_DTYPES,
    NDIMAGE_MODE,
    ALL_DTYPES,
    BOUNDARIES,
    MIXED_PAIRS,
    MODES,
    SCIPY_ND_DTYPES,
    assert_conv_close,
    flip_conj,
    make_array,
    magnitude_bound,
    with_layout,
)
from _reference import reference_convolve, reference_correlate

OPS = ["convolve", "correlate"]


def scipy_call(name, *args, **kwargs):
    """Call scipy.signal.<name>. SciPy's N-D direct path sometimes casts uninitialised
    memory (np.empty) and emits 'invalid value encountered in cast'; the values it
    returns are not affected, so that one warning is ignored here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        return getattr(sps, name)(*args, **kwargs)
REF = {"convolve": reference_convolve, "correlate": reference_correlate}


def _scipy_direct_ok(dtype, ndim, mode="full", n1=1, n2=1):
    """scipy.signal.convolve(method='direct') supports bool/float16 only where it
    hands over to np.convolve: 1-D, and in 'same' mode only if in1 is not shorter."""
    if np.dtype(dtype).name in SCIPY_ND_DTYPES:
        return True
    return ndim <= 1 and (mode != "same" or n1 >= n2)


def _valid_ok(s1, s2, axes=None):
    axes = range(len(s1)) if axes is None else [a % len(s1) for a in axes]
    return all(s1[a] >= s2[a] for a in axes) or all(s1[a] <= s2[a] for a in axes)


def check(op, a, b, mode="full", axes=None, boundary="fill", fillvalue=0, **kw):
    """fastconv result == reference (exact for ints/bool, scaled tolerance for floats).

    Crossed shapes in 'valid' mode must raise ValueError (returns ``None, None``)."""
    s1, s2 = np.shape(a), np.shape(b)
    conv_axes = None if axes is None else np.atleast_1d(axes)
    kwargs = dict(axes=axes, boundary=boundary, fillvalue=fillvalue, **kw)
    if mode == "valid" and len(s1) and not _valid_ok(s1, s2, conv_axes):
        with pytest.raises(ValueError, match="in1|in2|valid"):
            getattr(fastconv, op)(a, b, mode, **kwargs)
        return None, None
    got = getattr(fastconv, op)(a, b, mode, **kwargs)
    exp = REF[op](a, b, mode, axes=axes, boundary=boundary, fillvalue=fillvalue)
    bound = None
    if exp.dtype.kind in "fc":
        bound = magnitude_bound(op, a, b, mode, axes, boundary, fillvalue)
    msg = f"{op} mode={mode} axes={axes} boundary={boundary} fillvalue={fillvalue} {kw}"
    assert isinstance(got, np.ndarray) or np.ndim(got) == 0
    assert_conv_close(got, exp, bound, err_msg=msg)
    return got, bound


SHAPES = [
    pytest.param((10,), (3,), id="1d-10x3"),
    pytest.param((9,), (4,), id="1d-9x4even"),
    pytest.param((1,), (1,), id="1d-1x1"),
    pytest.param((2,), (2,), id="1d-2x2"),
    pytest.param((3,), (7,), id="1d-3x7bigkernel"),
    pytest.param((7, 6), (3, 2), id="2d-7x6_3x2"),
    pytest.param((5, 5), (6, 7), id="2d-5x5_6x7bigkernel"),
    pytest.param((3, 3), (1, 1), id="2d-3x3_1x1"),
    pytest.param((1, 1), (1, 1), id="2d-1x1_1x1"),
    pytest.param((4, 5, 6), (2, 3, 3), id="3d"),
    pytest.param((3, 4, 2, 5), (2, 1, 2, 3), id="4d"),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("s1,s2", SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
def test_dtypes_modes_shapes(op, mode, s1, s2, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    got, bound = check(op, a, b, mode)
    assert got.dtype == np.dtype(dtype)
    if _scipy_direct_ok(dtype, len(s1), mode, s1[0], s2[0]):
        exp = scipy_call(op, a, b, mode, method="direct")
        assert got.dtype == exp.dtype
        if dtype == "float16":  # np.convolve accumulates in float16: check shape only
            assert got.shape == exp.shape
        else:
            assert_conv_close(got, exp, bound)


@pytest.mark.parametrize("d1,d2", [pytest.param(x, y, id=f"{x}-{y}") for x, y in MIXED_PAIRS])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "s1,s2", [pytest.param((11,), (4,), id="1d"), pytest.param((6, 7), (3, 2), id="2d")]
)
@pytest.mark.parametrize("swap", [False, True], ids=["ab", "ba"])
def test_mixed_dtypes(op, mode, s1, s2, d1, d2, swap, rng):
    if swap:
        d1, d2 = d2, d1
    a = make_array(rng, s1, d1)
    b = make_array(rng, s2, d2)
    got, bound = check(op, a, b, mode)
    assert got.dtype == np.result_type(a, b)
    ok = [_scipy_direct_ok(d, len(s1), mode, s1[0], s2[0]) for d in (got.dtype, d1, d2)]
    if all(ok):
        exp = scipy_call(op, a, b, mode, method="direct")
        assert got.dtype == exp.dtype
        if got.dtype != np.float16:
            assert_conv_close(got, exp, bound)


def test_result_dtype_examples():
    cases = [
        ("int16", "float32", "float32"),
        ("int64", "float32", "float64"),
        ("int8", "complex64", "complex64"),
        ("int32", "complex64", "complex128"),
        ("bool", "bool", "bool"),
        ("float16", "float16", "float16"),
        ("uint64", "int64", "float64"),
        ("int8", "uint8", "int16"),
    ]
    for d1, d2, dres in cases:
        for op in OPS:
            r = getattr(fastconv, op)(np.ones(5, d1), np.ones(2, d2))
            assert r.dtype == np.dtype(dres), (op, d1, d2, r.dtype)


WIDE = [
    pytest.param((1000,), (31,), id="1d-1000x31"),
    pytest.param((37, 300), (7, 7), id="2d-37x300_7x7"),
    pytest.param((9, 10, 67), (3, 4, 5), id="3d-9x10x67_3x4x5"),
    pytest.param((130, 17), (4, 6), id="2d-130x17_4x6"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int16"])
@pytest.mark.parametrize("s1,s2", WIDE)
@pytest.mark.parametrize("op", OPS)
def test_wide_inputs(op, s1, s2, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for mode in MODES:
        got, bound = check(op, a, b, mode)
        if dtype in ("float64", "int16"):
            exp = scipy_call(op, a, b, mode, method="direct")
            assert_conv_close(got, exp, bound)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int32"])
def test_length_sweep_1d(dtype, rng):
    # every residue of the vector width, tails and tiny sizes
    lengths = list(range(1, 34)) + [63, 64, 65, 127, 128, 129]
    kernels = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17]
    for n in lengths:
        a = make_array(rng, (n,), dtype)
        for m in kernels:
            b = make_array(rng, (m,), dtype)
            for op in OPS:
                for mode in MODES:
                    check(op, a, b, mode)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
def test_shape_sweep_2d(dtype, rng):
    for rows in (1, 2, 5):
        for cols in (1, 2, 3, 7, 8, 9, 15, 16, 17, 33):
            a = make_array(rng, (rows, cols), dtype)
            for kshape in [(1, 1), (1, 3), (2, 2), (3, 1), (3, 5), (2, 8), (6, 4)]:
                b = make_array(rng, kshape, dtype)
                for mode in MODES:
                    check("convolve", a, b, mode)
                    check("correlate", b, a, mode)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shape_sweep_3d(dtype, rng):
    for s1 in [(1, 1, 1), (2, 3, 4), (3, 1, 9), (4, 4, 17)]:
        a = make_array(rng, s1, dtype)
        for s2 in [(1, 1, 1), (1, 2, 3), (2, 2, 2), (3, 1, 5), (5, 5, 5)]:
            b = make_array(rng, s2, dtype)
            for mode in MODES:
                for op in OPS:
                    check(op, a, b, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "s1,s2",
    [
        pytest.param((9,), (4,), id="1d-even"),
        pytest.param((8,), (2,), id="1d-2"),
        pytest.param((7, 6), (2, 4), id="2d-even"),
        pytest.param((5, 6, 3), (2, 3, 2), id="3d-mixed"),
        pytest.param((3, 2), (6, 4), id="2d-swapped"),
    ],
)
@pytest.mark.parametrize("boundary", ["fill", "reflect"])
def test_correlate_is_convolve_with_flipped_conjugate(mode, s1, s2, boundary, rng):
    a = make_array(rng, s1, "complex128")
    b = make_array(rng, s2, "complex128")
    c = fastconv.correlate(a, b, mode, boundary=boundary, fillvalue=0.5j)
    v = fastconv.convolve(a, flip_conj(b), mode, boundary=boundary, fillvalue=0.5j)
    assert_conv_close(c, v, magnitude_bound("convolve", a, b, mode, None, boundary, 0.5j))
    # and against SciPy's correlate (which uses the same definition)
    if boundary == "fill":
        c0 = fastconv.correlate(a, b, mode)
        exp = scipy_call("correlate", a, b, mode, method="direct")
        assert_conv_close(c0, exp, magnitude_bound("correlate", a, b, mode))


def test_valid_swap_rule(rng):
    a = make_array(rng, (3, 4), "complex128")
    b = make_array(rng, (5, 6), "complex128")
    for op in OPS:
        got = getattr(fastconv, op)(a, b, "valid")
        exp = scipy_call(op, a, b, "valid", method="direct")
        assert got.shape == (3, 3)
        assert_conv_close(got, exp, magnitude_bound(op, a, b, "valid"))
    # equal along one axis, bigger along the other -> swap as well
    b = make_array(rng, (3, 6), "complex128")
    for op in OPS:
        got = getattr(fastconv, op)(a, b, "valid")
        exp = scipy_call(op, a, b, "valid", method="direct")
        assert got.shape == (1, 3)
        assert_conv_close(got, exp, magnitude_bound(op, a, b, "valid"))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "x,y",
    [
        (np.array(2.5), np.array(-3.0)),
        (np.array(2 + 1j), np.array(3 - 2j)),
        (np.array(100, np.int8), np.array(3, np.int8)),
        (np.array(True), np.array(False)),
        (np.array(True), np.array(True)),
        (np.array(7, np.uint16), np.array(2.0, np.float32)),
    ],
    ids=["float", "complex", "int8-wrap", "bool-f", "bool-t", "mixed"],
)
@pytest.mark.parametrize("mode", MODES)
def test_zero_dim(op, x, y, mode):
    got = getattr(fastconv, op)(x, y, mode)
    assert np.ndim(got) == 0
    assert np.asarray(got).dtype == np.result_type(x, y)
    exp = scipy_call(op, x, y, mode)
    assert np.asarray(exp).dtype == np.asarray(got).dtype
    assert got == exp
    if op == "correlate":
        assert got == x * np.conj(y)
    else:
        with np.errstate(over="ignore"):
            assert got == x * y


# ---------------------------------------------------------------- integer exactness

OVERFLOW = [
    pytest.param("int8", 100, 127, id="int8-near-127"),
    pytest.param("int8", -128, -100, id="int8-near-minus128"),
    pytest.param("uint8", 200, 255, id="uint8-high"),
    pytest.param("int16", -(2**15), 2**15 - 1, id="int16-full"),
    pytest.param("uint16", 60000, 65535, id="uint16-high"),
    pytest.param("int32", -(2**31), 2**31 - 1, id="int32-full"),
    pytest.param("int64", 2**62 - 1000, 2**62, id="int64-near-2^62"),
    pytest.param("int64", -(2**63), 2**63 - 1, id="int64-full"),
    pytest.param("uint64", 2**64 - 2**40, 2**64 - 1, id="uint64-high"),
]
OVERFLOW_SHAPES = [
    pytest.param((200,), (63,), id="1d-200x63"),
    pytest.param((5,), (40,), id="1d-5x40swap"),
    pytest.param((20, 30), (7, 7), id="2d-20x30_7x7"),
    pytest.param((8, 9, 10), (3, 4, 5), id="3d"),
]


@pytest.mark.parametrize("dtype,lo,hi", OVERFLOW)
@pytest.mark.parametrize("s1,s2", OVERFLOW_SHAPES)
@pytest.mark.parametrize("op", OPS)
def test_integer_overflow_matches_scipy_direct(op, s1, s2, dtype, lo, hi, rng):
    a = rng.integers(lo, hi, s1, dtype=dtype, endpoint=True)
    b = rng.integers(lo, hi, s2, dtype=dtype, endpoint=True)
    for mode in MODES:
        for method in ["direct", "auto"]:
            got = getattr(fastconv, op)(a, b, mode, method=method)
            exp = scipy_call(op, a, b, mode, method="direct")
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, exp, err_msg=f"{mode} {method}")
        np.testing.assert_array_equal(got, REF[op](a, b, mode))


@pytest.mark.parametrize("d1,d2", [("int8", "uint8"), ("uint8", "int16"), ("bool", "int8")])
def test_mixed_integer_overflow(d1, d2, rng):
    a = make_array(rng, (30, 7), d1, kind="full")
    b = make_array(rng, (9, 5), d2, kind="full")
    for op in OPS:
        for mode in MODES:
            got = getattr(fastconv, op)(a, b, mode)
            exp = scipy_call(op, a, b, mode, method="direct")
            assert got.dtype == exp.dtype == np.result_type(a, b)
            np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int64"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_integer_overflow_with_boundary(dtype, boundary, rng):
    a = make_array(rng, (6, 11), dtype, kind="full")
    b = make_array(rng, (5, 8), dtype, kind="full")
    fv = 3 if np.dtype(dtype).kind == "u" else -5
    for op in OPS:
        for mode in ["full", "same"]:
            check(op, a, b, mode, boundary=boundary, fillvalue=fv)


def test_int8_big_kernel_all_127():
    a = np.full(300, 127, np.int8)
    b = np.full(255, 127, np.int8)
    for op in OPS:
        for mode in MODES:
            got = getattr(fastconv, op)(a, b, mode)
            np.testing.assert_array_equal(got, scipy_call(op, a, b, mode, method="direct"))


# ---------------------------------------------------------------- bool and float16


@pytest.mark.parametrize("mode", MODES)
def test_bool_is_or_of_and(mode, rng):
    for n, m in [(50, 7), (7, 50), (1, 1), (64, 64), (3, 2)]:
        a = rng.random(n) < 0.2
        b = rng.random(m) < 0.2
        got = fastconv.convolve(a, b, mode)
        assert got.dtype == bool
        if mode != "same" or n >= m:  # np.convolve 'same' has length max(n, m)
            np.testing.assert_array_equal(got, np.convolve(a, b, mode))
            exp = scipy_call("correlate", a, b, mode, method="direct")
            np.testing.assert_array_equal(fastconv.correlate(a, b, mode), exp)
        np.testing.assert_array_equal(got, reference_convolve(a, b, mode))
        got = fastconv.correlate(a, b, mode)
        assert got.dtype == bool
        np.testing.assert_array_equal(got, reference_correlate(a, b, mode))
    # N-D: counts > 0 (counts would overflow any small type: all-true inputs)
    a = np.ones((40, 40), bool)
    b = np.ones((17, 16), bool)
    got = fastconv.convolve(a, b, mode)
    assert got.dtype == bool and got.all()
    a = np.zeros((9, 8), bool)
    a[4, 3] = True
    b = rng.random((3, 4)) < 0.5
    check("convolve", a, b, mode)
    check("correlate", a, b, mode)


def test_float16_computed_in_float32(rng):
    a = rng.standard_normal((40, 33)).astype(np.float16)
    b = rng.standard_normal((5, 4)).astype(np.float16)
    for op in OPS:
        for mode in MODES:
            got = getattr(fastconv, op)(a, b, mode)
            assert got.dtype == np.float16
            via32 = getattr(fastconv, op)(a.astype(np.float32), b.astype(np.float32), mode)
            exp = via32.astype(np.float16)
            # float32 accumulation then one rounding to float16: at most 1 ulp apart
            np.testing.assert_array_max_ulp(got, exp, maxulp=1)
    # products overflow float16 (300 * 300 > 65504) but not float32; the result is 0
    a = np.array([300.0, 300.0], np.float16)
    b = np.array([300.0, -300.0], np.float16)
    for op in OPS:
        got = getattr(fastconv, op)(a, b, "valid")
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, np.zeros(1, np.float16))


@pytest.mark.parametrize("method", ["direct", "separable", "fft", "im2col"])
def test_float16_result_beyond_max_is_inf_silently(method):
    # the float32 sums exceed 65504: every method rounds them to +-inf, as
    # IEEE says, without an overflow warning (pytest turns warnings into errors)
    a = np.full((6, 6), 60000.0, np.float16)
    b = np.full((2, 2), 1.0, np.float16)
    for op in OPS:
        got = getattr(fastconv, op)(a, b, "valid", method=method)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, np.full((5, 5), np.inf, np.float16))
        out = np.empty((5, 5), np.float16)
        assert getattr(fastconv, op)(-a, b, "valid", method=method, out=out) is out
        np.testing.assert_array_equal(out, np.full((5, 5), -np.inf, np.float16))
    # a kernel of rank 2 (separable: two terms, summed in float32, rounded once)
    k = np.zeros((5, 5), np.float16)
    k[0, 0] = k[4, 4] = 1.0
    got = fastconv.convolve(np.full((8, 8), 40000.0, np.float16), k, "valid", method=method)
    np.testing.assert_array_equal(got, np.full((4, 4), np.inf, np.float16))


# ---------------------------------------------------------------- boundaries

BOUNDARY_SHAPES = [
    pytest.param((10,), (3,), id="1d-10x3"),
    pytest.param((9,), (4,), id="1d-9x4even"),
    pytest.param((4,), (11,), id="1d-4x11big"),
    pytest.param((1,), (4,), id="1d-1x4"),
    pytest.param((2,), (9,), id="1d-2x9big"),
    pytest.param((6, 7), (3, 4), id="2d-6x7_3x4"),
    pytest.param((3, 2), (5, 7), id="2d-3x2_5x7big"),
    pytest.param((4, 3, 5), (3, 2, 3), id="3d"),
    pytest.param((2, 3, 1), (5, 2, 4), id="3d-big"),
    pytest.param((3, 2, 4, 3), (2, 2, 3, 1), id="4d"),
]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("s1,s2", BOUNDARY_SHAPES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_boundary_vs_reference(op, s1, s2, boundary, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    fv = 1.5 if dtype == "float64" else 0.5 - 1j
    for mode in MODES:
        check(op, a, b, mode, boundary=boundary, fillvalue=fv)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize(
    "s1,s2",
    [
        pytest.param((7, 9), (4, 3), id="2d"),
        pytest.param((3,), (8,), id="1d-bigkernel"),
        pytest.param((3, 4, 2), (2, 5, 3), id="3d-bigkernel"),
    ],
)
def test_boundary_all_dtypes(s1, s2, boundary, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    fv = {"bool": True, "uint8": 3, "uint16": 3, "uint64": 3, "int16": -2.7, "float16": 0.25}
    fv = fv.get(dtype, 2.5)
    for op in OPS:
        for mode in MODES:
            check(op, a, b, mode, boundary=boundary, fillvalue=fv)


@pytest.mark.parametrize(
    "dtype,fillvalue,cast",
    [
        ("int16", 2.7, 2),
        ("int16", -2.7, -2),
        ("int8", 1000, -24),  # cast to the integer dtype: 1000 mod 256
        ("uint8", 3.9, 3),
        ("int32", np.float32(7.5), 7),
        ("bool", 2.5, True),
        ("bool", 0, False),
        ("int64", 1 + 0j, 1),  # complex with zero imaginary part
    ],
)
def test_integer_fillvalue_is_cast(dtype, fillvalue, cast, rng):
    a = make_array(rng, (6, 5), dtype)
    b = make_array(rng, (3, 4), dtype)
    for op in OPS:
        for mode in ["full", "same"]:
            got = getattr(fastconv, op)(a, b, mode, fillvalue=fillvalue)
            exp = getattr(fastconv, op)(a, b, mode, fillvalue=cast)
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, exp)
            np.testing.assert_array_equal(got, REF[op](a, b, mode, fillvalue=cast))


def test_symm_is_reflect(rng):
    a = make_array(rng, (5, 9), "float64")
    b = make_array(rng, (7, 4), "float64")
    for op in OPS:
        for mode in ["full", "same"]:
            s = getattr(fastconv, op)(a, b, mode, boundary="symm")
            r = getattr(fastconv, op)(a, b, mode, boundary="reflect")
            np.testing.assert_array_equal(s, r)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_valid_ignores_boundary(boundary, rng):
    a = make_array(rng, (8, 9), "float64")
    b = make_array(rng, (3, 4), "float64")
    for op in OPS:
        got = getattr(fastconv, op)(a, b, "valid", boundary=boundary, fillvalue=7.0)
        exp = getattr(fastconv, op)(a, b, "valid")
        assert_conv_close(got, exp, magnitude_bound(op, a, b, "valid"))


def test_boundary_extends_in1_not_in2(rng):
    # a kernel larger than the input: only in1 is extended, never in2
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    got = fastconv.convolve(a, b, "full", boundary="wrap")
    # full[k] = sum_j b[j] a_ext[k - j] = a_ext[k], k = 0..8, a_ext[0:3] = a
    np.testing.assert_allclose(got, [1, 2, 3, 1, 2, 3, 1, 2, 3], rtol=0, atol=1e-15)
    got = fastconv.convolve(a, b, "same", boundary="nearest")
    # same[i] = full[i + 3] = a_ext[i + 3] with nearest extension
    np.testing.assert_allclose(got, [3, 3, 3], rtol=0, atol=1e-15)
    got = fastconv.convolve(a, b, "full", boundary="mirror")
    # mirror period 4: 1 2 3 2 | 1 2 3 2 ...
    np.testing.assert_allclose(got, [1, 2, 3, 2, 1, 2, 3, 2, 1], rtol=0, atol=1e-15)
    got = fastconv.convolve(a, b, "full", boundary="reflect")
    # reflect period 6: 1 2 3 3 2 1 | 1 2 3 ...
    np.testing.assert_allclose(got, [1, 2, 3, 3, 2, 1, 1, 2, 3], rtol=0, atol=1e-15)
    got = fastconv.convolve(a, b, "full", boundary="fill", fillvalue=9)
    np.testing.assert_allclose(got, [1, 2, 3, 9, 9, 9, 9, 9, 9], rtol=0, atol=1e-15)
    got = fastconv.convolve(a, b[::-1], "full", boundary="fill", fillvalue=9)
    # full[k] = a_ext[k - 6]
    np.testing.assert_allclose(got, [9, 9, 9, 9, 9, 9, 1, 2, 3], rtol=0, atol=1e-15)


def test_mirror_length_one_is_nearest(rng):
    a = np.array([[2.5]])
    b = make_array(rng, (4, 5), "float64")
    for op in OPS:
        for mode in ["full", "same"]:
            m = getattr(fastconv, op)(a, b, mode, boundary="mirror")
            n = getattr(fastconv, op)(a, b, mode, boundary="nearest")
            assert_conv_close(m, n, magnitude_bound(op, a, b, mode, None, "nearest"))


CONV2D_SHAPES = [
    pytest.param((6, 7), (3, 3), id="odd"),
    pytest.param((9, 8), (4, 2), id="even"),
    pytest.param((5, 4), (3, 5), id="crossed"),
    pytest.param((2, 3), (7, 9), id="bigkernel"),
    pytest.param((1, 1), (4, 3), id="1x1-input"),
    pytest.param((3, 30), (5, 5), id="wide"),
]


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("s1,s2", CONV2D_SHAPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "complex128", "float32", "int16"])
def test_boundary_2d_vs_convolve2d(boundary, s1, s2, mode, dtype, rng):
    a = make_array(rng, s1, dtype, kind="full" if dtype == "int16" else "small")
    b = make_array(rng, s2, dtype, kind="full" if dtype == "int16" else "small")
    fv = {"float64": 1.5, "complex128": 0.5 - 1j, "float32": -2.0, "int16": 3}[dtype]
    if mode == "valid" and not _valid_ok(s1, s2):
        for op in OPS:
            with pytest.raises(ValueError):
                getattr(fastconv, op)(a, b, mode, boundary=boundary)
        return
    got = fastconv.convolve(a, b, mode, boundary=boundary, fillvalue=fv)
    exp = scipy_call("convolve2d", a, b, mode, boundary=boundary, fillvalue=fv)
    bound = magnitude_bound("convolve", a, b, mode, None, boundary, fv)
    assert_conv_close(got, exp, bound)
    got = fastconv.correlate(a, b, mode, boundary=boundary, fillvalue=fv)
    exp = scipy_call("correlate2d", a, b, mode, boundary=boundary, fillvalue=fv)
    bound = magnitude_bound("correlate", a, b, mode, None, boundary, fv)
    if mode == "same" and any(k % 2 == 0 for k in s2):
        # SciPy's correlate2d centres 'same' at m // 2 (signal.correlate and fastconv at
        # (m - 1) // 2): fastconv equals the correlate2d result shifted by one.
        full = fastconv.correlate(a, b, "full", boundary=boundary, fillvalue=fv)
        sl = tuple(slice(k // 2, k // 2 + n) for k, n in zip(s2, s1))
        assert_conv_close(full[sl], exp, bound)
    elif mode == "valid" and any(x < y for x, y in zip(s1, s2)):
        # swapped 'valid': correlate2d returns the conjugate of signal.correlate
        assert_conv_close(np.conj(got), exp, bound)
    else:
        assert_conv_close(got, exp, bound)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    "s1,s2",
    [
        pytest.param((20,), (5,), id="1d"),
        pytest.param((3,), (9,), id="1d-bigkernel"),
        pytest.param((1,), (3,), id="1d-len1"),
        pytest.param((12, 11), (3, 5), id="2d"),
        pytest.param((4, 2), (7, 5), id="2d-bigkernel"),
        pytest.param((6, 5, 7), (3, 3, 1), id="3d"),
        pytest.param((5, 4, 3, 3), (3, 1, 3, 3), id="4d"),
        pytest.param((9, 8), (4, 2), id="2d-even"),
        pytest.param((4, 9, 3), (1, 6, 3), id="3d-even"),
    ],
)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_vs_ndimage(op, s1, s2, boundary, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    # ndimage's origin: correlate matches with origin 0; convolve needs origin -1 along
    # axes of even kernel length (ndimage centres an even kernel one sample later)
    origin = [0 if (k % 2 or op == "correlate") else -1 for k in s2]
    exp = getattr(ndi, op)(a, b, mode=NDIMAGE_MODE[boundary], cval=1.25, origin=origin)
    got = getattr(fastconv, op)(a, b, "same", boundary=boundary, fillvalue=1.25)
    assert_conv_close(got, exp, magnitude_bound(op, a, b, "same", None, boundary, 1.25))


def test_ndimage_wrap_mode_for_filters(rng):
    # ndimage's filters treat 'wrap' like 'grid-wrap' (periodic): check on fastconv too
    a = make_array(rng, (4, 5), "float64")
    b = make_array(rng, (5, 7), "float64")
    got = fastconv.correlate(a, b, "same", boundary="wrap")
    exp = ndi.correlate(a, b, mode="wrap")
    assert_conv_close(got, exp, magnitude_bound("correlate", a, b, "same", None, "wrap"))


# ---------------------------------------------------------------- axes

AXES_CASES = [
    pytest.param((4, 9), (4, 3), [1], id="2d-ax1"),
    pytest.param((4, 9), (1, 3), [-1], id="2d-ax-1-bcast"),
    pytest.param((1, 9), (5, 3), 1, id="2d-int-axis-bcast-in1"),
    pytest.param((5, 2, 7), (3, 2, 1), [0, 2], id="3d-ax02-len1-kernel"),
    pytest.param((5, 1, 7), (3, 4, 2), (0, -1), id="3d-ax0m1-bcast"),
    pytest.param((5, 1, 7), (3, 4, 8), (0, 2), id="3d-crossed"),
    pytest.param((3, 6, 1), (1, 2, 1), [2, 1], id="3d-len1-convolved"),
    pytest.param((7, 1), (3, 4), [0, 1], id="2d-len1-input-convolved"),
    pytest.param((6, 5, 4, 3), (2, 1, 4, 2), [0, 3], id="4d-ax03"),
    pytest.param((2, 3, 4), (2, 3, 4), [2], id="3d-equal"),
    pytest.param((2, 3, 4), (2, 5, 6), [1, 2], id="3d-swap"),
    pytest.param((3, 20), (3, 5), [1], id="2d-batch-rows"),
]


@pytest.mark.parametrize("s1,s2,axes", AXES_CASES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float64", "complex64", "int32"])
def test_axes(op, mode, s1, s2, axes, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    nd = len(s1)
    ax = sorted({x % nd for x in np.atleast_1d(axes)})
    if mode == "valid" and not _valid_ok(s1, s2, ax):
        with pytest.raises(ValueError):
            getattr(fastconv, op)(a, b, mode, axes=axes)
        return
    got, bound = check(op, a, b, mode, axes=axes)
    # against a per-slice loop of scipy.signal.<op>
    other = [i for i in range(nd) if i not in ax]
    for i in other:
        assert got.shape[i] == max(s1[i], s2[i])
    for idx in np.ndindex(*[got.shape[i] for i in other]):
        i1 = [slice(None)] * nd
        i2 = [slice(None)] * nd
        io = [slice(None)] * nd
        for k, axis in enumerate(other):
            i1[axis] = 0 if s1[axis] == 1 else idx[k]
            i2[axis] = 0 if s2[axis] == 1 else idx[k]
            io[axis] = idx[k]
        exp = scipy_call(op, a[tuple(i1)], b[tuple(i2)], mode, method="direct")
        sub_bound = None if bound is None else bound[tuple(io)]
        assert_conv_close(got[tuple(io)], exp, sub_bound, err_msg=f"slice {idx}")


@pytest.mark.parametrize("boundary", ["wrap", "reflect", "mirror", "nearest", "fill"])
@pytest.mark.parametrize(
    "s1,s2,axes",
    [
        pytest.param((3, 10, 8), (1, 4, 3), [1, 2], id="3d-ax12"),
        pytest.param((5, 2), (3, 2), [0], id="2d-ax0"),
        pytest.param((4, 1, 6), (3, 5, 1), [0, 1], id="3d-len1-convolved"),
    ],
)
def test_axes_with_boundary(s1, s2, axes, boundary, rng):
    a = make_array(rng, s1, "float64")
    b = make_array(rng, s2, "float64")
    for op in OPS:
        for mode in MODES:
            if mode == "valid" and not _valid_ok(s1, s2, axes):
                continue
            check(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=-0.5)


def test_axes_length_one_convolved_unlike_fftconvolve(rng):
    # an axis of length 1 listed in axes is convolved, not broadcast
    a = make_array(rng, (6, 1), "float64")
    b = make_array(rng, (3, 4), "float64")
    got = fastconv.convolve(a, b, "same", axes=[0, 1])
    assert got.shape == (6, 1)
    exp = scipy_call("convolve", a, b, "same", method="direct")
    assert_conv_close(got, exp, magnitude_bound("convolve", a, b, "same"))
    got = fastconv.convolve(a, b, "full", axes=[0, 1])
    assert got.shape == (8, 4)


@pytest.mark.parametrize("layout", ["F", "negative", "strided", "bigendian", "transposed"])
def test_axes_with_memory_layouts(layout, rng):
    a = make_array(rng, (5, 4, 9), "float64")
    b = make_array(rng, (1, 4, 4), "float64")
    la, lb = with_layout(a, layout), with_layout(b, layout)
    for op in OPS:
        for mode in MODES:
            for axes in ([0, 2], [-1], [2, 1, 0]):
                got = getattr(fastconv, op)(la, lb, mode, axes=axes, boundary="mirror")
                exp = getattr(fastconv, op)(a, b, mode, axes=axes, boundary="mirror")
                np.testing.assert_array_equal(got, exp)
                check(op, la, lb, mode, axes=axes, boundary="mirror")


def test_axes_none_equals_all_axes(rng):
    a = make_array(rng, (5, 6, 7), "float64")
    b = make_array(rng, (2, 3, 4), "float64")
    for op in OPS:
        for mode in MODES:
            x = getattr(fastconv, op)(a, b, mode)
            y = getattr(fastconv, op)(a, b, mode, axes=[2, 0, 1])
            z = getattr(fastconv, op)(a, b, mode, axes=(-1, -2, -3))
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)


# ---------------------------------------------------------------- memory layouts


@pytest.mark.parametrize("layout,dtype", LAYOUT_DTYPES)
@pytest.mark.parametrize("which", ["in1", "in2", "both"])
@pytest.mark.parametrize(
    "s1,s2", [pytest.param((9, 11), (3, 4), id="2d"), pytest.param((5, 6, 7), (2, 3, 2), id="3d")]
)
def test_memory_layouts(layout, which, dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    la = with_layout(a, layout) if which in ("in1", "both") else a
    lb = with_layout(b, layout) if which in ("in2", "both") else b
    la_copy = np.array(la, copy=True)
    lb_copy = np.array(lb, copy=True)
    for op in OPS:
        for mode, boundary in [("full", "fill"), ("same", "reflect"), ("valid", "fill")]:
            got = getattr(fastconv, op)(la, lb, mode, boundary=boundary)
            exp = getattr(fastconv, op)(a, b, mode, boundary=boundary)
            # same numbers, whatever the layout (bitwise)
            assert got.dtype == exp.dtype
            np.testing.assert_array_equal(got, exp)
            assert got.dtype.isnative
            check(op, la, lb, mode, boundary=boundary)
    np.testing.assert_array_equal(np.asarray(la), la_copy)
    np.testing.assert_array_equal(np.asarray(lb), lb_copy)


def test_bigendian_integer_and_bool(rng):
    for dtype in ["int32", "uint16", "int64", "float16"]:
        a = make_array(rng, (7, 8), dtype, kind="full")
        b = make_array(rng, (3, 3), dtype, kind="full")
        ab = a.astype(a.dtype.newbyteorder(">"))
        bb = b.astype(b.dtype.newbyteorder(">"))
        for op in OPS:
            got = getattr(fastconv, op)(ab, bb, "same", boundary="wrap")
            exp = getattr(fastconv, op)(a, b, "same", boundary="wrap")
            assert got.dtype == exp.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, exp)


def test_output_is_fresh_writeable_array(rng):
    a = make_array(rng, (6, 6), "float64")
    b = np.ones((1, 1))
    for mode in MODES:
        got = fastconv.convolve(a, b, mode)
        assert got.flags.writeable
        assert not np.shares_memory(got, a)
        got[...] = 0
        assert np.any(a != 0)


# ---------------------------------------------------------------- methods, workers, NaN


@pytest.mark.parametrize("method", ["auto", "direct"])
@pytest.mark.parametrize("workers", [None, 1, 2, -1])
def test_method_and_workers_give_correct_results(method, workers, rng):
    a = make_array(rng, (33, 45), "float64")
    b = make_array(rng, (5, 6), "float64")
    for op in OPS:
        for mode in MODES:
            check(op, a, b, mode, method=method, workers=workers)


def test_nan_inf_propagate_like_direct(rng):
    a = rng.standard_normal((12, 13))
    a[3, 4] = np.nan
    a[8, 10] = np.inf
    b = rng.uniform(0.5, 1.5, (3, 4))  # no zeros, no sign cancellation of inf
    for op in OPS:
        for mode in MODES:
            with np.errstate(invalid="ignore"):
                got = getattr(fastconv, op)(a, b, mode, method="direct")
                exp = scipy_call(op, a, b, mode, method="direct")
            np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
            np.testing.assert_array_equal(np.isinf(got), np.isinf(exp))
            fin = np.isfinite(exp)
            np.testing.assert_allclose(got[fin], exp[fin], rtol=1e-12, atol=1e-12)


def test_python_scalars():
    r = fastconv.convolve(2.0, 3.0)
    assert np.ndim(r) == 0 and r == 6.0
    r = fastconv.correlate(2, 3j)
    assert np.ndim(r) == 0 and r == -6j and np.asarray(r).dtype == np.complex128


def test_output_too_large_is_an_error_not_a_crash():
    a = np.broadcast_to(np.ones((1, 1), np.int8), (2**31, 2**31))  # zero strides
    with pytest.raises((ValueError, MemoryError)):
        fastconv.convolve(a, a)


def test_array_likes(rng):
    got = fastconv.convolve([1, 2, 3], [0, 1, 0.5])
    np.testing.assert_allclose(got, np.convolve([1, 2, 3], [0, 1, 0.5]), rtol=0, atol=1e-15)
    assert got.dtype == np.float64
    got = fastconv.convolve([1, 2, 3], [1, 1])
    assert got.dtype == np.asarray([1]).dtype
    np.testing.assert_array_equal(got, [1, 3, 5, 3])
    got = fastconv.correlate([[1j, 2], [3, 4]], [[1, 1j]], "same")
    exp = scipy_call("correlate", np.array([[1j, 2], [3, 4]]), np.array([[1, 1j]]), "same")
    np.testing.assert_allclose(got, exp, rtol=0, atol=1e-14)
    got = fastconv.convolve((1.0, 2.0), np.array([3.0]))
    np.testing.assert_array_equal(got, [3.0, 6.0])
