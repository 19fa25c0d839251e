"""Separable convolution: ``fastconv.convolve_separable`` and ``method='separable'``.

* ``convolve_separable(in1, kernels, mode, axes=..., boundary=..., fillvalue=...)`` must
  equal ``fastconv.convolve(in1, K, mode, method='direct', ...)`` where ``K`` is the outer
  product of the 1-D kernels placed along ``axes`` (in the order given), length 1
  elsewhere; result dtype ``np.result_type(in1, *kernels)``.
* ``convolve`` / ``correlate`` with ``method='separable'`` must equal ``method='direct'``
  for every rank-1 ``in2`` (within the dtype tolerance, exactly for integer results), and
  for floating results also for a sum of ``r`` rank-1 terms with ``r * sum(k) < prod(k)``;
  it must refuse, with a ValueError mentioning "separable", any other ``in2``.
* ``method='auto'`` may pick the separable path: its results must not change.

The expected values come from ``method='direct'``, never from ``'auto'`` (which may run
the code under test).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from _helpers import (
    watch_direct_kernel,
    INTEGER_FILL_CASTS,
    LAYOUT_DTYPES,
    conv_axes_of,
    fill_for,
    valid_ok,
    ALL_DTYPES,
    BOUNDARIES,
    MODES,
    assert_conv_close,
    make_array,
    magnitude_bound,
    with_layout,
)

OPS = ["convolve", "correlate"]

def outer_kernel(kernels, ndim, axes, dtype):
    """N-D kernel: kernels[i] along axes[i] (order as given), length 1 elsewhere.

    Built in the result dtype (products wrap modulo 2**bits for integers, AND for bool),
    which is what successive 1-D passes in that dtype compute."""
    dtype = np.dtype(dtype)
    K = np.ones((1,) * ndim, dtype=dtype)
    for k, ax in zip(kernels, conv_axes_of(axes, ndim)):
        shape = [1] * ndim
        shape[ax] = -1
        K = K * np.asarray(k).astype(dtype).reshape(shape)
    return K


def check_separable(in1, kernels, mode="full", axes=None, boundary="fill", fillvalue=0, **kw):
    """convolve_separable == convolve(in1, outer product, method='direct')."""
    a = np.asarray(in1)
    ks = [np.asarray(k) for k in kernels]
    rdt = np.result_type(a, *ks)
    K = outer_kernel(ks, a.ndim, axes, rdt)
    kwargs = dict(axes=axes, boundary=boundary, fillvalue=fillvalue, **kw)
    msg = f"mode={mode} axes={axes} boundary={boundary} fillvalue={fillvalue} {kw}"
    if mode == "valid" and not valid_ok(a.shape, K.shape, conv_axes_of(axes, a.ndim)):
        with pytest.raises(ValueError, match="in1|in2|kernel|valid"):
            fastconv.convolve_separable(in1, kernels, mode, **kwargs)
        return None
    got = fastconv.convolve_separable(in1, kernels, mode, **kwargs)
    exp = fastconv.convolve(
        a, K, mode, method="direct", axes=axes, boundary=boundary, fillvalue=fillvalue
    )
    assert exp.dtype == rdt
    assert isinstance(got, np.ndarray)
    bound = None
    if rdt.kind in "fc":
        bound = magnitude_bound("convolve", a, K, mode, axes, boundary, fillvalue)
    assert_conv_close(got, exp, bound, dtype=rdt, err_msg=msg)
    return got


def check_method(op, in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0,
                 normwise=False, **kw):
    """<op>(method='separable') == <op>(method='direct').

    ``normwise``: tolerance relative to the largest output magnitude, for
    kernels run as sums of several terms."""
    f = getattr(fastconv, op)
    a, b = np.asarray(in1), np.asarray(in2)
    kwargs = dict(axes=axes, boundary=boundary, fillvalue=fillvalue, **kw)
    msg = f"{op} mode={mode} axes={axes} boundary={boundary} fillvalue={fillvalue} {kw}"
    if mode == "valid" and not valid_ok(a.shape, b.shape, conv_axes_of(axes, a.ndim)):
        with pytest.raises(ValueError, match="in1|in2|valid"):
            f(in1, in2, mode, method="separable", **kwargs)
        return None
    got = f(in1, in2, mode, method="separable", **kwargs)
    exp = f(a, b, mode, method="direct", **kwargs)
    assert exp.dtype == np.result_type(a, b)
    bound = None
    if exp.dtype.kind in "fc":
        bound = magnitude_bound(op, a, b, mode, axes, boundary, fillvalue)
    assert_conv_close(got, exp, bound, err_msg=msg, normwise=normwise)
    return got


def random_kernels(rng, lengths, dtype):
    """1-D kernels; integer/bool ones never all zero."""
    out = []
    for n in lengths:
        k = make_array(rng, (n,), dtype)
        if not np.any(k):
            k[0] = 1
        out.append(k)
    return out


def rank1_kernel(rng, shape, dtype):
    """A separable kernel of ``shape`` in ``dtype``: outer product of random factors.

    Floats: built in float64/complex128 and rounded once to ``dtype`` (as a user would).
    Integers: small factors whose product does not overflow ``dtype`` (exactly rank 1)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        fac = []
        for n in shape:
            v = rng.random(n) < 0.6
            v[rng.integers(n)] = True
            fac.append(v)
        K = np.ones((1,) * len(shape), dtype=bool)
        for i, v in enumerate(fac):
            K = K & v.reshape([-1 if j == i else 1 for j in range(len(shape))])
        return K
    if dtype.kind in "iu":
        lo = 0 if dtype.kind == "u" else -3
        K = np.ones((1,) * len(shape), dtype=np.int64)
        for i, n in enumerate(shape):
            v = rng.integers(lo, 4, n)
            if not np.any(v):
                v[0] = 2
            K = K * v.reshape([-1 if j == i else 1 for j in range(len(shape))])
        info = np.iinfo(dtype)
        assert K.min() >= info.min and K.max() <= info.max
        return K.astype(dtype)
    work = np.complex128 if dtype.kind == "c" else np.float64
    K = np.ones((1,) * len(shape), dtype=work)
    for i, n in enumerate(shape):
        v = make_array(rng, (n,), work)
        K = K * v.reshape([-1 if j == i else 1 for j in range(len(shape))])
    return K.astype(dtype)


# ======================================================= convolve_separable vs convolve

SEP_SHAPES = [
    pytest.param((40,), (7,), id="1d-40_7"),
    pytest.param((9,), (1,), id="1d-9_1"),
    pytest.param((3,), (8,), id="1d-bigkernel"),
    pytest.param((13, 17), (3, 4), id="2d-13x17_3x4"),
    pytest.param((4, 5), (6, 7), id="2d-bigkernel"),
    pytest.param((5, 8), (6, 3), id="2d-crossed"),
    pytest.param((1, 1), (3, 2), id="2d-1x1input"),
    pytest.param((6, 7, 9), (3, 2, 4), id="3d-6x7x9_3x2x4"),
    pytest.param((2, 3, 4), (3, 4, 5), id="3d-bigkernel"),
    pytest.param((3, 4, 5, 6), (2, 3, 1, 2), id="4d"),
]


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("s1,klens", SEP_SHAPES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_convolve_separable_grid(dtype, s1, klens, boundary, rng):
    a = make_array(rng, s1, dtype)
    ks = random_kernels(rng, klens, dtype)
    fv = fill_for(dtype) if boundary == "fill" else 0
    for mode in MODES:
        got = check_separable(a, ks, mode, boundary=boundary, fillvalue=fv)
        if got is not None:
            assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16"])
def test_convolve_separable_zero_fill_and_default(dtype, boundary, mode, rng):
    # fillvalue=0 / default arguments
    a = make_array(rng, (11, 10), dtype)
    ks = random_kernels(rng, (4, 3), dtype)
    check_separable(a, ks, mode, boundary=boundary, fillvalue=0)
    if boundary == "fill":
        got = fastconv.convolve_separable(a, ks, mode)
        exp = fastconv.convolve(a, outer_kernel(ks, 2, None, dtype), mode, method="direct")
        bound = None
        if np.dtype(dtype).kind == "f":
            bound = magnitude_bound("convolve", a, outer_kernel(ks, 2, None, dtype), mode)
        assert_conv_close(got, exp, bound)


SEP_MIXED = [
    pytest.param("int16", ["float32", "float32"], id="int16-f32"),
    pytest.param("float32", ["float64", "int8"], id="f32-f64,i8"),
    pytest.param("uint8", ["int8", "int8"], id="u8-i8"),
    pytest.param("bool", ["bool", "int8"], id="bool-bool,i8"),
    pytest.param("complex64", ["float64", "float32"], id="c64-f64"),
    pytest.param("float16", ["int8", "float16"], id="f16-i8"),
    pytest.param("int8", ["complex64", "int8"], id="i8-c64"),
    pytest.param("float64", ["bool", "bool"], id="f64-bool"),
    pytest.param("int64", ["uint64", "int8"], id="i64-u64"),
]


@pytest.mark.parametrize("d1,kdts", SEP_MIXED)
@pytest.mark.parametrize("boundary", ["fill", "reflect", "wrap"])
def test_convolve_separable_mixed_dtypes(d1, kdts, boundary, rng):
    a = make_array(rng, (9, 12), d1)
    ks = [random_kernels(rng, (n,), d)[0] for n, d in zip((3, 4), kdts)]
    rdt = np.result_type(a, *ks)
    fv = fill_for(rdt) if boundary == "fill" else 0
    for mode in MODES:
        got = check_separable(a, ks, mode, boundary=boundary, fillvalue=fv)
        assert got.dtype == rdt


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "uint64"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "mirror"])
def test_convolve_separable_integer_overflow_wraps(dtype, boundary, rng):
    # full-range values: every pass overflows; the result must still be exact mod 2**bits
    a = make_array(rng, (8, 11), dtype, kind="full")
    ks = [make_array(rng, (n,), dtype, kind="full") for n in (5, 4)]
    fv = fill_for(dtype) if boundary == "fill" else 0
    for mode in MODES:
        check_separable(a, ks, mode, boundary=boundary, fillvalue=fv)


@pytest.mark.parametrize(
    "dtype,fillvalue,cast",
    INTEGER_FILL_CASTS,
)
def test_convolve_separable_integer_fillvalue_is_cast_first(dtype, fillvalue, cast, rng):
    # the fill value is cast to the result dtype before it is used (2.7 -> 2), and the
    # later passes must see cast_fill * sum(kernel), not fillvalue * sum(kernel)
    a = make_array(rng, (6, 5), dtype)
    ks = random_kernels(rng, (3, 4), dtype)
    for mode in ["full", "same"]:
        got = fastconv.convolve_separable(a, ks, mode, fillvalue=fillvalue)
        exp = fastconv.convolve_separable(a, ks, mode, fillvalue=cast)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, exp)
        check_separable(a, ks, mode, fillvalue=fillvalue)


def test_fill_is_carried_through_passes_by_hand():
    # in1 = [[1]], kernels all ones of length 2, fill 9: every full output sees
    # in1[0, 0] once and the fill value three times -> 1 + 3 * 9 = 28
    got = fastconv.convolve_separable(np.array([[1.0]]), [np.ones(2), np.ones(2)], fillvalue=9)
    np.testing.assert_array_equal(got, np.full((2, 2), 28.0))
    # 3-D: 1 + 7 * 9 = 64
    got = fastconv.convolve_separable(np.ones((1, 1, 1)), [np.ones(2)] * 3, fillvalue=9.0)
    np.testing.assert_array_equal(got, np.full((2, 2, 2), 64.0))
    # weights: out[0, 0] = k0[0] k1[0] x + fill (k0[0] k1[1] + k0[1] k1[0] + k0[1] k1[1])
    k0, k1 = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    got = fastconv.convolve_separable(np.array([[1.0]]), [k0, k1], "full", fillvalue=-1.0)
    K = np.outer(k0, k1)
    exp = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            exp[i, j] = K[i, j] * 1.0 - (K.sum() - K[i, j])
    np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "float64"])
def test_infinite_fill_through_passes_without_warning(dtype):
    # the fill after a pass is fill * sum(kernel): for complex inf that product
    # is NaN in part, quietly, as the passes' own products are (warnings are
    # errors here); outputs away from the fill are exact
    x = np.ones((3, 3), dtype)
    got = fastconv.convolve_separable(x, [np.array([1.0, 2.0]), np.array([3.0, 1.0])],
                                      mode="full", fillvalue=np.inf)
    np.testing.assert_array_equal(got[1:3, 1:3], np.full((2, 2), 12.0))
    assert not np.isfinite(got[0]).any() and not np.isfinite(got[:, 0]).any()


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_kernel_taps_near_the_float64_limit(dtype):
    # the kernel's norm overflows float64: it is factored scaled by its largest
    # tap (no overflow warning; warnings are errors here), each factor taking a
    # share of the scale
    x = np.zeros((4, 4), dtype)
    x[1, 1] = 1e-300
    k = np.outer([0.5, 1.0, -0.75], [1.5e308, -1e308]).astype(dtype)
    from fastconv._methods.separable import low_rank_terms

    got = fastconv.convolve(x, k, method="separable")
    np.testing.assert_allclose(got, fastconv.convolve(x, k, method="direct"), rtol=1e-14)
    terms = low_rank_terms(k)
    assert len(terms) == 1
    assert all(np.isfinite(f).all() and np.abs(f).max() < 1e155 for f in terms[0])
    # of rank 2: refused, not taken for an outer product of infinite norms
    with pytest.raises(ValueError, match="separable"):
        fastconv.convolve(x, np.array([[1e308, 1e308], [1e308, -1e308]], dtype),
                          method="separable")


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("shape,klens", [((5, 7), (3, 4)), ((2, 3), (6, 5)), ((3, 4, 2), (2, 5, 3))])
def test_constant_input_gives_constant_output(boundary, shape, klens, rng):
    # a constant input extended with the same constant: every full/same output is
    # c * prod(sum(k)), exactly (small integers)
    c = 3
    a = np.full(shape, c, dtype=np.int32)
    ks = [rng.integers(-4, 5, n).astype(np.int32) for n in klens]
    expect = c * np.prod([int(k.sum()) for k in ks])
    for mode in ["full", "same"]:
        got = fastconv.convolve_separable(a, ks, mode, boundary=boundary, fillvalue=c)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, np.full(got.shape, expect, dtype=np.int32))


def test_matches_successive_1d_convolutions(rng):
    # independent of outer_kernel: full mode, zero fill = two 1-D convolutions
    a = make_array(rng, (7, 9), "float64")
    k0, k1 = make_array(rng, (4,), "float64"), make_array(rng, (3,), "float64")
    step = fastconv.convolve(a, k0[:, None], "full", method="direct")
    exp = fastconv.convolve(step, k1[None, :], "full", method="direct")
    got = fastconv.convolve_separable(a, [k0, k1], "full")
    K = np.outer(k0, k1)
    assert_conv_close(got, exp, magnitude_bound("convolve", a, K, "full"))
    # identity kernels in 'same' mode give in1 back exactly, whatever the boundary
    for boundary in BOUNDARIES:
        got = fastconv.convolve_separable(a, [[1.0], [0.0, 1.0, 0.0]], "same", boundary=boundary)
        np.testing.assert_array_equal(got, a)


# ---------------------------------------------------------------- axes

SEP_AXES = [
    pytest.param((4, 9), (3,), [1], id="2d-ax1"),
    pytest.param((4, 9), (3,), 1, id="2d-int-axis"),
    pytest.param((4, 9), (5,), [-2], id="2d-ax-2"),
    pytest.param((5, 2, 7), (3, 4), [0, 2], id="3d-ax02"),
    pytest.param((5, 2, 7), (4, 3), [2, 0], id="3d-ax20-order"),
    pytest.param((5, 2, 7), (4, 3), (-1, 0), id="3d-ax-10"),
    pytest.param((6, 5, 4, 3), (2, 2), [0, 3], id="4d-ax03"),
    pytest.param((3, 6, 1), (2, 3), [2, 1], id="3d-len1-convolved"),
    pytest.param((2, 3, 4), (5, 6), [1, 2], id="3d-bigkernel"),
    pytest.param((2, 3, 4), (5, 2), [1, 2], id="3d-crossed"),
    pytest.param((3, 20), (5,), [1], id="2d-batch-rows"),
    pytest.param((3, 4, 5, 6), (3, 2, 4), [3, 1, 2], id="4d-ax312"),
]


@pytest.mark.parametrize("s1,klens,axes", SEP_AXES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("dtype", ["float64", "complex64", "int32"])
def test_convolve_separable_axes(dtype, s1, klens, axes, boundary, rng):
    a = make_array(rng, s1, dtype)
    ks = random_kernels(rng, klens, dtype)
    fv = fill_for(dtype) if boundary == "fill" else 0
    for mode in MODES:
        got = check_separable(a, ks, mode, axes=axes, boundary=boundary, fillvalue=fv)
        if got is None:
            continue
        for i in range(len(s1)):
            if i not in conv_axes_of(axes, len(s1)):
                assert got.shape[i] == s1[i]


def test_kernels_follow_the_order_of_axes(rng):
    a = make_array(rng, (6, 5, 7), "float64")
    k0, k2 = make_array(rng, (3,), "float64"), make_array(rng, (4,), "float64")
    for mode in MODES:
        for boundary in ["fill", "reflect"]:
            x = fastconv.convolve_separable(a, [k0, k2], mode, axes=[0, 2], boundary=boundary)
            y = fastconv.convolve_separable(a, [k2, k0], mode, axes=[2, 0], boundary=boundary)
            z = fastconv.convolve_separable(a, [k2, k0], mode, axes=[-1, -3], boundary=boundary)
            K = outer_kernel([k0, k2], 3, [0, 2], "float64")
            bound = magnitude_bound("convolve", a, K, mode, [0, 2], boundary)
            assert x.shape == y.shape == z.shape
            assert_conv_close(y, x, bound)
            assert_conv_close(z, x, bound)
    # axes=None means all axes in increasing order
    ks = random_kernels(rng, (2, 3, 4), "float64")
    x = fastconv.convolve_separable(a, ks, "same")
    y = fastconv.convolve_separable(a, ks, "same", axes=[0, 1, 2])
    z = fastconv.convolve_separable(a, ks[::-1], "same", axes=[2, 1, 0])
    bound = magnitude_bound("convolve", a, outer_kernel(ks, 3, None, "float64"), "same")
    assert_conv_close(y, x, bound)
    assert_conv_close(z, x, bound)


# ---------------------------------------------------------------- wider inputs


def _gaussian(n, sigma):
    t = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


WIDE = [
    pytest.param((64, 300), (31, 31), id="2d-64x300_31x31"),
    pytest.param((1000,), (31,), id="1d-1000_31"),
    pytest.param((9, 10, 67), (3, 4, 5), id="3d-9x10x67"),
    pytest.param((130, 17), (4, 6), id="2d-130x17_4x6"),
]


@pytest.mark.parametrize("s1,klens", WIDE)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_convolve_separable_wide_gaussian(dtype, s1, klens, rng):
    a = make_array(rng, s1, dtype)
    ks = [_gaussian(n, n / 6).astype(np.float32 if dtype == "float32" else np.float64)
          for n in klens]
    for boundary in BOUNDARIES:
        fv = fill_for(dtype) if boundary == "fill" else 0
        for mode in MODES:
            check_separable(a, ks, mode, boundary=boundary, fillvalue=fv)


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint8"])
def test_convolve_separable_wide_integer(dtype, rng):
    a = make_array(rng, (64, 300), dtype, kind="full")
    ks = [make_array(rng, (n,), dtype) for n in (31, 17)]
    for boundary in ["fill", "reflect", "wrap"]:
        for mode in MODES:
            check_separable(a, ks, mode, boundary=boundary, fillvalue=fill_for(dtype))


@pytest.mark.parametrize("workers", [None, 1, 2, -1])
def test_convolve_separable_workers(workers, rng):
    a = make_array(rng, (33, 45), "float64")
    ks = random_kernels(rng, (5, 6), "float64")
    for mode in MODES:
        check_separable(a, ks, mode, boundary="fill", fillvalue=1.5, workers=workers)
        check_separable(a, ks, mode, boundary="mirror", workers=workers)


# ---------------------------------------------------------------- layouts, inputs kept


@pytest.mark.parametrize("layout,dtype", LAYOUT_DTYPES)
@pytest.mark.parametrize("which", ["in1", "kernels", "both"])
def test_convolve_separable_layouts(layout, dtype, which, rng):
    a = make_array(rng, (9, 6, 11), dtype)
    ks = random_kernels(rng, (3, 2, 4), dtype)
    la = with_layout(a, layout) if which in ("in1", "both") else a
    lks = [with_layout(k, layout) for k in ks] if which in ("kernels", "both") else ks
    la_copy = np.array(la, copy=True)
    lks_copy = [np.array(k, copy=True) for k in lks]
    for mode, boundary in [("full", "fill"), ("same", "reflect"), ("valid", "fill"),
                           ("same", "wrap")]:
        fv = fill_for(dtype) if boundary == "fill" else 0
        got = fastconv.convolve_separable(la, lks, mode, boundary=boundary, fillvalue=fv)
        assert got.dtype.isnative
        ref = fastconv.convolve_separable(a, ks, mode, boundary=boundary, fillvalue=fv)
        bound = None
        if ref.dtype.kind in "fc":
            K = outer_kernel(ks, 3, None, dtype)
            bound = magnitude_bound("convolve", a, K, mode, None, boundary, fv)
        assert_conv_close(got, ref, bound)
        check_separable(la, lks, mode, boundary=boundary, fillvalue=fv)
        for axes in ([2, 0], [-2]):
            sub = [lks[2], lks[0]] if len(axes) == 2 else [lks[1]]
            check_separable(la, sub, mode, axes=axes, boundary=boundary, fillvalue=fv)
    np.testing.assert_array_equal(np.asarray(la), la_copy)
    for k, kc in zip(lks, lks_copy):
        np.testing.assert_array_equal(np.asarray(k), kc)


def test_kernels_as_tuples_and_lists_of_numbers(rng):
    a = make_array(rng, (6, 7), "float64")
    got = fastconv.convolve_separable(a, ([1, 2, 1], (1.0, 0.0, -1.0)), "same")
    K = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
    exp = fastconv.convolve(a, K, "same", method="direct")
    assert_conv_close(got, exp, magnitude_bound("convolve", a, K, "same"))
    # integer lists with an integer input stay integer (and exact)
    ai = make_array(rng, (6, 7), "int64")
    got = fastconv.convolve_separable(ai, [[1, 2, 1], [1, 0, -1]], "full")
    assert got.dtype == np.result_type(ai, np.asarray([1]))
    np.testing.assert_array_equal(
        got, fastconv.convolve(ai, np.outer([1, 2, 1], [1, 0, -1]), "full", method="direct")
    )


@pytest.mark.parametrize("dtype", ["float64", "int8", "complex64", "float16", "bool"])
def test_inputs_not_modified(dtype, rng):
    a = make_array(rng, (7, 8), dtype)
    ks = random_kernels(rng, (3, 4), dtype)
    a0, ks0 = a.copy(), [k.copy() for k in ks]
    for mode in MODES:
        for boundary in BOUNDARIES:
            fastconv.convolve_separable(a, ks, mode, boundary=boundary,
                                        fillvalue=fill_for(dtype))
    np.testing.assert_array_equal(a, a0)
    for k, k0 in zip(ks, ks0):
        np.testing.assert_array_equal(k, k0)
    K = rank1_kernel(rng, (3, 4), dtype)
    K0 = K.copy()
    for op in OPS:
        for mode in MODES:
            getattr(fastconv, op)(a, K, mode, method="auto")
            # a rank-1 kernel: always accepted
            getattr(fastconv, op)(a, K, mode, method="separable", boundary="reflect")
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(K, K0)


def test_output_is_fresh_writeable_array(rng):
    a = make_array(rng, (6, 6), "float64")
    for mode in MODES:
        got = fastconv.convolve_separable(a, [[1.0], [1.0]], mode)
        assert got.flags.writeable
        assert not np.shares_memory(got, a)
        np.testing.assert_array_equal(got, a)
        got[...] = 0
        assert np.any(a != 0)


# ---------------------------------------------------------------- errors

A2 = np.arange(12.0).reshape(3, 4)


@pytest.mark.parametrize(
    "kernels,axes",
    [
        pytest.param([np.ones(3)], None, id="too-few"),
        pytest.param([np.ones(3)] * 3, None, id="too-many"),
        pytest.param([], None, id="none-given"),
        pytest.param([np.ones(3)], [0, 1], id="too-few-for-axes"),
        pytest.param([np.ones(3), np.ones(2)], [1], id="too-many-for-axes"),
        pytest.param([np.ones(3), np.ones(2)], 1, id="too-many-for-int-axis"),
        pytest.param([np.ones((2, 2)), np.ones(3)], None, id="2d-kernel"),
        pytest.param([np.ones(3), [[1.0, 2.0]]], None, id="nested-list-kernel"),
        pytest.param([2.0, np.ones(3)], None, id="scalar-kernel"),
        pytest.param(np.array([1.0, 2.0]), None, id="array-of-scalars"),
        pytest.param([np.ones(0), np.ones(3)], None, id="empty-kernel"),
        pytest.param([np.ones(3), []], None, id="empty-list-kernel"),
    ],
)
def test_bad_kernels(kernels, axes):
    with pytest.raises((ValueError, TypeError), match="kernels"):
        fastconv.convolve_separable(A2, kernels, axes=axes)


@pytest.mark.parametrize(
    "kernels",
    [
        pytest.param([np.ones(3), ["a", "b"]], id="strings"),
        pytest.param([np.array([None, 1], dtype=object), np.ones(3)], id="object"),
        pytest.param([np.ones(3), np.array(["2020-01-01"], dtype="datetime64[D]")], id="datetime"),
        pytest.param([np.ones(3), np.ones(2, dtype=np.longdouble)], id="longdouble"),
    ],
)
def test_bad_kernels_type_error(kernels):
    if np.asarray(kernels[-1]).dtype == np.longdouble and np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises((TypeError, ValueError), match="kernels"):
        fastconv.convolve_separable(A2, kernels)


@pytest.mark.parametrize("kernels", [None, 5, 2.5])
def test_kernels_not_a_sequence(kernels):
    with pytest.raises((TypeError, ValueError), match="kernels"):
        fastconv.convolve_separable(A2, kernels)


K2 = [np.ones(2), np.ones(3)]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(mode="ful"), ValueError, "mode"),
        (dict(mode="Same"), ValueError, "mode"),
        (dict(mode=None), (ValueError, TypeError), "mode"),
        (dict(boundary="circular"), ValueError, "boundary"),
        (dict(boundary="constant"), ValueError, "boundary"),
        (dict(boundary=None), (ValueError, TypeError), "boundary"),
        (dict(axes=[0, 2]), ValueError, "axes"),
        (dict(axes=[0, -3]), ValueError, "axes"),
        (dict(axes=[1, 1]), ValueError, "axes"),
        (dict(axes=[1, -1]), ValueError, "axes"),
        (dict(axes=[0.0, 1]), TypeError, "axes"),
        (dict(axes=[True, 0]), TypeError, "axes"),
        (dict(workers=0), ValueError, "workers"),
        (dict(workers=1.5), TypeError, "workers"),
        (dict(workers="2"), TypeError, "workers"),
        (dict(fillvalue=[1.0, 2.0]), ValueError, "fillvalue"),
        (dict(fillvalue=1 + 2j), TypeError, "fillvalue"),
        (dict(fillvalue="a"), (TypeError, ValueError), "fillvalue"),
        (dict(fillvalue=None), (TypeError, ValueError), "fillvalue"),
    ],
)
def test_bad_arguments_like_convolve(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastconv.convolve_separable(A2, K2, **kwargs)
    # convolve says the same thing for the same argument
    with pytest.raises(exc, match=match):
        fastconv.convolve(A2, np.outer(*K2), **kwargs)


def test_empty_axes_error():
    with pytest.raises(ValueError, match="axes|kernels"):
        fastconv.convolve_separable(A2, [], axes=[])


def test_bad_in1():
    with pytest.raises(ValueError, match="in1"):
        fastconv.convolve_separable(np.ones((0, 4)), K2)
    with pytest.raises(ValueError, match="in1"):
        fastconv.convolve_separable(np.ones((3, 0)), K2, axes=None)
    with pytest.raises(TypeError, match="in1"):
        fastconv.convolve_separable(np.array([["a", "b"]]), K2)
    with pytest.raises(TypeError, match="in1"):
        fastconv.convolve_separable(np.array([[None, 1]], dtype=object), K2)


def test_valid_mode_crossed_shapes_error(rng):
    a = make_array(rng, (5, 8), "float64")
    with pytest.raises(ValueError, match="in1|in2|kernel|valid"):
        fastconv.convolve_separable(a, [np.ones(6), np.ones(3)], "valid")
    # axes: only the convolved axes count
    a = make_array(rng, (2, 9, 4), "float64")
    with pytest.raises(ValueError, match="in1|in2|kernel|valid"):
        fastconv.convolve_separable(a, [np.ones(3), np.ones(5)], "valid", axes=[1, 2])
    got = fastconv.convolve_separable(a, [np.ones(9), np.ones(5)], "valid", axes=[1, 2])
    assert got.shape == (2, 1, 2)  # swap rule: kernel longer along every convolved axis


def test_output_too_large_is_an_error_not_a_crash():
    a = np.broadcast_to(np.ones((1, 1), np.int8), (2**31, 2**31))  # zero strides
    with pytest.raises((ValueError, MemoryError)):
        fastconv.convolve_separable(a, [np.ones(3, np.int8), np.ones(3, np.int8)])


# ======================================================= method='separable'

METHOD_SHAPES = [
    pytest.param((40,), (7,), id="1d-40_7"),
    pytest.param((3,), (8,), id="1d-bigkernel"),
    pytest.param((13, 17), (3, 4), id="2d-13x17_3x4"),
    pytest.param((4, 5), (6, 7), id="2d-bigkernel"),
    pytest.param((5, 8), (6, 3), id="2d-crossed"),
    pytest.param((6, 7, 9), (3, 2, 4), id="3d"),
    pytest.param((2, 3, 4), (3, 4, 5), id="3d-bigkernel"),
    pytest.param((3, 4, 5, 6), (2, 3, 1, 2), id="4d"),
]
METHOD_DTYPES = ["float32", "float64", "complex64", "complex128", "int8", "int16", "int64",
                 "uint8", "bool", "float16"]


@pytest.mark.parametrize("s1,s2", METHOD_SHAPES)
@pytest.mark.parametrize("dtype", METHOD_DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_method_separable_grid(op, dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = rank1_kernel(rng, s2, dtype)
    for boundary in BOUNDARIES:
        fv = fill_for(dtype) if boundary == "fill" else 0
        for mode in MODES:
            got = check_method(op, a, b, mode, boundary=boundary, fillvalue=fv)
            if got is not None:
                assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "complex128", "int32"])
def test_method_separable_default_fill(dtype, mode, rng):
    a = make_array(rng, (12, 9), dtype)
    b = rank1_kernel(rng, (4, 3), dtype)
    for op in OPS:
        check_method(op, a, b, mode)


@pytest.mark.parametrize("boundary", ["fill", "reflect", "nearest"])
@pytest.mark.parametrize(
    "d1,d2",
    [("int16", "float32"), ("float32", "int16"), ("uint8", "int8"), ("bool", "float64"),
     ("float32", "complex128"), ("int8", "complex64"), ("float16", "float32")],
)
def test_method_separable_mixed_dtypes(d1, d2, boundary, rng):
    a = make_array(rng, (10, 11), d1)
    b = rank1_kernel(rng, (3, 4), d2)
    rdt = np.result_type(a, b)
    fv = fill_for(rdt) if boundary == "fill" else 0
    for op in OPS:
        for mode in MODES:
            got = check_method(op, a, b, mode, boundary=boundary, fillvalue=fv)
            assert got.dtype == rdt


@pytest.mark.parametrize(
    "s1,s2,axes",
    [
        pytest.param((4, 9), (1, 3), [1], id="2d-ax1-bcast"),
        pytest.param((5, 2, 7), (3, 1, 4), [0, 2], id="3d-ax02"),
        pytest.param((5, 2, 7), (3, 1, 4), [-1, 0], id="3d-ax-10"),
        pytest.param((6, 5, 4, 3), (2, 1, 1, 3), [0, 3], id="4d-ax03"),
        pytest.param((4, 5, 6), (1, 4, 2), [1, 2], id="3d-ax12"),
        pytest.param((2, 3, 4), (1, 5, 6), [1, 2], id="3d-swap"),
    ],
)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "mirror"])
@pytest.mark.parametrize("dtype", ["float64", "complex64", "int16"])
def test_method_separable_axes(s1, s2, axes, boundary, dtype, rng):
    a = make_array(rng, s1, dtype)
    conv = conv_axes_of(axes, len(s1))
    kshape = tuple(s2[i] if i in conv else 1 for i in range(len(s1)))
    b = rank1_kernel(rng, kshape, dtype)
    assert b.shape == s2
    fv = fill_for(dtype) if boundary == "fill" else 0
    for op in OPS:
        for mode in MODES:
            check_method(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fv)


def test_method_separable_batch_of_different_kernels(rng):
    # method='separable' takes a single kernel: in2 holding one rank-1 kernel per
    # batch element is refused with a ValueError mentioning 'separable'
    a = make_array(rng, (3, 8, 9), "float64")
    b = np.stack([rank1_kernel(rng, (3, 4), "float64") for _ in range(3)])
    for op in OPS:
        for mode in MODES:
            with pytest.raises(ValueError, match="separable.*single kernel"):
                getattr(fastconv, op)(a, b, mode, method="separable", axes=[1, 2],
                                      boundary="reflect")
    # the same rank-1 kernel repeated along the batch axis: still not length 1 there
    b2 = np.ascontiguousarray(np.broadcast_to(b[:1], b.shape))
    for op in OPS:
        with pytest.raises(ValueError, match="separable.*single kernel"):
            getattr(fastconv, op)(a, b2, "same", method="separable", axes=[1, 2],
                                  boundary="wrap")
        # with length 1 along the batch axis it broadcasts and is accepted
        check_method(op, a, b[:1], "same", axes=[1, 2], boundary="wrap")
    # one of the batch kernels is rank 2: must be refused
    b[1] = rank1_kernel(rng, (3, 4), "float64") + rank1_kernel(rng, (3, 4), "float64")
    for op in OPS:
        with pytest.raises(ValueError, match="separable"):
            getattr(fastconv, op)(a, b, "same", method="separable", axes=[1, 2])


@pytest.mark.parametrize(
    "s1,s2,axes",
    [
        pytest.param((30,), (7,), None, id="1d"),
        pytest.param((3,), (9,), None, id="1d-bigkernel"),
        pytest.param((5, 30), (5, 7), [1], id="2d-one-axis-batch-kernel"),
        pytest.param((5, 30), (1, 7), [-1], id="2d-one-axis"),
        pytest.param((8, 9), (1, 5), None, id="2d-row-kernel"),
        pytest.param((8, 9), (5, 1), None, id="2d-column-kernel"),
        pytest.param((4, 5, 6), (1, 1, 4), None, id="3d-line-kernel"),
        pytest.param((4, 5, 6), (4, 3, 6), [1], id="3d-one-axis-batch"),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "complex128", "int16", "float32"])
def test_one_dimensional_kernels_are_separable(s1, s2, axes, dtype, rng):
    # random (not constructed) kernels: any kernel with one non-trivial convolved axis
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for op in OPS:
        for mode in MODES:
            for boundary in ["fill", "symm"]:
                check_method(op, a, b, mode, axes=axes, boundary=boundary,
                             fillvalue=fill_for(dtype) if boundary == "fill" else 0)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_correlate_complex_kernel_conjugates_both_factors(dtype, rng):
    # correlate(a, u v^T) == convolve(a, conj(flip(u)) conj(flip(v))^T)
    a = make_array(rng, (9, 10), dtype)
    u, v = make_array(rng, (3,), dtype), make_array(rng, (4,), dtype)
    b = np.outer(u, v).astype(dtype)
    for mode in MODES:
        for boundary in ["fill", "reflect"]:
            got = fastconv.correlate(a, b, mode, method="separable", boundary=boundary,
                                     fillvalue=0.5j)
            exp = fastconv.convolve_separable(a, [np.conj(u[::-1]), np.conj(v[::-1])], mode,
                                              boundary=boundary, fillvalue=0.5j)
            bound = magnitude_bound("correlate", a, b, mode, None, boundary, 0.5j)
            assert_conv_close(got, exp, bound)
            check_method("correlate", a, b, mode, boundary=boundary, fillvalue=0.5j)
            check_method("convolve", a, b, mode, boundary=boundary, fillvalue=0.5j)


# ---------------------------------------------------------------- integer exactness

INT_RANK1 = [
    pytest.param("int16", [4, 6], [3, 9], id="gcd-rows"),
    pytest.param("int16", [2, 3, 0, -5], [6, 10, 15], id="coprime-columns"),
    pytest.param("int32", [0, 1, 2], [0, 3, 1], id="zero-pivot"),
    pytest.param("int8", [1, 2, 1], [1, 0, -1], id="sobel"),
    pytest.param("uint8", [1, 2, 1], [1, 1], id="uint8"),
    pytest.param("int64", [3, 2**31 + 1], [5, 2**29 + 3], id="int64-huge-entries"),
    pytest.param("int64", [-(2**20) - 7, 2**20 + 1, 3], [2**21 + 5, -(2**19) - 3], id="int64-big"),
    pytest.param("int16", [0, 0, 7], [0, -3, 0, 5], id="mostly-zero"),
    pytest.param("int32", [6], [10, 15, 6], id="one-row"),
]


@pytest.mark.parametrize("dtype,u,v", INT_RANK1)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "nearest"])
def test_integer_rank1_kernels_exact(dtype, u, v, boundary, rng):
    K = np.outer(np.array(u, dtype=np.int64), np.array(v, dtype=np.int64)).astype(dtype)
    assert np.array_equal(K.astype(object), np.outer(np.array(u, object), np.array(v, object)))
    a = make_array(rng, (13, 11), dtype, kind="full")
    fv = fill_for(dtype) if boundary == "fill" else 0
    for op in OPS:
        for mode in MODES:
            for method in ["separable", "auto"]:
                got = getattr(fastconv, op)(a, K, mode, method=method, boundary=boundary,
                                            fillvalue=fv)
                exp = getattr(fastconv, op)(a, K, mode, method="direct", boundary=boundary,
                                            fillvalue=fv)
                assert got.dtype == np.dtype(dtype)
                np.testing.assert_array_equal(got, exp, err_msg=f"{op} {mode} {method}")
    # and as an in1 of another dtype (float results)
    af = make_array(rng, (13, 11), "float64")
    for mode in MODES:
        check_method("convolve", af, K, mode, boundary=boundary, fillvalue=fv)


def test_integer_kernel_rank1_only_approximately_is_refused():
    # [[1, 3], [2**40, 3 * 2**40 + 1]] has determinant 1: rank 2, although in floating
    # point it is rank 1 to ~1e-25 relative. Integer results must be exact.
    K = np.array([[1, 3], [2**40, 3 * 2**40 + 1]], dtype=np.int64)
    a = np.arange(20, dtype=np.int64).reshape(4, 5)
    for op in OPS:
        with pytest.raises(ValueError, match="separable"):
            getattr(fastconv, op)(a, K, "full", method="separable")
        # auto must stay exact
        np.testing.assert_array_equal(
            getattr(fastconv, op)(a, K, "full", method="auto"),
            getattr(fastconv, op)(a, K, "full", method="direct"),
        )


# ---------------------------------------------------------------- separability detection


def _noisy(K, rel, rng):
    """K * (1 + rel * u), u uniform in [-1, 1] (complex: both parts)."""
    u = rng.uniform(-1, 1, K.shape)
    if np.iscomplexobj(K):
        u = u + 1j * rng.uniform(-1, 1, K.shape)
    return K * (1 + rel * u)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 5), (2, 3, 2, 3), (9, 9)])
def test_outer_products_with_eps_noise_are_accepted(dtype, shape, rng):
    eps = np.finfo(dtype).eps
    K = rank1_kernel(rng, shape, "complex128" if "complex" in dtype else "float64")
    b = _noisy(K, 2 * eps, rng).astype(dtype)
    a = make_array(rng, tuple(s + 4 for s in shape), dtype)
    for op in OPS:
        for mode in MODES:
            check_method(op, a, b, mode, boundary="reflect")
            check_method(op, a, b, mode, boundary="fill", fillvalue=fill_for(dtype))


@pytest.mark.parametrize("dtype", ["float32", "complex64", "float16"])
def test_float32_outer_astype_is_separable(dtype, rng):
    # exactly what a user writes
    work = np.complex128 if "complex" in dtype else np.float64
    u, v = make_array(rng, (7,), work), make_array(rng, (5,), work)
    b = np.outer(u, v).astype(dtype)
    a = make_array(rng, (20, 16), dtype)
    for op in OPS:
        for mode in MODES:
            check_method(op, a, b, mode)
    g = _gaussian(9, 1.5)
    b = np.outer(g, g).astype(np.float32)
    check_method("convolve", a.real.astype(np.float32), b, "same", boundary="nearest")


def _rank2(rng, shape, dtype):
    return rank1_kernel(rng, shape, dtype) + rank1_kernel(rng, shape, dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (2, 3, 2), (2, 2)])
def test_rank2_is_refused_when_two_terms_do_not_pay(dtype, shape, rng):
    # 2 * sum(shape) >= prod(shape): two separable terms cost more than the kernel
    b = _rank2(rng, shape, dtype)
    a = make_array(rng, (7, 8, 6, 5)[: len(shape)], dtype)
    for op in OPS:
        with pytest.raises(ValueError, match="separable"):
            getattr(fastconv, op)(a, b, "full", method="separable")
        with pytest.raises(ValueError, match="separable"):
            getattr(fastconv, op)(a, b, "same", method="separable", boundary="wrap")


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128", "int16", "int8"])
def test_random_3x3_is_refused(dtype, rng):
    b = make_array(rng, (3, 3), dtype)
    assert np.linalg.matrix_rank(b.astype(np.complex128)) > 1
    a = make_array(rng, (8, 8), dtype)
    for op in OPS:
        for mode in MODES:
            with pytest.raises(ValueError, match="separable"):
                getattr(fastconv, op)(a, b, mode, method="separable")
        # not a wrong result with the other methods either
        exp = getattr(fastconv, op)(a, b, "same", method="direct")
        got = getattr(fastconv, op)(a, b, "same", method="auto")
        bound = magnitude_bound(op, a, b, "same") if exp.dtype.kind in "fc" else None
        assert_conv_close(got, exp, bound)


@pytest.mark.parametrize(
    "K",
    [
        pytest.param(np.array([[1, 2], [3, 4]], np.int16), id="int16-2x2"),
        pytest.param(np.array([[1, 1], [1, 0]], np.int64), id="int64-2x2"),
        pytest.param(np.array([[1, 1], [4, 2]], np.uint8), id="uint8-2x2"),
        pytest.param(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool), id="bool-3x3"),
        pytest.param(np.array([[2, 4, 6], [1, 2, 4]], np.int8), id="int8-rows-almost-parallel"),
    ],
)
def test_integer_and_bool_non_separable_refused(K):
    a = np.ones((6, 7), K.dtype)
    for op in OPS:
        with pytest.raises(ValueError, match="separable"):
            getattr(fastconv, op)(a, K, "full", method="separable")


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_near_rank1_with_1e_3_noise_refused(dtype, rng):
    for shape in [(5, 7), (3, 4, 5), (31, 31)]:
        K = rank1_kernel(rng, shape, dtype)
        b = _noisy(K, 1e-3, rng)
        a = make_array(rng, tuple(s + 3 for s in shape), dtype)
        for op in OPS:
            with pytest.raises(ValueError, match="separable"):
                getattr(fastconv, op)(a, b, "same", method="separable")
    # Gaussian with a 1e-3 relative perturbation
    g = _gaussian(15, 2.5)
    b = _noisy(np.outer(g, g), 1e-3, rng)
    with pytest.raises(ValueError, match="separable"):
        fastconv.convolve(np.ones((20, 20)), b, "same", method="separable")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_partially_separable_3d(dtype, rng):
    # rank 1 between axis 0 and axes (1, 2) (or (0, 1) and 2), but not fully separable:
    # checking a single unfolding is not enough. Integer results refuse it; floating
    # results take it as two separable terms (2 * 12 taps < 60).
    from fastconv._methods.separable import low_rank_terms, separable_factors

    M = _rank2(rng, (3, 4), dtype)
    u = rank1_kernel(rng, (5,), dtype)
    a = make_array(rng, (7, 8, 9), dtype)
    for b in [u[:, None, None] * M[None], M[:, :, None] * u[None, None, :],
              M[:, None, :] * u[None, :, None]]:
        assert separable_factors(b, b.dtype) is None
        for op in OPS:
            if dtype == "int16":
                with pytest.raises(ValueError, match="separable"):
                    getattr(fastconv, op)(a, b, "same", method="separable")
            else:
                assert len(low_rank_terms(b, b.dtype)) == 2
                check_method(op, a, b, "same", normwise=True)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_accepted_kernels_give_results_within_tolerance(dtype, rng):
    # method='separable' accepts exactly the kernels the detector factors (a noise-free
    # rank-1 kernel always, one with 1% noise never), and those give the direct result
    # within the tolerance of the dtype; 'auto' always does
    from fastconv._methods.separable import low_rank_terms

    K = rank1_kernel(rng, (7, 9), dtype)
    a = make_array(rng, (30, 31), dtype)
    accepted = []
    for rel in [1e-15, 1e-13, 1e-11, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2]:
        b = _noisy(K.astype(np.complex128 if "complex" in dtype else np.float64), rel, rng)
        b = b.astype(dtype)
        accepted.append(low_rank_terms(b, b.dtype) is not None)
        for op in OPS:
            for mode in ["full", "same"]:
                if accepted[-1]:
                    check_method(op, a, b, mode, boundary="reflect")
                else:
                    with pytest.raises(ValueError, match="separable"):
                        getattr(fastconv, op)(a, b, mode, method="separable",
                                              boundary="reflect")
                exp = getattr(fastconv, op)(a, b, mode, method="direct")
                got = getattr(fastconv, op)(a, b, mode, method="auto")
                assert_conv_close(got, exp, magnitude_bound(op, a, b, mode),
                                  err_msg=f"auto, noise {rel}")
    assert accepted[0] and not accepted[-1]
    # a kernel accepted at some noise level is accepted at every smaller one
    assert accepted == sorted(accepted, reverse=True)


def test_zero_kernel(rng):
    # the zero kernel is an outer product (0 * anything); the result is all zeros
    a = make_array(rng, (6, 7), "float64")
    for dtype in ["float64", "int32"]:
        b = np.zeros((3, 4), dtype)
        for op in OPS:
            for mode in MODES:
                got = getattr(fastconv, op)(a, b, mode, method="separable")
                exp = getattr(fastconv, op)(a, b, mode, method="direct")
                assert got.dtype == exp.dtype
                np.testing.assert_array_equal(got, exp)


def test_zero_rows_and_columns_do_not_warn(rng):
    # pivots on zeros must not divide by zero (warnings are errors)
    u = np.array([0.0, 0.0, 1.5, 0.0, -2.0])
    v = np.array([0.0, 3.0, 0.0, 1.0])
    b = np.outer(u, v)
    a = make_array(rng, (9, 9), "float64")
    for op in OPS:
        for mode in MODES:
            check_method(op, a, b, mode, boundary="mirror")
            check_method(op, a, b, mode, boundary="fill", fillvalue=-1.0)


@pytest.mark.parametrize("method", ["Separable", "separate", "sep", ""])
def test_bad_method_names(method):
    for op in OPS:
        with pytest.raises(ValueError, match="method"):
            getattr(fastconv, op)(A2, np.ones((2, 2)), method=method)


@pytest.mark.parametrize("layout", ["F", "strided", "negative", "readonly", "bigendian", "list"])
def test_method_separable_layouts(layout, rng):
    a = make_array(rng, (9, 11), "float64")
    b = rank1_kernel(rng, (3, 4), "float64")
    la, lb = with_layout(a, layout), with_layout(b, layout)
    for op in OPS:
        for mode in MODES:
            check_method(op, la, lb, mode, boundary="wrap")
    ai = make_array(rng, (9, 11), "int16", kind="full")
    bi = np.outer(np.array([1, -2, 1], np.int16), np.array([3, 0, 1, 2], np.int16))
    bi_layout = with_layout(bi, "bigendian" if layout == "list" else layout)
    for op in OPS:
        np.testing.assert_array_equal(
            getattr(fastconv, op)(ai, bi_layout, "same", method="separable"),
            getattr(fastconv, op)(ai, bi, "same", method="direct"),
        )


# ======================================================= method='auto' on rank-1 kernels

AUTO_CASES = [
    pytest.param((64, 300), (31, 31), id="2d-64x300_31x31"),
    pytest.param((40, 50), (7, 7), id="2d-40x50_7x7"),
    pytest.param((10, 12, 14), (5, 5, 5), id="3d-5x5x5"),
    pytest.param((20, 200), (15, 3), id="2d-15x3"),
]


@pytest.mark.parametrize("s1,s2", AUTO_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_auto_equals_direct_for_gaussians(dtype, s1, s2, rng):
    K = np.ones((1,) * len(s2))
    for i, n in enumerate(s2):
        K = K * _gaussian(n, n / 5).reshape([-1 if j == i else 1 for j in range(len(s2))])
    K = K.astype(dtype)
    a = make_array(rng, s1, dtype)
    for op in OPS:
        for mode in MODES:
            for boundary, fv in [("fill", 0), ("fill", 1.5), ("reflect", 0)]:
                got = getattr(fastconv, op)(a, K, mode, method="auto", boundary=boundary,
                                            fillvalue=fv)
                exp = getattr(fastconv, op)(a, K, mode, method="direct", boundary=boundary,
                                            fillvalue=fv)
                bound = magnitude_bound(op, a, K, mode, None, boundary, fv)
                assert_conv_close(got, exp, bound, err_msg=f"{op} {mode} {boundary} {fv}")


@pytest.mark.parametrize(
    "dtype,u,v",
    [
        pytest.param("int16", [1, 4, 6, 4, 1], [1, 2, 0, -2, -1], id="int16-binomial"),
        pytest.param("int64", [3, 2**31 + 1, -7], [5, 2**29 + 3, 1, 1], id="int64-huge"),
        pytest.param("uint8", [1, 2, 1], [1, 1, 1, 1, 1, 1, 1], id="uint8"),
        pytest.param("int32", [1] * 31, [1, -1] * 15 + [1], id="int32-31x31"),
    ],
)
def test_auto_equals_direct_for_integer_outer_products(dtype, u, v, rng):
    K = np.outer(np.array(u, np.int64), np.array(v, np.int64)).astype(dtype)
    a = make_array(rng, (64, 300), dtype, kind="full")
    for op in OPS:
        for mode in MODES:
            for boundary in ["fill", "wrap"]:
                got = getattr(fastconv, op)(a, K, mode, method="auto", boundary=boundary,
                                            fillvalue=fill_for(dtype))
                exp = getattr(fastconv, op)(a, K, mode, method="direct", boundary=boundary,
                                            fillvalue=fill_for(dtype))
                assert got.dtype == np.dtype(dtype)
                np.testing.assert_array_equal(got, exp, err_msg=f"{op} {mode} {boundary}")


# ======================================================= property test

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True, database=None)


@SETTINGS
@given(
    st.integers(1, 4),
    st.data(),
    st.sampled_from(MODES),
    st.sampled_from(BOUNDARIES),
    st.sampled_from(["float64", "int32", "complex128"]),
    st.sampled_from([0, 1, -2]),
)
def test_convolve_separable_random_axes(ndim, data, mode, boundary, dtype, fv):
    shape = data.draw(st.tuples(*[st.integers(1, 6)] * ndim))
    perm = data.draw(st.permutations(list(range(ndim))))
    naxes = data.draw(st.integers(1, ndim))
    axes = perm[:naxes]
    signed = [ax - ndim if data.draw(st.booleans()) else ax for ax in axes]
    klens = data.draw(st.tuples(*[st.integers(1, 7)] * naxes))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = make_array(rng, shape, dtype)
    ks = [make_array(rng, (n,), dtype) for n in klens]
    use_axes = None if (naxes == ndim and list(axes) == list(range(ndim))) else signed
    check_separable(a, ks, mode, axes=use_axes, boundary=boundary, fillvalue=fv)
    # method='separable' with the outer-product kernel
    K = outer_kernel(ks, ndim, use_axes, dtype)
    if np.any(K):
        check_method("convolve", a, K, mode, axes=use_axes, boundary=boundary, fillvalue=fv)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_kernels_are_not_separable(bad):
    # auto falls back to direct (no SVD error); 'separable' refuses clearly
    g = np.exp(-np.linspace(-2, 2, 11) ** 2)
    k = np.outer(g, g)
    k[3, 4] = bad
    x = np.random.default_rng(1).standard_normal((30, 40))
    got = fastconv.convolve(x, k, "same")
    expected = fastconv.convolve(x, k, "same", method="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(expected)])
    with pytest.raises(ValueError, match="separable"):
        fastconv.convolve(x, k, "same", method="separable")


# ======================================================= low-rank kernels (sums of terms)


def _rank_r(rng, shape, rank, dtype):
    work = "complex128" if "complex" in str(dtype) else "float64"
    return sum(rank1_kernel(rng, shape, work) for _ in range(rank))


def _terms_sum(terms):
    total = 0
    for term in terms:
        outer = np.asarray(term[0])
        for f in term[1:]:
            outer = np.multiply.outer(outer, f)
        total = total + outer
    return total


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape,rank", [((7, 7), 2), ((9, 11), 3), ((5, 16), 2), ((6, 7, 8), 2)])
def test_low_rank_kernels_give_direct_results(dtype, shape, rank, rng):
    b = _rank_r(rng, shape, rank, dtype).astype(dtype)
    a = make_array(rng, tuple(n + 5 for n in shape), dtype)
    for op in OPS:
        for mode in MODES:
            check_method(op, a, b, mode, boundary="reflect", normwise=True)
            check_method(op, a, b, mode, boundary="fill", fillvalue=fill_for(dtype),
                         normwise=True)
    check_method("convolve", a, b, "same", boundary="wrap", normwise=True)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape,rank", [((7, 7), 2), ((9, 11), 3), ((12, 12), 5)])
def test_low_rank_terms_2d_count_and_reconstruction(dtype, shape, rank, rng):
    from fastconv._methods.separable import low_rank_terms

    eps = np.finfo(dtype).eps
    K = _rank_r(rng, shape, rank, dtype)
    noisy = _noisy(K, 2 * eps, rng).astype(dtype)
    terms = low_rank_terms(noisy, np.dtype(dtype))
    assert terms is not None and len(terms) == rank
    for term in terms:
        assert [f.shape for f in term] == [(n,) for n in shape]
    err = np.linalg.norm(_terms_sum(terms) - noisy.astype(np.complex128))
    assert err <= 16 * eps * max(shape) * np.linalg.norm(noisy.astype(np.complex128))


def test_low_rank_terms_3d_reconstruction(rng):
    from fastconv._methods.separable import low_rank_terms

    K = _rank_r(rng, (6, 7, 8), 2, "float64")
    terms = low_rank_terms(K, np.dtype("float64"))
    assert terms is not None and 2 <= len(terms) <= 4
    np.testing.assert_allclose(_terms_sum(terms), K, rtol=0, atol=1e-12 * np.abs(K).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_rank_and_noisy_kernels_are_refused(dtype, rng):
    a = make_array(rng, (20, 20), dtype)
    # numerically full rank: would need as many terms as a direct sum costs
    for K in [make_array(rng, (9, 9), dtype),
              _noisy(_rank_r(rng, (9, 9), 2, dtype), 1e-3, rng).astype(dtype)]:
        with pytest.raises(ValueError, match="separable"):
            fastconv.convolve(a, K, "same", method="separable")


@pytest.mark.parametrize("dtype", ["int16", "int64", "bool"])
def test_integer_low_rank_kernels_are_refused(dtype, rng):
    # exact integer results need exact factors: only rank 1 qualifies
    u, v = np.array([1, 2, 1, 0, 1, 2, 1]), np.array([1, 0, -1, 1, 1, 0, 1])
    K = (np.outer(u, v) + np.outer(v, u)).astype(dtype)
    a = make_array(rng, (20, 20), dtype)
    with pytest.raises(ValueError, match="separable"):
        fastconv.convolve(a, K, "same", method="separable")


@pytest.mark.parametrize("s1,kshape,rank", [((40, 50), (7, 9), 1), ((12, 13, 14), (3, 5, 4), 1),
                                            ((40, 50), (11, 13), 2)])
def test_method_separable_runs_only_1d_passes(s1, kshape, rank, monkeypatch, rng):
    # a silent fallback to the N-D direct kernel would pass every accuracy test: every
    # call into the direct kernel made by method='separable' must have a kernel with
    # one axis longer than 1, one pass per convolved axis and term
    a = make_array(rng, s1, "float64")
    b = sum(rank1_kernel(rng, kshape, "float64") for _ in range(rank))
    kernels = watch_direct_kernel(monkeypatch)
    for op in OPS:
        for mode in MODES:
            kernels.clear()
            got = getattr(fastconv, op)(a, b, mode, method="separable", boundary="reflect")
            assert len(kernels) == rank * len(kshape)
            assert all(sum(kd > 1 for kd in k) == 1 for k in kernels), kernels
            monkeypatch.undo()
            check_method(op, a, b, mode, boundary="reflect", normwise=rank > 1)
            assert got.shape == getattr(fastconv, op)(a, b, mode, method="direct").shape
            kernels = watch_direct_kernel(monkeypatch)
    kernels.clear()
    fastconv.convolve_separable(a, [np.ones(kd) for kd in kshape], "same")
    assert sorted(max(k) for k in kernels) == sorted(kshape)
    assert all(sum(kd > 1 for kd in k) == 1 for k in kernels), kernels
