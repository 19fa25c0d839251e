"""im2col convolution: ``convolve`` / ``correlate`` with ``method='im2col'``.

``method='im2col'`` has the semantics of ``method='direct'`` (mode, axes with
broadcasting, boundary and fillvalue, workers, the valid-mode swap, every dtype)
and computes with lowered tiles and BLAS ?gemm. Every result is checked against
the independent NumPy reference (``_reference``) and against ``method='direct'``:

* float / complex results: per-element tolerance scaled by ``sum |x_ext| |w|``
  (``assert_conv_close`` with ``magnitude_bound``): a GEMM sums the same
  products as the direct method, in another order;
* integer and bool results: exactly equal (float64 products when they are
  provably exact, the direct method otherwise);
* dtype and shape always identical.
"""

import tracemalloc

import numpy as np
import pytest

import fastconv
from fastconv._methods import im2col as _im2col
from _helpers import (
    watch_direct_kernel,
    METHOD_GRID_SHAPES,
    ALL_DTYPES,
    BOUNDARIES,
    LAYOUTS,
    MODES,
    assert_conv_close,
    conv_axes_of,
    fill_for,
    magnitude_bound,
    make_array,
    valid_ok,
    with_layout,
)
from _reference import reference_convolve, reference_correlate

OPS = ["convolve", "correlate"]
REFERENCE = {"convolve": reference_convolve, "correlate": reference_correlate}


@pytest.fixture
def workspace_limit():
    """Set the workspace limit for one test, restoring it afterwards."""
    previous = fastconv.get_workspace_limit()
    yield fastconv.set_workspace_limit
    fastconv.set_workspace_limit(previous)


def check(op, in1, in2, mode="full", axes=None, boundary="fill", fillvalue=0, **kw):
    """<op>(method='im2col') == reference == <op>(method='direct'); crossed 'valid' raises."""
    f = getattr(fastconv, op)
    a, b = np.asarray(in1), np.asarray(in2)
    kwargs = dict(axes=axes, boundary=boundary, fillvalue=fillvalue)
    msg = (f"{op} {a.dtype}{a.shape} {b.dtype}{b.shape} mode={mode} axes={axes} "
           f"boundary={boundary} fillvalue={fillvalue} {kw}")
    if mode == "valid" and not valid_ok(a.shape, b.shape, conv_axes_of(axes, a.ndim)):
        with pytest.raises(ValueError, match="in1|in2|valid"):
            f(in1, in2, mode, method="im2col", **kwargs, **kw)
        return None
    got = f(in1, in2, mode, method="im2col", **kwargs, **kw)
    direct = f(a, b, mode, method="direct", **kwargs)
    ref = REFERENCE[op](a, b, mode, **kwargs)
    bound = None
    if direct.dtype.kind in "fc":
        bound = magnitude_bound(op, a, b, mode, axes, boundary, fillvalue)
    assert_conv_close(got, ref, bound, dtype=direct.dtype, err_msg=msg + " (reference)")
    assert_conv_close(got, direct, bound, err_msg=msg + " (direct)")
    return got


# ======================================================= modes x boundaries x dtypes x ndim


@pytest.mark.parametrize("s1,s2", METHOD_GRID_SHAPES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_all_modes_boundaries(dtype, s1, s2, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for boundary in BOUNDARIES:
        for fv in ([0, fill_for(dtype)] if boundary == "fill" else [0]):
            for op in OPS:
                for mode in MODES:
                    got = check(op, a, b, mode, boundary=boundary, fillvalue=fv)
                    assert got is None or got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("d1,d2", [("int16", "float32"), ("int8", "complex64"),
                                   ("float32", "float64"), ("bool", "int8"),
                                   ("float16", "float32"), ("uint64", "int64"),
                                   ("bool", "complex128")])
def test_mixed_dtypes(d1, d2, rng):
    a = make_array(rng, (6, 7), d1)
    b = make_array(rng, (3, 2), d2)
    for x, y in [(a, b), (b, a)]:
        rdt = np.result_type(x, y)
        for op in OPS:
            for mode in MODES:
                check(op, x, y, mode, boundary="fill", fillvalue=fill_for(rdt))
                check(op, x, y, mode, boundary="mirror")


# ======================================================= axes and broadcasting

AXES = [
    pytest.param((4, 9), (1, 3), [1], id="2d-ax1"),
    pytest.param((4, 9), (5, 1), [-2], id="2d-ax-2"),
    pytest.param((3, 20), (3, 5), [1], id="2d-batch-of-kernels"),
    pytest.param((1, 20), (4, 5), [1], id="2d-in1-broadcasts"),
    pytest.param((5, 2, 7), (3, 2, 4), [0, 2], id="3d-ax02-batch"),
    pytest.param((5, 1, 7), (4, 3, 3), (-1, 0), id="3d-ax-10-in1-bcast"),
    pytest.param((6, 5, 4, 3), (2, 5, 1, 2), [0, 3], id="4d-ax03"),
    pytest.param((3, 4, 5, 6), (3, 3, 2, 4), [3, 1, 2], id="4d-ax312"),
    pytest.param((3, 1, 5, 6), (1, 4, 2, 2), [2, 3], id="4d-mixed-1-N"),
    pytest.param((1, 6, 3, 5), (4, 6, 1, 2), [3], id="4d-kernel-axis-first"),
    pytest.param((6, 3, 1), (2, 3, 4), [0], id="3d-kernel-axis-last"),
]


@pytest.mark.parametrize("s1,s2,axes", AXES)
@pytest.mark.parametrize("dtype", ["float32", "complex128", "int16", "bool"])
def test_axes_and_broadcasting(dtype, s1, s2, axes, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    ca = conv_axes_of(axes, len(s1))
    for boundary in BOUNDARIES:
        fv = fill_for(dtype) if boundary == "fill" else 0
        for op in OPS:
            for mode in MODES:
                got = check(op, a, b, mode, axes=axes, boundary=boundary, fillvalue=fv)
                if got is not None:
                    for i in range(len(s1)):
                        if i not in ca:
                            assert got.shape[i] == max(s1[i], s2[i])


BATCHES = [
    pytest.param((1, 20, 21), (64, 3, 4), (1, 2), id="one-input-64-kernels"),
    pytest.param((5, 16, 9), (5, 3, 3), (1, 2), id="both-batched"),
    pytest.param((6, 16, 9), (1, 3, 3), (1, 2), id="one-kernel-many-inputs"),
    pytest.param((3, 1, 11, 12), (1, 4, 3, 3), (2, 3), id="mixed-1-N"),
    pytest.param((3, 2, 13), (1, 2, 4), (2,), id="mixed-N-N"),
    pytest.param((11, 1, 3), (4, 5, 3), (0,), id="kernel-axis-between"),
]


@pytest.mark.parametrize("s1,s2,axes", BATCHES)
@pytest.mark.parametrize("dtype", ["float32", "complex64", "float64"])
def test_batches_each_its_own(dtype, s1, s2, axes, rng):
    # every broadcast batch element equals its own single-kernel direct result
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    out_batch = tuple(max(p, q) for p, q in zip(s1, s2))
    batch_axes = [i for i in range(len(s1)) if i not in axes]
    for boundary in ["fill", "reflect", "wrap"]:
        for op in OPS:
            got = check(op, a, b, "same", axes=axes, boundary=boundary, fillvalue=1.5)
            for idx in np.ndindex(*[out_batch[i] for i in batch_axes]):
                def take(arr, idx=idx):
                    sel = [slice(None)] * arr.ndim
                    for ax, i in zip(batch_axes, idx):
                        sel[ax] = 0 if arr.shape[ax] == 1 else i
                    return arr[tuple(sel)]
                one = getattr(fastconv, op)(take(a), take(b), "same", method="direct",
                                            boundary=boundary, fillvalue=1.5)
                assert_conv_close(take(got), one,
                                  magnitude_bound(op, take(a), take(b), "same", None,
                                                  boundary, 1.5))


# ======================================================= tiles and workspace

@pytest.mark.parametrize("limit", [1024, 3000, 2**14])
@pytest.mark.parametrize("dtype", ["float32", "complex128", "int32"])
def test_many_tiles_same_result(dtype, limit, workspace_limit, rng):
    cases = [((1, 23, 37), (5, 5, 7), (1, 2)), ((3, 141), (1, 30), (1,)),
             ((2, 9, 10, 11), (2, 3, 4, 3), (1, 2, 3))]
    for s1, s2, axes in cases:
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        x_batch = [s1[i] for i in range(len(s1)) if i not in axes]
        v_batch = [s2[i] for i in range(len(s2)) if i not in axes]
        k = [s2[i] for i in axes]
        m = [s1[i] for i in axes]  # mode 'same'
        plan = _im2col.im2col_plan(x_batch, v_batch, k, m, dtype, 2, limit)
        # several tiles along the output, a partial last one; small limits split taps
        assert plan.gemm_calls > 1 and plan.workspace_bytes <= limit
        assert (plan.groups * plan.positions) % plan.tile_m or plan.taps % plan.tile_k
        for boundary in ["fill", "mirror"]:
            workspace_limit(2**26)
            big = fastconv.correlate(a, b, "same", method="im2col", axes=axes,
                                     boundary=boundary, fillvalue=2)
            workspace_limit(limit)
            small = check("correlate", a, b, "same", axes=axes, boundary=boundary,
                          fillvalue=2, workers=2)
            bound = None
            if big.dtype.kind in "fc":
                bound = magnitude_bound("correlate", a, b, "same", axes, boundary, 2)
            assert_conv_close(small, big, bound)


def test_plan_splits_taps_when_a_position_does_not_fit():
    plan = _im2col.im2col_plan([], [], (40, 40), (50, 50), np.complex128, 1, 4096)
    assert plan.tile_k < plan.taps
    assert plan.tile_m * plan.tile_k * 16 <= 4096
    assert plan.gemm_calls == -(-2500 // plan.tile_m) * -(-1600 // plan.tile_k)
    plan = _im2col.im2col_plan([1], [64], (5, 5), (512, 512), np.float32, 2)
    assert (plan.kernels, plan.taps, plan.positions, plan.groups) == (64, 25, 512**2, 1)
    assert plan.gemm_shape == (plan.tile_m, 64, 25) and not plan.merged
    assert plan.flops == 2 * 512**2 * 64 * 25
    # one kernel for many inputs: tiles run across the inputs
    plan = _im2col.im2col_plan([100], [1], (3, 3), (8, 8), np.float64, 1)
    assert plan.merged and plan.groups == 1 and plan.gemm_calls == 1
    assert plan.gemm_shape == (6400, 1, 9)


def test_plan_rejects_bad_problems():
    with pytest.raises(ValueError, match="broadcast"):
        _im2col.im2col_plan([3], [2], (3,), (5,), np.float64)
    with pytest.raises(ValueError, match="k and m"):
        _im2col.im2col_plan([], [], (3, 3), (5,), np.float64)


def test_workspace_bounded_tracemalloc(workspace_limit, monkeypatch, rng):
    # lowering the whole input at once would take 300*300*81*4 B = 29 MB
    limit = 2**20
    workspace_limit(limit)
    x = rng.standard_normal((1, 300, 300), dtype=np.float32)
    kernels = rng.standard_normal((8, 9, 9), dtype=np.float32)
    fastconv.convolve(x[:, :20, :20], kernels, "same", method="im2col", axes=(1, 2))
    tracemalloc.start()
    try:
        out = fastconv.convolve(x, kernels, "same", method="im2col", axes=(1, 2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit + out.nbytes + 2**17, (peak, limit, out.nbytes)
    # the tracing does see the workspace: with larger tiles allowed the peak grows
    workspace_limit(2**26)
    monkeypatch.setattr(_im2col, "TARGET_TILE_BYTES", 2**26)
    monkeypatch.setattr(_im2col, "TILES_PER_PROBLEM", 1)
    tracemalloc.start()
    try:
        fastconv.convolve(x, kernels, "same", method="im2col", axes=(1, 2), workers=1)
        _, peak_big = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_big > out.nbytes + 8 * limit
    exp = fastconv.convolve(x, kernels, "same", method="direct", axes=(1, 2))
    assert_conv_close(out, exp, magnitude_bound("convolve", x, kernels, "same", (1, 2)))


def test_workspace_limit_api(workspace_limit):
    previous = fastconv.get_workspace_limit()
    assert previous == 64 * 2**20
    assert fastconv.set_workspace_limit(4096) == previous
    assert fastconv.get_workspace_limit() == 4096
    assert fastconv.set_workspace_limit(np.int64(1024)) == 4096
    for bad in [1.5, "4096", None, True, 2.0**20]:
        with pytest.raises(TypeError, match="nbytes"):
            fastconv.set_workspace_limit(bad)
    for bad in [1023, 0, -5]:
        with pytest.raises(ValueError, match="nbytes"):
            fastconv.set_workspace_limit(bad)
    assert fastconv.get_workspace_limit() == 1024
    assert "set_workspace_limit" in fastconv.__all__
    assert "get_workspace_limit" in fastconv.__all__


# ======================================================= integers

def test_int64_too_large_falls_back_to_direct(monkeypatch, rng):
    # 2**40 * 2**20 * 9 taps > 2**53: float64 products would not be exact
    a = rng.integers(-2**40, 2**40, (9, 11), dtype=np.int64)
    b = rng.integers(-2**20, 2**20, (3, 3), dtype=np.int64)
    calls = watch_direct_kernel(monkeypatch)
    for mode in MODES:
        got = check("convolve", a, b, mode, boundary="reflect")
        assert got.dtype == np.int64
    assert calls
    # full-range values wrap modulo 2**64, as the direct method does
    a = make_array(rng, (6, 7), "int64", kind="full")
    b = make_array(rng, (2, 3), "int64", kind="full")
    check("correlate", a, b, "full")
    check("convolve", a.astype(np.uint64), b.astype(np.uint64), "same")


def test_exact_integers_use_blas(monkeypatch, rng):
    # below the bound: computed by GEMM in float64, exact (float32 would round)
    a = rng.integers(-2**23, 2**23, (12, 10), dtype=np.int64)
    b = rng.integers(-2**23, 2**23, (3, 3), dtype=np.int64)
    exp = {mode: fastconv.convolve(a, b, mode, method="direct", fillvalue=2**23)
           for mode in MODES}
    watch_direct_kernel(monkeypatch, refuse=True)
    for mode in MODES:
        got = fastconv.convolve(a, b, mode, method="im2col", fillvalue=2**23)
        np.testing.assert_array_equal(got, exp[mode])
    # the fill value counts in the bound: a huge fill needs the direct method
    with pytest.raises(AssertionError, match="direct kernel ran"):
        fastconv.convolve(np.ones((4, 4), np.int64), np.ones((2, 2), np.int64),
                          method="im2col", fillvalue=2**60)


def test_im2col_does_not_run_the_direct_kernel(monkeypatch, rng):
    watch_direct_kernel(monkeypatch, refuse=True)
    for dtype in ["float32", "float64", "complex64", "complex128", "float16", "bool",
                  "int16"]:
        a = make_array(rng, (30, 20), dtype)
        b = make_array(rng, (5, 5), dtype)
        out = fastconv.convolve(a, b, "same", method="im2col", boundary="reflect")
        assert out.shape == (30, 20) and out.dtype == np.dtype(dtype)
    with pytest.raises(AssertionError, match="direct kernel ran"):
        fastconv.convolve(a, b, "same", method="direct")


# ======================================================= layouts, inputs, workers

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128", "int16"])
def test_layouts(dtype, layout, rng):
    a0 = make_array(rng, (9, 12), dtype)
    b0 = make_array(rng, (4, 3), dtype)
    for which in ["in1", "in2"]:
        a = with_layout(a0, layout) if which == "in1" else a0
        b = with_layout(b0, layout) if which == "in2" else b0
        for op in OPS:
            for boundary in ["fill", "wrap"]:
                fv = fill_for(dtype) if boundary == "fill" else 0
                for mode in MODES:
                    got = check(op, a, b, mode, boundary=boundary, fillvalue=fv)
                    if layout != "list":  # lists carry no dtype (float64 / int64)
                        assert got.dtype == np.dtype(dtype)


def test_layout_3d_with_axes_and_batch(rng):
    a0 = make_array(rng, (6, 5, 8), "float32")
    b0 = make_array(rng, (3, 5, 4), "float32")
    for layout in LAYOUTS[:-1]:
        a, b = with_layout(a0, layout), with_layout(b0, layout)
        for mode in MODES:
            check("correlate", a, b, mode, axes=[0, 2], boundary="nearest")
            check("convolve", a, b, mode, axes=[2, 0], boundary="fill", fillvalue=-1.5)


@pytest.mark.parametrize("dtype", ["float64", "complex64", "int16", "bool"])
def test_inputs_not_modified(dtype, rng):
    a = make_array(rng, (2, 7, 9), dtype)
    b = make_array(rng, (3, 3, 4), dtype)
    a_copy, b_copy = a.copy(), b.copy()
    for boundary in BOUNDARIES:
        for op in OPS:
            for mode in MODES:
                getattr(fastconv, op)(a[:1], b, mode, method="im2col", axes=(1, 2),
                                      boundary=boundary)
                getattr(fastconv, op)(a, b[:1], mode, method="im2col", axes=(1, 2),
                                      boundary=boundary)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)


@pytest.mark.parametrize("dtype", ["float32", "complex128", "int16"])
def test_workers_give_identical_results(dtype, rng):
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    for s1, s2, axes in [((1, 120, 90), (16, 5, 3), (1, 2)), ((200, 150), (9, 7), None),
                         ((30, 20, 10), (5, 4, 3), None)]:
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        for mode, boundary in [("full", "fill"), ("same", "reflect"), ("valid", "fill")]:
            kw = dict(axes=axes, boundary=boundary)
            r1 = fastconv.convolve(a, b, mode, method="im2col", workers=1, **kw)
            bound = None
            if r1.dtype.kind in "fc":
                bound = magnitude_bound("convolve", a, b, mode, axes, boundary)
            assert_conv_close(r1, fastconv.convolve(a, b, mode, method="direct", **kw), bound)
            # the tiles do not depend on the threads: the results are identical
            for w in [2, 3, -1, None]:
                rw = fastconv.convolve(a, b, mode, method="im2col", workers=w, **kw)
                np.testing.assert_array_equal(rw, r1, err_msg=f"workers={w}")
            with fastconv.set_workers(2):
                rw = fastconv.convolve(a, b, mode, method="im2col", **kw)
            np.testing.assert_array_equal(rw, r1, err_msg="set_workers(2)")
    # the BLAS thread counts are restored after every call
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


def test_concurrent_python_threads(rng):
    from concurrent.futures import ThreadPoolExecutor

    a = make_array(rng, (1, 64, 64), "float32")
    b = make_array(rng, (8, 5, 5), "float32")
    exp = fastconv.convolve(a, b, "same", method="direct", axes=(1, 2))
    bound = magnitude_bound("convolve", a, b, "same", (1, 2))
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(
            lambda _: fastconv.convolve(a, b, "same", method="im2col", axes=(1, 2)),
            range(16)))
    for out in outs:
        assert_conv_close(out, exp, bound)


# ======================================================= special values, 0-d, errors

@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
def test_nan_and_inf_stay_local(dtype, rng):
    a = make_array(rng, (30, 20), dtype)
    b = make_array(rng, (3, 3), dtype)
    a[10, 5] = np.nan
    if a.dtype.kind == "f":
        # (complex products with an infinity give NaN or inf parts depending
        # on the order of the operations: not comparable between methods)
        a[20, 15] = np.inf
    got = fastconv.convolve(a, b, "same", method="im2col")
    exp = fastconv.convolve(a, b, "same", method="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
    finite = np.isfinite(exp)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    bound = magnitude_bound("convolve", np.where(np.isfinite(a), a, 0), b, "same")
    assert_conv_close(got[finite], exp[finite], bound[finite])


def test_zero_d_and_errors():
    assert fastconv.correlate(2, 3j, method="im2col") == -6j
    with pytest.raises(ValueError, match="dimensions"):
        fastconv.convolve(np.ones(3), np.ones((2, 2)), method="im2col")
    with pytest.raises(ValueError, match="empty"):
        fastconv.convolve(np.ones(3), np.ones(0), method="im2col")
    with pytest.raises(ValueError, match="valid"):
        fastconv.convolve(np.ones((5, 8)), np.ones((6, 3)), "valid", method="im2col")
    with pytest.raises(TypeError, match="workers"):
        fastconv.convolve(np.ones(5), np.ones(3), method="im2col", workers=1.5)
