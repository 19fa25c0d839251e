"""`show_config`: how this build of fastconv was made and what it will use."""

import os

from . import _build_info
from ._kernels import _direct
from ._normal.threads import _usable_cpus, get_workers

__all__ = ["show_config"]


def _blas_info():
    try:
        import scipy

        cfg = scipy.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception as exc:  # noqa: BLE001 - informational only
        return f"unavailable ({exc.__class__.__name__})"


def _config_dict():
    return {
        "version": _build_info.version,
        "openmp": _direct.openmp_enabled(),
        "threads (workers=None)": get_workers(),
        "usable CPUs": _usable_cpus(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "compiler": _build_info.compiler,
        "kernel C flags": _build_info.kernel_c_args,
        "SIMD variants compiled": _build_info.simd_variants,
        "SIMD level in use": _direct.simd_level(),
        "BLAS (from SciPy)": _blas_info(),
    }


def show_config():
    """Print how fastconv was built and what it uses on this machine.

    Shows the version, whether the kernels were compiled with OpenMP, the
    number of threads a call uses by default, the compiler and its flags,
    the SIMD instruction set chosen for this CPU, and the BLAS that SciPy
    provides.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.show_config()  # doctest: +ELLIPSIS
    fastconv ...
    """
    info = _config_dict()
    lines = [f"fastconv {info.pop('version')}"]
    width = max(len(key) for key in info)
    for key, value in info.items():
        if isinstance(value, bool):
            value = "yes" if value else "NO (serial build)"
        lines.append(f"  {key:<{width}} : {value}")
    print("\n".join(lines))
