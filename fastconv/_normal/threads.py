"""Thread-count policy: the `workers` argument, `set_workers`, `get_workers`."""

import contextlib
import operator
import os
import threading

from .._kernels import _calls

__all__ = ["set_workers", "get_workers"]

class _Defaults(threading.local):
    # a class attribute: reading an unset per-thread value costs no
    # AttributeError (microseconds, on every call)
    workers = None


_local = _Defaults()
_cpus = []


def _usable_cpus():
    """CPUs this process may run on, read once: small calls cannot afford the
    system call each time (the affinity of a running process rarely changes)."""
    if not _cpus:
        try:
            _cpus.append(len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
            _cpus.append(os.cpu_count() or 1)
    return _cpus[0]


def _normalize_workers(workers):
    """Validate a `workers` value (not None) and return a positive thread count.

    A positive value above the number of usable CPUs is capped at it: more
    threads than cores only add switching (``scipy.fft`` and OpenMP runtimes
    cap them the same way), and the compiled kernels take a C ``int``.
    """
    if isinstance(workers, bool):
        raise TypeError(f"workers must be an integer or None, got {workers!r}")
    try:
        value = operator.index(workers)
    except TypeError:
        raise TypeError(
            f"workers must be an integer or None, got {type(workers).__name__} {workers!r}"
        ) from None
    if value == 0:
        raise ValueError("workers must not be 0 (use 1 for serial execution)")
    if value < 0:
        ncpu = _usable_cpus()
        resolved = ncpu + 1 + value
        if resolved < 1:
            raise ValueError(
                f"workers={value} is below -{ncpu}, the negative of the number of usable CPUs"
            )
        return resolved
    return min(value, _usable_cpus())


def resolve_workers(workers):
    """Thread count for a call given its `workers` argument."""
    if workers is None:
        default = _local.workers
        if default is not None:
            return default
        # OpenMP's limit for this thread (OMP_NUM_THREADS, threadpoolctl)
        return _calls.default_threads(_cpus[0] if _cpus else _usable_cpus())
    return _normalize_workers(workers)


def get_workers():
    """Return the number of threads a call with ``workers=None`` uses.

    This is the value set by the innermost active `set_workers` in the calling
    thread, or else the OpenMP thread limit of the calling thread, which
    honours ``OMP_NUM_THREADS`` and `threadpoolctl` limits; either way
    capped at the number of CPUs this process may run on.

    Returns
    -------
    int
        Number of threads.

    See Also
    --------
    set_workers

    Examples
    --------
    >>> import fastconv
    >>> with fastconv.set_workers(1):
    ...     fastconv.get_workers()
    1
    """
    return resolve_workers(None)


@contextlib.contextmanager
def set_workers(workers):
    """Context manager for the default number of threads in the calling thread.

    Parameters
    ----------
    workers : int
        Threads used by fastconv calls made with ``workers=None`` inside the
        ``with`` block, in this thread only.  Negative values count back from
        the number of usable CPUs (``-1`` means all of them), as in
        `scipy.fft.set_workers`; values above the number of usable CPUs are
        capped at it.

    Raises
    ------
    ValueError
        If `workers` is 0 or below minus the number of usable CPUs.
    TypeError
        If `workers` is not an integer.

    See Also
    --------
    get_workers

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.ones((64, 64))
    >>> with fastconv.set_workers(1):
    ...     y = fastconv.convolve(x, np.ones((3, 3)), mode='same')
    >>> float(y[10, 10])
    9.0
    """
    if workers is None:
        raise TypeError("workers must be an integer, got None")
    new = _normalize_workers(workers)
    old = _local.workers
    _local.workers = new
    try:
        yield
    finally:
        _local.workers = old
