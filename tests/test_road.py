"""The road from the public functions to the kernels.

Imports form layers without cycles (public functions, validation, plans,
methods, compiled kernels); a separable call stays below the public layer
and is validated once; ``out=`` is written in place and returned; the plan
cache gives the uncached results under concurrent calls, stays bounded, and
never lets a call skip a check or reuse a plan made for different arrays or
arguments.
"""

import ast
import contextlib
import pathlib
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastconv
from fastconv._api import convolve as api
from fastconv._api import separable as api_separable
from fastconv._kernels import _direct
from fastconv._methods import direct
from fastconv._normal import conv as normal
from _helpers import assert_conv_close, fill_for, magnitude_bound, make_array, with_layout
from _reference import reference_convolve, reference_correlate

# The package's source: the installed package may lack the .pyx/.pxd files.
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "fastconv"

# Python modules, Cython modules and declarations, and Python modules the
# build configures from a template (``@name@`` placeholders)
SOURCE_SUFFIXES = (".py", ".pyx", ".pxd", ".pxi", ".py.in")


@pytest.fixture(autouse=True)
def empty_plan_cache():
    """Every test starts and ends with no cached plan (no test sees another's)."""
    api._plans.clear()
    yield
    api._plans.clear()


# ---------------------------------------------------------------- imports

_CY_FROM = re.compile(r"from\s+(\.*[\w.]*)\s+c?import\s+(.+)")
_CY_IMPORT = re.compile(r"c?import\s+(.+)")
_CY_INCLUDE = re.compile(r"include\s+[\"']([^\"']+)\.pxi[\"']")


def _module_name(path, root):
    rel = path.relative_to(root.parent)
    parts = rel.parent.parts + (rel.name.split(".")[0],)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _python_imports(text):
    """(level, module, names) of every import in Python source, functions'
    included; ``importlib.import_module`` with a literal name counts too."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((0, a.name, []) for a in node.names)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
            name = node.args[0].value
            level = len(name) - len(name.lstrip("."))
            found.append((level, name[level:] or None, []))
    return found


def _cython_statements(text):
    """Logical lines of Cython source without comments, parenthesised
    continuations joined."""
    lines = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        pending = f"{pending} {line}".strip() if pending else line
        if pending.count("(") > pending.count(")") or pending.endswith("\\"):
            pending = pending.rstrip("\\")
            continue
        lines.append(pending)
        pending = ""
    return lines


def _cython_imports(text):
    """(level, module, names) of the import, cimport and include lines of
    Cython source (an include counts as an import of the .pxi)."""
    found = []
    for line in _cython_statements(text):
        m = _CY_FROM.fullmatch(line)
        if m:
            spec, names = m.groups()
            level = len(spec) - len(spec.lstrip("."))
            names = [n.split()[0] for n in names.strip("()").split(",") if n.strip()]
            found.append((level, spec[level:] or None, names))
            continue
        m = _CY_IMPORT.fullmatch(line)
        if m:
            found.extend((0, n.split()[0], []) for n in m.group(1).split(",") if n.strip())
            continue
        m = _CY_INCLUDE.fullmatch(line)
        if m:
            found.append((1, m.group(1).replace("/", "."), []))
    return found


def _ancestors(name):
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph(root):
    """{module: modules of the package it imports} for the package at `root`.

    Python files are parsed with `ast`, Cython files (.pyx, .pxd, .pxi) by
    their import lines. Relative imports are resolved; ``from a import b``
    is an import of the module ``a.b`` when there is one, else of ``a``.
    Importing ``a.b.c`` runs the packages ``a.b`` and ``a`` too, which count
    unless they enclose the importer (those are already being imported).
    """
    root = pathlib.Path(root)
    files = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(SOURCE_SUFFIXES):
            files.setdefault(_module_name(path, root), []).append(path)
    packages = {_module_name(p, root) for p in root.rglob("__init__.py")}
    graph = {}
    for me, paths in files.items():
        base = me if me in packages else me.rpartition(".")[0]
        deps = set()
        for path in paths:
            text = path.read_text(encoding="utf-8")
            if path.name.endswith(".py.in"):
                text, parse = re.sub(r"@\w+@", "0", text), _python_imports
            else:
                parse = _python_imports if path.suffix == ".py" else _cython_imports
            for level, module, names in parse(text):
                if level:
                    pkg = base.rsplit(".", level - 1)[0] if level > 1 else base
                    target = f"{pkg}.{module}" if module else pkg
                else:
                    target = module
                subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in files]
                explicit = set(subs) if subs and len(subs) == len(names) else set(subs) | {target}
                implied = set().union(*(_ancestors(t) for t in explicit)) - _ancestors(me)
                deps |= (explicit | implied) & files.keys()
        deps.discard(me)
        graph[me] = deps
    return graph


def find_cycles(graph):
    """One cycle (a list ending where it starts) per back edge of a depth-first search."""
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


# A layer imports nothing from the layers above it.
LAYERS = {
    "_kernels": ("_methods", "_plan", "_normal", "_api", "nn"),
    "_methods": ("_plan", "_normal", "_api", "nn"),
    "_plan": ("_normal", "_api", "nn"),
    "_normal": ("_api", "_plan", "nn"),
    # the public namespaces build on the layers below, never on each other
    "_api": ("nn",),
    "nn": ("_api",),
}


def layer_violations(graph, top):
    """(importer, imported) pairs that import a layer above the importer's."""
    def layer(name):
        parts = name.split(".")
        return parts[1] if len(parts) > 1 and parts[0] == top else None

    return sorted((m, d) for m, deps in graph.items() for d in deps
                  if layer(d) in LAYERS.get(layer(m), ()))


def _package_graph():
    assert PACKAGE_DIR.is_dir(), f"no package source at {PACKAGE_DIR}"
    return import_graph(PACKAGE_DIR)


def test_no_import_cycle_in_the_package():
    cycles = find_cycles(_package_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layers_import_only_downwards():
    bad = layer_violations(_package_graph(), PACKAGE_DIR.name)
    assert not bad, "imports of an upper layer:\n" + "\n".join(f"{m} imports {d}" for m, d in bad)


def test_import_graph_sees_every_kind_of_import():
    graph = _package_graph()
    # every source file is a node, the compiled modules included
    for name in ("fastconv._kernels._direct", "fastconv._kernels._boundary",
                 "fastconv._kernels._pool_impl", "fastconv._api.convolve"):
        assert name in graph, name
    expected = [
        ("fastconv._kernels._direct", "fastconv._kernels._boundary"),  # .pyx cimport of a .pxd
        ("fastconv._kernels._pool", "fastconv._kernels._pool_impl"),   # include
        ("fastconv._methods.im2col", "fastconv._kernels._im2col"),     # relative, into a .pyx
        ("fastconv._methods.separable", "fastconv._methods.direct"),   # from . import module
        ("fastconv._normal.conv", "fastconv._methods"),                # the package __init__ runs
        ("fastconv._methods.pooling", "fastconv._kernels._pool"),      # importlib, literal name
        ("fastconv", "fastconv._api.convolve"),
    ]
    for importer, imported in expected:
        assert imported in graph[importer], (importer, imported)


def _write_tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_import_graph_finds_lazy_relative_and_cython_cycles(tmp_path):
    """The checks above can fail: a synthetic package with the imports they look for."""
    _write_tree(tmp_path, {
        "pkg/__init__.py": "from ._api.f import f\n",
        "pkg/_api/__init__.py": "from .f import f\n",
        "pkg/_api/f.py": "from .._methods import m\n",
        "pkg/_methods/__init__.py": "",
        "pkg/_methods/m.py": "def g():\n    from .. import _api\n    from .._kernels import k\n",
        "pkg/_kernels/__init__.py": "",
        "pkg/_kernels/k.pyx": ("# import pkg._api is only a comment\n"
                               "from pkg._kernels cimport (b,\n    c)\ncimport numpy as cnp\n"),
        "pkg/_kernels/b.pxd": "from .._methods.m cimport x\n",
        "pkg/_kernels/c.pxd": "include \"inc.pxi\"\n",
        "pkg/_kernels/inc.pxi": "    import pkg._normal.v\n",
        "pkg/_normal/__init__.py": "",
        "pkg/_normal/v.py": ("import importlib\n"
                             "importlib.import_module('.._plan.c', 'pkg._normal')\n"),
        "pkg/_plan/__init__.py": "",
        "pkg/_plan/c.py": "",
    })
    graph = import_graph(tmp_path / "pkg")
    assert graph["pkg._methods.m"] == {"pkg._api", "pkg._kernels", "pkg._kernels.k"}
    assert graph["pkg._kernels.k"] == {"pkg._kernels.b", "pkg._kernels.c"}
    assert graph["pkg._kernels.b"] == {"pkg._methods", "pkg._methods.m"}
    assert graph["pkg._kernels.c"] == {"pkg._kernels.inc"}
    assert graph["pkg._kernels.inc"] == {"pkg._normal", "pkg._normal.v"}
    assert graph["pkg._normal.v"] == {"pkg._plan", "pkg._plan.c"}
    cycles = {frozenset(c) for c in find_cycles(graph)}
    assert cycles == {frozenset({"pkg._api", "pkg._api.f", "pkg._methods.m"}),
                      frozenset({"pkg._methods.m", "pkg._kernels.k", "pkg._kernels.b"})}
    assert layer_violations(graph, "pkg") == [
        ("pkg._kernels.b", "pkg._methods"), ("pkg._kernels.b", "pkg._methods.m"),
        ("pkg._kernels.inc", "pkg._normal"), ("pkg._kernels.inc", "pkg._normal.v"),
        ("pkg._methods.m", "pkg._api"), ("pkg._normal.v", "pkg._plan"),
        ("pkg._normal.v", "pkg._plan.c")]


# ---------------------------------------------------------------- the separable road

class _OneRoad:
    """Counts the calls of the entry points and checks of the public layer,
    and raises on any call beyond those one public call makes."""

    # the modules that bind each name (a function imported by name has one
    # binding per importing module)
    WATCHED = {
        "_conv": [api],
        "conv_problem": [api, normal],
        "separable_call": [normal, api_separable],
        "as_numeric_array": [normal],
        "check_fillvalue": [normal],
    }

    def __init__(self, monkeypatch):
        self.allowed = None  # outside a block: calls pass uncounted
        self.calls = {}
        for name, modules in self.WATCHED.items():
            real = getattr(modules[0], name)
            for module in modules:
                assert getattr(module, name) is real, (module, name)
                monkeypatch.setattr(module, name, self._guard(name, real))

    def _guard(self, name, real):
        def guarded(*args, **kwargs):
            if self.allowed is None:
                return real(*args, **kwargs)
            count = self.calls.get(name, 0) + 1
            self.calls[name] = count
            allowed = self.allowed.get(name, 0)
            if count > allowed:
                raise AssertionError(f"{name} called {count} times inside one public call "
                                     f"(allowed: {allowed})")
            return real(*args, **kwargs)
        return guarded

    @contextlib.contextmanager
    def once(self, **allowed):
        """A block making one public call that may call each watched
        function `allowed[name]` times (0 if not named), and does."""
        self.allowed, self.calls = allowed, {}
        try:
            yield
        finally:
            self.allowed = None
        assert self.calls == {k: v for k, v in allowed.items() if v}, self.calls


@pytest.fixture
def one_road(monkeypatch):
    return _OneRoad(monkeypatch)


# one public convolve/correlate call, uncached: one validation
CONV_CALL = {"_conv": 1, "conv_problem": 1, "as_numeric_array": 2, "check_fillvalue": 1}


def _separable_kernel(rng, shape, dtype, rank):
    """Sum of `rank` outer products of random 1-D kernels along `shape`."""
    total = 0
    for _ in range(rank):
        term = make_array(rng, shape[:1], dtype)
        for n in shape[1:]:
            term = np.multiply.outer(term, make_array(rng, (n,), dtype))
        total = total + term
    return np.asarray(total).astype(dtype)


def _assert_like_direct(got, expected, op, in1, in2, mode, boundary, fillvalue, rank, msg):
    bound = magnitude_bound(op, in1, in2, mode, boundary=boundary, fillvalue=fillvalue)
    assert_conv_close(got, expected, bound, normwise=rank > 1, err_msg=msg)


def watch_kernel_taps(monkeypatch):
    """Record the kernel lengths along the convolved axes of every run of the
    direct kernel (the geometry it was planned with)."""
    runs = []
    real = direct.DirectPlan.run

    def watched(self, in1, in2, out=None):
        runs.append(tuple(int(k) for k in self.kernel.geometry[1]))
        return real(self, in1, in2, out)

    monkeypatch.setattr(direct.DirectPlan, "run", watched)
    return runs


def _separable_passes(runs):
    """Whether the direct kernel ran, and only 1-D passes."""
    return bool(runs) and all(sum(k > 1 for k in taps) <= 1 for taps in runs)


SEPARABLE_CASES = [
    # (in1 shape, kernel shape, dtype, rank); 'valid' also runs with the
    # input and kernel shapes exchanged (the kernel contains the input)
    ((12, 13), (5, 6), "float64", 1),
    ((12, 13), (5, 6), "int32", 1),
    ((12, 13), (5, 6), "complex128", 1),
    ((12, 13), (5, 6), "float64", 2),
    ((6, 7, 8), (3, 4, 5), "float32", 1),
    ((6, 7, 8), (3, 4, 5), "int16", 1),
    ((6, 7, 8), (3, 4, 5), "float64", 2),
]


@pytest.mark.parametrize("boundary, fillvalue", [
    ("fill", 0), ("fill", 1.5), ("wrap", 0), ("symm", 0), ("reflect", 0), ("mirror", 0),
    ("nearest", 0)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_separable_method_stays_below_the_public_layer(one_road, monkeypatch, rng, mode,
                                                       boundary, fillvalue):
    for shape, kshape, dtype, rank in SEPARABLE_CASES:
        shapes = [(shape, kshape)] + ([(kshape, shape)] if mode == "valid" else [])
        for s1, s2 in shapes:
            in1 = make_array(rng, s1, dtype)
            in2 = _separable_kernel(rng, s2, dtype, rank)
            for op in ("convolve", "correlate"):
                f = getattr(fastconv, op)
                kw = dict(boundary=boundary, fillvalue=fillvalue)
                expected = f(in1, in2, mode, method="direct", **kw)
                with monkeypatch.context() as m:
                    kernels = watch_kernel_taps(m)
                    with one_road.once(**CONV_CALL):
                        got = f(in1, in2, mode, method="separable", **kw)
                msg = f"{op} {s1} {s2} {dtype} rank {rank} {mode} {boundary} {fillvalue}"
                assert _separable_passes(kernels), (kernels, msg)
                # one pass per axis and term (a 3-D kernel of rank 2 may take more terms)
                assert len(kernels) % len(s1) == 0 and len(kernels) >= rank * len(s1), msg
                _assert_like_direct(got, expected, op, in1, in2, mode, boundary, fillvalue,
                                    rank, msg)


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("mode, boundary", [("same", "reflect"), ("full", "fill"),
                                            ("valid", "fill"), ("same", "wrap")])
def test_auto_on_a_separable_gaussian_stays_below_the_public_layer(one_road, monkeypatch, op,
                                                                   mode, boundary):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((256, 256))
    t = np.arange(31) - 15
    g = np.exp(-t**2 / (2 * 5.0**2))
    gauss = np.outer(g, g) / g.sum()**2
    f = getattr(fastconv, op)
    assert fastconv.choose_conv_method(x, gauss, mode, boundary=boundary) == "separable"
    expected = f(x, gauss, mode, method="direct", boundary=boundary)
    kernels = watch_kernel_taps(monkeypatch)
    with one_road.once(**CONV_CALL):
        got = f(x, gauss, mode, method="auto", boundary=boundary)
    assert _separable_passes(kernels), kernels
    _assert_like_direct(got, expected, op, x, gauss, mode, boundary, 0, 1, mode)


@pytest.mark.parametrize("boundary, fillvalue", [
    ("fill", 0), ("fill", -2), ("wrap", 0), ("symm", 0), ("reflect", 0), ("mirror", 0),
    ("nearest", 0)])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_separable_stays_below_the_public_layer(one_road, monkeypatch, rng, mode,
                                                         boundary, fillvalue):
    for shape, axes, dtype in [((12, 13), None, "float64"), ((6, 7, 8), (2, 0), "int16"),
                               ((5, 9, 4), (1,), "complex64")]:
        x = make_array(rng, shape, dtype)
        ax = list(range(len(shape))) if axes is None else list(axes)
        kernels = [make_array(rng, (n,), dtype) for n in (4, 3, 5)[:len(ax)]]
        full = np.ones([1] * len(shape), dtype=dtype)
        for a, k in zip(ax, kernels):
            full = full * k.reshape([-1 if d == a else 1 for d in range(len(shape))])
        expected = fastconv.convolve(x, full, mode, method="direct", axes=sorted(ax),
                                     boundary=boundary, fillvalue=fillvalue)
        with monkeypatch.context() as m:
            runs = watch_kernel_taps(m)
            with one_road.once(separable_call=1, as_numeric_array=1 + len(kernels),
                               check_fillvalue=1):
                got = fastconv.convolve_separable(x, kernels, mode, axes=axes,
                                                  boundary=boundary, fillvalue=fillvalue)
        assert _separable_passes(runs) and len(runs) == len(kernels), runs
        _assert_like_direct(got, expected, "convolve", x, full, mode, boundary, fillvalue, 1,
                            f"{shape} {axes} {dtype}")


# ---------------------------------------------------------------- out=

OUT_DTYPES = ["bool", "int8", "uint16", "int64", "uint64", "float16", "float32", "float64",
              "complex64", "complex128"]
OUT_LAYOUTS = ["C", "F", "strided", "negative", "bigendian"]
METHODS = ["direct", "separable", "fft", "im2col", "auto"]
def unlike(expected):
    """An array of `expected`'s shape and dtype differing from it everywhere."""
    if expected.dtype == np.bool_:
        return np.asarray(~expected)
    with np.errstate(over="ignore"):
        return np.asarray(expected + expected.dtype.type(1))


def out_array(expected, layout):
    """A writeable array for the result `expected` in `layout` (C, F,
    strided: a slice of a larger array, negative: negative strides,
    bigendian: the dtype in big-endian order), differing from it everywhere."""
    base = unlike(np.asarray(expected))
    if layout == "bigendian":
        return base.astype(base.dtype.newbyteorder(">"))
    # (np.ascontiguousarray would make a 0-d array 1-D)
    out = base.copy() if layout == "C" else with_layout(base, layout)
    assert out.flags.writeable and (layout == "C") == out.flags.c_contiguous
    return out


def assert_same_bits(got, expected, msg=""):
    """Same shape and values, bit for bit (byte order aside)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype.newbyteorder("=") == expected.dtype.newbyteorder("="), (got.dtype, msg)
    np.testing.assert_array_equal(got, expected, err_msg=msg)
    native = got.astype(got.dtype.newbyteorder("="), order="C")
    assert native.tobytes() == np.ascontiguousarray(expected).tobytes(), msg


def method_inputs(rng, method, dtype):
    """(in1, in2, keyword arguments) of a call suited to `method`."""
    if method == "im2col":
        # a bank of 3 kernels over one input: the matrix product has 3 columns
        return (make_array(rng, (1, 7, 9), dtype), make_array(rng, (3, 3, 4), dtype),
                {"axes": (1, 2), "mode": "same"})
    in1 = make_array(rng, (7, 9), dtype)
    if method == "separable":
        return in1, _separable_kernel(rng, (3, 4), dtype, 1), {"fillvalue": fill_for(dtype)}
    if method == "direct":
        return in1, make_array(rng, (3, 4), dtype), {"mode": "same", "boundary": "reflect"}
    return in1, make_array(rng, (4, 3), dtype), {"mode": "full"}


def both_roads(call):
    """`call()` with no cached plan (the validating road), then again (the
    cached road, for plans that are cached); the two results."""
    api._plans.clear()
    return call(), call()


METHOD_LAYOUTS = [pytest.param(method, layout, id=f"{method}-{layout}")
                  for method in METHODS for layout in OUT_LAYOUTS]


@pytest.mark.parametrize("method, layout", METHOD_LAYOUTS)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_out_of_any_layout_holds_the_result(rng, op, method, layout):
    f = getattr(fastconv, op)
    for dtype in OUT_DTYPES:
        in1, in2, kw = method_inputs(rng, method, dtype)
        api._plans.clear()
        expected = f(in1, in2, method=method, **kw)
        outs = []

        def call():
            outs.append(out_array(expected, layout))
            return f(in1, in2, method=method, out=outs[-1], **kw)

        for out, got in zip(outs, both_roads(call)):
            assert got is out, dtype
            assert_same_bits(out, expected, f"{op} {method} {layout} {dtype}")


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
def test_convolve_separable_out_of_any_layout_holds_the_result(rng, layout):
    for dtype in OUT_DTYPES:
        x = make_array(rng, (6, 7, 5), dtype)
        kernels = [make_array(rng, (n,), dtype) for n in (3, 4)]
        for mode in ("full", "same", "valid"):
            kw = dict(axes=(2, 0), mode=mode, boundary="fill", fillvalue=fill_for(dtype))
            expected = fastconv.convolve_separable(x, kernels, **kw)
            out = out_array(expected, layout)
            assert fastconv.convolve_separable(x, kernels, out=out, **kw) is out
            assert_same_bits(out, expected, f"{layout} {dtype} {mode}")


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
def test_out_holds_every_term_of_a_low_rank_kernel(rng, layout):
    x = make_array(rng, (12, 13), "float64")
    w = _separable_kernel(rng, (5, 6), "float64", 2)
    for op in ("convolve", "correlate"):
        f = getattr(fastconv, op)
        expected = f(x, w, "same", method="separable", boundary="nearest")
        out = out_array(expected, layout)
        got = f(x, w, "same", method="separable", boundary="nearest", out=out)
        assert_same_bits(out, expected, f"{op} {layout}")
        assert got is out


def _overlapping_calls(rng, method):
    """(name, in1, in2, keyword arguments, out) for calls whose `out`
    overlaps an input: it is in1 ('same'), it holds in2, or in1 and out are
    overlapping windows of one larger buffer."""
    in1, in2, kw = method_inputs(rng, method, "float64")
    if method == "im2col":
        in1 = make_array(rng, (3, 7, 9), "float64")  # out's shape, for out=in1
    kw_same = dict(kw, mode="same")
    yield "out is in1", in1, in2, kw_same, in1

    expected_shape = np.shape(fastconv.convolve(in1, in2, **kw))
    size = int(np.prod(expected_shape))
    buf = np.zeros(size + in2.size)
    held = buf[5:5 + in2.size].reshape(in2.shape)
    held[...] = in2
    yield "out holds in2", in1, held, kw, buf[:size].reshape(expected_shape)

    big = make_array(rng, tuple(n + 8 for n in expected_shape), "float64")
    window = tuple(slice(3, 3 + n) for n in in1.shape)
    around = tuple(slice(2, 2 + n) for n in expected_shape)
    yield "in1 and out in one buffer", big[window], in2, kw, big[around]


@pytest.mark.parametrize("road", ["validated", "cached"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_out_overlapping_an_input_gives_the_result_without_out(rng, op, method, road):
    f = getattr(fastconv, op)
    for name, in1, in2, kw, out in _overlapping_calls(rng, method):
        assert np.shares_memory(out, in1) or np.shares_memory(out, in2), name
        api._plans.clear()
        expected = f(in1, in2, method=method, **kw)  # caches a direct plan
        if road == "validated":
            api._plans.clear()
        got = f(in1, in2, method=method, out=out, **kw)
        assert got is out, name
        assert_same_bits(out, expected, f"{op} {method} {road}: {name}")


def test_convolve_separable_out_overlapping_an_input(rng):
    x = make_array(rng, (9, 8), "float64")
    kernels = [make_array(rng, (3,), "float64"), make_array(rng, (4,), "float64")]
    expected = fastconv.convolve_separable(x, kernels, "same")
    assert fastconv.convolve_separable(x, kernels, "same", out=x) is x
    assert_same_bits(x, expected, "out is in1")

    x = make_array(rng, (9, 8), "float64")
    buf = np.zeros(11 * 11)
    held = buf[4:8]
    held[...] = kernels[1]
    expected = fastconv.convolve_separable(x, [kernels[0], held])
    out = buf.reshape(11, 11)
    assert fastconv.convolve_separable(x, [kernels[0], held], out=out) is out
    assert_same_bits(out, expected, "out holds a kernel")

    big = make_array(rng, (16, 16), "float64")
    x = big[3:12, 4:12]
    expected = fastconv.convolve_separable(x, kernels)
    out = big[2:13, 2:13]
    assert fastconv.convolve_separable(x, kernels, out=out) is out
    assert_same_bits(out, expected, "in1 and out in one buffer")


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _bad_outs(expected):
    """(out, exception type) for outs that must be refused."""
    shape, dtype = expected.shape, expected.dtype
    other = np.complex64 if dtype != np.complex64 else np.float64
    return [
        (np.zeros(shape + (1,), dtype), ValueError),
        (np.zeros(shape[::-1] if len(set(shape)) > 1 else shape + (2,), dtype), ValueError),
        (np.zeros((), dtype) if shape else np.zeros((1,), dtype), ValueError),
        (np.zeros(shape, other), ValueError),
        (np.zeros(shape, np.int8 if dtype != np.int8 else np.int16), ValueError),
        (_read_only(np.zeros(shape, dtype)), ValueError),
        (_read_only(np.zeros(shape + (1,), dtype)), ValueError),
        (np.zeros(shape, dtype).tolist(), TypeError),
        ([0], TypeError),
    ]


def _assert_out_refused(call, expected, inputs):
    before = [np.array(a, copy=True) for a in inputs]
    for bad, error in _bad_outs(np.asarray(expected)):
        kept = np.array(bad, copy=True)
        with pytest.raises(error, match=r"\bout\b"):
            call(bad)
        np.testing.assert_array_equal(np.asarray(bad), kept)
    for a, b in zip(inputs, before):
        assert_same_bits(a, b)


@pytest.mark.parametrize("road", ["validated", "cached"])
@pytest.mark.parametrize("op", ["convolve", "correlate"])
def test_wrong_out_is_refused(rng, op, road):
    f = getattr(fastconv, op)
    for method in METHODS:
        for dtype in ("float64", "int16", "complex64"):
            in1, in2, kw = method_inputs(rng, method, dtype)
            expected = f(in1, in2, method=method, **kw)

            def call(out):
                if road == "validated":
                    api._plans.clear()
                return f(in1, in2, method=method, out=out, **kw)

            _assert_out_refused(call, expected, [in1, in2])


def test_wrong_out_of_convolve_separable_is_refused(rng):
    x = make_array(rng, (6, 7), "float32")
    kernels = [make_array(rng, (3,), "float32"), make_array(rng, (2,), "int8")]
    expected = fastconv.convolve_separable(x, kernels, "valid")
    _assert_out_refused(lambda out: fastconv.convolve_separable(x, kernels, "valid", out=out),
                        expected, [x] + kernels)


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("in1, in2", [
    (np.array(2.5), np.array(-3.0)), (2, 3), (np.array(1 + 2j), np.array(3 + 1j)),
    (np.array(True), np.array(True)), (np.array(100, np.int8), np.array(100, np.int8)),
    (np.array(7, np.uint16), np.float32(0.5))])
def test_out_of_a_product_of_two_0d_inputs(op, in1, in2):
    f = getattr(fastconv, op)
    expected = np.asarray(f(in1, in2))
    assert expected.shape == ()
    for layout in ("C", "bigendian"):
        out = out_array(expected, layout)
        assert f(in1, in2, out=out) is out
        assert_same_bits(out, expected, layout)
    _assert_out_refused(lambda out: f(in1, in2, out=out), expected, [])


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("a, b", [(1e300, 1e300), (np.inf, 0.0), (np.float32(3e38), np.float32(10)),
                                  (complex(1e300, 1), complex(1e300, -1))])
def test_product_of_two_0d_inputs_overflows_without_a_warning(op, a, b):
    """As the kernels compute the product of 1-element 1-D inputs: IEEE
    overflow and inf * 0 are results, not warnings (warnings are errors here)."""
    f = getattr(fastconv, op)
    in1, in2 = np.array(a), np.array(b)
    expected = f(in1[None], in2[None])[0]
    assert_same_bits(f(in1, in2), expected)
    out = np.empty((), expected.dtype)
    assert f(in1, in2, out=out) is out
    assert_same_bits(out, expected)


class _RecordingKernel:
    """A compiled kernel that records the array it is asked to write."""

    def __init__(self, kernel, targets):
        self.kernel, self.targets = kernel, targets

    def run(self, *args):
        self.targets.append(args[-2])
        return self.kernel.run(*args)


@pytest.fixture
def kernel_targets(monkeypatch):
    """The arrays the direct kernel writes, run by run (plans made meanwhile
    record them)."""
    targets = []
    real = direct.plan

    def recording_plan(p):
        pl = real(p)
        pl.kernel = _RecordingKernel(pl.kernel, targets)
        return pl

    monkeypatch.setattr(direct, "plan", recording_plan)
    return targets


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "int64"])
def test_direct_method_writes_a_c_contiguous_out_in_place(rng, kernel_targets, dtype):
    x = make_array(rng, (40, 50), dtype)
    w = make_array(rng, (3, 5), dtype)
    for w1, kw in ((w, {"mode": "same", "boundary": "wrap"}), (w, {"mode": "full"}),
                   (w[:1], {"mode": "valid", "axes": 1}),
                   (w, {"mode": "same", "method": "direct", "fillvalue": 2})):
        expected = fastconv.convolve(x, w1, **kw)
        for road in range(2):  # validated, then cached
            out = np.full_like(expected, 3)
            del kernel_targets[:]
            assert fastconv.convolve(x, w1, out=out, **kw) is out
            assert len(kernel_targets) == 1 and kernel_targets[0] is out, (kw, road)
            assert_same_bits(out, expected, str(kw))
        # a Fortran-ordered out is written through a C-ordered temporary
        out = np.asfortranarray(np.full_like(expected, 3))
        del kernel_targets[:]
        assert fastconv.convolve(x, w1, out=out, **kw) is out
        assert len(kernel_targets) == 1 and kernel_targets[0] is not out
        assert_same_bits(out, expected, str(kw))


def test_separable_passes_write_the_last_into_out(rng, kernel_targets):
    x = make_array(rng, (30, 40), "float64")
    kernels = [make_array(rng, (5,), "float64"), make_array(rng, (3,), "float64")]
    out = np.empty((34, 42))
    assert fastconv.convolve_separable(x, kernels, out=out) is out
    assert len(kernel_targets) == 2 and kernel_targets[-1] is out
    out2 = np.empty((34, 42))
    assert fastconv.convolve(x, np.outer(*kernels), method="separable", out=out2) is out2
    assert len(kernel_targets) == 4 and kernel_targets[-1] is out2
    assert_conv_close(out2, out, magnitude_bound("convolve", x, np.outer(*kernels)))


# ---------------------------------------------------------------- out= of pool and adaptive_pool
#
# pool and adaptive_pool take out= next. Their checks belong here, on the
# helpers above: `out_array` (layouts), `assert_same_bits`, `_assert_out_refused`
# (wrong shape, dtype, read-only, not an ndarray), with overlaps built as in
# `_overlapping_calls`.


# ---------------------------------------------------------------- the plan cache

def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())


def _mixed_calls(rng):
    """(function, in1, in2, keyword arguments) of calls of many kinds:
    dtypes, layouts, modes, boundaries, thread counts, methods."""
    mk = lambda shape, dtype: make_array(rng, shape, dtype)  # noqa: E731
    conv, corr = fastconv.convolve, fastconv.correlate
    return [
        (conv, mk((16,), "float64"), mk((3,), "float64"), {}),
        (corr, mk((9, 11), "float32"), mk((3, 3), "float32"),
         {"mode": "same", "boundary": "reflect"}),
        (conv, mk((64, 64), "float32"), mk((5, 5), "float32"), {"mode": "same", "workers": 2}),
        (conv, mk((64, 48), "float64"), mk((3, 7), "float64"),
         {"mode": "same", "workers": 2, "boundary": "nearest"}),
        (conv, mk((12, 10), "int16"), mk((4, 3), "int16"), {"mode": "valid", "workers": 1}),
        (corr, mk((64, 64), "int16"), mk((5, 5), "int16"), {"mode": "same", "workers": 2}),
        (corr, mk((8, 9), "complex64"), mk((2, 3), "complex64"),
         {"boundary": "wrap", "mode": "same"}),
        (conv, mk((20,), "uint8"), mk((30,), "uint8"), {"mode": "valid"}),  # inputs swapped
        (conv, mk((5, 6, 7), "float64"), mk((2, 3, 2), "float64"), {"fillvalue": 1.5}),
        (corr, mk((4, 30), "float64"), mk((1, 5), "float64"),
         {"axes": 1, "mode": "same", "boundary": "mirror", "workers": 2}),
        (conv, mk((12, 9), "float64").T, mk((3, 2), "float64"), {"mode": "same", "workers": 1}),
        (conv, mk((7, 7), "bool"), mk((2, 2), "bool"), {"mode": "same", "boundary": "nearest"}),
        (corr, mk((6, 40), "float16"), mk((3, 4), "float16"), {}),
        (conv, mk((10, 10), ">f8"), mk((3, 3), "float64"), {"mode": "same", "method": "direct"}),
        (corr, mk((11, 13), "int64"), mk((3, 3), "int64"),
         {"mode": "same", "boundary": "fill", "fillvalue": -3}),
        (conv, mk((32, 32), "float64"), mk((5, 5), "float64"), {"method": "fft"}),
        (conv, mk((24, 24), "float32"), _separable_kernel(rng, (5, 5), "float32", 1),
         {"method": "separable", "mode": "same", "boundary": "symm"}),
    ]


@pytest.mark.parametrize("maxsize", [None, 3], ids=["default-size", "evicting"])
def test_concurrent_calls_give_the_serial_results(rng, monkeypatch, maxsize):
    if maxsize is not None:
        monkeypatch.setattr(api._plans, "maxsize", maxsize)
    # four sets of inputs alike in all but their values: calls that share a
    # plan compute different results
    calls = [_mixed_calls(rng) for _ in range(4)]
    api._plans.clear()
    expected = [[f(a, b, **kw) for f, a, b, kw in values] for values in calls]
    api._plans.clear()
    nthreads, ncalls = 16, 200
    start = threading.Barrier(nthreads)

    def worker(t):
        bad = []
        start.wait(timeout=60)
        context = fastconv.set_workers(1) if t % 4 == 1 else contextlib.nullcontext()
        values = t // 4  # the four threads running a case at once have different inputs
        with context:
            for i in range(ncalls):
                # four cases at a time, each run by four threads at once
                j = (i // 3 + t % 4 * 5) % len(calls[0])
                f, a, b, kw = calls[values][j]
                if not same_bits(f(a, b, **kw), expected[values][j]):
                    bad.append((t, i, j))
        return bad

    # threads switch often, so that calls interleave everywhere
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with ThreadPoolExecutor(nthreads) as pool:
            results = list(pool.map(worker, range(nthreads)))
    finally:
        sys.setswitchinterval(interval)
    bad = [b for r in results for b in r]
    assert not bad, (f"{len(bad)} of {nthreads * ncalls} results differ "
                     f"(thread, call, case): {bad[:10]}")
    assert 0 < len(api._plans) <= api._plans.maxsize


def test_plan_cache_is_bounded(monkeypatch):
    plans = api._plans
    assert plans.maxsize < 1000
    w = np.array([1.0, -2.0, 1.0])
    for n in range(1, 1001):
        fastconv.convolve(np.arange(float(n)), w, method="direct", workers=1)
        assert len(plans) <= plans.maxsize
    assert len(plans) == plans.maxsize
    # the newest plan is kept, the oldest was dropped
    made = []
    real = direct.plan
    monkeypatch.setattr(direct, "plan", lambda p: made.append(p) or real(p))
    fastconv.convolve(np.arange(1000.0), w, method="direct", workers=1)
    assert not made
    fastconv.convolve(np.arange(1.0), w, method="direct", workers=1)
    assert len(made) == 1 and len(plans) == plans.maxsize


def _int_valued(rng, shape, dtype="float64"):
    """Small integers as `dtype`: every method's sums are exact."""
    return rng.integers(-4, 5, size=shape).astype(dtype)


def _unaligned(a):
    """A copy of `a` at an odd address (not aligned to its itemsize)."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    view = buf[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned
    return view


def _key_variants(rng):
    """(name, op, in1, in2, keyword arguments, whether it needs its own
    plan): calls alike in shapes that differ in one thing each."""
    x, w = _int_valued(rng, (8, 9)), _int_valued(rng, (3, 4))
    x2, w2 = _int_valued(rng, (8, 9)), _int_valued(rng, (3, 4))
    big, bigw = _int_valued(rng, (20, 30)), _int_valued(rng, (7, 9))
    row = _int_valued(rng, (1, 4))
    kw = {"mode": "same", "method": "direct"}
    variants = [
        ("base", "convolve", x, w, kw, True),
        ("other values", "convolve", x2, w2, kw, False),
        ("Fortran in1", "convolve", np.asfortranarray(x2), w, kw, True),
        ("transposed view in1", "convolve", _int_valued(rng, (9, 10)).T[:8], w, kw, True),
        ("sliced view in1", "convolve", big[::2, ::3][:8], w, kw, True),
        ("negative strides in1", "convolve", x2[::-1, ::-1], w, kw, True),
        ("Fortran in2", "convolve", x, np.asfortranarray(w2), kw, True),
        ("sliced view in2", "convolve", x, bigw[::2, ::2], kw, True),
        ("big-endian in1", "convolve", x.astype(">f8"), w, kw, True),
        ("big-endian in2", "convolve", x, w.astype(">f8"), kw, True),
        ("unaligned in1", "convolve", _unaligned(x2), w, kw, True),
        ("unaligned in2", "convolve", x, _unaligned(w2), kw, True),
        ("float32 in1", "convolve", x.astype(np.float32), w, kw, True),
        ("int64 inputs", "convolve", x.astype(np.int64), w.astype(np.int64), kw, True),
        ("correlate", "correlate", x, w, kw, True),
        ("fillvalue 2.5", "convolve", x, w, dict(kw, fillvalue=2.5), True),
        ("fillvalue -1", "convolve", x, w, dict(kw, fillvalue=-1), True),
        ("fillvalue 1", "convolve", x, w, dict(kw, fillvalue=1), True),
        ("fillvalue 1.0", "convolve", x, w, dict(kw, fillvalue=1.0), False),
        ("fillvalue True", "convolve", x, w, dict(kw, fillvalue=True), False),
        ("fillvalue np.float64", "convolve", x, w, dict(kw, fillvalue=np.float64(-2.5)), False),
        ("fillvalue 2**40", "convolve", x.astype(np.int64), w.astype(np.int64),
         dict(kw, fillvalue=2**40 + 3), True),
        ("fillvalue 3 on int64", "convolve", x.astype(np.int64), w.astype(np.int64),
         dict(kw, fillvalue=3), True),
        ("mode full", "convolve", x, w, dict(kw, mode="full"), True),
        ("mode valid", "convolve", x, w, dict(kw, mode="valid"), True),
        ("mode np.str_", "convolve", x, w, dict(kw, mode=np.str_("full")), False),
        ("method auto", "convolve", x, w, dict(kw, method="auto"), False),
        ("method np.str_", "convolve", x, w, dict(kw, method=np.str_("direct")), False),
        ("workers 1", "convolve", x, w, dict(kw, workers=1), False),
        ("workers 2", "convolve", x, w, dict(kw, workers=2), False),
        ("workers np.int64", "convolve", x, w, dict(kw, workers=np.int64(1)), False),
        ("workers -1", "convolve", x, w, dict(kw, workers=-1), False),
        ("axes tuple", "convolve", x, w, dict(kw, axes=(0, 1)), False),
        ("axes list", "convolve", x, w, dict(kw, axes=[0, 1]), False),
        ("axes reversed", "convolve", x, w, dict(kw, axes=(1, -2)), False),
        ("axes 1", "convolve", x, row, dict(kw, axes=1), True),
        ("axes (1,)", "convolve", x, row, dict(kw, axes=(1,)), False),
        ("axes [1]", "convolve", x, row, dict(kw, axes=[1]), False),
        ("axes -1", "convolve", x, row, dict(kw, axes=-1), False),
        ("axes np.int64", "convolve", x, row, dict(kw, axes=np.int64(1)), False),
        ("axes None, one row", "convolve", x, row, kw, False),
    ]
    for boundary in ("fill", "wrap", "symm", "reflect", "mirror", "nearest"):
        variants.append((f"boundary {boundary}", "convolve", x, w,
                         dict(kw, boundary=boundary, fillvalue=1.5), boundary != "reflect"))
    return variants


def _reference_of(op, in1, in2, kw):
    ref = reference_convolve if op == "convolve" else reference_correlate
    axes = kw.get("axes")
    return ref(in1, in2, str(kw.get("mode", "full")),
               axes=None if axes is None else [int(a) for a in np.atleast_1d(axes)],
               boundary=kw.get("boundary", "fill"), fillvalue=kw.get("fillvalue", 0))


def test_a_cached_plan_serves_only_calls_alike_in_all_that_matters(rng):
    variants = _key_variants(rng)
    fresh = {}
    for name, op, in1, in2, kw, _ in variants:
        api._plans.clear()
        fresh[name] = getattr(fastconv, op)(in1, in2, **kw)
        assert_conv_close(fresh[name], _reference_of(op, in1, in2, kw), err_msg=name)
    api._plans.clear()
    # every call after all the others (each pair, one way), then all again from the cache
    seen = set()
    for name, op, in1, in2, kw, own_plan in variants + variants[::-1]:
        before = len(api._plans)
        got = getattr(fastconv, op)(in1, in2, **kw)
        assert same_bits(got, fresh[name]), name
        if own_plan and name not in seen:
            assert len(api._plans) == before + 1, f"{name} reused another call's plan"
        seen.add(name)


def test_plans_follow_the_simd_level(rng):
    x, w = _int_valued(rng, (37, 70)), _int_valued(rng, (3, 5))
    expected = reference_convolve(x, w, "same", boundary="reflect")

    def call():
        return fastconv.convolve(x, w, "same", boundary="reflect", method="direct")

    assert_same_bits(call(), expected)
    [(first_key, first_plan)] = api._plans._plans.items()
    previous = _direct.set_simd_level("baseline")
    try:
        assert_same_bits(call(), expected)
        assert len(api._plans) == 2
        # a plan of its own, made with the kernels of the new level
        [plan] = [p for k, p in api._plans._plans.items() if k != first_key]
        assert plan is not first_plan
        assert_same_bits(call(), expected)
        assert len(api._plans) == 2
    finally:
        _direct.set_simd_level(previous)
    assert_same_bits(call(), expected)
    assert len(api._plans) == 3


# ---------------------------------------------------------------- the fast path validates

def _with(**changes):
    """A variant of the base call: its inputs and arguments with `changes`
    (``in1``, ``in2`` as functions of the base inputs)."""
    def make(x, w, kw):
        in1 = changes.get("in1", lambda x: x)(x)
        in2 = changes.get("in2", lambda w: w)(w)
        return in1, in2, dict(kw, **{k: v for k, v in changes.items() if k not in ("in1", "in2")})
    return make


def _read_only_zeros(shape, dtype=np.float64):
    return _read_only(np.zeros(shape, dtype))


_BASE_SHAPE, _BASE_KERNEL = (6, 7), (1, 3)
# (name, arguments of the valid call cached first, the invalid variant of it)
INVALID_AFTER_CACHED = [
    ("mode='fulll'", {}, _with(mode="fulll")),
    ("mode='SAME'", {}, _with(mode="SAME")),
    ("mode=b'same'", {}, _with(mode=b"same")),
    ("mode=None", {}, _with(mode=None)),
    ("method='dirct'", {}, _with(method="dirct")),
    ("method=b'direct'", {}, _with(method=b"direct")),
    ("boundary='filll'", {}, _with(boundary="filll")),
    ("boundary='symmetric'", {}, _with(boundary="symmetric")),
    ("boundary=b'reflect'", {}, _with(boundary=b"reflect")),
    ("object in1", {}, _with(in1=lambda x: x.astype(object))),
    ("str in1", {}, _with(in1=lambda x: x.astype(str))),
    ("datetime in1", {}, _with(in1=lambda x: x.astype(np.int64).astype("M8[s]"))),
    ("timedelta in2", {}, _with(in2=lambda w: w.astype(np.int64).astype("m8[s]"))),
    ("object in2", {}, _with(in2=lambda w: w.astype(object))),
    ("list of str in1", {}, _with(in1=lambda x: x.astype(str).tolist())),
    ("ragged list in1", {}, _with(in1=lambda x: [[1.0, 2.0], [3.0]])),
    ("in1 of fewer dimensions", {}, _with(in1=lambda x: x[0])),
    ("empty in1", {}, _with(in1=lambda x: x[:0])),
    ("empty in2", {}, _with(in2=lambda w: w[:, :0])),
    ("valid, no containment", {"mode": "valid"},
     _with(mode="valid", in2=lambda w: np.ones((7, 2)))),
    ("shapes not broadcasting", {"axes": 1}, _with(axes=1, in2=lambda w: np.ones((2, 3)))),
    ("axes=(1, 1)", {"axes": 1}, _with(axes=(1, 1))),
    ("axes=2", {"axes": 1}, _with(axes=2)),
    ("axes=[]", {"axes": 1}, _with(axes=[])),
    ("axes=True", {"axes": 1}, _with(axes=True)),
    ("axes=(True,)", {"axes": 1}, _with(axes=(True,))),
    ("axes=1.0", {"axes": 1}, _with(axes=1.0)),
    ("axes='1'", {"axes": 1}, _with(axes="1")),
    ("workers=0", {"workers": 1}, _with(workers=0)),
    ("workers=-1000", {"workers": 1}, _with(workers=-1000)),
    ("workers=1.0", {"workers": 1}, _with(workers=1.0)),
    ("workers=True", {"workers": 1}, _with(workers=True)),
    ("workers='1'", {"workers": 1}, _with(workers="1")),
    ("fillvalue='1'", {"fillvalue": 1}, _with(fillvalue="1")),
    ("fillvalue=[1, 2]", {"fillvalue": 1}, _with(fillvalue=[1, 2])),
    ("fillvalue=1j", {"fillvalue": 1}, _with(fillvalue=1j)),
    ("fillvalue=None", {"fillvalue": 1}, _with(fillvalue=None)),
    ("fillvalue=nan, int inputs", {"fillvalue": 1.0},
     _with(fillvalue=float("nan"), in1=lambda x: x.astype(np.int16),
           in2=lambda w: w.astype(np.int16))),
    ("read-only out of the wrong shape", {}, _with(out=_read_only_zeros((7, 6)))),
    ("read-only out", {}, _with(out=_read_only_zeros(_BASE_SHAPE))),
    ("out of the wrong dtype", {}, _with(out=np.zeros(_BASE_SHAPE, np.float32))),
    ("out of the wrong shape", {}, _with(out=np.zeros((6, 8)))),
    ("out a list", {}, _with(out=np.zeros(_BASE_SHAPE).tolist())),
]


def _error_of(call):
    try:
        call()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError("no error raised")


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("name, cached, variant", INVALID_AFTER_CACHED,
                         ids=[c[0] for c in INVALID_AFTER_CACHED])
def test_invalid_variants_of_a_cached_call_raise_as_uncached(rng, op, name, cached, variant):
    f = getattr(fastconv, op)
    x, w = _int_valued(rng, _BASE_SHAPE), _int_valued(rng, _BASE_KERNEL)
    base = dict({"mode": "same", "method": "direct", "boundary": "reflect"}, **cached)
    in1, in2, kw = variant(x, w, base)
    uncached = _error_of(lambda: f(in1, in2, **kw))
    expected = f(x, w, **base)
    assert len(api._plans) == 1  # the valid twin is cached
    assert _error_of(lambda: f(in1, in2, **kw)) == uncached
    assert same_bits(f(x, w, **base), expected)
    # lists take the validating road and give the same result
    assert same_bits(f(x.tolist(), w.tolist(), **base), expected)
