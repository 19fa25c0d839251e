"""Fuzzing of every public function with Hypothesis (the generators of ``_fuzz_cases``).

Each example is one call with drawn arguments (any dtype, shape, layout,
right and wrong parameter values); it must return the documented result or
raise a ValueError/TypeError naming the offending parameter, with no other
exception, no warning, no hang and no change to its inputs.

``FASTCONV_FUZZ_EXAMPLES`` sets the examples per function (default 100);
``FASTCONV_FUZZ_SEED`` draws random examples from that seed instead of the
fixed (derandomized) ones; ``FASTCONV_FUZZ_SHRINK=1`` lets Hypothesis shrink
a failing case to a minimal one (which takes tens of seconds, so the normal
run reports the first failing case as drawn). ``tools/fuzz.py`` runs the
same generators for many cases in child processes.
"""

import faulthandler
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

import _fuzz_cases as fz

# Hypothesis's pytest plugin imports this module (and libcst) when it reports a
# failing example; libcst's import warns (a DeprecationWarning of
# mypy_extensions), which filterwarnings=error turns into an INTERNALERROR
# that hides the failure. Imported here first, without warnings.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # pragma: no cover - libcst not installed: nothing to import
        pass

EXAMPLES = int(os.environ.get("FASTCONV_FUZZ_EXAMPLES", "100"))
SEED = os.environ.get("FASTCONV_FUZZ_SEED")
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + (
    [Phase.shrink, Phase.explain] if os.environ.get("FASTCONV_FUZZ_SHRINK") == "1" else [])
# a call running longer than this has hung: stop the run with every thread's traceback
HANG_SECONDS = 120


class HypothesisChooser(fz.Chooser):
    """Choices drawn from Hypothesis, which shrinks them when a case fails."""

    def __init__(self, data):
        self._data = data

    def integers(self, lo, hi):
        return self._data.draw(st.integers(lo, hi))


def _fuzz(func):
    decorated = settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])(given(data=st.data())(func))
    return decorated if SEED is None else seed(int(SEED))(decorated)


@pytest.mark.parametrize("function", fz.FUNCTIONS)
@_fuzz
def test_fuzz(function, data):
    case = fz.draw_case(HypothesisChooser(data), function)
    note(case.describe())
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        failures = fz.check(case)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert not failures, "\n".join(
        [f"{kind}: {detail}" for kind, detail in failures] + [f"case: {case.describe()}"])


@pytest.mark.parametrize("order", ["<", ">"])
def test_oracle_uint64_kernel_beyond_int64_in_either_byte_order(order):
    # a uint64 kernel of rank 1 modulo 2**64 (as int64: [-2, 1, 3] x [2, -4]) is
    # separable in the result's arithmetic: the oracle allows the result for
    # either byte order, and the result is the direct one
    kernel = np.array([[-4, 8], [-2, 4], [6, -12]], np.int64).view(np.uint64)
    kernel = kernel.astype(kernel.dtype.newbyteorder(order))[None]
    in1 = np.arange(24, dtype=np.uint8).reshape(1, 4, 6)
    case = fz.Case("convolve", (in1, kernel),
                   dict(mode="valid", axes=(2, 1), method="separable"))
    assert fz.check(case) == []


def test_oracle_unused_infinite_fill_does_not_forbid_fft():
    # with boundary='wrap' the fill value extends nothing: finite inputs may be
    # measured (and chosen) by FFT; the infinite fill with boundary='fill' may not
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((40, 40)), rng.standard_normal((9, 9))
    case = fz.Case("choose_conv_method", (a, b),
                   dict(mode="valid", boundary="wrap", fillvalue=np.inf, measure=True))
    assert fz.check(case) == []
    case = fz.Case("choose_conv_method", (a, b),
                   dict(mode="same", boundary="fill", fillvalue=np.inf, measure=True))
    assert fz.check(case) == []


def test_oracle_normwise_scale_includes_outputs_beyond_the_range():
    # fft's documented error is relative to the largest output magnitude: an
    # output whose window reaches float32's limit (not compared itself) sets
    # the scale of the others, which may then be off by far more than their own
    ref = np.array([-1.35 + 1.26j, 2.9e38, 1.0], np.complex64)
    got = np.array([0, 2.9e38, 1.0], np.complex64)
    bound = np.array([3.0, 3e38, 1.0])
    fz.compare_floats(got, ref, bound, np.dtype(np.complex64), True)
    with pytest.raises(AssertionError, match="differ"):
        fz.compare_floats(got, ref, bound, np.dtype(np.complex64), False)
    # within the range the scale is the largest bound, as before
    with pytest.raises(AssertionError, match="differ"):
        fz.compare_floats(got, ref, np.array([3.0, 3.0, 1.0]), np.dtype(np.complex64), True)
