"""SciPy's BLAS on one thread, for code that must not stack thread pools."""

import contextlib
import threading

__all__ = ["serial_blas"]

_blas_libs = None
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


def _scipy_blas():
    """threadpoolctl's controller for the BLAS that cython_blas calls (found once).

    That is the BLAS under SciPy's install folder when there is one (wheels
    bundle their own OpenBLAS), else every BLAS loaded (a shared system BLAS).
    """
    global _blas_libs
    if _blas_libs is None:
        import os

        import scipy
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController().select(user_api="blas")
        root = os.path.dirname(os.path.abspath(scipy.__file__))
        own = [c for c in blas.lib_controllers
               if os.path.abspath(c.filepath).startswith((root + os.sep, root + ".libs"))]
        _blas_libs = blas.select(filepath=[c.filepath for c in own]) if own else blas
    return _blas_libs


@contextlib.contextmanager
def serial_blas():
    """SciPy's BLAS on one thread while the block runs (in every thread).

    The im2col method calls BLAS from its own OpenMP threads, and the small
    SVDs of the separable test are slower with threads than without.

    Reference-counted so that concurrent calls from several Python threads
    restore the original limit only when the last one ends.
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            libs = _scipy_blas()
            if any(c.num_threads != 1 for c in libs.lib_controllers):
                _blas_limiter = libs.limit(limits=1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
