"""Outputs far larger than the caches are computed into staging rows and
streamed out with non-temporal stores (`fastconv._kernels._direct`): the
same values as the in-place road, bit for bit."""

import os

import numpy as np
import pytest

import fastconv
from fastconv._api import convolve as convolve_api
from fastconv._kernels import _direct
from _reference import reference_correlate


def _kernel(dtype, n, k, nthreads):
    m = [a - b + 1 for a, b in zip(n, k)]
    return _direct.DirectKernel(np.dtype(dtype), n, k, m, [0, 0], [n[1], 1], [0], [0],
                                _direct.BOUNDARY_CODES["fill"], nthreads), m


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="streaming needs two threads")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_streams_and_matches(dtype):
    rng = np.random.default_rng(0)
    n, k = [1100, 4133], [3, 4]   # a row longer than one chunk, odd widths
    x = rng.standard_normal(n).astype(dtype)
    w = rng.standard_normal(k).astype(dtype)
    fill = np.zeros((), dtype).tobytes()
    old = _direct.set_stage_min_bytes(0)
    try:
        streamed, m = _kernel(dtype, n, k, 2)
    finally:
        _direct.set_stage_min_bytes(old)
    in_place, _ = _kernel(dtype, n, k, 2)
    assert streamed.stage_bytes > 0 and in_place.stage_bytes == 0
    single, _ = _kernel(dtype, n, k, 1)
    assert single.stage_bytes == 0    # one thread never streams
    outs = []
    for kernel in (streamed, in_place):
        out = np.full(m, np.nan, dtype)
        kernel.run(x, 0, w, 0, [w.size], [w.itemsize], False, out, fill)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    ref = reference_correlate(x.astype(np.float64), w.astype(np.float64), "valid")
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(outs[0], ref, rtol=tol, atol=tol * np.abs(ref).max())


# Each boundary on its own shape: the copy-out does not depend on the
# boundary, only the computed columns do (the same for both roads).
@pytest.mark.parametrize("shape,kshape,boundary", [((1024, 1031), (3, 3), "fill"),
                                                   ((2, 400, 500), (2, 5, 5), "wrap"),
                                                   ((900, 4200), (1, 7), "reflect")])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_streamed_calls_equal_in_place_calls(shape, kshape, mode, boundary, dtype):
    rng = np.random.default_rng(len(shape) + len(mode))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(kshape).astype(dtype)
    kwargs = dict(mode=mode, boundary=boundary, method="direct", workers=2)
    expected = fastconv.correlate(x, w, **kwargs)
    old = _direct.set_stage_min_bytes(0)
    convolve_api._plans.clear()
    try:
        got = fastconv.correlate(x, w, **kwargs)
        out = np.empty_like(expected)
        fastconv.correlate(x, w, **kwargs, out=out)
    finally:
        _direct.set_stage_min_bytes(old)
        convolve_api._plans.clear()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(out, expected)
