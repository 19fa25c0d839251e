"""Every compiled micro-kernel variant (baseline, AVX2+FMA, AVX-512) is exact.

The library picks the best variant for the CPU at import; the others would go
untested on a machine that supports them all, so each is selected in turn.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv._kernels import _direct
from _helpers import assert_conv_close, magnitude_bound, make_array
from _reference import reference_convolve, reference_correlate

# every level in turn: the `simd_level` fixture of conftest.py
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

    from fastconv._methods import pooling as _pooling
    from _pool_reference import reference_pool

    try:
        previous = _direct.set_simd_level(level)
    except ValueError:
        pytest.skip(f"{level} is not supported by this CPU")
    _direct.set_simd_level(previous)
    try:
        module = importlib.import_module("fastconv._kernels." + POOL_VARIANTS[level])
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


# ---------------------------------------------------------------- dispatch checks

def _cpuinfo_flags():
    """CPU flags the Linux kernel reports (and has enabled the register state for)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    pytest.skip("no /proc/cpuinfo flags on this system")


def test_required_features_are_the_compiled_levels():
    required = _direct.simd_required_features()
    assert list(required)[0] == "baseline" and required["baseline"] == ()
    assert set(required) <= set(LEVELS)
    if "AVX-512" in required:
        # every -m flag the AVX-512 kernels are compiled with (meson.build)
        assert set(required["AVX-512"]) == {"avx512f", "avx512vl", "avx512dq", "avx512bw",
                                            "avx2", "fma"}
    if "AVX2+FMA" in required:
        assert set(required["AVX2+FMA"]) == {"avx2", "fma"}
    for features in required.values():
        for feature in features:
            _direct.cpu_has_feature(feature)  # a name the dispatch can detect


def test_unknown_cpu_feature_is_refused():
    with pytest.raises(ValueError, match="unknown CPU feature"):
        _direct.cpu_has_feature("avx9000")


def test_supported_levels_agree_with_cpuinfo():
    flags = _cpuinfo_flags()
    required = _direct.simd_required_features()
    supported = _direct.simd_supported_levels()
    assert supported[-1] == "baseline"
    for level, features in required.items():
        assert (level in supported) == (set(features) <= flags), (level, features)
        for feature in features:
            assert _direct.cpu_has_feature(feature) == (feature in flags), feature


def _run_python(code, python_args=(), expect_ok=True, **env_updates):
    env = dict(os.environ)
    env.pop("FASTCONV_SIMD", None)
    env.update(env_updates)
    proc = subprocess.run([sys.executable, *python_args, "-c", code], capture_output=True,
                          text=True, env=env, cwd=os.path.dirname(os.path.abspath(__file__)),
                          timeout=120)
    assert (proc.returncode == 0) == expect_ok, proc.stderr
    return proc


_SHOW_LEVELS = ("import fastconv; from fastconv._kernels import _direct; "
                "from fastconv._methods import pooling; "
                "print(_direct.simd_level(), pooling._pool.__name__)")


def test_level_chosen_at_import_is_the_best_supported():
    level, pool_module = _run_python(_SHOW_LEVELS).stdout.split()
    assert level == _direct.simd_supported_levels()[0]
    assert set(_direct.simd_required_features()[level]) <= _cpuinfo_flags()
    # meson builds pooling kernels for every level it builds direct kernels for
    assert pool_module == "fastconv._kernels." + POOL_VARIANTS[level]


def test_pooling_kernels_follow_the_simd_level():
    proc = _run_python(_SHOW_LEVELS, FASTCONV_SIMD="baseline")
    assert proc.stdout.split() == ["baseline", "fastconv._kernels._pool"]
    assert proc.stderr == ""


@pytest.mark.parametrize("value", ["SSE9", "avx-512", " "])
def test_unknown_fastconv_simd_warns_and_uses_the_best_level(value):
    proc = _run_python(_SHOW_LEVELS, FASTCONV_SIMD=value)
    level, _ = proc.stdout.split()
    assert level == _direct.simd_supported_levels()[0]
    assert "RuntimeWarning" in proc.stderr and "FASTCONV_SIMD" in proc.stderr
    assert repr(value) in proc.stderr
    for name in _direct.simd_supported_levels():
        assert name in proc.stderr


def test_unknown_fastconv_simd_warning_is_a_runtime_warning():
    proc = _run_python("import fastconv", ["-W", "error::RuntimeWarning"], expect_ok=False,
                       FASTCONV_SIMD="SSE9")
    assert "RuntimeWarning: FASTCONV_SIMD='SSE9'" in proc.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_switching_levels_during_calls_keeps_results_exact(dtype):
    """One call uses one kernel set, however often another thread switches."""
    levels = _direct.simd_supported_levels()
    if len(levels) < 2:
        pytest.skip("only one SIMD level on this CPU")
    rng = np.random.default_rng(11)
    # Small integers: every level's sums are exact, so results must be equal.
    x = rng.integers(-4, 5, size=(67, 203)).astype(dtype)
    w = rng.integers(-3, 4, size=(3, 5)).astype(dtype)
    expected = reference_convolve(x, w, "same")
    previous = _direct.simd_level()
    stop = threading.Event()

    def switch():
        while not stop.is_set():
            for level in levels:
                _direct.set_simd_level(level)

    switcher = threading.Thread(target=switch)
    switcher.start()
    bad = 0
    try:
        for _ in range(1500):
            got = fastconv.convolve(x, w, "same", method="direct", workers=1)
            bad += not np.array_equal(got, expected)
    finally:
        stop.set()
        switcher.join()
        _direct.set_simd_level(previous)
    assert bad == 0, f"{bad} of 1500 results differ from the reference"
