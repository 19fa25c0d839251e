"""The Examples sections of the public docstrings run and print what they show."""

import doctest
import importlib

import numpy as np
import pytest

MODULES = ["fastconv._api.convolve", "fastconv._api.pooling", "fastconv._api.separable",
           "fastconv._normal.threads", "fastconv._config", "fastconv._methods.workspace",
           "fastconv._methods.im2col"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # NumPy 2 prints scalars as np.float64(...); the examples use the array repr
    with np.printoptions(legacy=False):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                 verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
