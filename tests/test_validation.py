"""Bad arguments raise ValueError/TypeError naming the parameter; inputs are never modified."""

import numpy as np
import pytest

import fastconv
from _helpers import make_array

OPS = ["convolve", "correlate"]


@pytest.fixture(params=OPS)
def op(request):
    return getattr(fastconv, request.param)


A = np.arange(12.0).reshape(3, 4)
B = np.ones((2, 2))


@pytest.mark.parametrize("mode", ["ful", "FULL", "", None, 1, "Same", ["full"]])
def test_bad_mode(op, mode):
    with pytest.raises((ValueError, TypeError), match="mode"):
        op(A, B, mode)


@pytest.mark.parametrize("method", ["IM2COL", "FFT", "Direct", "", None, 3, "oa"])
def test_bad_method(op, method):
    # only 'auto', 'direct', 'separable', 'fft' and 'im2col' exist in this version
    with pytest.raises(ValueError, match="method"):
        op(A, B, method=method)


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_good_methods(op, method):
    r = op(A, B, "valid", method=method)
    assert r.shape == (2, 3)


@pytest.mark.parametrize(
    "boundary", ["circular", "symmetric", "constant", "zero", "", None, 0, "Wrap"]
)
def test_bad_boundary(op, boundary):
    with pytest.raises((ValueError, TypeError), match="boundary"):
        op(A, B, boundary=boundary)


@pytest.mark.parametrize("fillvalue", [[1.0, 2.0], np.ones((2, 2)), np.array([[1, 2, 3]])])
def test_fillvalue_not_scalar(op, fillvalue):
    with pytest.raises(ValueError, match="fillvalue"):
        op(A, B, boundary="fill", fillvalue=fillvalue)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "bool"])
def test_complex_fillvalue_with_real_result(op, dtype):
    with pytest.raises(TypeError, match="fillvalue"):
        op(A.astype(dtype), B.astype(dtype), boundary="fill", fillvalue=1 + 2j)


def test_complex_fillvalue_with_complex_result(op):
    r = op(A + 0j, B, "full", boundary="fill", fillvalue=1 + 2j)
    assert r.dtype == np.complex128
    # the full corner sees in1[0, 0] = 0 and three fill values
    assert r[0, 0] == 3 * (1 + 2j)


@pytest.mark.parametrize("fillvalue", ["a", None, object()])
def test_fillvalue_non_numeric(op, fillvalue):
    with pytest.raises((TypeError, ValueError), match="fillvalue"):
        op(A, B, boundary="fill", fillvalue=fillvalue)


@pytest.mark.parametrize(
    "axes,exc",
    [
        ([2], ValueError),
        ([-3], ValueError),
        ([0, 0], ValueError),
        ([1, -1], ValueError),
        ([], ValueError),
        ((), ValueError),
        ([0.5], (TypeError, ValueError)),
        (["0"], (TypeError, ValueError)),
        (5, ValueError),
    ],
)
def test_bad_axes(op, axes, exc):
    with pytest.raises(exc, match="axes|axis"):
        op(A, B, axes=axes)


def test_axes_non_convolved_must_broadcast(op):
    a = np.ones((3, 4))
    b = np.ones((2, 2))
    with pytest.raises(ValueError, match="in1|in2|broadcast|shape"):
        op(a, b, axes=[1])
    # equal or 1 is fine
    assert op(np.ones((3, 4)), np.ones((1, 2)), axes=[1]).shape == (3, 5)
    assert op(np.ones((1, 4)), np.ones((3, 2)), axes=[1]).shape == (3, 5)


@pytest.mark.parametrize("workers", [0, 1.0, 2.5, "2", True, False, [1]])
def test_bad_workers(op, workers):
    with pytest.raises((ValueError, TypeError), match="workers"):
        op(A, B, workers=workers)


def test_workers_below_minus_cpu_count(op):
    try:
        import os

        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        ncpu = os.cpu_count()
    with pytest.raises(ValueError, match="workers"):
        op(A, B, workers=-ncpu - 1)
    with pytest.raises(ValueError, match="workers"):
        op(A, B, workers=-(10**6))
    # the limits themselves are fine
    assert op(A, B, workers=-ncpu).shape == (4, 5)
    assert op(A, B, workers=-1).shape == (4, 5)
    assert op(A, B, workers=np.int64(2)).shape == (4, 5)


@pytest.mark.parametrize(
    "dtype", ["longdouble", "clongdouble", "object", "U3", "S3", "datetime64[s]", "timedelta64[s]"]
)
@pytest.mark.parametrize("which", ["in1", "in2"])
def test_unsupported_dtypes(op, dtype, which):
    if np.dtype(dtype) in (np.dtype(np.float64), np.dtype(np.complex128)):
        pytest.skip("longdouble is float64 on this platform")  # pragma: no cover
    if dtype in ("U3", "S3"):
        bad = np.array([["a", "b"], ["c", "d"]], dtype=dtype)
    else:
        bad = np.zeros((2, 2), dtype=dtype)
    good = np.ones((2, 2))
    args = (bad, good) if which == "in1" else (good, bad)
    with pytest.raises(TypeError, match=which):
        op(*args)


@pytest.mark.parametrize("which", ["in1", "in2"])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 0, 2)])
def test_empty_inputs(op, which, shape):
    empty = np.ones(shape)
    good = np.ones((2,) * len(shape))
    args = (empty, good) if which == "in1" else (good, empty)
    for mode in ["full", "same", "valid"]:
        with pytest.raises(ValueError, match=which):
            op(*args, mode)


def test_ndim_mismatch(op):
    with pytest.raises(ValueError, match="in1|in2|dimension|ndim"):
        op(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="in1|in2|dimension|ndim"):
        op(np.ones(3), np.ones((1, 3)))
    with pytest.raises(ValueError, match="in1|in2|dimension|ndim"):
        op(np.array(2.0), np.ones(3))
    with pytest.raises(ValueError, match="in1|in2|dimension|ndim"):
        op(np.ones(3), 2.0)


@pytest.mark.parametrize("s1,s2", [((3, 5), (5, 3)), ((4, 2, 6), (2, 4, 6)), ((2, 5), (1, 6))])
def test_valid_mode_incompatible_shapes(op, s1, s2):
    with pytest.raises(ValueError, match="in1|in2|valid"):
        op(np.ones(s1), np.ones(s2), "valid")
    # the same shapes are fine in the other modes
    assert op(np.ones(s1), np.ones(s2), "full").shape == tuple(x + y - 1 for x, y in zip(s1, s2))
    assert op(np.ones(s1), np.ones(s2), "same").shape == s1


def test_valid_mode_incompatible_shapes_with_axes(op):
    a = np.ones((5, 3, 7))
    b = np.ones((5, 4, 6))
    with pytest.raises(ValueError, match="in1|in2|valid"):
        op(a, b, "valid", axes=[1, 2])
    # axis 0 is broadcast (equal), axes 1, 2 swapped consistently -> fine
    assert op(a, np.ones((5, 4, 8)), "valid", axes=[1, 2]).shape == (5, 2, 2)


def test_keyword_only_parameters(op):
    with pytest.raises(TypeError):
        op(A, B, "full", "auto", None)


# ---------------------------------------------------------------- inputs not modified


@pytest.mark.parametrize(
    "dtype", ["float64", "float32", "complex128", "complex64", "int8", "uint16", "bool", "float16"]
)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "reflect", "mirror", "nearest"])
def test_inputs_not_modified(op, dtype, boundary, rng):
    a = make_array(rng, (9, 10), dtype)
    b = make_array(rng, (4, 3), dtype)
    a_copy = a.copy()
    b_copy = b.copy()
    for mode in ["full", "same", "valid"]:
        op(a, b, mode, boundary=boundary, fillvalue=1)
        op(b, a, mode, boundary=boundary, fillvalue=1)
        op(a[::2, ::-1], b[::-1, ::2], mode, boundary=boundary)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)
    assert a.flags.writeable and b.flags.writeable


@pytest.mark.parametrize("dtype", ["float64", "complex64", "int32", "bool"])
def test_readonly_inputs_accepted(op, dtype, rng):
    a = make_array(rng, (7, 8), dtype)
    b = make_array(rng, (3, 2), dtype)
    expected = {m: op(a, b, m, boundary="wrap") for m in ["full", "same", "valid"]}
    a.flags.writeable = False
    b.flags.writeable = False
    for mode in ["full", "same", "valid"]:
        r = op(a, b, mode, boundary="wrap")
        np.testing.assert_array_equal(r, expected[mode])
        assert r.flags.writeable
    # read-only views of read-only arrays, and broadcast (zero-stride) arrays
    r = op(np.broadcast_to(a[:, :1], (7, 8)), b, "same")
    np.testing.assert_array_equal(r, op(np.repeat(a[:, :1], 8, axis=1), b, "same"))


# ---------------------------------------------------------------- flags, p, output sizes

NOT_BOOLS = ["False", "True", "", 0, 1, None, 1.0, np.array(True), [True]]


@pytest.mark.parametrize("bad", NOT_BOOLS, ids=repr)
@pytest.mark.parametrize("name,op", [("ceil_mode", "max"), ("count_include_pad", "mean"),
                                     ("return_indices", "max")])
def test_pool_flags_must_be_bools(name, op, bad):
    x = np.arange(16.0).reshape(4, 4)
    with pytest.raises(TypeError, match=name):
        fastconv.pool(x, 3, 2, op, padding=1, **{name: bad})


@pytest.mark.parametrize("name,op", [("ceil_mode", "max"), ("count_include_pad", "mean"),
                                     ("return_indices", "max")])
def test_pool_flags_accept_numpy_bools(name, op):
    x = np.arange(16.0).reshape(4, 4)
    for flag in [True, False]:
        exp = fastconv.pool(x, 3, 2, op, padding=1, **{name: flag})
        got = fastconv.pool(x, 3, 2, op, padding=1, **{name: np.bool_(flag)})
        for g, e in zip(got if isinstance(got, tuple) else [got],
                        exp if isinstance(exp, tuple) else [exp]):
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("bad", NOT_BOOLS, ids=repr)
def test_measure_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="measure"):
        fastconv.choose_conv_method(A, B, measure=bad)
    assert fastconv.choose_conv_method(A, B, measure=np.False_) == fastconv.choose_conv_method(
        A, B)


@pytest.mark.parametrize("p", [True, False, np.True_])
def test_lp_p_must_not_be_a_bool(p):
    with pytest.raises(TypeError, match=r"\bp\b"):
        fastconv.pool(np.arange(4.0), 2, op="lp", p=p)
    with pytest.raises(TypeError, match=r"\bp\b"):
        fastconv.adaptive_pool(np.arange(4.0), 2, op="lp", p=p)


@pytest.mark.parametrize("output_size", [2**62, 2**40, (2**31, 2**31), 2**70])
def test_adaptive_pool_output_too_large(output_size):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="output_size"):
        fastconv.adaptive_pool(x, output_size, op="mean")


def test_convolve_separable_output_too_large_before_any_allocation(monkeypatch):
    # the first pass's output (2**59 + 1) * 3 elements cannot exist: refused before
    # any scratch memory is taken
    from fastconv._methods import workspace as _workspace

    def no_scratch(*args, **kwargs):
        raise AssertionError("scratch memory taken before the output size was checked")

    monkeypatch.setattr(_workspace.scratch, "take", no_scratch)
    long_kernel = np.broadcast_to(np.ones(1), (2**59,))
    with pytest.raises(ValueError, match="too large to allocate"):
        fastconv.convolve_separable(np.ones((2, 3)), [long_kernel, np.ones(2)])
    with pytest.raises(ValueError, match="too large to allocate"):
        fastconv.convolve(np.ones((2, 3)), long_kernel.reshape(-1, 1))


@pytest.mark.parametrize("method", ["auto", "direct", "separable", "fft", "im2col"])
@pytest.mark.parametrize("dtype", ["int8", "float64", "complex64"])
def test_working_copy_of_a_broadcast_input_too_large(method, dtype):
    # 'same' output of 3 elements, but in2 (a broadcast view: no memory) would be
    # copied to 2**59 elements of the compute dtype: a ValueError naming in2
    big = np.broadcast_to(np.zeros((), dtype), (2**59,))
    for op in (fastconv.convolve, fastconv.correlate):
        with pytest.raises(ValueError, match="in2.*too large to allocate"):
            op(np.zeros(3, dtype), big, "same", method=method)
    with pytest.raises(ValueError, match="in2.*too large to allocate"):
        fastconv.choose_conv_method(np.zeros(3, dtype), big, "same")


@pytest.mark.parametrize("fillvalue", [2**70, -2**70 - 5, 2**64 + 3])
def test_python_int_fill_beyond_64_bits(fillvalue):
    # floating results take the rounded value, integer results the value modulo 2**64
    x = np.arange(12.0).reshape(3, 4)
    k = np.ones((2, 2))
    got = fastconv.convolve(x, k, "same", fillvalue=fillvalue)
    np.testing.assert_array_equal(got, fastconv.convolve(x, k, "same", fillvalue=float(fillvalue)))
    xi, ki = x.astype(np.int64), k.astype(np.int64)
    wrapped = np.array(fillvalue % 2**64, np.uint64).astype(np.int64)[()]
    np.testing.assert_array_equal(fastconv.convolve(xi, ki, "same", fillvalue=fillvalue),
                                  fastconv.convolve(xi, ki, "same", fillvalue=wrapped))
    with pytest.raises(ValueError, match="fillvalue"):
        fastconv.convolve(x, k, "same", fillvalue=10**400)


def test_ragged_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="in1"):
        fastconv.convolve([[1.0, 2.0], [3.0]], [[1.0]])
    with pytest.raises(ValueError, match="in2"):
        fastconv.correlate([[1.0]], [[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="x"):
        fastconv.pool([[1.0, 2.0], [3.0]], 1)
    with pytest.raises(ValueError, match="fillvalue"):
        fastconv.convolve([[1.0]], [[1.0]], fillvalue=[[1.0], []])


@pytest.mark.parametrize("fillvalue", [2**64, 2**70, -2**70])
def test_python_int_fill_beyond_64_bits_for_booleans_is_true(fillvalue):
    # nonzero, as any other nonzero fill of a boolean result (not wrapped to 0)
    x = np.zeros((3, 4), bool)
    k = np.ones((2, 2), bool)
    got = fastconv.convolve(x, k, "same", fillvalue=fillvalue)
    np.testing.assert_array_equal(got, fastconv.convolve(x, k, "same", fillvalue=1))
    assert got.any()
