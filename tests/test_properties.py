"""Property-based tests (hypothesis), deterministic: derandomize=True, few examples."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastconv
from fastconv._methods.separable import low_rank_terms
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


def _methods(a, *kernels):
    """Every method that can run ``op(a, k)`` for each kernel k of `kernels`.

    'separable' needs a kernel the detector factors (any kernel in 1-D,
    where the 1-D pass is the direct method).
    """
    methods = ["direct", "fft", "im2col", "auto"]
    if a.ndim == 1 or all(low_rank_terms(k, np.result_type(a, k)) is not None
                          for k in kernels):
        methods.append("separable")
    return methods


def _close(got, exp, bound, method, err_msg=""):
    """assert_conv_close with the tolerance of `method`: normwise for the methods whose
    rounding errors spread over the output (FFTs, sums of separable terms)."""
    normwise = method in ("fft", "separable", "auto")
    assert_conv_close(got, exp, bound, err_msg=f"method={method} {err_msg}",
                      normwise=normwise)


@SETTINGS
@given(pairs())
def test_convolve_full_is_commutative(ab):
    a, b = ab
    for method in _methods(a, a, b):
        x = fastconv.convolve(a, b, "full", method=method)
        y = fastconv.convolve(b, a, "full", method=method)
        _close(x, y, magnitude_bound("convolve", a, b) if x.dtype.kind in "fc" else None,
               method)


@SETTINGS
@given(pairs().filter(lambda ab: _contained(*ab)))
def test_convolve_valid_is_commutative_when_one_contains_the_other(ab):
    a, b = ab
    for method in _methods(a, a, b):
        x = fastconv.convolve(a, b, "valid", method=method)
        y = fastconv.convolve(b, a, "valid", method=method)
        bound = magnitude_bound("convolve", a, b, "valid") if x.dtype.kind in "fc" else None
        _close(x, y, bound, method)


@SETTINGS
@given(pairs(dtype="int32"), st.integers(-3, 3), MODES, BOUNDARY)
def test_linearity_integers_exact_modulo(ab, alpha, mode, boundary):
    # integer results wrap modulo 2**32, so linearity holds exactly, overflow included
    a, b = ab
    assume(mode != "valid" or _contained(a, b))
    c = np.flip(a) if a.ndim == 1 else a[::-1, ...]
    c = np.ascontiguousarray(c)
    for method in _methods(a, b):
        with np.errstate(over="ignore"):
            lhs = fastconv.convolve(alpha * a + c, b, mode, method=method, boundary=boundary)
            rhs = alpha * fastconv.convolve(a, b, mode, method=method, boundary=boundary) + (
                fastconv.convolve(c, b, mode, method=method, boundary=boundary))
        assert lhs.dtype == np.int32
        np.testing.assert_array_equal(lhs, rhs, err_msg=f"method={method}")


@SETTINGS
@given(pairs(dtype="complex128"), st.complex_numbers(max_magnitude=3), MODES, BOUNDARY)
def test_linearity_complex(ab, alpha, mode, boundary):
    a, b = ab
    assume(mode != "valid" or _contained(a, b))
    c = np.ones_like(a) * (1 - 2j)
    for method in _methods(a, b):
        for op in ["convolve", "correlate"]:
            f = getattr(fastconv, op)
            kw = dict(method=method, boundary=boundary)
            lhs = f(alpha * a + c, b, mode, **kw)
            rhs = alpha * f(a, b, mode, **kw) + f(c, b, mode, **kw)
            bound = (abs(alpha) + 1) * magnitude_bound(op, abs(a) + abs(c), b, mode, None,
                                                       boundary)
            if method in ("fft", "separable", "auto"):
                bound = np.max(bound)  # errors spread over the output
            # both sides carry rounding errors: allow a few ulps of the magnitude bound
            np.testing.assert_array_less(np.abs(lhs - rhs), 1e-12 * bound + 1e-300,
                                         err_msg=f"method={method}")


@SETTINGS
@given(pairs(), MODES, BOUNDARY, st.sampled_from([0, 1, -2]))
def test_correlate_equals_convolve_with_flipped_conjugate(ab, mode, boundary, fv):
    a, b = ab
    assume(mode != "valid" or _contained(a, b))
    for method in _methods(a, b, flip_conj(b)):
        kw = dict(method=method, boundary=boundary, fillvalue=fv)
        c = fastconv.correlate(a, b, mode, **kw)
        v = fastconv.convolve(a, flip_conj(b), mode, **kw)
        bound = None
        if c.dtype.kind in "fc":
            bound = magnitude_bound("correlate", a, b, mode, None, boundary, fv)
        _close(c, v, bound, method)


@SETTINGS
@given(pairs(max_ndim=4, max_side=6), MODES, BOUNDARY)
def test_matches_reference(ab, mode, boundary):
    a, b = ab
    assume(mode != "valid" or _contained(a, b))
    for method in _methods(a, b):
        for op, ref in [("convolve", reference_convolve), ("correlate", reference_correlate)]:
            got = getattr(fastconv, op)(a, b, mode, method=method, boundary=boundary,
                                        fillvalue=1)
            exp = ref(a, b, mode, boundary=boundary, fillvalue=1)
            bound = (magnitude_bound(op, a, b, mode, None, boundary, 1)
                     if exp.dtype.kind in "fc" else None)
            _close(got, exp, bound, method, op)


@SETTINGS
@given(
    hnp.arrays("float64", hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
               elements=st.floats(-100, 100)),
    st.data(),
)
def test_delta_kernel_shifts_exactly(a, data):
    # a kernel with a single 1 at position p: full convolution is a shifted copy of in1,
    # exactly for the methods that only add products (the FFT within its tolerance)
    kshape = tuple(data.draw(st.integers(1, 5)) for _ in range(a.ndim))
    pos = tuple(data.draw(st.integers(0, k - 1)) for k in kshape)
    w = np.zeros(kshape)
    w[pos] = 1.0
    exp = np.zeros(tuple(n + k - 1 for n, k in zip(a.shape, kshape)))
    exp[tuple(slice(p, p + n) for p, n in zip(pos, a.shape))] = a
    for method in _methods(a, w):
        got = fastconv.convolve(a, w, "full", method=method)
        if method in ("direct", "separable", "im2col"):
            np.testing.assert_array_equal(got, exp, err_msg=f"method={method}")
        else:
            _close(got, exp, magnitude_bound("convolve", a, w), method)
