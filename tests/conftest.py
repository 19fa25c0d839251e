"""pytest configuration for fastconv.

Tests are collected with ``--import-mode=importlib`` (see pyproject.toml), so the
helper modules of this directory (``_reference``, ``_helpers``) are made importable
by putting the directory on ``sys.path`` here, before any test module is imported.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from _helpers import (  # noqa: E402,F401
    ALL_DTYPES,
    BOUNDARIES,
    COMPLEX_DTYPES,
    FLOAT_DTYPES,
    INT_DTYPES,
    MIXED_PAIRS,
    MODES,
    RTOL,
    assert_conv_close,
)

try:  # deterministic hypothesis runs in CI
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "fastconv",
        deadline=None,
        derandomize=True,
        max_examples=40,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    settings.load_profile("fastconv")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def rng(request):
    """Seeded generator, different but reproducible for every test."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture(params=BOUNDARIES)
def boundary(request):
    return request.param


@pytest.fixture
def assert_close():
    return assert_conv_close


@pytest.fixture(params=["baseline", "AVX2+FMA", "AVX-512"])
def simd_level(request):
    """Each SIMD level of the compiled kernels in turn (skipped where the CPU
    lacks it), the previous one restored after the test."""
    from fastconv._kernels import _direct

    try:
        previous = _direct.set_simd_level(request.param)
    except ValueError:
        pytest.skip(f"{request.param} is not supported by this CPU")
    try:
        yield request.param
    finally:
        _direct.set_simd_level(previous)
