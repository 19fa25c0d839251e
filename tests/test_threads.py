"""Threads: determinism across worker counts, thread safety, OpenMP, the GIL, workers API."""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
import fastconv._kernels._direct as _direct
from _helpers import assert_conv_close, make_array, magnitude_bound
from _reference import reference_convolve


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


# ---------------------------------------------------------------- OpenMP really on


def _require_openmp():
    if not _direct.openmp_enabled():
        if os.environ.get("FASTCONV_REQUIRE_OPENMP") == "1":
            pytest.fail("fastconv was built without OpenMP but FASTCONV_REQUIRE_OPENMP=1")
        pytest.skip("fastconv was built without OpenMP")


def test_openmp_enabled_and_threads_run():
    _require_openmp()
    assert _direct.openmp_enabled() is True
    assert _direct.observed_threads(2) == 2
    assert _direct.observed_threads(1) == 1


def test_simd_level_is_a_known_name():
    assert _direct.simd_level() in {"baseline", "AVX2+FMA", "AVX-512"}


# ---------------------------------------------------------------- determinism

DET_CASES = [
    pytest.param((100_000,), (31,), id="1d-100000x31"),
    pytest.param((200, 301), (7, 7), id="2d-200x301_7x7"),
    pytest.param((40, 41, 42), (5, 4, 3), id="3d-40^3_5x4x3"),
    pytest.param((6, 7, 8, 30), (2, 3, 2, 5), id="4d"),
]


@pytest.mark.parametrize("s1,s2", DET_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int16"])
def test_workers_1_and_2_bit_identical(s1, s2, dtype, rng):
    a = make_array(rng, s1, dtype)
    b = make_array(rng, s2, dtype)
    for op in ["convolve", "correlate"]:
        for mode, boundary in [("full", "fill"), ("same", "reflect"), ("valid", "fill")]:
            f = getattr(fastconv, op)
            r1 = f(a, b, mode, boundary=boundary, workers=1)
            r2 = f(a, b, mode, boundary=boundary, workers=2)
            r3 = f(a, b, mode, boundary=boundary, workers=3)
            np.testing.assert_array_equal(r1, r2, err_msg=f"{op} {mode}")
            np.testing.assert_array_equal(r1, r3, err_msg=f"{op} {mode}")
            with fastconv.set_workers(2):
                np.testing.assert_array_equal(r1, f(a, b, mode, boundary=boundary))


def test_workers_bit_identical_axes(rng):
    a = make_array(rng, (16, 50, 60), "float64")
    b = make_array(rng, (1, 5, 6), "float64")
    r1 = fastconv.convolve(a, b, "same", axes=[1, 2], workers=1)
    r2 = fastconv.convolve(a, b, "same", axes=[1, 2], workers=2)
    np.testing.assert_array_equal(r1, r2)


def test_more_workers_than_work(rng):
    a = make_array(rng, (3,), "float64")
    b = make_array(rng, (2,), "float64")
    for w in [1, 2, 8, 64]:
        got = fastconv.convolve(a, b, workers=w)
        assert_conv_close(got, reference_convolve(a, b), magnitude_bound("convolve", a, b))


# ---------------------------------------------------------------- concurrency


def test_concurrent_calls_match_serial(rng):
    cases = []
    for i in range(12):
        dtype = ["float32", "float64", "complex128", "int32"][i % 4]
        s1 = [(3000,), (60, 70), (12, 13, 14)][i % 3]
        s2 = [(17,), (5, 6), (3, 2, 4)][i % 3]
        a = make_array(rng, s1, dtype)
        b = make_array(rng, s2, dtype)
        mode = ["full", "same", "valid"][i % 3]
        boundary = ["fill", "wrap", "mirror", "nearest"][i % 4]
        op = ["convolve", "correlate"][i % 2]
        cases.append((op, a, b, mode, boundary))

    def run(case, workers):
        op, a, b, mode, boundary = case
        return getattr(fastconv, op)(a, b, mode, boundary=boundary, workers=workers)

    serial = [run(c, 1) for c in cases]
    for workers in [1, 2, None]:
        with ThreadPoolExecutor(max_workers=6) as ex:
            results = list(ex.map(lambda c: run(c, workers), cases * 3))
        for k, res in enumerate(results):
            np.testing.assert_array_equal(res, serial[k % len(cases)], err_msg=f"case {k}")


def test_concurrent_calls_with_set_workers_in_each_thread(rng):
    a = make_array(rng, (80, 90), "float64")
    b = make_array(rng, (5, 5), "float64")
    expected = fastconv.convolve(a, b, "same", workers=1)
    seen = {}

    def task(n):
        with fastconv.set_workers(n):
            seen[threading.get_ident(), n] = fastconv.get_workers()
            return fastconv.convolve(a, b, "same")

    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(task, [1, 2, 1, 2, 1, 2, 1, 2]))
    for r in results:
        np.testing.assert_array_equal(r, expected)
    assert all(v == n for (_, n), v in seen.items())


# ---------------------------------------------------------------- the GIL


def test_gil_released_during_long_call(rng):
    """A pure-Python thread makes progress while a long convolve runs (workers=1).

    The switch interval is raised so that a thread holding the GIL (in Python or C
    code) never hands it over by itself: the counter thread can only advance while the
    main thread has released the GIL. A pure-Python loop in the main thread is the
    control: it must stop the counter. No durations are measured or compared.
    """
    a = make_array(rng, (96, 96, 96), "complex128")
    b = make_array(rng, (7, 7, 7), "complex128")
    state = {"count": 0, "stop": False}
    ready = threading.Event()

    def counter():
        n = 0
        ready.set()
        while not state["stop"]:
            n += 1
            state["count"] = n
            if n % 64 == 0:
                time.sleep(0)  # lets the main thread take the GIL back when it wants it

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    t = threading.Thread(target=counter, daemon=True)
    try:
        t.start()
        ready.wait()
        c0 = state["count"]
        result = fastconv.convolve(a, b, "full", workers=1)
        c1 = state["count"]
        x = 0
        for i in range(2_000_000):  # control: holds the GIL
            x += i
        c2 = state["count"]
        state["stop"] = True
    finally:
        state["stop"] = True
        sys.setswitchinterval(old)
        t.join()
    assert result.shape == (102, 102, 102)
    assert c2 - c1 < 200, f"control: counter advanced {c2 - c1} times while the GIL was held"
    # with the GIL held the counter could advance only at the few moments NumPy itself
    # releases the GIL in the Python wrapper (by at most ~64 each time)
    assert c1 - c0 > 5_000, f"counter advanced only {c1 - c0} times during the call"
    # and the result is still right
    # full index (6 + p, 17, 33) only sees a[p : p + 7, 11:18, 27:34]
    exp = reference_convolve(a[:12, 11:18, 27:34], b, "valid")[:, 0, 0]
    np.testing.assert_allclose(result[6:12, 17, 33], exp, rtol=1e-12)


# ---------------------------------------------------------------- set_workers / get_workers


def test_get_workers_default_is_int_and_positive():
    w = fastconv.get_workers()
    assert isinstance(w, int) and not isinstance(w, bool)
    assert 1 <= w <= max(_usable_cpus(), 1) or "OMP_NUM_THREADS" in os.environ


def test_set_workers_nesting():
    default = fastconv.get_workers()
    two, three = min(2, _usable_cpus()), min(3, _usable_cpus())
    with fastconv.set_workers(2):
        assert fastconv.get_workers() == two
        with fastconv.set_workers(1):
            assert fastconv.get_workers() == 1
            with fastconv.set_workers(3):
                assert fastconv.get_workers() == three
            assert fastconv.get_workers() == 1
        assert fastconv.get_workers() == two
    assert fastconv.get_workers() == default


def test_set_workers_restored_after_exception():
    default = fastconv.get_workers()
    with pytest.raises(RuntimeError, match="boom"):
        with fastconv.set_workers(1):
            raise RuntimeError("boom")
    assert fastconv.get_workers() == default


def test_set_workers_negative_counts_from_cpus():
    ncpu = _usable_cpus()
    with fastconv.set_workers(-1):
        assert fastconv.get_workers() == ncpu
    if ncpu >= 2:
        with fastconv.set_workers(-2):
            assert fastconv.get_workers() == ncpu - 1
    with fastconv.set_workers(-ncpu):
        assert fastconv.get_workers() == 1


def test_set_workers_is_thread_local():
    default_here = fastconv.get_workers()
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def other():
        inside.wait()
        seen["other"] = fastconv.get_workers()
        with fastconv.set_workers(3):
            seen["other-set"] = fastconv.get_workers()
            release.set()

    t = threading.Thread(target=other)
    t.start()
    with fastconv.set_workers(1):
        inside.set()
        release.wait()
        seen["main"] = fastconv.get_workers()
    t.join()
    assert seen["main"] == 1
    assert seen["other-set"] == min(3, _usable_cpus())
    assert seen["other"] == default_here  # the main thread's set_workers(1) did not leak
    assert fastconv.get_workers() == default_here


def test_set_workers_invalid():
    for bad in [0, -10_000]:
        with pytest.raises(ValueError, match="workers"):
            with fastconv.set_workers(bad):
                pass
    for bad in [1.5, "2", True]:
        with pytest.raises((TypeError, ValueError), match="workers"):
            with fastconv.set_workers(bad):
                pass


def test_threadpoolctl_limits_get_workers():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    _require_openmp()
    before = fastconv.get_workers()
    with threadpoolctl.threadpool_limits(limits=1):
        assert fastconv.get_workers() == 1
        a = np.arange(50.0)
        np.testing.assert_array_equal(
            fastconv.convolve(a, [1.0, 1.0]), np.convolve(a, [1.0, 1.0])
        )
        with fastconv.set_workers(2):  # an explicit set_workers wins
            assert fastconv.get_workers() == min(2, _usable_cpus())
    assert fastconv.get_workers() == before


def test_threadpoolctl_sees_fastconv_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    _require_openmp()
    apis = {info["user_api"] for info in threadpoolctl.threadpool_info()}
    assert "openmp" in apis


def _run_python(code, **env_updates):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.update(env_updates)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.abspath(__file__)),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_omp_num_threads_is_honoured():
    _require_openmp()
    code = "import fastconv; print(fastconv.get_workers())"
    assert _run_python(code, OMP_NUM_THREADS="1") == "1"
    if _usable_cpus() >= 2:
        assert _run_python(code, OMP_NUM_THREADS="2") == "2"
    # unset: all usable cores
    assert _run_python(code) == str(_usable_cpus())
    # workers=None calls give the same result under OMP_NUM_THREADS=1
    code = (
        "import numpy as np, fastconv\n"
        "a = np.arange(40.0).reshape(5, 8); b = np.ones((2, 3))\n"
        "r = fastconv.convolve(a, b, 'same')\n"
        "print(float(r.sum()), fastconv.convolve(a, b, 'same', workers=2).sum() == r.sum())"
    )
    out = _run_python(code, OMP_NUM_THREADS="1")
    ref = reference_convolve(np.arange(40.0).reshape(5, 8), np.ones((2, 3)), "same")
    expected = float(ref.sum())
    assert out == f"{expected} True"


@pytest.mark.parametrize("preset", [None, "active", "passive"])
def test_import_sets_passive_wait_policy_unless_chosen(preset, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, fastconv; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == (preset or "passive")


# ---------------------------------------------------------------- large workers values

def _every_public_call(workers):
    """One call of every public function that takes `workers`, with that value."""
    a = np.arange(24.0).reshape(4, 6)
    b = np.ones((2, 3))
    return {
        "convolve": lambda: fastconv.convolve(a, b, "same", workers=workers),
        "correlate": lambda: fastconv.correlate(a, b, "same", workers=workers),
        "convolve-fft": lambda: fastconv.convolve(a, b, method="fft", workers=workers),
        "convolve-im2col": lambda: fastconv.convolve(a, b, method="im2col", workers=workers),
        "convolve-separable": lambda: fastconv.convolve(a, b, method="separable",
                                                        workers=workers),
        "choose_conv_method": lambda: fastconv.choose_conv_method(a, b, workers=workers),
        "choose_conv_method-measure": lambda: fastconv.choose_conv_method(
            a, b, workers=workers, measure=True)[0],
        "convolve_separable": lambda: fastconv.convolve_separable(
            a, [np.ones(2), np.ones(3)], workers=workers),
        "pool": lambda: fastconv.pool(a, 2, workers=workers),
        "pool-weighted": lambda: fastconv.pool(a, 2, op="weighted",
                                               weights=np.ones((2, 2)), workers=workers),
        "adaptive_pool": lambda: fastconv.adaptive_pool(a, 3, op="mean", workers=workers),
    }


@pytest.mark.parametrize("huge", [2**40, 2**70, np.int64(2**62)])
def test_workers_above_cpu_count_is_capped_everywhere(huge):
    # a positive workers above the usable CPU count means "all of them", in every function
    capped = _every_public_call(_usable_cpus())
    for name, call in _every_public_call(huge).items():
        got, expected = call(), capped[name]()
        if isinstance(expected, str):
            assert isinstance(got, str), name
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
    with fastconv.set_workers(huge):
        assert fastconv.get_workers() == _usable_cpus()


@pytest.mark.parametrize("bad", [-2**40, -2**70])
def test_workers_far_below_minus_cpu_count_is_refused_everywhere(bad):
    for name, call in _every_public_call(bad).items():
        with pytest.raises(ValueError, match="workers"):
            call()
    with pytest.raises(ValueError, match="workers"):
        with fastconv.set_workers(bad):
            pass
