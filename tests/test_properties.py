"""Property-based tests (hypothesis), deterministic: derandomize=True, few examples."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastconv
from _helpers import assert_conv_close, flip_conj, magnitude_bound
from _reference import reference_convolve, reference_correlate

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True, database=None)

MODES = st.sampled_from(["full", "same", "valid"])
BOUNDARY = st.sampled_from(["fill", "wrap", "symm", "reflect", "mirror", "nearest"])
DTYPES = st.sampled_from(["float64", "float32", "complex128", "int32", "int8", "bool"])


def _elements(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.integers(int(info.min), int(info.max))
    if dtype.kind == "c":
        return st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False)
    return st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=dtype.itemsize * 8)


@st.composite
def pairs(draw, max_ndim=3, max_side=7, dtype=None):
    """Two arrays of the same ndim (1..max_ndim) and dtype."""
    ndim = draw(st.integers(1, max_ndim))
    dtype = draw(DTYPES) if dtype is None else dtype
    s1 = draw(st.tuples(*[st.integers(1, max_side)] * ndim))
    s2 = draw(st.tuples(*[st.integers(1, max_side)] * ndim))
    a = draw(hnp.arrays(dtype, s1, elements=_elements(dtype)))
    b = draw(hnp.arrays(dtype, s2, elements=_elements(dtype)))
    return a, b


def _contained(a, b):
    return all(x >= y for x, y in zip(a.shape, b.shape)) or all(
        x <= y for x, y in zip(a.shape, b.shape)
    )


@SETTINGS
@given(pairs())
def test_convolve_full_is_commutative(ab):
    a, b = ab
    x = fastconv.convolve(a, b, "full")
    y = fastconv.convolve(b, a, "full")
    assert_conv_close(x, y, magnitude_bound("convolve", a, b) if x.dtype.kind in "fc" else None)


@SETTINGS
@given(pairs())
def test_convolve_valid_is_commutative_when_one_contains_the_other(ab):
    a, b = ab
    if not _contained(a, b):
        return
    x = fastconv.convolve(a, b, "valid")
    y = fastconv.convolve(b, a, "valid")
    bound = magnitude_bound("convolve", a, b, "valid") if x.dtype.kind in "fc" else None
    assert_conv_close(x, y, bound)


@SETTINGS
@given(pairs(dtype="int32"), st.integers(-3, 3), MODES, BOUNDARY)
def test_linearity_integers_exact_modulo(ab, alpha, mode, boundary):
    # integer results wrap modulo 2**32, so linearity holds exactly, overflow included
    a, b = ab
    if mode == "valid" and not _contained(a, b):
        return
    c = np.flip(a) if a.ndim == 1 else a[::-1, ...]
    c = np.ascontiguousarray(c)
    with np.errstate(over="ignore"):
        lhs = fastconv.convolve(alpha * a + c, b, mode, boundary=boundary)
        rhs = alpha * fastconv.convolve(a, b, mode, boundary=boundary) + fastconv.convolve(
            c, b, mode, boundary=boundary
        )
    assert lhs.dtype == np.int32
    np.testing.assert_array_equal(lhs, rhs)


@SETTINGS
@given(pairs(dtype="complex128"), st.complex_numbers(max_magnitude=3), MODES, BOUNDARY)
def test_linearity_complex(ab, alpha, mode, boundary):
    a, b = ab
    if mode == "valid" and not _contained(a, b):
        return
    c = np.ones_like(a) * (1 - 2j)
    for op in ["convolve", "correlate"]:
        f = getattr(fastconv, op)
        lhs = f(alpha * a + c, b, mode, boundary=boundary)
        rhs = alpha * f(a, b, mode, boundary=boundary) + f(c, b, mode, boundary=boundary)
        bound = (abs(alpha) + 1) * magnitude_bound(op, abs(a) + abs(c), b, mode, None, boundary)
        # both sides carry rounding errors: allow a few ulps of the magnitude bound
        np.testing.assert_array_less(np.abs(lhs - rhs), 1e-12 * bound + 1e-300)


@SETTINGS
@given(pairs(), MODES, BOUNDARY, st.sampled_from([0, 1, -2]))
def test_correlate_equals_convolve_with_flipped_conjugate(ab, mode, boundary, fv):
    a, b = ab
    if mode == "valid" and not _contained(a, b):
        return
    c = fastconv.correlate(a, b, mode, boundary=boundary, fillvalue=fv)
    v = fastconv.convolve(a, flip_conj(b), mode, boundary=boundary, fillvalue=fv)
    bound = None
    if c.dtype.kind in "fc":
        bound = magnitude_bound("correlate", a, b, mode, None, boundary, fv)
    assert_conv_close(c, v, bound)


@SETTINGS
@given(pairs(max_ndim=4, max_side=6), MODES, BOUNDARY)
def test_matches_reference(ab, mode, boundary):
    a, b = ab
    if mode == "valid" and not _contained(a, b):
        return
    for op, ref in [("convolve", reference_convolve), ("correlate", reference_correlate)]:
        got = getattr(fastconv, op)(a, b, mode, boundary=boundary, fillvalue=1)
        exp = ref(a, b, mode, boundary=boundary, fillvalue=1)
        bound = (
            magnitude_bound(op, a, b, mode, None, boundary, 1) if exp.dtype.kind in "fc" else None
        )
        assert_conv_close(got, exp, bound)


@SETTINGS
@given(
    hnp.arrays("float64", hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
               elements=st.floats(-100, 100)),
    st.data(),
)
def test_delta_kernel_shifts_exactly(a, data):
    # a kernel with a single 1 at position p: full convolution is a shifted copy of in1
    kshape = tuple(data.draw(st.integers(1, 5)) for _ in range(a.ndim))
    pos = tuple(data.draw(st.integers(0, k - 1)) for k in kshape)
    w = np.zeros(kshape)
    w[pos] = 1.0
    got = fastconv.convolve(a, w, "full")
    exp = np.zeros(tuple(n + k - 1 for n, k in zip(a.shape, kshape)))
    exp[tuple(slice(p, p + n) for p, n in zip(pos, a.shape))] = a
    np.testing.assert_array_equal(got, exp)
