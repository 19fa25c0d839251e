"""Repeated calls of every public function leave no memory behind (tools/leakcheck.py).

CI runs the full check (10,000 calls of every case); this test runs one case
per function and method 1,000 times, enough for a leaked reference or array
per call to exceed the bounds.
"""

import ctypes
import importlib.util
import io
import os

import numpy as np
import pytest

_TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tools",
                     "leakcheck.py")

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="resident memory is read from /proc/self/statm")


@pytest.fixture(scope="module")
def leakcheck():
    spec = importlib.util.spec_from_file_location("leakcheck", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# One case per public function, convolution method and kind of pooling kernel
# (the full list, every op and dtype, runs in CI).
SUITE_CASES = [
    "convolve auto", "convolve direct", "convolve fft", "convolve im2col",
    "convolve separable", "convolve direct complex64 wrap", "choose_conv_method",
    "convolve_separable", "pool max", "pool lp int32", "pool weighted",
    "pool max return_indices", "pool max large window (van Herk)", "adaptive_pool mean",
]


def test_no_public_function_leaks(leakcheck):
    all_cases = dict(leakcheck.cases())
    names = " ".join(all_cases)
    for function in ("convolve", "correlate", "choose_conv_method", "convolve_separable",
                     "pool", "adaptive_pool", "return_indices"):
        assert function in names
    report = io.StringIO()
    failures = leakcheck.check(calls=1000, warmup=500, stream=report,
                               case_list=[(name, all_cases[name]) for name in SUITE_CASES])
    assert failures == [], report.getvalue()


def test_leakcheck_finds_a_leaked_reference(leakcheck):
    kept = []
    cases = [("leaks a reference", lambda: kept.append(object())),
             ("leaks an array", lambda: kept.append(np.ones(512))),
             ("leaks nothing", lambda: np.ones(512).sum())]
    failures = leakcheck.check(calls=1000, warmup=10, stream=io.StringIO(),
                               case_list=cases)
    assert [name for name, *_ in failures] == ["leaks a reference", "leaks an array"]


def test_leakcheck_finds_leaked_c_memory(leakcheck):
    # malloc'd memory that no Python object owns: only the resident set shows it
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 1 << 20
    blocks = []

    def leak():
        ptr = libc.malloc(size)
        ctypes.memset(ptr, 1, size)  # resident once written
        blocks.append(ptr)

    try:
        failures = leakcheck.check(calls=64, warmup=0, stream=io.StringIO(),
                                   case_list=[("leaks 1 MiB of C memory", leak)])
    finally:
        for ptr in blocks:
            libc.free(ptr)
    assert len(failures) == 1 and failures[0][1] > 32 * size
