"""Workspace limit of the im2col method: `set_workspace_limit`, `get_workspace_limit`."""

import operator

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
