"""The methods: each computes a `ConvProblem` (see `problem`) its own way.

``direct`` (compiled window sums), ``separable`` (1-D direct passes),
``fft`` (spectra through `scipy.fft`) and ``im2col`` (lowered tiles times
the kernels through BLAS). `run` dispatches; the cost model
(`fastconv._plan.costmodel`) says which to use.
"""

from . import direct, fft, im2col, separable
from .problem import cast_result

__all__ = ["run"]


def run(p, method, terms=None, out=None):
    """Compute problem `p` by `method` (`terms`: the separable terms of p.in2),
    into `out` when given (an array of the result's shape and dtype that
    overlaps no input)."""
    if method == "separable":
        return separable.run(p, terms, out)
    if method in ("fft", "im2col"):
        result = (fft if method == "fft" else im2col).run(p)
        if result is not None:
            if out is None:
                return result
            return cast_result(result, p.result_dtype, out)
        # integers too large for exact float64 arithmetic: the direct method is exact
    return direct.run(p, out)
