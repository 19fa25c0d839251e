"""Fuzzing of every public fastconv function: generators, the documented rules, one check.

One source of generated calls for ``tests/test_fuzz.py`` (driven by Hypothesis)
and ``tools/fuzz.py`` (driven by NumPy generators, many cases in child
processes). A generator makes its choices through a `Chooser`; the test module
passes one that draws from Hypothesis (which then shrinks a failing case), the
script one that draws from a seeded ``numpy.random.Generator``.

A case is a call of one public function with drawn arguments: shapes 0-D to
5-D (empty and length-1 axes included), every NumPy dtype (numeric ones in
both byte orders, the unsupported ones), special values (NaN, infinities,
-0.0, extremes), memory layouts (Fortran order, strides, negative strides,
stride 0, unaligned, read-only, lists, scalars), shapes whose output cannot
exist (broadcast views, nothing allocated), and right and wrong values of
every parameter.

The oracle (`expectation`) reads the documented rules (README "Semantics",
the docstrings) off the drawn arguments: the ValueError/TypeError the call
must raise, naming which parameter, or the result it must return, computed
by the references of ``_reference`` / ``_pool_reference`` or by
``scipy.signal`` where SciPy defines it. `check` runs the call and sorts
what happened into `KINDS`.
"""

import math
import operator
import os
import re
import sys
import warnings
from fractions import Fraction

import numpy as np
import scipy.signal

import fastconv
from _helpers import RTOL, SCIPY_ND_DTYPES, with_layout
from _pool_reference import (assert_pool_close, pool_output_length, reference_adaptive_pool,
                             reference_pool)
from _pool_reference import magnitude_bound as pool_magnitude_bound
from _reference import reference_convolve, reference_correlate

__all__ = ["FUNCTIONS", "KINDS", "Chooser", "RandomChooser", "check", "draw_case"]

FUNCTIONS = ("convolve", "correlate", "choose_conv_method", "convolve_separable", "pool",
             "adaptive_pool", "set_workers", "set_workspace_limit")

# what one call can do; the first is success
KINDS = ("pass", "wrong result", "wrong exception type", "message not naming the parameter",
         "refused valid input", "accepted invalid input", "warning", "modified input",
         "crash/signal", "timeout", "fuzzer error")

NCPU = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
try:
    PHYSICAL_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
except (AttributeError, OSError, ValueError):  # pragma: no cover
    PHYSICAL_MEMORY = sys.maxsize

MODES = ("full", "same", "valid")
METHODS = ("auto", "direct", "separable", "fft", "im2col")
BOUNDARIES = ("fill", "wrap", "symm", "reflect", "mirror", "nearest")
POOL_OPS = ("max", "min", "mean", "sum", "lp", "weighted")
ADAPTIVE_OPS = ("max", "min", "mean", "sum", "lp")

VE, TE = (ValueError,), (TypeError,)
NO_METHOD = object()  # choose_conv_method has no `method`
EITHER = (ValueError, TypeError)
OK = None  # verdict of an accepted value in the catalogues below
MAY = "may"  # verdict of a value the documentation leaves open: a result or a named error


# --------------------------------------------------------------------------- choosers
class Chooser:
    """Where a generator's choices come from: integers in a closed range.

    Every other choice is built on `integers`, so a driver that shrinks
    integers towards their lower bound (Hypothesis) shrinks cases towards the
    first option of every `choice` and towards False for every `chance`.
    """

    def integers(self, lo, hi):
        raise NotImplementedError

    def choice(self, options):
        return options[self.integers(0, len(options) - 1)]

    def chance(self, p):
        return self.integers(0, 999) >= 1000 - round(1000 * p)

    def values_rng(self):
        """A NumPy generator for the values of one array."""
        return np.random.default_rng(self.integers(0, 2**32 - 1))


class RandomChooser(Chooser):
    """Choices from a NumPy generator (the fuzz script)."""

    def __init__(self, rng):
        self._rng = rng

    def integers(self, lo, hi):
        return int(self._rng.integers(lo, hi, endpoint=True))


# --------------------------------------------------------------------------- dtypes, values
NUMERIC = ["float64", "float32", "int64", "int8", "uint8", "int16", "uint16", "int32",
           "uint32", "uint64", "bool", "float16", "complex128", "complex64", "q", "Q"]
BIG_ENDIAN = [">f8", ">f4", ">f2", ">i2", ">u4", ">i8", ">u8", ">c8", ">c16"]
UNSUPPORTED = ["longdouble", "clongdouble", "object", "U3", "S3", "datetime64[s]",
               "timedelta64[ms]", "V8", "structured", "StringDType"]


def _dtype(name):
    if name == "structured":
        return np.dtype([("a", "<f8"), ("b", "<i4")])
    if name == "StringDType":
        return np.dtypes.StringDType()
    return np.dtype(name)


def draw_dtype(c, unsupported=0.05):
    if c.chance(unsupported):
        return _dtype(c.choice(UNSUPPORTED))
    if c.chance(0.1):
        return np.dtype(c.choice(BIG_ENDIAN))
    return np.dtype(c.choice(NUMERIC))


def _specials(dtype):
    info = np.finfo(dtype)
    return [np.nan, np.inf, -np.inf, -0.0, float(info.max), -float(info.max),
            float(info.smallest_subnormal), 1.0]


def _real_values(rng, shape, dtype, flavour):
    """Real values of float `dtype` (as float64) of one flavour."""
    if flavour == "ints":
        return rng.integers(-6, 7, size=shape).astype(np.float64)
    values = rng.standard_normal(shape)
    if flavour == "special" and values.size:
        hit = rng.random(shape) < 0.25
        values[hit] = rng.choice(_specials(dtype), size=int(hit.sum()))
    return values


def make_values(c, shape, dtype, flavour=None):
    """A C-contiguous array of `shape` and `dtype` (any dtype NumPy has)."""
    rng = c.values_rng()
    shape = tuple(shape)
    kind = dtype.kind
    if flavour is None:
        flavour = c.choice(["normal", "normal", "ints", "special", "full"])
    if kind == "b":
        return rng.random(shape) < rng.random()
    if kind in "iu":
        info = np.iinfo(dtype)
        if flavour in ("full", "special"):
            out = rng.integers(info.min, info.max, size=shape, dtype=dtype.newbyteorder("="),
                               endpoint=True)
            if out.size:
                hit = rng.random(shape) < 0.3
                extremes = np.array([info.min, info.max, 0, 1], dtype=out.dtype)
                out[hit] = rng.choice(extremes, size=int(hit.sum()))
            return out.astype(dtype)
        return rng.integers(max(info.min, -6), min(info.max, 6), size=shape,
                            endpoint=True).astype(dtype)
    if kind == "f":
        real = dtype if dtype.itemsize <= 8 else np.dtype(np.float64)
        with np.errstate(over="ignore"):
            return _real_values(rng, shape, real, flavour).astype(dtype)
    if kind == "c":
        real = np.dtype(np.float32 if dtype.itemsize == 8 else np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            re_ = _real_values(rng, shape, real, flavour)
            im_ = _real_values(rng, shape, real, flavour if c.chance(0.5) else "normal")
            out = np.empty(shape, dtype=dtype)
            out.real, out.imag = re_, im_
        return out
    if kind == "O":
        out = np.empty(shape, dtype=object)
        out.ravel()[...] = [int(v) for v in rng.integers(-5, 6, size=out.size)]
        return out
    if kind in "USTV" or dtype.names:
        digits = [str(v) for v in rng.integers(0, 10, size=math.prod(shape))]
        if kind in "UT":
            return np.array(digits, dtype=dtype).reshape(shape)
        if kind == "S":
            return np.array([d.encode() for d in digits], dtype=dtype).reshape(shape)
        return np.zeros(shape, dtype=dtype)
    if kind in "mM":
        return np.arange(math.prod(shape)).astype(dtype).reshape(shape)
    raise AssertionError(dtype)


LAYOUTS = ["C", "C", "C", "F", "strided", "negative", "transposed", "readonly", "bigendian",
           "unaligned", "broadcast", "list", "scalar"]


def apply_layout(c, arr, layout):
    """`arr`'s values in another memory layout or container (lists, scalars)."""
    if layout in ("C", "F", "strided", "negative", "transposed", "readonly"):
        # a 0-d array indexed by () is a scalar, which cannot take the values
        return with_layout(arr, layout) if arr.ndim or layout in ("C", "readonly") else arr
    if layout == "bigendian":
        if arr.dtype.kind in "biufc" and arr.dtype.itemsize > 1:
            return arr.astype(arr.dtype.newbyteorder(">"))
        return arr
    if layout == "unaligned":
        if arr.dtype.kind not in "biufc" or arr.dtype.itemsize == 1:
            return arr
        raw = np.empty(arr.nbytes + 1, dtype=np.uint8)
        out = raw[1:].view(arr.dtype).reshape(arr.shape)
        out[...] = arr
        return out
    if layout == "broadcast":
        # stride 0 along one axis (the values repeat along it)
        if arr.ndim == 0 or arr.size == 0:
            return arr
        ax = c.integers(0, arr.ndim - 1)
        first = arr[tuple(slice(0, 1) if a == ax else slice(None) for a in range(arr.ndim))]
        return np.broadcast_to(first, arr.shape)
    if layout == "list":
        if arr.dtype.kind not in "biufc" or arr.dtype.itemsize > 16:
            return arr
        return arr.tolist()
    if layout == "scalar":
        if arr.ndim == 0:
            return arr.item() if c.chance(0.5) and arr.dtype.kind in "biufc" else arr[()]
        return arr
    raise AssertionError(layout)


def draw_array(c, shape, dtype, flavour=None, layout=True):
    arr = make_values(c, shape, dtype, flavour)
    if layout and c.chance(0.5):
        for _ in range(c.integers(1, 2)):
            arr = apply_layout(c, np.asarray(arr), c.choice(LAYOUTS))
            if not isinstance(arr, np.ndarray):
                break
    return arr


LENGTHS = [1, 2, 3, 1, 4, 5, 2, 6, 7, 3, 8, 10, 13]
MAX_LENGTH = {0: 1, 1: 13, 2: 8, 3: 5, 4: 4, 5: 3}
NDIMS = [1, 2, 1, 2, 3, 0, 3, 4, 5]


def draw_length(c, ndim, lo=1):
    return max(lo, min(c.choice(LENGTHS), MAX_LENGTH[ndim]))


def huge(dtype, shape):
    """A read-only view of `shape` on a single element (nothing is allocated)."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


# --------------------------------------------------------------------------- catalogues
# Values drawn for the parameters; the verdicts come from the rules below.
WORKERS = [None, 1, 2, -1, NCPU, -NCPU, NCPU + 1, 64, 2**31, 2**40, 2**70, np.int64(2),
           np.uint8(1), np.int32(-1), np.array(1), 0, -NCPU - 1, -2**40, -2**70,
           np.int64(0), True, False, np.True_, 1.0, 2.5, "2", [2], np.float64(2.0), 1 + 0j,
           np.array([2])]
BOOLS = [False, True, np.True_, np.False_, np.array(True), 0, 1, "False", "", None,
         np.int64(1), 1.0, [], [False]]
P_VALUES = [2, 1, 3, 1.5, 2.5, 4, np.float32(2.0), np.int64(3), Fraction(3, 2), 2.0, 0.5,
            np.array(2.0), np.array([2.0]), 0, -1, -0.5, math.nan, math.inf, -math.inf,
            np.float64(0.0), True, False, np.True_, "a", "2", None, 1 + 1j, [2], b"2"]
NBYTES = [1024, 2**20, 4096, 64 * 2**20, 2**40, 2**70, np.int64(1 << 16), 1023, 0, -1, -2**70,
          True, 1024.0, "4096", None, np.float64(4096), [4096]]
BAD_MODES = ["FULL", "Full", "", "fill", None, 1, b"full", ["full"], "same "]
BAD_METHODS = ["Direct", "FFT", "fft2", "", None, 0, "winograd", ["direct"]]
BAD_BOUNDARIES = ["constant", "zero", "periodic", "Fill", "", None, 0, ["wrap"]]
BAD_OPS = ["MAX", "avg", "average", "l2", "", None, 0, ["max"], "median"]
# fill values; whether one is accepted may depend on the result dtype (NaN and
# infinities with integer results, complex values with real ones)
FILLS = [1, -1, 2.5, -2.7, 1000, 1.5 + 0j, True, np.float32(0.25), np.int8(-3), np.array(3),
         np.array([2.0]), np.array([[1]]), 2**63 - 1, 2**63, -2**63, 1e30, -0.0,
         np.uint64(2**64 - 1), 2**64, -2**63 - 1, 10**30, math.nan, math.inf, -math.inf,
         0.5 - 1j, 1j, np.complex64(2 - 3j), [1, 2], np.zeros(0), np.ones((2, 2)), "a", None,
         b"1", np.datetime64(1, "s"), [None], np.timedelta64(1, "s")]


def _is_int(v):
    """An integer as the documentation means it: not a bool; 0-d integer arrays too."""
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu"


def workers_verdict(w):
    """`workers`: an integer (not a bool), not 0, not below -ncpu; above ncpu is capped."""
    if w is None:
        return OK
    if not _is_int(w):
        return TE
    if isinstance(w, np.ndarray):
        return MAY
    value = operator.index(w)
    return VE if value == 0 or value < -NCPU else OK


def bool_verdict(v):
    """A parameter documented as a bool: True/False, NumPy's bools included."""
    if isinstance(v, (bool, np.bool_)):
        return OK
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype == np.bool_:
        return MAY
    return TE


def p_verdict(p):
    """`p` of Lp pooling: a positive finite real number, not a bool."""
    if isinstance(p, (bool, np.bool_)):
        return TE
    if isinstance(p, np.ndarray):
        return MAY
    if isinstance(p, (int, float, np.integer, np.floating, Fraction)):
        return OK if 0 < p < math.inf else VE
    return TE


def nbytes_verdict(n):
    if not _is_int(n):
        return TE
    return OK if operator.index(n) >= 1024 else VE


def draw_value(c, values, verdict, bad_chance=0.05):
    """A value the rule accepts, or with `bad_chance` any value of the catalogue."""
    if c.chance(bad_chance):
        return c.choice(values)
    return c.choice([v for v in values if verdict(v) is OK])


def draw_string(c, valid, bad, bad_chance=0.05):
    if c.chance(bad_chance):
        return c.choice(bad)
    value = c.choice(list(valid))
    return np.str_(value) if c.chance(0.05) else value


def draw_axes(c, ndim, bad_chance=0.06):
    """Axes in the forms the documentation allows, or (with `bad_chance`) a wrong value."""
    if c.chance(bad_chance):
        bad = [[], [0, 0], [ndim], [-ndim - 1], True, False, [True], 1.0, [0.0], "0", [[0]],
               [None], np.array([0.0]), [0, -ndim] if ndim else [0, 0], [np.True_]]
        return c.choice(bad)
    if ndim == 0 or c.chance(0.5):
        return None
    count = c.integers(1, ndim)
    pool = list(range(ndim))
    axes = []
    for _ in range(count):
        a = pool.pop(c.integers(0, len(pool) - 1))
        axes.append(a - ndim if c.chance(0.3) else a)
    form = c.choice(["list", "tuple", "int", "array", "np"])
    if form == "int" and count == 1:
        return axes[0]
    if form == "tuple":
        return tuple(axes)
    if form == "array":
        return np.array(axes)
    if form == "np":
        return [np.int64(a) for a in axes]
    return axes


# --------------------------------------------------------------------------- the oracle
class Expectation:
    """What the documentation says of one call.

    `must`: (exception types, parameter names, why) the call must raise one of
    (an exception of one of the types whose message names one of the
    parameters); when empty, the call must return and `result_check` accepts
    its result. `may`: errors the documentation leaves open (either a result
    or such an error is right).
    """

    def __init__(self):
        self.must = []
        self.may = []
        self.result_check = None

    def refuse(self, types, names, why):
        self.must.append((tuple(types), tuple(names), why))

    def allow(self, types, names, why):
        self.may.append((tuple(types), tuple(names), why))

    def verdict(self, verdict, names, why):
        """Apply a catalogue verdict for a parameter."""
        if verdict is MAY:
            self.allow(EITHER, names, why)
        elif verdict is not OK:
            self.refuse(verdict, names, why)


def _asarray(value, name, exp):
    """`value` as an array the way the documentation takes it, or None (refused)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and the like: not an array
        exp.refuse(EITHER, [name], f"{name} is not an array")
        return None
    return arr


def _numeric(arr, name, exp):
    """False (and the refusal) for dtypes the documentation refuses."""
    dt = arr.dtype
    if dt.kind not in "biufc":
        exp.refuse(TE, [name], f"{name} has non-numeric dtype {dt}")
        return False
    if dt.itemsize > (8 if dt.kind == "f" else 16):
        exp.refuse(TE, [name], f"{name} has extended precision dtype {dt}")
        return False
    return True


def _nonempty_array(value, name, exp):
    """`value` as a numeric array of at least one dimension and element, or None."""
    arr = _asarray(value, name, exp)
    if arr is None or not _numeric(arr, name, exp):
        return None
    if arr.ndim == 0 or arr.size == 0:
        exp.refuse(VE, [name], f"{name} of shape {arr.shape}")
        return None
    return arr


def _axes_rule(axes, ndim, exp):
    """The axes the documentation reads from `axes` (in the order given), or None."""
    if axes is None:
        return list(range(ndim))
    if isinstance(axes, (list, tuple, range)) or (isinstance(axes, np.ndarray)
                                                  and axes.ndim == 1):
        entries = list(axes)
    elif isinstance(axes, np.ndarray) and axes.ndim > 1:
        exp.refuse(EITHER, ["axes"], "axes is not flat")
        return None
    else:
        entries = [axes]
    types = set()
    out = []
    for e in entries:
        if not _is_int(e):
            types.add(TypeError)
            continue
        e = operator.index(e)
        if not -ndim <= e < ndim:
            types.add(ValueError)
            continue
        out.append(e % ndim)
    if not entries or len(set(out)) != len(out):
        types.add(ValueError)
    if types:
        exp.refuse(types, ["axes"], f"axes {axes!r} for {ndim} dimensions")
        return None
    return out


def _per_axis_rule(value, name, naxes, minimum, exp):
    """Per-axis integers (axes order) from an int or a sequence, or None."""
    try:
        scalar = np.ndim(value) == 0
    except ValueError:  # a ragged list
        scalar = False
    if scalar:
        entries = [value] * naxes
    else:
        try:
            entries = list(value)
        except TypeError:
            exp.refuse(EITHER, [name], f"{name} {value!r} is not a sequence")
            return None
        if len(entries) != naxes:
            exp.refuse(VE, [name], f"{name} needs {naxes} values")
            return None
    out = []
    for e in entries:
        if not _is_int(e):
            exp.refuse(TE, [name], f"{name} entry {e!r} is not an integer")
            return None
        e = operator.index(e)
        if e < minimum:
            exp.refuse(VE, [name], f"{name} entry {e} < {minimum}")
            return None
        if e >= 2**62:
            # beyond C's Py_ssize_t: a result or a named error
            exp.allow(EITHER, [name], f"{name} entry {e} beyond the C range")
        out.append(e)
    return out


def _workers_rule(workers, exp):
    exp.verdict(workers_verdict(workers), ["workers"], f"workers={workers!r}")


def _bool_rule(value, name, exp):
    exp.verdict(bool_verdict(value), [name], f"{name}={value!r}")


def _p_rule(p, exp, used):
    """Verdict on `p`; its errors are must-raise only where p is used (op='lp')."""
    verdict = p_verdict(p)
    if verdict is OK:
        return
    if used:
        exp.verdict(verdict, ["p"], f"p={p!r}")
    else:
        exp.allow(EITHER, ["p"], f"p={p!r} (unused)")


def _p_float(p):
    try:
        return float(p)
    except TypeError:
        return None


def _choice_rule(value, name, choices, exp):
    if isinstance(value, str) and value in choices:
        return
    exp.refuse(VE if isinstance(value, str) else EITHER, [name], f"{name}={value!r}")


def _fill_rule(fillvalue, result_dtype, boundary_is_fill, exp):
    """The fill value cast to the result dtype (0-d), or None when refused/open."""
    rules = Expectation()
    fv = _asarray(fillvalue, "fillvalue", rules)
    value = None
    if fv is not None:
        if fv.size != 1:
            rules.refuse(VE, ["fillvalue"], "fillvalue has not one element")
        elif fv.dtype.kind == "O" and isinstance(fv.reshape(())[()], int):
            rules.allow(EITHER, ["fillvalue"], "a Python int beyond NumPy's integers")
            value = int(fv.reshape(())[()])
        elif fv.dtype.kind not in "biufc":
            rules.refuse(TE, ["fillvalue"], f"fillvalue of dtype {fv.dtype}")
        else:
            fv = fv.reshape(())
            if fv.dtype.kind == "c" and result_dtype.kind != "c":
                if fv.imag != 0:
                    rules.refuse(TE, ["fillvalue"], "complex fillvalue, real result")
                fv = fv.real
            if result_dtype.kind in "biu" and fv.dtype.kind in "fc" and not np.isfinite(fv):
                rules.refuse(VE, ["fillvalue"], "non-finite fillvalue, integer result")
            value = fv
    if boundary_is_fill:
        exp.must += rules.must
        exp.may += rules.may
    else:
        # not used: refusing it is as good as ignoring it
        exp.may += rules.must + rules.may
    if rules.must:
        return None
    if isinstance(value, int):
        if result_dtype.kind in "iu":
            bits = result_dtype.itemsize * 8
            lo = -(1 << (bits - 1)) if result_dtype.kind == "i" else 0
            return np.array(((value - lo) % (1 << bits)) + lo, dtype=result_dtype)
        return np.array(value != 0 if result_dtype.kind == "b" else float(value)).astype(
            result_dtype)
    with np.errstate(all="ignore"):
        return np.asarray(value).astype(result_dtype.newbyteorder("="))


def _too_large(out_shape, itemsize):
    nbytes = math.prod(out_shape) * max(itemsize, 8)
    return nbytes > sys.maxsize or nbytes > PHYSICAL_MEMORY


def _exact(v):
    """Exact rational (pair for complex) of a number."""
    v = complex(v) if isinstance(v, (complex, np.complexfloating)) else v
    if isinstance(v, complex):
        return (Fraction(v.real), Fraction(v.imag))
    return (Fraction(int(v)) if isinstance(v, (bool, np.bool_, int, np.integer))
            else Fraction(float(v)), Fraction(0))


def _exact_rank_at_most_1(kernel):
    """Whether every unfolding of `kernel` has rank <= 1, in exact arithmetic."""
    if kernel.ndim < 2:
        return True
    ex = np.empty(kernel.shape, dtype=object)
    for idx in np.ndindex(kernel.shape):
        ex[idx] = _exact(kernel[idx])

    def mul(a, b):
        return (a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0])

    for d in range(kernel.ndim):
        mat = np.moveaxis(ex, d, 0).reshape(kernel.shape[d], -1)
        nz = [(i, j) for i in range(mat.shape[0]) for j in range(mat.shape[1])
              if mat[i, j] != (0, 0)]
        if not nz:
            continue
        i0, j0 = nz[0]
        # rank 1: every entry is row_i0-col_j0 cross ratio: m[i,j]*m[i0,j0] == m[i,j0]*m[i0,j]
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                if mul(mat[i, j], mat[i0, j0]) != mul(mat[i, j0], mat[i0, j]):
                    return False
    return True


# --------------------------------------------------------------------------- comparisons
def _as_complex(a):
    return np.asarray(a).astype(np.complex128)


def compare_floats(got, ref, bound, dtype, normwise, nonfinite=None, open_nonfinite=False):
    """Float results: close where the inputs are finite, non-finite where they are not.

    `nonfinite` marks the outputs whose window holds a NaN or an infinity
    (None: none does): they must be non-finite. The others must be within
    ``RTOL[dtype]`` times `bound`, the sum of ``|x||w|`` over the window
    (elementwise, or with `normwise` its maximum over all outputs whose
    window is finite, also those not compared); those whose bound is beyond
    a quarter of the dtype's range are not compared (the order of a sum
    decides whether it overflows); a number as `normwise` is a lower bound
    of that maximum. `open_nonfinite` (a mask, or True for
    all) marks outputs that may also be non-finite: the FFT of a non-finite
    input, a non-finite kernel tap meeting only the zero extension (SciPy's
    1-D and N-D direct methods differ there).
    """
    g, e = _as_complex(got), _as_complex(ref)
    b = np.asarray(bound, dtype=np.float64)
    nf = np.zeros(g.shape, dtype=bool) if nonfinite is None else np.asarray(nonfinite)
    real = np.dtype(np.float32 if dtype == np.complex64 else
                    (np.float64 if dtype.kind == "c" else dtype))
    fmax = float(np.finfo(real).max)
    with np.errstate(all="ignore"):
        g_bad = ~np.isfinite(g)
        b_ok = ~nf & np.isfinite(b) & (b <= fmax / 4)
        # normwise: relative to the largest output magnitude (documented for
        # fft; separable's factors are exact to the kernel's norm), that of
        # the outputs not compared too, and at least `normwise` when it is a
        # number (the products' scale: outputs of zero-weight windows still
        # carry a transform's rounding noise); beyond the range nothing is
        # comparable
        scale = (max(np.max(b, initial=0.0, where=~nf & ~np.isnan(b)), float(normwise))
                 if normwise else b)
        tol = RTOL[dtype] * (scale + 1e-30) + (1e-6 if dtype == np.float16 else 1e-300)
        err = np.abs(g - e)
    wrong = nf & ~g_bad  # a NaN/inf in the window was lost
    wrong |= g_bad & b_ok & ~np.asarray(open_nonfinite)  # NaN/inf appeared
    wrong |= ~g_bad & b_ok & ~(err <= tol)
    if wrong.any():
        idx = [tuple(int(k) for k in i) for i in np.argwhere(wrong)[:4]]
        raise AssertionError(
            f"{int(wrong.sum())} of {wrong.size} outputs differ (rtol {RTOL[dtype]} of "
            f"sum|x||w|{', normwise' if normwise else ''}): at {idx} got "
            f"{[complex(g[i]) for i in idx]} expected {[complex(e[i]) for i in idx]}")


def check_array(got, ref_dtype, ref_shape):
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"result is a {type(got).__name__}, not an ndarray")
    if got.dtype.newbyteorder("=") != np.dtype(ref_dtype).newbyteorder("="):
        raise AssertionError(f"result dtype {got.dtype}, expected {ref_dtype}")
    if got.shape != tuple(ref_shape):
        raise AssertionError(f"result shape {got.shape}, expected {tuple(ref_shape)}")


def compare_conv(got, ref, bound, dtype, normwise, nonfinite=None, open_nonfinite=False):
    check_array(got, dtype, ref.shape)
    if dtype.kind in "biu":
        if not np.array_equal(got, ref):
            bad = np.argwhere(got != ref)[:4]
            raise AssertionError(f"exact result differs at {bad.tolist()}: got "
                                 f"{[got[tuple(i)] for i in bad]} expected "
                                 f"{[ref[tuple(i)] for i in bad]}")
        return
    compare_floats(got, ref, bound, dtype, normwise, nonfinite, open_nonfinite)


def _quiet(func, *args, **kwargs):
    """A reference computation without NumPy's warnings (they belong to the contract)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)


def _native(a):
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder == ">" else a


def _max_finite(a):
    with np.errstate(all="ignore"):
        mag = np.abs(np.asarray(a).astype(np.complex128))
    return float(np.max(mag[np.isfinite(mag)], initial=0.0))


def _near_overflow(dtype, arrays, taps):
    """Whether products and sums of `arrays`' values may reach `dtype`'s range."""
    real = np.float32 if dtype == np.complex64 else (np.float64 if dtype.kind == "c" else dtype)
    return math.prod(max(1.0, _max_finite(a)) for a in arrays) * taps > \
        float(np.finfo(real).max) / 64


def _finite(a):
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(a))) if a.dtype.kind in "fc" else True


# --------------------------------------------------------------------------- cases
class Case:
    """A call of public function `func` with `args`/`kwargs`; `extra`: arrays
    used by the checks of the context managers (not passed to the function)."""

    def __init__(self, func, args, kwargs, extra=None):
        self.func, self.args, self.kwargs = func, tuple(args), dict(kwargs)
        self.extra = extra or {}

    def describe(self):
        parts = [describe_value(a) for a in self.args]
        parts += [f"{k}={describe_value(v)}" for k, v in self.kwargs.items()]
        text = f"fastconv.{self.func}({', '.join(parts)})"
        for k, v in self.extra.items():
            text += f"\n    with {k} = {describe_value(v)}"
        return text


def describe_value(v, limit=600):
    if isinstance(v, np.ndarray):
        notes = []
        if v.size > 10**6:
            return f"<broadcast view shape={v.shape} dtype={v.dtype.str}>"
        if v.ndim > 1 and v.flags.f_contiguous and not v.flags.c_contiguous:
            notes.append("F order")
        if not (v.flags.c_contiguous or v.flags.f_contiguous):
            notes.append(f"strides {v.strides}")
        if not v.flags.aligned:
            notes.append("unaligned")
        if not v.flags.writeable:
            notes.append("read-only")
        try:
            values = np.array2string(v, separator=", ", threshold=200, max_line_width=10**6)
            values = re.sub(r"\s*\n\s*", " ", values)
        except Exception:  # noqa: BLE001
            values = repr(v.tolist())
        text = f"np.array({values}, dtype={v.dtype.str!r})"
        if v.ndim == 0:
            text = f"np.array({v[()]!r}, dtype={v.dtype.str!r})"
        if len(text) > limit:
            text = text[:limit] + f"...], shape={v.shape}, dtype={v.dtype.str!r})"
        return text + (f"  # {', '.join(notes)}" if notes else "")
    if isinstance(v, (list, tuple)):
        inner = ", ".join(describe_value(e, limit) for e in v)
        text = f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
        return text if len(text) <= limit else text[:limit] + "...]"
    if isinstance(v, np.generic):
        return f"np.{type(v).__name__}({v!r})"
    return repr(v)


def _conv_shape(in1, in2, mode, conv):
    """Output shape by the documented rule (axes already validated)."""
    out = []
    for a in range(in1.ndim):
        n1, n2 = in1.shape[a], in2.shape[a]
        if a not in conv:
            out.append(max(n1, n2))
        elif mode == "full":
            out.append(n1 + n2 - 1)
        elif mode == "same":
            out.append(n1)
        else:
            out.append(abs(n1 - n2) + 1)
    return out


def _scipy_defines(a1, a2, conv, boundary, fill):
    """Whether scipy.signal.convolve/correlate compute this call (reference there)."""
    return (boundary == "fill" and not fill.any() and conv == list(range(a1.ndim))
            and a1.dtype.newbyteorder("=").name in SCIPY_ND_DTYPES
            and a2.dtype.newbyteorder("=").name in SCIPY_ND_DTYPES
            and a1.dtype.newbyteorder("=") == a2.dtype.newbyteorder("="))


def conv_reference(is_convolve, a1, a2, mode, conv, boundary, fill):
    """(reference, bound, non-finite mask, open mask) of a validated convolve/correlate.

    See `window_bounds` for the last three (None for exact results).
    """
    a1, a2 = _native(a1), _native(a2)
    finite_kernel = _finite(a2)
    # SciPy's N-D direct method swaps the inputs in 'full' mode when in2 is the
    # larger: a NaN/inf then meets the zero extension (see `window_bounds`)
    if _scipy_defines(a1, a2, conv, boundary, fill) and finite_kernel and _finite(a1):
        func = scipy.signal.convolve if is_convolve else scipy.signal.correlate
        ref = _quiet(func, a1, a2, mode, method="direct")
    else:
        func = reference_convolve if is_convolve else reference_correlate
        ref = _quiet(func, a1, a2 if finite_kernel else _zero_nonfinite(a2), mode, axes=conv,
                     boundary=boundary, fillvalue=fill)
    if ref.dtype.kind not in "fc":
        return ref, None, None, False
    func = reference_convolve if is_convolve else reference_correlate
    return (ref,) + window_bounds(func, a1, a2, mode, conv, boundary, fill)


def _zero_nonfinite(a):
    """`a` with its NaNs and infinities set to 0.

    Where a non-finite kernel tap meets only the zero extension, the sum
    without it is the sum over the input (or a NaN: see `window_bounds`);
    where it meets the input, the output is non-finite and its value is not
    compared.
    """
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(a), a, np.zeros((), a.dtype))


def _finite_magnitude(a):
    """|a| over its finite parts (a complex value's finite part counts alone)."""
    with np.errstate(all="ignore"):
        a = np.asarray(a).astype(np.complex128)
        re_, im_ = np.abs(a.real), np.abs(a.imag)
        mag = np.where(np.isfinite(re_), re_, 0.0) + np.where(np.isfinite(im_), im_, 0.0)
        # finite, so that a product with 0 stays 0
        return np.minimum(mag, np.finfo(np.float64).max)


def window_bounds(func, a1, a2, mode, conv, boundary, fill):
    """(bound, non-finite mask, open mask) of each output of reference `func`.

    bound: the sum of |x||w| over the window's finite values; non-finite mask
    (or None): the windows where a NaN or an infinity of either input (or of
    the fill value) meets the other input, whose outputs must be non-finite;
    open mask (or False): those where a non-finite value meets only the zero
    extension, whose outputs may be non-finite (``inf * 0``) or the sum over
    the overlap alone (NumPy's and SciPy's 1-D convolution give the sum, SciPy's
    N-D direct method the NaN).
    """
    bound = _quiet(func, _finite_magnitude(a1), _finite_magnitude(a2), mode, axes=conv,
                   boundary=boundary, fillvalue=float(_finite_magnitude(fill)))
    n1, n2 = ~np.isfinite(_as_complex(a1)), ~np.isfinite(_as_complex(a2))
    nf = not np.isfinite(_as_complex(fill))
    if not (n1.any() or n2.any() or nf):
        return bound, None, False
    ones1, ones2 = np.ones(a1.shape), np.ones(a2.shape)
    zero_fill = boundary == "fill" and not np.asarray(fill).any()
    hits = _quiet(func, n1.astype(np.float64), ones2, mode, axes=conv, boundary=boundary,
                  fillvalue=float(nf))
    taps = _quiet(func, ones1, n2.astype(np.float64), mode, axes=conv, boundary=boundary,
                  fillvalue=0.0 if zero_fill else 1.0)
    nonfinite = (hits + taps) > 0
    if not zero_fill:
        return bound, nonfinite, False
    opened = np.zeros(bound.shape, dtype=bool)
    if n2.any():
        opened |= _quiet(func, ones1, n2.astype(np.float64), mode, axes=conv,
                         boundary=boundary, fillvalue=1.0) > 0
    if n1.any() and mode == "full":
        # 'full' is symmetric: computed with the inputs' roles swapped, a
        # non-finite value of a1 meets the zero extension of a2 everywhere
        opened |= np.broadcast_to(n1.any(axis=tuple(conv), keepdims=True), bound.shape)
    return bound, nonfinite, opened & ~nonfinite


def _conv_rules(in1, in2, mode, method, axes, boundary, fillvalue, workers, exp):
    """Rules of convolve/correlate/choose_conv_method; returns the validated problem."""
    a1 = _asarray(in1, "in1", exp)
    a2 = _asarray(in2, "in2", exp)
    ok1 = a1 is not None and _numeric(a1, "in1", exp)
    ok2 = a2 is not None and _numeric(a2, "in2", exp)
    _choice_rule(mode, "mode", MODES, exp)
    if method is not NO_METHOD:
        _choice_rule(method, "method", METHODS, exp)
    _choice_rule(boundary, "boundary", BOUNDARIES, exp)
    _workers_rule(workers, exp)
    if not (ok1 and ok2):
        return None
    rd = np.result_type(a1.dtype, a2.dtype)
    fill = _fill_rule(fillvalue, rd, boundary == "fill", exp)
    if a1.ndim == 0 and a2.ndim == 0:
        if axes is not None:
            exp.allow(EITHER, ["axes"], "axes with 0-d inputs")
        return dict(a1=a1, a2=a2, rd=rd, fill=fill, conv=[], scalar=True)
    if a1.ndim != a2.ndim:
        exp.refuse(VE, ["in1", "in2"], "different numbers of dimensions")
        return None
    if a1.size == 0 or a2.size == 0:
        exp.refuse(VE, ["in1" if a1.size == 0 else "in2"], "empty input")
        return None
    conv = _axes_rule(axes, a1.ndim, exp)
    if conv is None:
        return None
    for a in range(a1.ndim):
        if a not in conv and 1 not in (a1.shape[a], a2.shape[a]) and \
                a1.shape[a] != a2.shape[a]:
            exp.refuse(VE, ["in1", "in2", "axes"], f"axis {a} does not broadcast")
            return None
    if mode == "valid":
        big1 = all(a1.shape[a] >= a2.shape[a] for a in conv)
        big2 = all(a2.shape[a] >= a1.shape[a] for a in conv)
        if not (big1 or big2):
            exp.refuse(VE, ["in1", "in2", "mode"], "valid: neither input contains the other")
            return None
    if mode not in MODES:
        return None
    out_shape = _conv_shape(a1, a2, mode, conv)
    compute = 8 if rd.kind in "biu" else max(rd.itemsize, 4)
    if _too_large(out_shape, compute):
        exp.refuse(VE, ["in1", "in2"], f"output of shape {out_shape} too large")
        return None
    compute_dt = np.dtype(np.int64 if rd.kind in "biu" else
                          np.float32 if rd == np.float16 else rd.newbyteorder("="))
    for a, name in ((a1, "in1"), (a2, "in2")):
        # documented: a working copy in the compute dtype that cannot exist
        # (a broadcast view holds no memory until copied)
        copied = a.dtype != compute_dt or not a.flags.c_contiguous or a.dtype.kind == "c"
        if copied and _too_large(a.shape, compute):
            exp.refuse(VE, [name], f"working copy of {name} of shape {a.shape} too large")
            return None
    return dict(a1=a1, a2=a2, rd=rd, fill=fill, conv=sorted(conv), scalar=False,
                out_shape=out_shape)


def _separable_rule(prob, exp):
    """method='separable': which in2 the documentation accepts."""
    a2, conv = prob["a2"], prob["conv"]
    if len(conv) < 2:
        return
    if any(a2.shape[a] != 1 for a in range(a2.ndim) if a not in conv):
        exp.refuse(VE, ["in2", "method"], "separable needs a single kernel")
        return
    kernel = a2.reshape([a2.shape[a] for a in conv])
    if not _finite(kernel):
        exp.refuse(VE, ["in2", "method"], "separable: non-finite kernel")
    elif prob["rd"].kind in "biu":
        # integer kernels are factored in integers; values beyond int64 (uint64)
        # wrap modulo 2**64, where an outer product may or may not be seen
        if kernel.dtype.kind == "u" and kernel.dtype.itemsize == 8 and np.any(
                kernel > np.iinfo(np.int64).max):  # '>u8' too: not == np.uint64
            exp.allow(VE, ["in2", "method"], "separable: uint64 kernel beyond int64")
        elif not _exact_rank_at_most_1(kernel):
            exp.refuse(VE, ["in2", "method"], "separable: integer kernel of rank > 1")
    elif not _exact_rank_at_most_1(kernel):
        exp.allow(VE, ["in2", "method"], "separable: floating kernel of rank > 1")


def _conv_result_check(prob, is_convolve, mode, boundary, method):
    def result_check(got):
        a1, a2, rd = prob["a1"], prob["a2"], prob["rd"]
        if prob["scalar"]:
            if not isinstance(got, (np.ndarray, np.generic)) or np.ndim(got) != 0:
                raise AssertionError(f"0-d inputs: got {got!r}")
            second = a2 if is_convolve or a2.dtype.kind != "c" else np.conj(a2)
            ref = np.asarray(_quiet(np.multiply, a1, second))
            got = np.asarray(got)
            if rd.kind not in "fc":
                return compare_conv(got, ref, None, rd, False)
            bound = _finite_magnitude(a1) * _finite_magnitude(a2)
            nonfinite = ~np.isfinite(_as_complex(a1)) | ~np.isfinite(_as_complex(a2))
            return compare_conv(got, ref, bound, rd, False, nonfinite)
        ref, bound, nonfinite, open_nonfinite = conv_reference(
            is_convolve, a1, a2, mode, prob["conv"], boundary, prob["fill"])
        inputs_finite = _finite(a1) and _finite(a2) and (
            boundary != "fill" or _finite(prob["fill"]))
        normwise = method in ("auto", "fft", "separable")
        if normwise:
            # a transform sums every product, those cropped from the output too
            m1, m2 = _finite_magnitude(a1), _finite_magnitude(a2)
            with np.errstate(over="ignore"):
                normwise = float(max(m1.max(initial=0) * m2.sum(), m2.max(initial=0) * m1.sum(),
                                     1e-300))
        # transforms and 1-D passes have intermediates that may overflow where
        # the direct sums do not
        near_overflow = normwise and rd.kind in "fc" and _near_overflow(
            rd, [a1, a2, prob["fill"]], a2.size)
        if near_overflow or method == "fft" and not inputs_finite:
            open_nonfinite = True
        compare_conv(got, ref, bound, rd, normwise, nonfinite, open_nonfinite)
    return result_check


def expect_convolve(case, is_convolve=True):
    exp = Expectation()
    kw = dict(mode="full", method="auto", axes=None, boundary="fill", fillvalue=0,
              workers=None)
    kw.update(zip(("mode", "method"), case.args[2:]))
    kw.update(case.kwargs)
    prob = _conv_rules(case.args[0], case.args[1], kw["mode"], kw["method"],
                       kw["axes"], kw["boundary"], kw["fillvalue"], kw["workers"], exp)
    if prob is None or exp.must:
        return exp
    if kw["method"] == "separable" and not prob["scalar"]:
        _separable_rule(prob, exp)
    if exp.must or prob["fill"] is None:
        return exp
    exp.result_check = _conv_result_check(prob, is_convolve, kw["mode"], kw["boundary"],
                                          kw["method"])
    return exp


def expect_choose(case):
    exp = Expectation()
    kw = dict(mode="full", axes=None, boundary="fill", fillvalue=0, workers=None,
              measure=False)
    kw.update(zip(("mode",), case.args[2:]))
    kw.update(case.kwargs)
    _bool_rule(kw["measure"], "measure", exp)
    prob = _conv_rules(case.args[0], case.args[1], kw["mode"], NO_METHOD, kw["axes"],
                       kw["boundary"], kw["fillvalue"], kw["workers"], exp)
    if prob is None or exp.must or prob["fill"] is None:
        return exp
    measure = bool(kw["measure"])
    # the fill value extends the input only with boundary='fill'
    finite = _finite(prob["a1"]) and _finite(prob["a2"]) and (
        kw["boundary"] != "fill" or _finite(prob["fill"]))

    def result_check(got):
        res, follow = got
        if measure:
            if not (isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict)):
                raise AssertionError(f"measure=True: got {res!r}, not (method, times)")
            name, times = res
            if name not in times or not all(m in METHODS[1:] for m in times):
                raise AssertionError(f"measure=True: {name!r} and times {times!r}")
            if not all(isinstance(t, float) and t >= 0 for t in times.values()):
                raise AssertionError(f"measure=True: times {times!r}")
            if times[name] != min(times.values()):
                raise AssertionError(f"{name!r} is not the fastest of {times!r}")
            if not finite and "fft" in times:
                raise AssertionError("fft measured for a non-finite input")
        else:
            name = res
        if name not in METHODS[1:]:
            raise AssertionError(f"choose_conv_method returned {name!r}")
        if not finite and name == "fft":
            raise AssertionError("fft chosen for a non-finite input")
        if isinstance(follow, Exception):
            raise AssertionError(f"convolve(method={name!r}) then raised "
                                 f"{type(follow).__name__}: {follow}")
        _conv_result_check(prob, True, kw["mode"], kw["boundary"], name)(follow)

    exp.result_check = result_check
    return exp


def call_choose(case):
    res = fastconv.choose_conv_method(*case.args, **case.kwargs)
    name = res[0] if isinstance(res, tuple) else res
    kwargs = {k: v for k, v in case.kwargs.items() if k != "measure"}
    try:
        follow = fastconv.convolve(*case.args, method=name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as a wrong result of the choice
        follow = exc
    return res, follow


def draw_fill(c):
    return 0 if c.chance(0.6) else c.choice(FILLS)


def _draw_conv_shapes(c, ndim, conv, mode):
    s1, s2 = [], []
    for a in range(ndim):
        n = draw_length(c, ndim)
        if a in conv:
            s1.append(n)
            s2.append(max(1, min(c.choice([1, 2, 3, 3, 4, 5, 6, 2]), MAX_LENGTH[ndim])))
        else:
            pattern = c.choice(["equal", "equal", "left1", "right1", "mismatch"]
                               if c.chance(0.1) else ["equal", "left1", "right1"])
            m = n if pattern == "equal" else (1 if pattern == "right1" else n + 1)
            if pattern == "left1":
                n, m = 1, n
            s1.append(n)
            s2.append(m)
    if mode == "valid" and c.chance(0.8):
        # mostly shapes where one input contains the other
        if c.chance(0.8):
            s2 = [min(x, y) if a in conv else y for a, (x, y) in enumerate(zip(s1, s2))]
        else:
            s1, s2 = s2, s1
            s2 = [min(x, y) if a in conv else y for a, (x, y) in enumerate(zip(s1, s2))]
            s1, s2 = s2, s1
    if ndim and c.chance(0.03):
        which = c.choice([s1, s2])
        which[c.integers(0, ndim - 1)] = 0
    return s1, s2


def draw_conv_args(c, with_method=True):
    """(in1, in2, kwargs) of a convolve-like call."""
    ndim = c.choice(NDIMS)
    axes = draw_axes(c, ndim)
    conv = set(range(ndim))
    try:
        if axes is not None:
            conv = {operator.index(a) % ndim for a in np.atleast_1d(axes)} if ndim else set()
    except TypeError:
        pass
    mode = draw_string(c, MODES, BAD_MODES)
    d1 = draw_dtype(c)
    d2 = d1 if c.chance(0.7) else draw_dtype(c)
    method = draw_string(c, METHODS, BAD_METHODS) if with_method else NO_METHOD
    if c.chance(0.02):
        # outputs that cannot exist, of broadcast views (nothing allocated)
        s1, s2 = c.choice([((2**59,), (3,)), ((2**30, 2**29), (2**30, 2**29)),
                           ((2**31, 2**30), (2, 2)), ((3,), (2**59,))])
        dt = np.dtype(c.choice(["float64", "int8", "complex64"]))
        in1 = huge(dt if dt.itemsize * math.prod(s1) <= 2**62 else np.int8, s1)
        in2 = huge(np.int8, s2) if math.prod(s2) > 100 else np.ones(s2, np.int8)
        if math.prod(s1) > 100 and math.prod(s2) > 100 and mode == "valid":
            mode = "same"  # 'valid' of two huge inputs is a small (and long) result
        kwargs = dict(mode=mode)
        if with_method:
            kwargs["method"] = method
        return in1, in2, kwargs
    s1, s2 = _draw_conv_shapes(c, ndim, conv, mode)
    in1 = draw_array(c, s1, d1)
    if method == "separable" and c.chance(0.7) and d2.kind in "biufc":
        # an outer product of small integer vectors along the convolved axes
        rng = c.values_rng()
        kernel = np.ones((), dtype=np.int64)
        for a in range(ndim):
            n = s2[a] if a in conv else 1
            kernel = np.multiply.outer(kernel, rng.integers(-3, 4, size=n))
        with np.errstate(all="ignore"):
            in2 = kernel.astype(d2)
    else:
        in2 = draw_array(c, s2, d2)
    if ndim and c.chance(0.03):
        in2 = np.asarray(in2)[..., np.newaxis]  # different numbers of dimensions
    if c.chance(0.02):
        in1 = c.choice([[[1, 2], [3]], [1, [2, 3]], "abc", None, {1: 2}])
    kwargs = dict(mode=mode, axes=axes, boundary=draw_string(c, BOUNDARIES, BAD_BOUNDARIES)
                  if c.chance(0.5) else "fill")
    if with_method:
        kwargs["method"] = method
    kwargs["fillvalue"] = draw_fill(c)
    kwargs["workers"] = draw_value(c, WORKERS, workers_verdict) if c.chance(0.3) else None
    return in1, in2, kwargs


def _positional(c, args, kwargs, names):
    """Pass the leading keyword arguments `names` positionally (sometimes)."""
    args = list(args)
    for name in names:
        if name in kwargs and c.chance(0.3):
            args.append(kwargs.pop(name))
        else:
            break
    return args, kwargs


def draw_convolve(c, func):
    in1, in2, kwargs = draw_conv_args(c)
    args, kwargs = _positional(c, [in1, in2], kwargs, ["mode", "method"])
    return Case(func, args, kwargs)


def draw_choose(c, func):
    in1, in2, kwargs = draw_conv_args(c, with_method=False)
    # measuring runs every method several times: only small inputs are measured
    if c.chance(0.3):
        measure = draw_value(c, BOOLS, bool_verdict, 0.3)
        small = all(np.size(a) < 64 for a in (in1, in2) if isinstance(a, np.ndarray))
        kwargs["measure"] = measure if small or not measure else False
    args, kwargs = _positional(c, [in1, in2], kwargs, ["mode"])
    return Case(func, args, kwargs)


# --------------------------------------------------------------------------- separable
def draw_separable(c, func):
    ndim = max(1, c.choice(NDIMS))
    axes = draw_axes(c, ndim)
    try:
        conv = list(range(ndim)) if axes is None else [
            operator.index(a) % ndim for a in np.atleast_1d(axes)]
    except TypeError:
        conv = [0]
    mode = draw_string(c, MODES, BAD_MODES)
    shape = [draw_length(c, ndim) for _ in range(ndim)]
    if c.chance(0.03):
        shape[0] = 0
    in1 = draw_array(c, shape, draw_dtype(c))
    kernels = []
    for a in conv:
        n = max(1, min(c.choice([1, 2, 3, 4, 5, 3, 7]), MAX_LENGTH[1]))
        if mode == "valid" and a < len(shape) and c.chance(0.8):
            n = min(n, max(shape[a], 1))
        dt = draw_dtype(c, unsupported=0.02)
        flavour = c.choice(["normal", "ints", "ints"]) if dt.kind in "fc" else None
        kernels.append(draw_array(c, [n], dt, flavour))
    bad = c.integers(0, 99)
    if bad < 2:
        kernels = kernels[:-1] + kernels[-1:] * 2  # one kernel too many
    elif bad < 3:
        kernels = kernels[1:]
    elif bad < 4 and kernels:
        kernels[0] = np.ones((2, 2))
    elif bad < 5 and kernels:
        kernels[0] = np.ones(0)
    elif bad < 6 and kernels:
        kernels[0] = 3.0
    elif bad < 7:
        kernels = np.ones((len(conv), 3))  # an ndarray is not a sequence of kernels
    elif bad < 8:
        kernels = c.choice([None, 3, (k for k in kernels)])
    elif bad < 9 and kernels:
        kernels[0] = np.array(["1", "2"])
    elif bad < 11:
        kernels = tuple(kernels)
    if c.chance(0.015):
        in1, kernels = c.choice([
            (huge(np.float64, (2**59,)), [np.ones(3)]),
            (huge(np.float32, (2**30, 2**29)), [huge(np.float32, (2**30,)),
                                                huge(np.float32, (2**29,))]),
        ])
        axes = None
        mode = "full"
    kwargs = dict(mode=mode, axes=axes)
    if c.chance(0.4):
        kwargs["boundary"] = draw_string(c, BOUNDARIES, BAD_BOUNDARIES)
    kwargs["fillvalue"] = draw_fill(c)
    if c.chance(0.2):
        kwargs["workers"] = draw_value(c, WORKERS, workers_verdict)
    args, kwargs = _positional(c, [in1, kernels], kwargs, ["mode"])
    return Case(func, args, kwargs)


def _outer_kernel(ks, conv, ndim, rd):
    """The N-D kernel of 1-D kernels `ks` laid along `conv`, in the arithmetic of `rd`."""
    if rd.kind == "b":
        work, cast = np.dtype(bool), (lambda k: k.astype(bool))
    elif rd.kind in "iu":
        work, cast = rd, (lambda k: k.astype(rd))
    else:
        work = np.dtype(np.complex128 if rd.kind == "c" else np.float64)
        cast = (lambda k: k.astype(rd).astype(work))
    kernel = np.ones([1] * ndim, dtype=work)
    with np.errstate(all="ignore"):
        for k, a in zip(ks, conv):
            shape = [1] * ndim
            shape[a] = len(k)
            kd = cast(_native(k)).reshape(shape)
            kernel = kernel & kd if rd.kind == "b" else kernel * kd
    return kernel


def expect_separable(case):
    exp = Expectation()
    kw = dict(mode="full", axes=None, boundary="fill", fillvalue=0, workers=None)
    in1, kernels = case.args[:2]
    kw.update(zip(("mode",), case.args[2:]))
    kw.update(case.kwargs)
    a1 = _nonempty_array(in1, "in1", exp)
    _choice_rule(kw["mode"], "mode", MODES, exp)
    _choice_rule(kw["boundary"], "boundary", BOUNDARIES, exp)
    _workers_rule(kw["workers"], exp)
    ks = []
    if isinstance(kernels, np.ndarray) or not hasattr(kernels, "__len__"):
        exp.refuse(TE, ["kernels"], "kernels is not a sequence")
        ks = None
    else:
        for k in kernels:
            ka = _asarray(k, "kernels", exp)
            if ka is None or not _numeric(ka, "kernels", exp):
                ks = None
                break
            ks.append(ka)
    if a1 is None or ks is None:
        return exp
    conv = _axes_rule(kw["axes"], a1.ndim, exp)
    if conv is None:
        return exp
    if len(ks) != len(conv):
        exp.refuse(VE, ["kernels"], "one kernel per axis")
        return exp
    for k in ks:
        if k.ndim != 1 or k.size == 0:
            exp.refuse(VE, ["kernels"], "kernels must be non-empty 1-D")
            return exp
    rd = np.result_type(a1.dtype, *[k.dtype for k in ks])
    fill = _fill_rule(kw["fillvalue"], rd, kw["boundary"] == "fill", exp)
    mode = kw["mode"]
    if mode == "valid":
        ok1 = all(a1.shape[a] >= len(k) for a, k in zip(conv, ks))
        ok2 = all(a1.shape[a] <= len(k) for a, k in zip(conv, ks))
        if not (ok1 or ok2):
            exp.refuse(VE, ["in1", "kernels", "mode"], "valid: neither contains the other")
            return exp
    if exp.must or mode not in MODES:
        return exp
    shape = list(a1.shape)
    for a, k in zip(conv, ks):
        shape[a] = {"full": shape[a] + len(k) - 1, "same": shape[a],
                    "valid": abs(shape[a] - len(k)) + 1}[mode]
    if _too_large(shape, 8 if rd.kind in "biu" else max(rd.itemsize, 4)):
        exp.refuse(VE, ["in1", "kernels"], f"output of shape {shape} too large")
        return exp
    if fill is None:
        return exp

    def result_check(got):
        kernel = _outer_kernel(ks, conv, a1.ndim, rd)
        with np.errstate(all="ignore"):
            x = _native(a1).astype(rd.newbyteorder("=") if rd.kind in "biu" else kernel.dtype)
        if rd.kind not in "fc":
            ref = _quiet(reference_convolve, x, kernel, mode, axes=sorted(conv),
                         boundary=kw["boundary"], fillvalue=fill)
            return compare_conv(got, ref, None, rd, False)
        ref = _quiet(reference_convolve, x, _zero_nonfinite(kernel), mode, axes=sorted(conv),
                     boundary=kw["boundary"], fillvalue=fill)
        with np.errstate(all="ignore"):
            ref = ref.astype(rd.newbyteorder("="))
        bound, nonfinite, open_nonfinite = window_bounds(
            reference_convolve, a1, kernel, mode, sorted(conv), kw["boundary"], fill)
        if _near_overflow(rd, [a1, fill] + ks, math.prod(len(k) for k in ks)):
            open_nonfinite = True
        compare_conv(got, ref, bound, rd, False, nonfinite, open_nonfinite)

    exp.result_check = result_check
    return exp


# --------------------------------------------------------------------------- pooling
def _pool_rules(x, op, ops, kw, exp):
    """Rules shared by pool and adaptive_pool: (x as an array, pooled axes) or None."""
    _choice_rule(op, "op", ops, exp)
    _workers_rule(kw["workers"], exp)
    _p_rule(kw["p"], exp, used=op == "lp")
    xa = _nonempty_array(x, "x", exp)
    if xa is None:
        return None
    if xa.dtype.kind == "c" and op in ("max", "min"):
        exp.refuse(TE, ["x", "op"], "complex x has no order")
    ax = _axes_rule(kw["axes"], xa.ndim, exp)
    return None if ax is None else (xa, ax)


def _smallest_window_weight(w, Ls, ks, ss, ps, outs):
    """The smallest |sum of a window's weights over its part inside x| (exact: 0 is 0)."""
    boxes = []
    for L, k, s, pad, n in zip(Ls, ks, ss, ps, outs):
        distinct = set()
        for j in range(n):
            start = j * s - pad
            distinct.add((max(start, 0) - start, min(start + k, L) - start))
        boxes.append(sorted(distinct))
    exact = np.vectorize(lambda v: Fraction(float(v)), otypes=[object])(w)
    smallest = math.inf
    for combo in np.ndindex(*[len(b) for b in boxes]):
        sl = tuple(slice(*boxes[d][i]) for d, i in enumerate(combo))
        smallest = min(smallest, abs(sum(exact[sl].ravel(), Fraction(0))))
    return smallest


def _weights_rule(weights, sizes, ax, exp):
    """The weights as float64 in the axes order given, or None (refused)."""
    wa = _asarray(weights, "weights", exp)
    if wa is None:
        return None
    if wa.dtype.kind == "c":
        if np.any(wa.imag != 0):
            exp.refuse(EITHER, ["weights"], "complex weights")
            return None
        exp.allow(EITHER, ["weights"], "complex weights with zero imaginary parts")
        wa = wa.real
    elif wa.dtype.kind == "O":
        exp.allow(EITHER, ["weights"], "object weights")
        try:
            wa = wa.astype(np.float64)
        except (TypeError, ValueError):
            exp.refuse(EITHER, ["weights"], "object weights that are not numbers")
            return None
    elif wa.dtype.kind not in "biuf" or wa.dtype.itemsize > 8:
        exp.refuse(EITHER, ["weights"], f"weights of dtype {wa.dtype}")
        return None
    if wa.shape != tuple(sizes):
        exp.refuse(VE, ["weights"], f"weights shape {wa.shape} != {tuple(sizes)}")
        return None
    wa = wa.astype(np.float64)
    if not np.all(np.isfinite(wa)):
        exp.refuse(VE, ["weights"], "non-finite weights")
        return None
    return wa


def _skip_overflowing(got, ref, bound, op, xn, window_taps, window_sums, wmax=1.0):
    """(got, ref, bound) with NaN in both results where the values are open
    (`assert_pool_close` takes NaN against NaN as equal).

    Whether a sum of large values overflows depends on the order of its
    terms: where the sum of |x| (times the largest weight) exceeds a quarter of
    the result's range, the outputs are not compared.
    """
    if ref.dtype.kind == "c":
        # complex arithmetic with infinities gives (inf, nan) pairs whose parts
        # depend on the formulas used: only non-finite against non-finite
        with np.errstate(invalid="ignore"):
            both = ~np.isfinite(np.asarray(got)) & ~np.isfinite(ref)
        if both.any():
            got, ref = np.array(got), np.array(ref)
            got[both] = ref[both] = np.nan
    if ref.dtype.kind not in "fc" or op not in ("sum", "mean", "weighted", "lp"):
        return got, ref, bound
    real = np.float32 if ref.dtype == np.complex64 else (
        np.float64 if ref.dtype.kind == "c" else ref.dtype)
    fmax = float(np.finfo(real).max) / 4
    # sums of the finite magnitudes: infinite only where they overflow
    mag = _finite_magnitude(xn)
    if float(np.max(mag, initial=0.0)) * window_taps * wmax <= fmax:
        return got, ref, bound
    if op == "lp":
        # the norm of a window holding the largest value may round up past it
        risky = np.abs(np.asarray(ref, dtype=np.complex128)) > 2 * fmax
    else:
        with np.errstate(over="ignore"):
            total = np.asarray(window_sums(mag)) * wmax
        risky = total > fmax
    got, ref = np.array(got), np.array(ref)
    got[risky] = ref[risky] = np.nan
    return got, ref, bound


def expect_pool(case):
    exp = Expectation()
    kw = dict(stride=None, op="max", axes=None, padding=0, ceil_mode=False, p=2,
              weights=None, count_include_pad=True, return_indices=False, workers=None)
    x, size = case.args[:2]
    kw.update(zip(("stride", "op"), case.args[2:]))
    kw.update(case.kwargs)
    op = kw["op"]
    for name in ("ceil_mode", "count_include_pad", "return_indices"):
        _bool_rule(kw[name], name, exp)
    if kw["weights"] is not None and op != "weighted":
        exp.refuse(VE, ["weights"], "weights without op='weighted'")
    if kw["return_indices"] is True or kw["return_indices"] is np.True_:
        if op not in ("max", "min"):
            exp.refuse(VE, ["return_indices"], "return_indices needs max/min")
    validated = _pool_rules(x, op, POOL_OPS, kw, exp)
    if validated is None:
        return exp
    xa, ax = validated
    sizes = _per_axis_rule(size, "size", len(ax), 1, exp)
    strides = sizes if kw["stride"] is None else _per_axis_rule(kw["stride"], "stride",
                                                                len(ax), 1, exp)
    pads = _per_axis_rule(kw["padding"], "padding", len(ax), 0, exp)
    if sizes is None or strides is None or pads is None:
        return exp
    for k, pad in zip(sizes, pads):
        if pad > k // 2:
            exp.refuse(VE, ["padding"], "padding above half the window")
            return exp
    ceil_mode = bool(kw["ceil_mode"]) if bool_verdict(kw["ceil_mode"]) is not TE else False
    w, smallest = None, None
    if kw["weights"] is not None and op == "weighted":
        w = _weights_rule(kw["weights"], sizes, ax, exp)
    outs = [pool_output_length(xa.shape[a], k, s, pad, ceil_mode)
            for a, k, s, pad in zip(ax, sizes, strides, pads)]
    if min(outs) < 1:
        exp.refuse(VE, ["size", "x", "padding"], "no window fits")
        return exp
    if kw["weights"] is not None and op == "weighted":
        if w is None:
            return exp
        order = sorted(range(len(ax)), key=lambda i: ax[i])
        ws = w.transpose(order)
        by_axis = [[v[i] for i in order] for v in (sizes, strides, pads, outs)]
        smallest = _smallest_window_weight(ws, [xa.shape[ax[i]] for i in order], *by_axis)
        if smallest == 0:
            exp.refuse(VE, ["weights"], "a window's weights sum to zero inside x")
            return exp
    if exp.must or op not in POOL_OPS:
        return exp
    out_shape = list(xa.shape)
    for a, n in zip(ax, outs):
        out_shape[a] = n
    if _too_large(out_shape, xa.dtype.itemsize):
        exp.refuse(VE, ["x", "size", "stride", "padding"], f"output {out_shape} too large")
        return exp
    p = _p_float(kw["p"]) if op == "lp" else 2.0
    if p is None:
        return exp
    params = dict(axes=ax, padding=pads, ceil_mode=ceil_mode, p=p, weights=w,
                  count_include_pad=bool(kw["count_include_pad"]),
                  return_indices=bool(kw["return_indices"]))

    def result_check(got):
        xn = _native(xa)
        ref = reference_pool(xn, sizes, strides, op, **params)
        if params["return_indices"]:
            if not (isinstance(got, tuple) and len(got) == 2):
                raise AssertionError(f"return_indices=True: got {type(got).__name__}")
            check_array(got[1], np.int64, ref[1].shape)
            if not np.array_equal(got[1], ref[1]):
                raise AssertionError(f"indices differ: got {got[1]!r} expected {ref[1]!r}")
            got, ref = got[0], ref[0]
        check_array(got, ref.dtype, ref.shape)
        bound = None
        if ref.dtype.kind in "fc" and op not in ("max", "min"):
            bound = pool_magnitude_bound(op, xn, sizes, strides, **params)
            if w is not None:
                # the weights are rounded to the result's precision: the
                # divisor's error relative to it is up to sum|w| / |sum w|
                with np.errstate(all="ignore"):
                    bound = bound + np.abs(ref) * float(np.abs(w).sum() / smallest)
        sum_params = dict(params, p=2, weights=None, return_indices=False)
        got, ref, bound = _skip_overflowing(
            got, ref, bound, op, xn, math.prod(sizes),
            lambda mag: reference_pool(mag, sizes, strides, "sum", **sum_params),
            1.0 if w is None else float(np.max(np.abs(w), initial=1.0)))
        assert_pool_close(got, ref, bound, op)

    exp.result_check = result_check
    return exp


def _draw_pool_common(c, x_ndim_min=1):
    ndim = max(x_ndim_min, c.choice(NDIMS))
    shape = [draw_length(c, ndim) for _ in range(ndim)]
    if c.chance(0.03):
        shape[c.integers(0, ndim - 1)] = 0
    if c.chance(0.02):
        shape = []
    dt = draw_dtype(c)
    x = draw_array(c, shape, dt)
    axes = draw_axes(c, len(shape))
    try:
        pooled = list(range(len(shape))) if axes is None else [
            operator.index(a) % len(shape) for a in np.atleast_1d(axes)]
    except (TypeError, ZeroDivisionError):
        pooled = [0]
    return x, shape, axes, pooled


def _per_axis_form(c, values):
    """An int when all values agree (sometimes), else a sequence in some form."""
    if len(set(values)) == 1 and c.chance(0.5):
        v = values[0]
        return np.int64(v) if c.chance(0.1) else v
    form = c.choice(["list", "tuple", "array"])
    if form == "array":
        return np.array(values)
    return tuple(values) if form == "tuple" else list(values)


def _bad_per_axis(c, n):
    return c.choice([0, -1, True, 2.0, "2", None, [2] * (n + 1), [[2]] * n, 2**70,
                     [np.True_] * n, np.array([2.0] * n)])


def draw_pool(c, func):
    x, shape, axes, pooled = _draw_pool_common(c)
    op = draw_string(c, POOL_OPS, BAD_OPS)
    sizes, strides, pads = [], [], []
    for a in pooled:
        L = shape[a] if a < len(shape) else 1
        k = max(1, min(c.choice([1, 2, 2, 3, 3, 4, 5, 7]), L + (1 if c.chance(0.1) else 0)))
        sizes.append(k)
        strides.append(c.choice([1, 1, 2, 3, k]))
        pads.append(c.integers(0, k // 2) if c.chance(0.3) else 0)
    n = len(pooled)
    size = _per_axis_form(c, sizes) if not c.chance(0.04) else _bad_per_axis(c, n)
    kwargs = {}
    if c.chance(0.6):
        kwargs["stride"] = _per_axis_form(c, strides) if not c.chance(0.04) \
            else _bad_per_axis(c, n)
    kwargs["op"] = op
    kwargs["axes"] = axes
    if c.chance(0.4):
        kwargs["padding"] = _per_axis_form(c, pads) if not c.chance(0.05) \
            else c.choice([-1, [5] * n, 1.0, 2**70, True])
    if c.chance(0.3):
        kwargs["ceil_mode"] = draw_value(c, BOOLS, bool_verdict, 0.2)
    if op == "lp" or c.chance(0.05):
        kwargs["p"] = draw_value(c, P_VALUES, p_verdict, 0.15)
    if op == "weighted" and c.chance(0.6) or c.chance(0.02):
        kwargs["weights"] = _draw_weights(c, sizes, pooled)
    if op == "mean" or c.chance(0.05):
        kwargs["count_include_pad"] = draw_value(c, BOOLS, bool_verdict, 0.2)
    if op in ("max", "min") and c.chance(0.3) or c.chance(0.03):
        kwargs["return_indices"] = draw_value(c, BOOLS, bool_verdict, 0.2)
    if c.chance(0.2):
        kwargs["workers"] = draw_value(c, WORKERS, workers_verdict)
    if c.chance(0.01):
        x, size, kwargs = (huge(c.choice([np.float64, np.int8]), (2**59,)), c.choice([1, 2]),
                           dict(stride=1, op=c.choice(["max", "sum", "mean"])))
    args, kwargs = _positional(c, [x, size], kwargs, ["stride", "op"])
    return Case(func, args, kwargs)


def _draw_weights(c, sizes, pooled):
    shape = list(sizes)
    bad = c.integers(0, 99)
    if bad < 4:
        shape = shape + [1] if c.chance(0.5) else shape[:-1]
    rng = c.values_rng()
    flavour = c.choice(["positive", "ints", "ints", "floats"])
    if flavour == "positive":
        w = rng.random(shape) + 0.1
    elif flavour == "ints":
        w = rng.integers(-2, 4, size=shape).astype(np.float64)
    else:
        w = rng.standard_normal(shape)
    if bad < 8 and w.size:
        w.ravel()[0] = c.choice([np.nan, np.inf, 0.0, -w.ravel()[1:].sum() if w.size > 1 else 0])
    dt = c.choice(["float64", "float64", "float32", "int64", "bool", "complex128", "U8",
                   "object", "int8"]) if c.chance(0.2) else "float64"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            if dt == "complex128":
                w = w + (1j if c.chance(0.5) else 0j)
            elif dt == "U8":
                w = w.astype(str)
            elif dt == "object":
                w = w.astype(object)
            else:
                w = w.astype(dt)
    if c.chance(0.2):
        return w.tolist()
    return w


def expect_adaptive(case):
    exp = Expectation()
    kw = dict(op="max", axes=None, p=2, workers=None)
    x, output_size = case.args[:2]
    kw.update(zip(("op",), case.args[2:]))
    kw.update(case.kwargs)
    op = kw["op"]
    validated = _pool_rules(x, op, ADAPTIVE_OPS, kw, exp)
    if validated is None:
        return exp
    xa, ax = validated
    sizes = _per_axis_rule(output_size, "output_size", len(ax), 1, exp)
    if sizes is None or exp.must or op not in ADAPTIVE_OPS:
        return exp
    out_shape = list(xa.shape)
    for a, n in zip(ax, sizes):
        out_shape[a] = n
    if _too_large(out_shape, xa.dtype.itemsize):
        exp.refuse(VE, ["output_size", "x"], f"output {out_shape} too large")
        return exp
    p = _p_float(kw["p"]) if op == "lp" else 2.0
    if p is None:
        return exp

    def result_check(got):
        xn = _native(xa)
        ref = reference_adaptive_pool(xn, sizes, op, axes=ax, p=p)
        check_array(got, ref.dtype, ref.shape)
        bound = None
        if ref.dtype.kind in "fc" and op not in ("max", "min"):
            mag = np.abs(xn.astype(np.complex128 if xn.dtype.kind == "c" else np.float64))
            bound = reference_adaptive_pool(mag, sizes, op, axes=ax, p=p)
        taps = math.prod(-(-xa.shape[a] // n) + 1 for a, n in zip(ax, sizes))
        got, ref, bound = _skip_overflowing(
            got, ref, bound, op, xn, taps,
            lambda mag: reference_adaptive_pool(mag, sizes, "sum", axes=ax))
        assert_pool_close(got, ref, bound, op)

    exp.result_check = result_check
    return exp


def draw_adaptive(c, func):
    x, shape, axes, pooled = _draw_pool_common(c)
    op = draw_string(c, ADAPTIVE_OPS, BAD_OPS + ["weighted"])
    outs = []
    for a in pooled:
        L = shape[a] if a < len(shape) else 1
        outs.append(c.integers(1, 2 * L + 1))
    n = len(pooled)
    if c.chance(0.05):
        output_size = c.choice([0, -1, True, 2.0, "2", None, [2] * (n + 1), [[2]] * n,
                                [np.True_] * n, 2**63, 2**70, [2**40] * n, [2**62] * n])
    else:
        output_size = _per_axis_form(c, outs)
    kwargs = dict(op=op, axes=axes)
    if op == "lp" or c.chance(0.05):
        kwargs["p"] = draw_value(c, P_VALUES, p_verdict, 0.15)
    if c.chance(0.2):
        kwargs["workers"] = draw_value(c, WORKERS, workers_verdict)
    args, kwargs = _positional(c, [x, output_size], kwargs, ["op"])
    return Case(func, args, kwargs)


# --------------------------------------------------------------------------- global settings
def _small_problem(c):
    x = make_values(c, (c.integers(1, 12), c.integers(1, 12)), np.dtype(c.choice(
        ["float64", "float32", "int16", "complex128"])), flavour="ints")
    bank = make_values(c, (c.integers(1, 3), c.integers(1, 4)), x.dtype, flavour="ints")
    return x, bank


def draw_set_workers(c, func):
    x, bank = _small_problem(c)
    n = draw_value(c, WORKERS, workers_verdict, 0.3)
    if n is None and c.chance(0.8):
        n = 1
    return Case(func, [n], {}, extra=dict(x=x, kernel=bank))


def expect_set_workers(case):
    exp = Expectation()
    n = case.args[0]
    if n is None:
        exp.refuse(TE, ["workers"], "set_workers(None)")
    else:
        _workers_rule(n, exp)
    if exp.must:
        return exp
    if _is_int(n):
        value = operator.index(n)
        expected = NCPU + 1 + value if value < 0 else min(value, NCPU)
    else:
        expected = None
    x, kernel = case.extra["x"], case.extra["kernel"]

    def result_check(got):
        before, inside, y, after = got
        if expected is not None and inside != expected:
            raise AssertionError(f"get_workers() inside set_workers({n!r}) is {inside}, "
                                 f"expected {expected}")
        if after != before:
            raise AssertionError(f"get_workers() is {after} after the block, {before} before")
        ref, bound, _, _ = conv_reference(True, x, kernel, "same", [0, 1], "fill",
                                          np.zeros(()))
        compare_conv(y, ref, bound, ref.dtype, False)

    exp.result_check = result_check
    return exp


def call_set_workers(case):
    before = fastconv.get_workers()
    with fastconv.set_workers(case.args[0]):
        inside = fastconv.get_workers()
        y = fastconv.convolve(case.extra["x"], case.extra["kernel"], "same")
    return before, inside, y, fastconv.get_workers()


class StateChanged(Exception):
    """A refused call changed global state (reported as a modified input)."""


def draw_workspace(c, func):
    x, bank = _small_problem(c)
    nbytes = draw_value(c, NBYTES, nbytes_verdict, 0.3)
    # a bank of kernels broadcast over one input: im2col's case
    kernel = np.broadcast_to(bank[:, np.newaxis, :], (bank.shape[0], 1, bank.shape[1]))
    x3 = x[np.newaxis]
    return Case(func, [nbytes], {}, extra=dict(x=x3, kernel=np.ascontiguousarray(kernel)))


def expect_workspace(case):
    exp = Expectation()
    nbytes = case.args[0]
    exp.verdict(nbytes_verdict(nbytes), ["nbytes"], f"nbytes={nbytes!r}")
    if exp.must:
        return exp
    x, kernel = case.extra["x"], case.extra["kernel"]

    def result_check(got):
        previous, returned, current, y = got
        if returned != previous:
            raise AssertionError(f"set_workspace_limit returned {returned}, the limit was "
                                 f"{previous}")
        if current != operator.index(nbytes):
            raise AssertionError(f"get_workspace_limit() is {current} after setting {nbytes}")
        ref, bound, _, _ = conv_reference(True, x, kernel, "full", [2], "fill", np.zeros(()))
        compare_conv(y, ref, bound, ref.dtype, False)

    exp.result_check = result_check
    return exp


def call_workspace(case):
    previous = fastconv.get_workspace_limit()
    try:
        returned = fastconv.set_workspace_limit(case.args[0])
    except BaseException:
        if fastconv.get_workspace_limit() != previous:
            fastconv.set_workspace_limit(previous)
            raise StateChanged("a refused set_workspace_limit changed the limit") from None
        raise
    try:
        current = fastconv.get_workspace_limit()
        y = fastconv.convolve(case.extra["x"], case.extra["kernel"], "full", method="im2col",
                              axes=2)
    finally:
        fastconv.set_workspace_limit(previous)
    return previous, returned, current, y


# --------------------------------------------------------------------------- dispatch
def _call_plain(case):
    return getattr(fastconv, case.func)(*case.args, **case.kwargs)


DRAW = {
    "convolve": draw_convolve,
    "correlate": draw_convolve,
    "choose_conv_method": draw_choose,
    "convolve_separable": draw_separable,
    "pool": draw_pool,
    "adaptive_pool": draw_adaptive,
    "set_workers": draw_set_workers,
    "set_workspace_limit": draw_workspace,
}
EXPECT = {
    "convolve": expect_convolve,
    "correlate": lambda case: expect_convolve(case, is_convolve=False),
    "choose_conv_method": expect_choose,
    "convolve_separable": expect_separable,
    "pool": expect_pool,
    "adaptive_pool": expect_adaptive,
    "set_workers": expect_set_workers,
    "set_workspace_limit": expect_workspace,
}
CALL = {"choose_conv_method": call_choose, "set_workers": call_set_workers,
        "set_workspace_limit": call_workspace}
# how often the script draws each function (the test module runs each alike)
WEIGHTS = {"convolve": 5, "correlate": 3, "choose_conv_method": 2, "convolve_separable": 3,
           "pool": 5, "adaptive_pool": 3, "set_workers": 1, "set_workspace_limit": 1}


def draw_case(c, func=None):
    """A case for public function `func` (None: one drawn by `WEIGHTS`)."""
    if func is None:
        func = c.choice([f for f in FUNCTIONS for _ in range(WEIGHTS[f])])
    return DRAW[func](c, func)


# --------------------------------------------------------------------------- the check
def _snapshot(value, depth=0):
    """What must not change: array data and flags, list contents."""
    if isinstance(value, np.ndarray):
        if value.size > 10**6:
            return ("huge", value.shape, value.strides, value.flags.writeable,
                    value.__array_interface__["data"][0])
        if value.dtype.kind in "OT":
            data = repr(value.tolist())
        else:
            data = np.ascontiguousarray(value).tobytes()
        return ("array", value.dtype.str, value.shape, value.strides, value.flags.writeable,
                data)
    if isinstance(value, (list, tuple)) and depth < 3:
        return (type(value).__name__, [_snapshot(v, depth + 1) for v in value])
    if isinstance(value, dict):
        return ("dict", repr(value))
    return ("other", id(value))


def _names_parameter(message, names):
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", message)
               for n in names)


def _classify_exception(exc, exp):
    """(kind, detail) of an exception raised by the call, or None if it is right."""
    message = str(exc)
    what = f"{type(exc).__name__}: {message[:300]}"
    if isinstance(exc, StateChanged):
        return "modified input", message
    rules = exp.must + exp.may
    if not isinstance(exc, (ValueError, TypeError)):
        return "wrong exception type", f"{what} (documented: {_rules_text(rules)})"
    if any(isinstance(exc, types) and _names_parameter(message, names)
           for types, names, _ in rules):
        return None
    if not rules:
        return "refused valid input", what
    if any(_names_parameter(message, names) for _, names, _ in rules):
        return "wrong exception type", f"{what} (documented: {_rules_text(rules)})"
    if any(isinstance(exc, types) for types, _, _ in rules):
        return "message not naming the parameter", f"{what} (documented: {_rules_text(rules)})"
    return "wrong exception type", f"{what} (documented: {_rules_text(rules)})"


def _rules_text(rules):
    return "; ".join(f"{'/'.join(t.__name__ for t in types)} naming {'/'.join(names)} ({why})"
                     for types, names, why in rules)


def check(case):
    """Run `case`; list of (kind, detail) of what went wrong (empty: it passed)."""
    try:
        # the oracle's own arithmetic (casts of extreme fill values, reference
        # sums) may overflow: that is its business, not a warning of fastconv's
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            exp = EXPECT[case.func](case)
    except Exception as exc:  # noqa: BLE001 - a defect of the fuzzer, reported as such
        return [("fuzzer error", f"oracle: {type(exc).__name__}: {exc}")]
    before = _snapshot((case.args, case.kwargs, case.extra))
    call = CALL.get(case.func, _call_plain)
    result, error = None, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(case)
        except Exception as exc:  # noqa: BLE001 - classified below
            error = exc
    failures = []
    if caught:
        failures.append(("warning", "; ".join(f"{w.category.__name__}: {w.message}"
                                              for w in caught[:3])))
    if _snapshot((case.args, case.kwargs, case.extra)) != before:
        failures.append(("modified input", "an argument's data, flags or contents changed"))
    if error is not None:
        kind = _classify_exception(error, exp)
        if kind is not None:
            failures.append(kind)
    elif exp.must:
        failures.append(("accepted invalid input", f"returned {type(result).__name__}; "
                         f"documented: {_rules_text(exp.must)}"))
    elif exp.result_check is not None:
        try:
            exp.result_check(result)
        except AssertionError as exc:
            failures.append(("wrong result", str(exc)[:800]))
        except Exception as exc:  # noqa: BLE001
            failures.append(("fuzzer error", f"reference: {type(exc).__name__}: {exc}"))
    return failures
