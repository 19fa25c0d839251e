"""The asv suite collects only the benchmarks it is meant to.

asv treats every module-level callable whose name starts with one of its
prefixes as a benchmark, imported names included; a helper named
``time_...`` is then run with no arguments and fails the CI smoke run.
"""

import ast
import pathlib

import pytest

SUITE = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "benchmarks"
ASV_PREFIXES = ("time_", "timeraw_", "mem_", "peakmem_", "track_")


def _module_level_names(tree):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node.lineno
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.lineno


def _suite_files():
    if not SUITE.is_dir():
        pytest.skip("the benchmarks folder is not next to the tests")
    return sorted(SUITE.glob("*.py"))


def test_suite_has_modules():
    assert any(path.name != "__init__.py" for path in _suite_files())


@pytest.mark.parametrize("path", _suite_files() if SUITE.is_dir() else [],
                         ids=lambda p: p.name)
def test_no_module_level_name_looks_like_a_benchmark(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    stray = [f"{name} (line {line})" for name, line in _module_level_names(tree)
             if name.startswith(ASV_PREFIXES)]
    assert not stray, (f"{path.name}: asv would run these module-level names "
                       f"as benchmarks: {', '.join(stray)}")


def test_the_check_sees_a_stray_helper():
    tree = ast.parse("from .common import time_calls\ndef track_x():\n    pass\n")
    names = [name for name, _ in _module_level_names(tree)]
    assert "time_calls" in names and "track_x" in names
