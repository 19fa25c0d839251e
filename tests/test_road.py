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
import threading

import numpy as np
import pytest

import fastconv
from fastconv._api import convolve as api
from fastconv._api import separable as api_separable
from fastconv._kernels import _direct
from fastconv._methods import direct
from fastconv._normal import conv as normal
from _helpers import assert_conv_close, fill_for, magnitude_bound, make_array
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
    "_kernels": ("_methods", "_plan", "_normal", "_api"),
    "_methods": ("_plan", "_normal", "_api"),
    "_plan": ("_normal", "_api"),
    "_normal": ("_api", "_plan"),
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
        ("fastconv._pooling", "fastconv._kernels._pool"),              # importlib, literal name
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
        "pkg/_normal/v.py": "import importlib\nimportlib.import_module('.._plan.c', 'pkg._normal')\n",
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
    ("fill", 0), ("fill", -2), ("wrap", 0), ("symm", 0), ("mirror", 0), ("nearest", 0)])
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
