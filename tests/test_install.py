"""The installed package: compiled modules are what is imported; show_config works."""

import importlib.machinery
import os
import re

import pytest

import fastconv
import fastconv._kernels._direct


def test_direct_is_a_compiled_extension():
    path = fastconv._kernels._direct.__file__
    assert path is not None
    assert any(path.endswith(sfx) for sfx in importlib.machinery.EXTENSION_SUFFIXES), path
    assert os.path.isfile(path)
    spec = fastconv._kernels._direct.__spec__
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)


def test_private_helpers_exist():
    assert isinstance(fastconv._kernels._direct.openmp_enabled(), bool)
    assert isinstance(fastconv._kernels._direct.simd_level(), str)
    n = fastconv._kernels._direct.observed_threads(1)
    assert n == 1


def test_version():
    v = fastconv.__version__
    assert isinstance(v, str)
    assert re.match(r"^\d+\.\d+(\.\d+)?", v), v


def test_public_api():
    for name in ["convolve", "correlate", "set_workers", "get_workers", "show_config"]:
        assert callable(getattr(fastconv, name)), name
        assert name in fastconv.__all__


def test_show_config_prints_version_and_openmp(capsys):
    ret = fastconv.show_config()
    out = capsys.readouterr().out
    assert ret is None
    assert fastconv.__version__ in out
    assert re.search(r"openmp", out, re.IGNORECASE)
    status = "yes" if fastconv._kernels._direct.openmp_enabled() else "no"
    line = next(ln for ln in out.splitlines() if re.search(r"openmp", ln, re.IGNORECASE))
    assert re.search(rf"\b{status}\b", line, re.IGNORECASE), line
    assert fastconv._kernels._direct.simd_level() in out
    assert str(fastconv.get_workers()) in out
    assert re.search(r"blas", out, re.IGNORECASE)


def test_show_config_reflects_set_workers(capsys):
    with fastconv.set_workers(1):
        fastconv.show_config()
    out = capsys.readouterr().out
    line = next(
        (ln for ln in out.splitlines() if re.search(r"thread|worker", ln, re.IGNORECASE)), None
    )
    if line is None:
        pytest.fail(f"show_config() does not print the thread count:\n{out}")
    assert re.search(r"\b1\b", line), line
