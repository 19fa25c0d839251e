"""Workspace limit of the im2col method: `set_workspace_limit`, `get_workspace_limit`."""

import math
import operator
import threading

import numpy as np

__all__ = ["get_workspace_limit", "set_workspace_limit"]

DEFAULT_WORKSPACE_LIMIT = 64 * 2**20
# One tile must hold at least a few columns of complex128 samples.
MIN_WORKSPACE_LIMIT = 1024

_limit = DEFAULT_WORKSPACE_LIMIT


def set_workspace_limit(nbytes):
    """Set the most scratch memory the im2col method allocates per call.

    ``method='im2col'`` never lowers the whole input at once: it lowers
    tiles of output positions into a buffer of at most `nbytes` bytes and
    multiplies each tile by the kernels. A smaller limit means more, smaller
    matrix products; results do not depend on it. The setting is global
    (all threads) and lasts until changed.

    Parameters
    ----------
    nbytes : int
        Workspace limit in bytes, at least 1024. The default is 64 MiB.

    Returns
    -------
    int
        The previous limit, so that it can be restored.

    Raises
    ------
    TypeError
        If `nbytes` is not an integer.
    ValueError
        If `nbytes` is below 1024.

    See Also
    --------
    get_workspace_limit

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> previous = fastconv.set_workspace_limit(2**20)
    >>> fastconv.get_workspace_limit()
    1048576
    >>> out = fastconv.convolve(np.ones((64, 64)), np.ones((3, 3)), 'same',
    ...                         method='im2col')
    >>> float(out[10, 10])
    9.0
    >>> fastconv.set_workspace_limit(previous) == 2**20
    True
    """
    global _limit
    if isinstance(nbytes, bool):
        raise TypeError(f"nbytes must be an integer, got {nbytes!r}")
    try:
        value = operator.index(nbytes)
    except TypeError:
        raise TypeError(
            f"nbytes must be an integer, got {type(nbytes).__name__} {nbytes!r}") from None
    if value < MIN_WORKSPACE_LIMIT:
        raise ValueError(f"nbytes must be at least {MIN_WORKSPACE_LIMIT}, got {value}")
    previous, _limit = _limit, value
    return previous


def get_workspace_limit():
    """Return the im2col workspace limit in bytes.

    Returns
    -------
    int
        The most scratch memory one ``method='im2col'`` call allocates for
        its lowered tiles (64 MiB unless changed by `set_workspace_limit`).

    See Also
    --------
    set_workspace_limit

    Examples
    --------
    >>> import fastconv
    >>> fastconv.get_workspace_limit() >= 1024
    True
    """
    return _limit


class ScratchPool:
    """Scratch buffers kept between calls (intermediates of separable passes,
    FFT block buffers and kernel spectra).

    A fresh array costs the operating system's page faults on first touch
    (for tens of MB, more than a fast pass itself); scratch is never
    returned to the caller, so it can be reused. `take` gives a uint8
    buffer of at least `nbytes` bytes, `give` returns it. Thread-safe; holds
    at most `max_bytes` in all.
    """

    def __init__(self, max_bytes=256 * 2**20):
        self._lock = threading.Lock()
        self._free = []
        self._max_bytes = max_bytes

    def take(self, nbytes):
        with self._lock:
            fits = [i for i, b in enumerate(self._free) if b.nbytes >= nbytes]
            if fits:
                best = min(fits, key=lambda i: self._free[i].nbytes)
                return self._free.pop(best)
        return np.empty(max(nbytes, 1), dtype=np.uint8)

    def give(self, buf):
        with self._lock:
            self._free.append(buf)
            self._free.sort(key=lambda b: -b.nbytes)
            while sum(b.nbytes for b in self._free) > self._max_bytes:
                self._free.pop()


scratch = ScratchPool()


def scratch_array(shape, dtype):
    """(array of `shape` and `dtype` on a scratch buffer, the buffer to give back)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = scratch.take(nbytes + dtype.itemsize)
    # aligned to the item size, as NumPy's own arrays are
    start = (-raw.ctypes.data) % dtype.itemsize
    return raw[start:start + nbytes].view(dtype).reshape(shape), raw
