"""Every compiled micro-kernel variant (baseline, AVX2+FMA, AVX-512) is exact.

The library picks the best variant for the CPU at import; the others would go
untested on a machine that supports them all, so each is selected in turn.
"""

import numpy as np
import pytest

import fastconv
from fastconv import _direct
from _helpers import assert_conv_close, magnitude_bound, make_array
from _reference import reference_convolve, reference_correlate

LEVELS = ["baseline", "AVX2+FMA", "AVX-512"]

# Shapes chosen to reach every code path: fully unrolled 3x3/5x5 blocks,
# constant-tap 7-wide loops, generic taps, rows narrower than a vector
# (scalar path), overlapping last vector, partial row blocks, N-D planes.
CASES = [
    ((37, 300), (3, 3)),
    ((37, 300), (5, 5)),
    ((23, 129), (7, 7)),
    ((21, 100), (4, 6)),
    ((9, 10, 67), (3, 4, 5)),
    ((6, 7, 40), (5, 5, 5)),
    ((5, 3), (2, 3)),
    ((3, 6, 5, 20), (2, 3, 2, 5)),
    ((1000,), (31,)),
    ((33,), (40,)),
]


@pytest.fixture(params=LEVELS)
def simd_level(request):
    try:
        previous = _direct.set_simd_level(request.param)
    except ValueError:
        pytest.skip(f"{request.param} is not supported by this CPU")
    try:
        yield request.param
    finally:
        _direct.set_simd_level(previous)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", CASES, ids=lambda c: f"{c[0]}*{c[1]}")
def test_every_simd_level_matches_reference(simd_level, shapes, dtype):
    assert _direct.simd_level() == simd_level
    rng = np.random.default_rng(7)
    shape, kshape = shapes
    x = make_array(rng, shape, dtype)
    w = make_array(rng, kshape, dtype)
    for mode, boundary in [("full", "fill"), ("same", "reflect"), ("same", "wrap"),
                           ("full", "mirror"), ("same", "nearest")]:
        for op, ref in [("convolve", reference_convolve), ("correlate", reference_correlate)]:
            got = getattr(fastconv, op)(x, w, mode, boundary=boundary, fillvalue=0.5)
            expected = ref(x, w, mode, boundary=boundary, fillvalue=0.5)
            bound = magnitude_bound(op, x, w, mode, boundary=boundary, fillvalue=0.5)
            assert_conv_close(got, expected, bound,
                              err_msg=f"{simd_level} {op} {mode} {boundary}")


def test_unknown_simd_level_is_refused():
    with pytest.raises(ValueError, match="not available"):
        _direct.set_simd_level("SSE9")


def test_simd_level_in_use_is_reported(capsys):
    fastconv.show_config()
    assert _direct.simd_level() in capsys.readouterr().out


POOL_VARIANTS = {"baseline": "_pool", "AVX2+FMA": "_pool_avx2", "AVX-512": "_pool_avx512"}


@pytest.mark.parametrize("level", LEVELS)
def test_every_pooling_variant_matches_the_reference(level, monkeypatch):
    import importlib

    from fastconv import _pooling
    from _pool_reference import reference_pool

    try:
        previous = _direct.set_simd_level(level)
    except ValueError:
        pytest.skip(f"{level} is not supported by this CPU")
    _direct.set_simd_level(previous)
    try:
        module = importlib.import_module("fastconv." + POOL_VARIANTS[level])
    except ImportError:
        pytest.skip(f"this build has no {level} pooling kernels")
    monkeypatch.setattr(_pooling, "_pool", module)
    rng = np.random.default_rng(3)
    cases = [
        ((3, 40, 37), (1, 2), 2, None, 0, "max"),
        ((3, 40, 37), (1, 2), 3, 2, 1, "mean"),
        ((50, 300), (0, 1), 31, 1, 15, "max"),   # van Herk rows, window doubling lines
        ((50, 300), (0, 1), 9, 2, 4, "sum"),     # van Herk sums on tiles
        ((4, 6, 20), (2,), 3, 1, 1, "min"),
    ]
    for shape, axes, size, stride, padding, op in cases:
        for dtype in (np.float32, np.float64, np.int16):
            if op == "mean" and dtype == np.int16:
                continue
            x = (rng.standard_normal(shape) * 50).astype(dtype)
            got = fastconv.pool(x, size, stride, op, axes=axes, padding=padding)
            expected = reference_pool(x, size, stride, op, axes=axes, padding=padding)
            assert got.dtype == expected.dtype
            msg = f"{level} {shape} {op} {dtype}"
            if op in ("max", "min") or dtype == np.int16:
                np.testing.assert_array_equal(got, expected, err_msg=msg)
            else:
                # rounding error of a float32 sum scales with the sum of magnitudes
                bound = reference_pool(np.abs(x.astype(np.float64)), size, stride, op,
                                       axes=axes, padding=padding)
                assert np.all(np.abs(got - expected) <= 1e-5 * bound), msg
