"""
fastconv: fast, exact, multithreaded N-dimensional convolution on the CPU
=========================================================================

Convolution and correlation
---------------------------
convolve      N-D convolution, SciPy semantics, boundary extensions, axes
correlate     N-D cross-correlation
convolve_separable  convolution with a kernel given by its 1-D factors
choose_conv_method  the method ``method='auto'`` picks, or the fastest measured

Pooling
-------
pool            max, min, mean, sum, Lp and weighted pooling over N-D windows
adaptive_pool   pooling to a fixed output size

CNN layers
----------
fastconv.nn   conv, conv1d, conv2d, conv3d (channels first, PyTorch's results);
              import it as ``import fastconv.nn``

Threads and configuration
-------------------------
set_workers   context manager for the default thread count
get_workers   thread count used when ``workers=None``
show_config   build and runtime configuration
set_workspace_limit  scratch memory allowed to method='im2col'
get_workspace_limit  current im2col scratch memory limit
"""

import os as _os

# Idle OpenMP threads sleep rather than spin (unless the user chose): between
# two parallel loops there is Python code, other libraries' threads (BLAS,
# scipy.fft) and other processes, and on a core shared with any of them a
# spinning thread slows the whole call down many times (measured: 1-D passes
# of a separable kernel 0.9 ms passive, 19 ms spinning on a 2-core machine).
# libgomp reads the variable when it starts, i.e. when _direct loads below.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

try:
    from ._kernels import _direct  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only from a source tree
    _here = _os.path.dirname(_os.path.abspath(__file__))
    raise ImportError(
        f"fastconv's compiled extension modules could not be imported from {_here} "
        f"({exc}).\nIf that folder is the fastconv source tree, Python is importing the "
        "source instead of the installed package (for example because you ran "
        "`python -m ...` or `python -c` from the repository root). Install fastconv with "
        "`pip install .` and run from another directory, or run the tests with plain "
        "`pytest`."
    ) from exc

from ._build_info import version as __version__
from ._api.convolve import choose_conv_method, convolve, correlate
from ._api.separable import convolve_separable
from ._config import show_config
from ._methods.workspace import get_workspace_limit, set_workspace_limit
from ._normal.threads import get_workers, set_workers
from ._api.pooling import adaptive_pool, pool

__all__ = [
    "adaptive_pool",
    "choose_conv_method",
    "convolve",
    "convolve_separable",
    "correlate",
    "get_workers",
    "get_workspace_limit",
    "pool",
    "set_workers",
    "set_workspace_limit",
    "show_config",
    "__version__",
]
