"""The NumPy reference itself, checked against SciPy (no fastconv needed)."""

import itertools

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps

from _helpers import NDIMAGE_MODE, assert_conv_close, flip_conj, make_array, magnitude_bound
from _reference import (
    PAD_MODE,
    reference_convolve,
    reference_correlate,
    wrap_to_dtype,
)



def _periodic_index(i, n, padmode):
    if padmode == "wrap":
        return i % n
    if padmode == "symmetric":  # d c b a | a b c d | d c b a
        j = i % (2 * n)
        return j if j < n else 2 * n - 1 - j
    if padmode == "reflect":  # d c b | a b c d | c b a
        if n == 1:
            return 0
        j = i % (2 * n - 2)
        return j if j < n else 2 * n - 2 - j
    if padmode == "edge":
        return min(max(i, 0), n - 1)
    raise ValueError(padmode)


@pytest.mark.parametrize("padmode", ["wrap", "symmetric", "reflect", "edge"])
def test_np_pad_is_periodic_for_large_pads(padmode):
    # the reference relies on np.pad repeating the extension for pads > n
    for n in range(1, 6):
        x = np.arange(n) * 10 + 1
        for left, right in itertools.product([0, 1, 3, n, 2 * n + 1, 13], repeat=2):
            got = np.pad(x, (left, right), mode=padmode)
            exp = [x[_periodic_index(i, n, padmode)] for i in range(-left, n + right)]
            np.testing.assert_array_equal(got, exp, err_msg=f"n={n} pad={(left, right)}")


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    "s1,s2",
    [
        ((7,), (3,)),
        ((8,), (4,)),
        ((3,), (8,)),
        ((1,), (1,)),
        ((6, 5), (3, 2)),
        ((2, 3), (4, 5)),
        ((5, 6, 4), (2, 3, 3)),
        ((3, 3, 3), (3, 3, 3)),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_reference_matches_scipy(op, mode, s1, s2, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    ref = reference_convolve if op == "convolve" else reference_correlate
    exp = getattr(sps, op)(a, b, mode, method="direct")
    got = ref(a, b, mode)
    assert_conv_close(got, exp, magnitude_bound(op, a, b, mode))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_reference_rejects_crossed_valid_shapes(mode):
    a = np.ones((3, 5))
    b = np.ones((5, 3))
    if mode == "valid":
        with pytest.raises(ValueError):
            reference_convolve(a, b, mode)
        with pytest.raises(ValueError):
            sps.convolve(a, b, mode)
    else:
        assert reference_convolve(a, b, mode).shape == sps.convolve(a, b, mode).shape


@pytest.mark.parametrize(
    "dtype,lo,hi",
    [
        ("int8", 100, 127),
        ("int8", -128, -100),
        ("uint16", 60000, 65535),
        ("int64", 2**62 - 1000, 2**62),
        ("uint64", 2**63, 2**64 - 1),
        ("int32", -(2**31), 2**31 - 1),
    ],
)
@pytest.mark.parametrize("shapes", [((40,), (31,)), ((9, 7), (5, 4)), ((5, 4, 6), (3, 2, 3))])
def test_reference_integer_overflow_matches_scipy_direct(dtype, lo, hi, shapes, rng):
    a = rng.integers(lo, hi, shapes[0], dtype=dtype, endpoint=True)
    b = rng.integers(lo, hi, shapes[1], dtype=dtype, endpoint=True)
    for mode in ["full", "same", "valid"]:
        np.testing.assert_array_equal(
            reference_convolve(a, b, mode), sps.convolve(a, b, mode, method="direct")
        )
        np.testing.assert_array_equal(
            reference_correlate(a, b, mode), sps.correlate(a, b, mode, method="direct")
        )


def test_wrap_to_dtype():
    vals = np.array([127 + 1, -129, 2**70 + 5, -1], dtype=object)
    np.testing.assert_array_equal(wrap_to_dtype(vals, "int8"), [-128, 127, 5, -1])
    np.testing.assert_array_equal(wrap_to_dtype(vals, "uint8"), [128, 127, 5, 255])


def test_reference_bool_is_or_of_and(rng):
    a = rng.random(20) < 0.3
    b = rng.random(5) < 0.3
    for mode in ["full", "same", "valid"]:
        r = reference_convolve(a, b, mode)
        assert r.dtype == bool
        np.testing.assert_array_equal(r, np.convolve(a, b, mode))


def test_reference_zero_dim():
    a = np.array(2 + 1j)
    b = np.array(3 - 2j)
    assert reference_convolve(a, b).shape == ()
    assert reference_convolve(a, b)[()] == sps.convolve(a, b)
    assert reference_correlate(a, b)[()] == sps.correlate(a, b)
    assert reference_correlate(a, b)[()] == a * np.conj(b)


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    "s1,s2",
    [((6, 7), (3, 3)), ((5, 4), (3, 5)), ((2, 3), (7, 9)), ((1, 1), (4, 3)), ((4, 6), (2, 2))],
)
def test_reference_boundary_matches_convolve2d(op, boundary, mode, s1, s2, rng):
    a = make_array(rng, s1, "complex128")
    b = make_array(rng, s2, "complex128")
    ref = reference_convolve if op == "convolve" else reference_correlate
    if mode == "valid" and not (
        all(x >= y for x, y in zip(s1, s2)) or all(x <= y for x, y in zip(s1, s2))
    ):
        with pytest.raises(ValueError):
            getattr(sps, op + "2d")(a, b, mode, boundary=boundary)
        with pytest.raises(ValueError):
            ref(a, b, mode, boundary=boundary)
        return
    if op == "correlate" and mode == "same" and any(k % 2 == 0 for k in s2):
        # SciPy quirk: correlate2d 'same' starts the centred slice of the full
        # correlation at m // 2, scipy.signal.correlate at (m - 1) // 2.
        full = ref(a, b, "full", boundary=boundary, fillvalue=0.5 - 1j)
        sl = tuple(slice(k // 2, k // 2 + n) for k, n in zip(s2, s1))
        exp = sps.correlate2d(a, b, mode, boundary=boundary, fillvalue=0.5 - 1j)
        np.testing.assert_allclose(full[sl], exp, rtol=1e-12, atol=1e-12)
        return
    if op == "correlate" and mode == "valid" and any(x < y for x, y in zip(s1, s2)):
        # SciPy quirk: correlate2d returns the conjugate of scipy.signal.correlate
        # when the inputs are swapped in 'valid' mode.
        exp = sps.correlate2d(a, b, mode, boundary=boundary)
        np.testing.assert_allclose(np.conj(ref(a, b, mode)), exp, rtol=1e-12, atol=1e-12)
        return
    exp = getattr(sps, op + "2d")(a, b, mode, boundary=boundary, fillvalue=0.5 - 1j)
    got = ref(a, b, mode, boundary=boundary, fillvalue=0.5 - 1j)
    assert_conv_close(got, exp, magnitude_bound(op, a, b, mode, None, boundary, 0.5 - 1j))


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm", "reflect", "mirror", "nearest"])
@pytest.mark.parametrize(
    "s1,s2",
    [((9,), (5,)), ((2,), (7,)), ((5, 4), (3, 5)), ((1, 2, 3), (3, 3, 5)), ((6, 5), (2, 4))],
)
def test_reference_same_matches_ndimage(op, boundary, s1, s2, rng):
    a = make_array(rng, s1, "float64")
    b = make_array(rng, s2, "float64")
    ref = reference_convolve if op == "convolve" else reference_correlate
    if op == "convolve":
        origin = [0 if k % 2 else -1 for k in s2]
    else:
        origin = 0
    exp = getattr(ndi, op)(a, b, mode=NDIMAGE_MODE[boundary], cval=1.25, origin=origin)
    got = ref(a, b, "same", boundary=boundary, fillvalue=1.25)
    assert_conv_close(got, exp, magnitude_bound(op, a, b, "same", None, boundary, 1.25))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    "s1,s2,axes",
    [
        ((4, 9), (4, 3), [1]),
        ((1, 9), (3, 3), [-1]),
        ((5, 2, 7), (3, 2, 1), [0, 2]),
        ((5, 1, 7), (3, 4, 8), (0, 2)),
        ((3, 6, 1), (1, 2, 1), [1, 2]),
    ],
)
def test_reference_axes_matches_slice_loop(mode, s1, s2, axes, rng):
    a = make_array(rng, s1, "complex128")
    b = make_array(rng, s2, "complex128")
    nd = len(s1)
    ax = sorted(x % nd for x in axes)
    other = [i for i in range(nd) if i not in ax]
    bshape = [max(s1[i], s2[i]) for i in other]
    if mode == "valid" and not (
        all(s1[i] >= s2[i] for i in ax) or all(s1[i] <= s2[i] for i in ax)
    ):
        with pytest.raises(ValueError):
            reference_convolve(a, b, mode, axes=axes)
        with pytest.raises(ValueError):
            sps.fftconvolve(a, b, mode, axes=axes)
        return
    for op, ref in [("convolve", reference_convolve), ("correlate", reference_correlate)]:
        got = ref(a, b, mode, axes=axes)
        for idx in np.ndindex(*bshape):
            i1 = [slice(None)] * nd
            i2 = [slice(None)] * nd
            io = [slice(None)] * nd
            for k, ax_ in enumerate(other):
                i1[ax_] = 0 if s1[ax_] == 1 else idx[k]
                i2[ax_] = 0 if s2[ax_] == 1 else idx[k]
                io[ax_] = idx[k]
            exp = getattr(sps, op)(a[tuple(i1)], b[tuple(i2)], mode, method="direct")
            np.testing.assert_allclose(got[tuple(io)], exp, rtol=1e-12, atol=1e-12)


def test_reference_axes_fftconvolve_agrees_where_no_length_one_axes(rng):
    a = make_array(rng, (3, 10, 8), "float64")
    b = make_array(rng, (3, 4, 3), "float64")
    for mode in ["full", "same", "valid"]:
        np.testing.assert_allclose(
            reference_convolve(a, b, mode, axes=[1, 2]),
            sps.fftconvolve(a, b, mode, axes=[1, 2]),
            atol=1e-10,
        )


def test_flip_conj_identity(rng):
    a = make_array(rng, (6, 5), "complex128")
    b = make_array(rng, (3, 2), "complex128")
    for mode in ["full", "same", "valid"]:
        np.testing.assert_allclose(
            reference_correlate(a, b, mode), reference_convolve(a, flip_conj(b), mode)
        )
