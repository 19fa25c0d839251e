"""Repeated calls of every public function leave no memory behind (tools/leakcheck.py).

CI runs the full check (10,000 calls per case); this test runs each case 1,000
times, enough for a leaked reference or array per call to exceed the bounds.
"""

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


def test_no_public_function_leaks(leakcheck):
    report = io.StringIO()
    failures = leakcheck.check(calls=1000, warmup=500, stream=report)
    assert failures == [], report.getvalue()
    # every public function is among the cases
    names = " ".join(name for name, _ in leakcheck.cases())
    for function in ("convolve", "correlate", "choose_conv_method", "convolve_separable",
                     "pool", "adaptive_pool", "return_indices"):
        assert function in names
    for method in ("auto", "direct", "fft", "im2col", "separable"):
        assert f"convolve {method}" in names


def test_leakcheck_finds_a_leaked_reference_and_a_leaked_buffer(leakcheck):
    kept = []
    cases = [("leaks a reference", lambda: kept.append(object())),
             ("leaks 4 KiB", lambda: kept.append(np.ones(512))),
             ("leaks nothing", lambda: np.ones(512).sum())]
    failures = leakcheck.check(calls=1000, warmup=10, stream=io.StringIO(),
                               case_list=cases)
    # (found by the count of Python's memory blocks: the resident set need not
    # grow, since earlier tests may leave freed heap pages resident for reuse)
    assert [name for name, *_ in failures] == ["leaks a reference", "leaks 4 KiB"]
