"""Shared constants and helpers for the fastconv tests (imported by conftest and tests).

The test modules are imported with ``--import-mode=importlib``; ``conftest.py``
puts this directory on ``sys.path`` so that ``import _helpers`` / ``_reference`` work.
"""

import os

import numpy as np
import pytest

from _reference import reference_convolve, reference_correlate

FLOAT_DTYPES = ["float32", "float64"]
COMPLEX_DTYPES = ["complex64", "complex128"]
INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "int64", "uint64"]
ALL_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES + INT_DTYPES + ["bool", "float16"]
# dtypes scipy.signal.convolve(method='direct') accepts in any ndim
SCIPY_ND_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES + INT_DTYPES

MIXED_PAIRS = [
    ("int16", "float32"),
    ("int64", "float32"),
    ("int8", "complex64"),
    ("float32", "float64"),
    ("float32", "complex64"),
    ("float64", "complex64"),
    ("uint8", "int8"),
    ("int8", "uint16"),
    ("uint64", "int64"),
    ("bool", "int8"),
    ("bool", "float32"),
    ("float16", "float32"),
    ("float16", "int8"),
    ("uint32", "int32"),
    ("bool", "complex128"),
]

MODES = ["full", "same", "valid"]

# (in1 shape, in2 shape) over which every method is checked against the direct
# one and the reference: 1-D to 4-D, even kernels, kernels larger than the input
# along some or all axes.
METHOD_GRID_SHAPES = [
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

# (dtype, fillvalue, the value it becomes in that dtype): a fill value is cast
# to the result dtype before it is used
INTEGER_FILL_CASTS = [("int16", 2.7, 2), ("int16", -2.7, -2), ("int8", 1000, -24),
                      ("uint8", 3.9, 3), ("bool", 2.5, True)]
BOUNDARIES = ["fill", "wrap", "symm", "reflect", "mirror", "nearest"]

# relative tolerance, applied to sum_j |x_j||w_j| (elementwise bound), by result dtype
RTOL = {
    np.dtype("float16"): 1e-2,
    np.dtype("float32"): 1e-5,
    np.dtype("complex64"): 1e-5,
    np.dtype("float64"): 1e-12,
    np.dtype("complex128"): 1e-12,
}


def make_array(rng, shape, dtype, kind="small"):
    """Random array of ``dtype``; ints small (``kind='small'``) or full range ('full')."""
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if dtype.kind == "b":
        return rng.random(shape) < 0.4
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if kind == "full":
            return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        lo = max(info.min, -6)
        return rng.integers(lo, 7, size=shape).astype(dtype)
    if dtype.kind == "c":
        re = rng.standard_normal(shape)
        im = rng.standard_normal(shape)
        return (re + 1j * im).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def magnitude_bound(op, in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0):
    """Elementwise bound sum |x_ext||w| (float64) used to scale tolerances."""
    a1 = np.abs(np.asarray(in1).astype(np.complex128))
    a2 = np.abs(np.asarray(in2).astype(np.complex128))
    ref = reference_convolve if op == "convolve" else reference_correlate
    return ref(a1, a2, mode, axes=axes, boundary=boundary, fillvalue=abs(complex(fillvalue)))


def assert_conv_close(got, expected, bound=None, dtype=None, err_msg="", normwise=False):
    """dtype and shape equal; exact for bool/int results, scaled tolerance for floats.

    The float tolerance scales with each element's ``sum |x||w|``; with
    ``normwise=True``, with the largest of them (the accuracy of methods
    whose rounding errors spread over the output: FFTs, low-rank sums).
    """
    expected = np.asarray(expected)
    got_arr = np.asarray(got)
    dtype = np.dtype(dtype) if dtype is not None else expected.dtype
    assert got_arr.dtype == dtype, f"dtype {got_arr.dtype} != {dtype} {err_msg}"
    assert got_arr.shape == expected.shape, (
        f"shape {got_arr.shape} != {expected.shape} {err_msg}"
    )
    if dtype.kind in "biu":
        np.testing.assert_array_equal(got_arr, expected, err_msg=err_msg)
        return
    rtol = RTOL[dtype]
    g = got_arr.astype(np.complex128)
    e = expected.astype(np.complex128)
    if bound is None:
        bound = np.abs(e)
    if normwise:
        bound = np.max(bound) if np.size(bound) else 0.0
    tol = rtol * (np.asarray(bound, dtype=np.float64) + 1e-30) + (
        1e-6 if dtype == np.float16 else 1e-300
    )
    err = np.abs(g - e)
    bad = ~(err <= tol)
    # NaN in both at the same place counts as equal
    both_nan = np.isnan(g) & np.isnan(e)
    bad &= ~both_nan
    if np.any(bad):
        idx = np.argwhere(bad)[:5]
        raise AssertionError(
            f"{int(bad.sum())} of {bad.size} elements differ beyond rtol={rtol} "
            f"(scaled by sum|x||w|); first at {idx.tolist()}: got "
            f"{[g[tuple(i)] for i in idx]} expected {[e[tuple(i)] for i in idx]} {err_msg}"
        )


def flip_conj(w, axes=None):
    w = np.asarray(w)
    axes = range(w.ndim) if axes is None else [a % w.ndim for a in axes]
    idx = [slice(None)] * w.ndim
    for a in axes:
        idx[a] = slice(None, None, -1)
    w = w[tuple(idx)]
    return np.conj(w) if np.iscomplexobj(w) else w


def with_layout(a, layout):
    """Return an array equal to ``a`` but with the given memory layout."""
    a = np.asarray(a)
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        assert not view.flags.c_contiguous or a.size <= 1
        return view
    if layout == "negative":
        rev = tuple(slice(None, None, -1) for _ in a.shape)
        return a[rev].copy()[rev]
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if layout == "bigendian":
        return a.astype(a.dtype.newbyteorder(">"))
    if layout == "transposed":
        # same values, C-order data of the transpose
        return np.ascontiguousarray(a.T).T
    if layout == "list":
        return a.tolist()
    raise ValueError(layout)


# fastconv boundary name -> scipy.ndimage mode with the same extension
NDIMAGE_MODE = {
    "fill": "constant",
    "wrap": "grid-wrap",
    "reflect": "reflect",
    "symm": "reflect",
    "mirror": "mirror",
    "nearest": "nearest",
}


# a nonzero fill value for every result dtype ('fill' must carry it through)
FILL = {
    "bool": True,
    "uint8": 3,
    "uint16": 3,
    "uint32": 3,
    "uint64": 3,
    "int16": -2.7,  # cast to -2 before use
    "float16": 0.25,
    "complex64": 0.5 - 1j,
    "complex128": -1.25 + 0.5j,
}


def fill_for(dtype):
    """A nonzero fill value suited to results of `dtype`."""
    return FILL.get(np.dtype(dtype).name, 2.5)


def conv_axes_of(axes, ndim):
    """The convolved axes as non-negative ints (None: all)."""
    if axes is None:
        return list(range(ndim))
    return [int(a) % ndim for a in np.atleast_1d(axes)]


def valid_ok(s1, s2, axes):
    """Whether 'valid' mode accepts these shapes (one contains the other)."""
    return all(s1[a] >= s2[a] for a in axes) or all(s1[a] <= s2[a] for a in axes)


# memory layouts every function is checked with (see with_layout)
LAYOUTS = ["C", "F", "strided", "negative", "readonly", "bigendian", "transposed", "list"]

# (layout, dtype) pairs for layout tests; lists round-trip float64/complex128 only
LAYOUT_DTYPES = [
    pytest.param(layout, dtype, id=f"{layout}-{dtype}")
    for layout in LAYOUTS
    for dtype in ["float64", "complex128", "float32", "int16"]
    if layout != "list" or dtype in ("float64", "complex128")  # lists round-trip these
]


def watch_direct_kernel(monkeypatch, refuse=False):
    """Record (or refuse, with AssertionError "direct kernel ran") every run of
    the direct kernel: every direct computation, cached plan or not, goes
    through `DirectPlan.run`. Returns the list of recorded kernel shapes."""
    from fastconv._methods.direct import DirectPlan

    calls = []
    real = DirectPlan.run

    def watched(self, in1, in2, out=None):
        if refuse:
            raise AssertionError("the direct kernel ran")
        calls.append(tuple(self.w_shape))
        return real(self, in1, in2, out)

    monkeypatch.setattr(DirectPlan, "run", watched)
    return calls


def import_torch():
    """PyTorch, for the parity tests: they skip without it, except under
    ``FASTCONV_REQUIRE_TORCH=1`` (CI), where a missing torch fails them."""
    if os.environ.get("FASTCONV_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")
