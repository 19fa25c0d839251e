"""Small calls, and ``out=`` on a memory-bound call: fastconv beside its peers.

The workloads of ``benchmarks/compare_small.py`` (which also checks that the
outputs agree and prints the speed targets); this suite only times. Every
case is a handful of microseconds, where the Python work of a call (checks,
planning, allocation) costs as much as the arithmetic:

* 1-D 16 ⊛ 3 ``full`` float64: ``fastconv.convolve`` against ``np.convolve``
  and ``scipy.signal.convolve``;
* 64×64 ⊛ 3×3 ``same`` float32: ``fastconv.correlate`` against
  ``cv2.filter2D`` and ``scipy.ndimage.correlate`` (zero fill);
* 280×320 float32, each pixel minus its left neighbour (``[[1, -1]]``,
  ``valid``): ``fastconv.convolve`` against ``cv2.filter2D`` (kernel
  ``[[-1, 1]]`` anchored at its first tap; the last column, which reads the
  border, is not part of the result) and NumPy slicing
  ``x[:, 1:] - x[:, :-1]``;
* ``pool`` of a (1, 8, 8, 8) float32 array, max 2×2 over the last two axes,
  against ``torch.nn.functional.max_pool2d``.

Each has an ``out=`` row where the peer can write into a preallocated array
(fastconv ``out=``, OpenCV ``dst=``, ``scipy.ndimage``'s ``output=``,
``np.subtract(..., out=)``). The memory-bound case is 4096² ⊛ 3×3 float32
``same`` (correlate) with and without ``out=``, beside ``cv2.filter2D``
with ``dst=`` and ``np.copyto`` of the input into the output (reading the
input and writing the output once, the bound such a call can approach).

Every peer runs on the thread count fastconv uses by default
(`fastconv.get_workers`): ``cv2.setNumThreads``, ``torch.set_num_threads``
and ``scipy.fft.set_workers``; NumPy and ``scipy.ndimage`` are
single-threaded. Peers that are not installed (OpenCV, PyTorch), and
fastconv's ``out=`` where this fastconv lacks it, raise NotImplementedError
in ``setup``: asv reports them as skipped (n/a). PyTorch is imported only
by the cases that use it.
"""

import contextlib
import inspect
import sys
from typing import Callable, NamedTuple, Optional

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

import fastconv

from .common import preallocated, safe_import, warm_up

cv2 = safe_import("cv2")

THREADS = fastconv.get_workers()

DIFF_SHAPE = (280, 320)
MEMORY_SHAPE = (4096, 4096)


class Peer(NamedTuple):
    """One way of computing a case.

    `call` takes no argument; `view` maps its result to the array compared
    with the reference (None: the result itself), so that the timed call
    does no extra work; `baseline` names the fastconv row it is compared
    with (None for that row itself).
    """

    call: Callable
    baseline: Optional[str]
    view: Optional[Callable] = None


# case: title, as printed by compare_small.py
SMALL_CASES = {
    "1d_16*3_full": "1-D 16 * 3, full, float64",
    "2d_64^2*3x3_same": "64x64 * 3x3, same, float32 (correlate)",
    "diff_280x320_valid": "280x320 minus the left neighbour ([[1, -1]]), valid, float32",
    "pool_1x8x8x8_2x2": "pool max 2x2 of (1, 8, 8, 8) over axes (2, 3), float32",
}

# case: {peer: label}, the peers it is timed with, fastconv first
CASE_PEERS = {
    "1d_16*3_full": {
        "fastconv": "fastconv.convolve",
        "fastconv_out": "fastconv.convolve out=",
        "numpy": "np.convolve",
        "scipy": "scipy.signal.convolve",
    },
    "2d_64^2*3x3_same": {
        "fastconv": "fastconv.correlate",
        "fastconv_out": "fastconv.correlate out=",
        "cv2": "cv2.filter2D",
        "cv2_dst": "cv2.filter2D dst=",
        "scipy_ndimage": "scipy.ndimage.correlate",
        "scipy_ndimage_output": "scipy.ndimage.correlate output=",
    },
    "diff_280x320_valid": {
        "fastconv": "fastconv.convolve",
        "fastconv_out": "fastconv.convolve out=",
        "cv2": "cv2.filter2D",
        "cv2_dst": "cv2.filter2D dst=",
        "numpy": "x[:, 1:] - x[:, :-1]",
        "numpy_out": "np.subtract(x[:, 1:], x[:, :-1], out=)",
    },
    "pool_1x8x8x8_2x2": {
        "fastconv": "fastconv.pool",
        "fastconv_out": "fastconv.pool out=",
        "torch": "torch max_pool2d",
    },
}
MEMORY_PEERS = {
    "fastconv": "fastconv.correlate",
    "fastconv_out": "fastconv.correlate out=",
    "cv2": "cv2.filter2D",
    "cv2_dst": "cv2.filter2D dst=",
    "copy": "np.copyto(out, x)",
}


def has_out(fn):
    """Whether fastconv function `fn` takes ``out=`` (older versions do not)."""
    return "out" in inspect.signature(fn).parameters


# Thread counts of the `peer_threads` contexts entered, innermost last.
_peer_thread_counts = []


def torch_or_none():
    """PyTorch, imported on first use (it takes seconds), or None; on the
    threads of the innermost `peer_threads` context."""
    torch = safe_import("torch")
    if torch is not None and _peer_thread_counts:
        torch.set_num_threads(_peer_thread_counts[-1])
    return torch


@contextlib.contextmanager
def peer_threads(threads):
    """Every threaded peer on `threads` threads while the context is active.

    OpenCV's and PyTorch's settings are global and stay set afterwards;
    SciPy's FFT workers are restored on exit. PyTorch is not imported here
    (a benchmark of another peer should not pay seconds for it): set now
    if it is loaded, else by `torch_or_none` when a PyTorch peer loads it.
    """
    if cv2 is not None:
        cv2.setNumThreads(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    _peer_thread_counts.append(threads)
    try:
        with scipy.fft.set_workers(threads):
            yield
    finally:
        _peer_thread_counts.pop()


def small_data(case, seed=1234):
    """Seeded inputs of `case`: a dict with 'x' and, for convolutions, 'k'."""
    rng = np.random.default_rng(seed)
    if case == "1d_16*3_full":
        return {"x": rng.standard_normal(16), "k": rng.standard_normal(3)}
    if case == "2d_64^2*3x3_same":
        return {"x": rng.standard_normal((64, 64), dtype=np.float32),
                "k": rng.standard_normal((3, 3), dtype=np.float32)}
    if case == "diff_280x320_valid":
        return {"x": rng.standard_normal(DIFF_SHAPE, dtype=np.float32),
                "k": np.array([[1, -1]], np.float32)}
    if case == "pool_1x8x8x8_2x2":
        return {"x": rng.standard_normal((1, 8, 8, 8), dtype=np.float32)}
    raise ValueError(case)


def small_reference(case, data):
    """The result of `case`, from a slow obvious computation (float64 sums).

    The differences and the max are exact: returned in the input's dtype.
    """
    x = data["x"]
    if case == "pool_1x8x8x8_2x2":
        return x.reshape(1, 8, 4, 2, 4, 2).max(axis=(3, 5))
    x64, k64 = x.astype(np.float64), data["k"].astype(np.float64)
    if case == "1d_16*3_full":
        return scipy.signal.convolve(x64, k64, mode="full", method="direct")
    if case == "2d_64^2*3x3_same":
        return scipy.signal.correlate(x64, k64, mode="same", method="direct")
    if case == "diff_280x320_valid":
        # the difference of two float32 numbers is exact in float64: rounded
        # once, it is what every peer must give exactly
        exact = scipy.signal.convolve(x64, k64, mode="valid", method="direct")
        return exact.astype(x.dtype)
    raise ValueError(case)


def _fastconv_peers(fn, args, kwargs, out_shape, dtype):
    """The 'fastconv' row and, where `fn` takes ``out=``, the 'fastconv_out' row."""
    peers = {"fastconv": Peer(lambda: fn(*args, **kwargs), None)}
    if has_out(fn):
        out = preallocated(out_shape, dtype)
        peers["fastconv_out"] = Peer(lambda: fn(*args, out=out, **kwargs), None)
    return peers


def _cv2_peers(x, k, anchor=(-1, -1), view=None):
    """cv2.filter2D (a correlation, zero border) without and with ``dst=``."""
    if cv2 is None:
        return {}
    dst = preallocated(x.shape, x.dtype)
    border = cv2.BORDER_CONSTANT
    return {
        "cv2": Peer(lambda: cv2.filter2D(x, -1, k, anchor=anchor, borderType=border),
                    "fastconv", view),
        "cv2_dst": Peer(lambda: cv2.filter2D(x, -1, k, dst=dst, anchor=anchor,
                                             borderType=border),
                        "fastconv_out", view),
    }


def small_peers(case, data, with_torch=True):
    """{peer: Peer} for `case` on `data`, those that can run here only."""
    x = data["x"]
    k = data.get("k")
    if case == "1d_16*3_full":
        peers = _fastconv_peers(fastconv.convolve, (x, k), {}, (18,), x.dtype)
        peers["numpy"] = Peer(lambda: np.convolve(x, k), "fastconv")
        peers["scipy"] = Peer(lambda: scipy.signal.convolve(x, k), "fastconv")
        return peers
    if case == "2d_64^2*3x3_same":
        peers = _fastconv_peers(fastconv.correlate, (x, k), {"mode": "same"}, x.shape,
                                x.dtype)
        peers.update(_cv2_peers(x, k))
        output = preallocated(x.shape, x.dtype)
        peers["scipy_ndimage"] = Peer(
            lambda: scipy.ndimage.correlate(x, k, mode="constant", cval=0.0), "fastconv")
        peers["scipy_ndimage_output"] = Peer(
            lambda: scipy.ndimage.correlate(x, k, output=output, mode="constant", cval=0.0),
            "fastconv_out")
        return peers
    if case == "diff_280x320_valid":
        n0, n1 = x.shape
        peers = _fastconv_peers(fastconv.convolve, (x, k), {"mode": "valid"},
                                (n0, n1 - 1), x.dtype)
        # filter2D correlates, anchored at the first tap: dst[i, j] = x[i, j + 1] - x[i, j]
        flipped = np.ascontiguousarray(k[:, ::-1])
        peers.update(_cv2_peers(x, flipped, anchor=(0, 0), view=lambda r: r[:, :-1]))
        diff = preallocated((n0, n1 - 1), x.dtype)
        peers["numpy"] = Peer(lambda: x[:, 1:] - x[:, :-1], "fastconv")
        peers["numpy_out"] = Peer(lambda: np.subtract(x[:, 1:], x[:, :-1], out=diff),
                                  "fastconv_out")
        return peers
    if case == "pool_1x8x8x8_2x2":
        peers = _fastconv_peers(fastconv.pool, (x, 2), {"axes": (2, 3)}, (1, 8, 4, 4),
                                x.dtype)
        torch = torch_or_none() if with_torch else None
        if torch is not None:
            tx = torch.from_numpy(x)
            peers["torch"] = Peer(lambda: torch.nn.functional.max_pool2d(tx, 2),
                                  "fastconv", lambda r: r.numpy())
        return peers
    raise ValueError(case)


def memory_data(seed=1234):
    """Seeded 4096² float32 input and 3×3 kernel of the memory-bound case."""
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(MEMORY_SHAPE, dtype=np.float32),
            "k": rng.standard_normal((3, 3), dtype=np.float32)}


def memory_peers(data):
    """{peer: Peer} of the memory-bound case ('same' correlate, zero fill).

    The preallocated outputs are made (and their pages touched) here, so
    the timed calls with ``out=``/``dst=`` reuse memory already mapped.
    """
    x, k = data["x"], data["k"]
    peers = _fastconv_peers(fastconv.correlate, (x, k), {"mode": "same"}, x.shape, x.dtype)
    peers.update(_cv2_peers(x, k))
    copy = preallocated(x.shape, x.dtype)
    peers["copy"] = Peer(lambda: np.copyto(copy, x), None)
    return peers


class _PeerCall:
    """Times one peer's call, each peer a parameter; `peers` builds them all."""

    param_names = ["peer"]
    warm_seconds = 0.02
    warm_calls = 1000

    def peers(self, peer):
        """{name: Peer} of the case; `peer` is the one to time (PyTorch is
        imported only for its own peers)."""
        raise NotImplementedError

    def setup(self, peer):
        self.threads = peer_threads(THREADS)
        self.threads.__enter__()
        peers = self.peers(peer)
        if peer not in peers:
            self.teardown(peer)
            raise NotImplementedError(f"{peer} cannot run here (not installed, or no out=)")
        self.call = peers[peer].call
        warm_up(self.call, seconds=self.warm_seconds, most=self.warm_calls)

    def teardown(self, peer):
        self.threads.__exit__(None, None, None)

    def time_call(self, peer):
        self.call()


class _SmallCall(_PeerCall):
    """One small case."""

    case = None

    def peers(self, peer):
        return small_peers(self.case, small_data(self.case), with_torch=peer == "torch")


class Convolve1DFull(_SmallCall):
    """1-D 16 ⊛ 3 ``full`` float64."""

    case = "1d_16*3_full"
    params = [list(CASE_PEERS[case])]


class Correlate64Same(_SmallCall):
    """64×64 ⊛ 3×3 ``same`` float32, cross-correlation with zero fill."""

    case = "2d_64^2*3x3_same"
    params = [list(CASE_PEERS[case])]


class DifferenceValid(_SmallCall):
    """280×320 float32 minus its left neighbour (``[[1, -1]]``, ``valid``)."""

    case = "diff_280x320_valid"
    params = [list(CASE_PEERS[case])]


class PoolSmall(_SmallCall):
    """Max 2×2 pooling of a (1, 8, 8, 8) float32 array over axes (2, 3)."""

    case = "pool_1x8x8x8_2x2"
    params = [list(CASE_PEERS[case])]


class MemoryBound(_PeerCall):
    """4096² ⊛ 3×3 float32 ``same`` with and without ``out=``.

    'copy' (``np.copyto`` of the input into a preallocated output) reads the
    input and writes the output once: the bound of a memory-bound call.
    """

    params = [list(MEMORY_PEERS)]
    timeout = 120
    warm_seconds = 0.1
    warm_calls = 3

    def peers(self, peer):
        return memory_peers(memory_data())
