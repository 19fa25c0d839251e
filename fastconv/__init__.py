"""
fastconv: fast, exact, multithreaded N-dimensional convolution on the CPU
=========================================================================

Convolution and correlation
---------------------------
convolve      N-D convolution, SciPy semantics, boundary extensions, axes
correlate     N-D cross-correlation
convolve_separable  convolution with a kernel given by its 1-D factors

Pooling
-------
pool            max, min, mean, sum, Lp and weighted pooling over N-D windows
adaptive_pool   pooling to a fixed output size

Threads and configuration
-------------------------
set_workers   context manager for the default thread count
get_workers   thread count used when ``workers=None``
show_config   build and runtime configuration
set_workspace_limit  scratch memory allowed to method='im2col'
get_workspace_limit  current im2col scratch memory limit
"""

try:
    from . import _direct  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only from a source tree
    import os as _os

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
from ._config import show_config
from ._convolve import choose_conv_method, convolve, correlate
from ._pooling import adaptive_pool, pool
from ._separable import convolve_separable
from ._threads import get_workers, set_workers
from ._workspace import get_workspace_limit, set_workspace_limit

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
