"""CNN layers: ``fastconv.nn`` beside ``torch.nn.functional.conv1d/2d/3d``.

The layers of ``benchmarks/compare_nn.py`` (the convolution-layer issue),
forward, float32, NCHW (channels first), with a bias, on the thread count
fastconv uses by default (`fastconv.get_workers`; PyTorch gets
``torch.set_num_threads`` of the same). compare_nn.py times all ten layers
of the issue's table and a tiny one, checks every output against a float64
reference and prints the goals; this suite only times, and only a few of the
layers (one or two per family), so that ``asv run --quick`` stays short:

* small kernels: 3x3 stride 1 (Winograd's layer), 7x7 stride 2 on an RGB
  image, 1x1 (one GEMM per image);
* depthwise 3x3 (groups == channels);
* a large kernel, 31x31 (the FFT's layer);
* call overhead: a tiny layer, (1, 4, 8, 8) -> 4, 3x3.

Peers: ``fastconv`` (``fastconv.nn.conv1d/2d/3d`` with ``method='auto'``),
``fastconv_out`` (the same writing into a preallocated ``out=``) and
``torch`` (the PyTorch function of the same name, on tensors made once by
``torch.from_numpy``, under ``torch.no_grad()``); `NNMethod` times every
explicit method of ``fastconv.nn.METHODS`` on the same layers.

Combinations that cannot run raise NotImplementedError in ``setup``, which
asv reports as skipped (n/a): PyTorch when it is not installed (it is
imported only in the PyTorch peers' setup, lazily), fastconv
when this fastconv has no ``nn`` (older commits), a method that refuses the
layer (``ValueError`` naming ``method``) or that this fastconv lacks. Each
``setup`` ends with untimed calls (about 50 ms, at least one), as the other
suites do.
"""

import contextlib
import sys
from typing import NamedTuple, Optional

import numpy as np

import fastconv

from .common import flops, preallocated, safe_import, warm_up
from .small import Peer, peer_threads, torch_or_none

nn = safe_import("fastconv.nn")

THREADS = fastconv.get_workers()

# the explicit methods timed by NNMethod, where this fastconv has them
NN_METHODS = ("direct", "gemm", "winograd", "fft")


class Layer(NamedTuple):
    """One convolution layer: input shape, output channels, kernel, geometry.

    `torch_ms` is PyTorch's time as the issue measured it (2 threads) and
    `goal` the ratio PyTorch time / fastconv time it asks for; None where it
    gives none.
    """

    title: str
    x: tuple
    c_out: int
    k: tuple
    stride: int = 1
    padding: int = 0
    groups: int = 1
    torch_ms: Optional[float] = None
    goal: Optional[float] = None

    @property
    def weight(self):
        """The weight's shape, (C_out, C_in // groups, *k)."""
        return (self.c_out, self.x[1] // self.groups) + self.k

    @property
    def out(self):
        """The output's shape, (N, C_out, *spatial): PyTorch's size rule."""
        spatial = tuple((n + 2 * self.padding - k) // self.stride + 1
                        for n, k in zip(self.x[2:], self.k))
        return (self.x[0], self.c_out) + spatial

    @property
    def flops(self):
        """2 * N * C_out * output positions * C_in / groups * prod(k)."""
        return flops(self.x, self.weight[1:], self.out)


# The table, in its order, then the call-overhead layer. The two
# depthwise layers say no padding there; they are padded to keep the map's
# size, as depthwise layers are in networks (MobileNet).
LAYERS = {
    "conv3x3_c64_56": Layer("(8, 64, 56, 56) -> 64, 3x3, pad 1",
                            (8, 64, 56, 56), 64, (3, 3), padding=1, torch_ms=8.1, goal=1.5),
    "conv3x3_c256_14": Layer("(8, 256, 14, 14) -> 256, 3x3, pad 1",
                             (8, 256, 14, 14), 256, (3, 3), padding=1, torch_ms=6.3, goal=1.3),
    "conv3x3_c64_112": Layer("(1, 64, 112, 112) -> 64, 3x3, pad 1",
                             (1, 64, 112, 112), 64, (3, 3), padding=1, torch_ms=5.2, goal=1.3),
    "conv7x7_s2_c3_224": Layer("(8, 3, 224, 224) -> 64, 7x7, stride 2, pad 3",
                               (8, 3, 224, 224), 64, (7, 7), stride=2, padding=3,
                               torch_ms=20.9, goal=1.5),
    "conv1x1_c64to256_56": Layer("(8, 64, 56, 56) -> 256, 1x1",
                                 (8, 64, 56, 56), 256, (1, 1), torch_ms=22.3, goal=3),
    "dw3x3_c64_56": Layer("depthwise (8, 64, 56, 56), 3x3, groups 64, pad 1",
                          (8, 64, 56, 56), 64, (3, 3), padding=1, groups=64,
                          torch_ms=1.23, goal=1.5),
    "conv3d_c16_32": Layer("(2, 16, 32, 32, 32) -> 16, 3x3x3, pad 1",
                           (2, 16, 32, 32, 32), 16, (3, 3, 3), padding=1, torch_ms=4.3,
                           goal=1.2),
    "conv31x31_c16_256": Layer("(1, 16, 256, 256) -> 16, 31x31, pad 15",
                               (1, 16, 256, 256), 16, (31, 31), padding=15, torch_ms=616,
                               goal=20),
    "dw31x31_c64_64": Layer("depthwise (1, 64, 64, 64), 31x31, groups 64, pad 15",
                            (1, 64, 64, 64), 64, (31, 31), padding=15, groups=64,
                            torch_ms=124, goal=20),
    "conv1d_k1024_c32": Layer("conv1d (8, 32, 16000) -> 32, k = 1024, pad 512",
                              (8, 32, 16000), 32, (1024,), padding=512, torch_ms=2800,
                              goal=30),
    "tiny": Layer("tiny (1, 4, 8, 8) -> 4, 3x3, pad 1: call overhead",
                  (1, 4, 8, 8), 4, (3, 3), padding=1),
}
TABLE = [name for name in LAYERS if name != "tiny"]  # the table
TINY_GOAL_S = 15e-6  # fastconv's time per call on the tiny layer


def layer_data(layer, seed=1234):
    """Seeded standard-normal float32 input, weight and bias of `layer`."""
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(layer.x, dtype=np.float32),
            "weight": rng.standard_normal(layer.weight, dtype=np.float32),
            "bias": rng.standard_normal(layer.c_out, dtype=np.float32)}


def _positional(layer, data):
    """PyTorch's positional arguments (input, weight, bias, stride, padding, dilation, groups)."""
    return (data["x"], data["weight"], data["bias"], layer.stride, layer.padding, 1,
            layer.groups)


def fastconv_function(layer):
    """``fastconv.nn.conv1d``, ``conv2d`` or ``conv3d``, by the layer's dimensions."""
    return getattr(nn, f"conv{len(layer.k)}d")


def peer_label(layer, peer):
    """The row name of `peer` ('fastconv', 'fastconv_out', 'fastconv_<method>', 'torch')."""
    fn = f"conv{len(layer.k)}d"
    if peer == "fastconv":
        return f"fastconv.nn.{fn}"
    if peer == "fastconv_out":
        return f"fastconv.nn.{fn} out="
    if peer == "torch":
        return f"torch {fn}"
    return f"fastconv.nn.{fn} method='{peer[len('fastconv_'):]}'"


def layer_peers(layer, data, threads, methods=(), with_torch=True):
    """{peer: Peer} of `layer` on `data`, those that can run here.

    'fastconv' (``method='auto'``), 'fastconv_out' (into a preallocated
    array, which is what its `view` returns for the check), 'fastconv_<m>'
    for every method `m` of `methods` (a method that refuses the layer
    raises ValueError when called) and 'torch' (tensors sharing the arrays'
    memory, made here; its result is a tensor, its `view` the array). Run
    the calls in `layer_context`.
    """
    peers = {}
    args = _positional(layer, data)
    if nn is not None:
        fn = fastconv_function(layer)
        out = preallocated(layer.out, np.float32)
        peers["fastconv"] = Peer(lambda: fn(*args, workers=threads), None)
        peers["fastconv_out"] = Peer(lambda: fn(*args, workers=threads, out=out), None,
                                     lambda r: out)
        for m in methods:
            peers[f"fastconv_{m}"] = Peer(
                lambda m=m: fn(*args, method=m, workers=threads), None)
    torch = torch_or_none() if with_torch else None
    if torch is not None:
        f = getattr(torch.nn.functional, f"conv{len(layer.k)}d")
        targs = tuple(torch.from_numpy(a) for a in args[:3]) + args[3:]
        peers["torch"] = Peer(lambda: f(*targs), None, lambda r: r.numpy())
    return peers


@contextlib.contextmanager
def layer_context(threads):
    """Every peer on `threads` threads, and PyTorch in ``torch.no_grad()``.

    Entered once around the timed calls, so that the tiny layer's figure
    does not include entering the context on every call.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(peer_threads(threads))
        torch = sys.modules.get("torch")  # loaded by the PyTorch peers only
        if torch is not None:
            stack.enter_context(torch.no_grad())
        yield


def method_refused(peer, exc):
    """Whether `exc`, raised by `peer`'s call, is a method refusing a layer.

    A method that cannot run a call raises ValueError naming ``method``;
    any other error is a failure to report.
    """
    return (isinstance(exc, ValueError) and peer.startswith("fastconv_")
            and peer != "fastconv_out" and "method" in str(exc))


def available_methods():
    """The names in `NN_METHODS` that this fastconv's ``nn.METHODS`` has."""
    return tuple(m for m in NN_METHODS if nn is not None and m in nn.METHODS)


class _LayerCall:
    """Times one peer on one layer; `params` lists the layers of the group."""

    param_names = ["layer", "peer"]
    warm_seconds = 0.05
    timeout = 120

    def setup(self, layer, peer):
        if peer == "torch":
            torch_or_none()  # loaded before the context, which enters no_grad
        self.context = layer_context(THREADS)
        self.context.__enter__()
        try:
            self.call = self._prepared_call(layer, peer)
        except BaseException:
            self.context.__exit__(None, None, None)
            raise

    def _prepared_call(self, layer, peer):
        spec = LAYERS[layer]
        peers = layer_peers(spec, layer_data(spec), THREADS, available_methods(),
                            with_torch=peer == "torch")
        if peer not in peers:
            if peer == "torch":
                raise NotImplementedError("PyTorch not installed")
            if nn is None:
                raise NotImplementedError("this fastconv has no nn")
            raise NotImplementedError(f"this fastconv.nn has no method "
                                      f"{peer[len('fastconv_'):]!r}")
        call = peers[peer].call
        try:
            warm_up(call, seconds=self.warm_seconds, most=10)
        except ValueError as exc:
            if method_refused(peer, exc):
                raise NotImplementedError(f"{peer} refuses {layer}: {exc}") from exc
            raise
        return call

    def teardown(self, layer, peer):
        self.context.__exit__(None, None, None)

    def time_layer(self, layer, peer):
        self.call()


PEERS = ["fastconv", "fastconv_out", "torch"]


class NNSmallKernel(_LayerCall):
    """3x3 stride 1, 7x7 stride 2 on RGB, and 1x1 layers, batch 8."""

    params = [["conv3x3_c64_56", "conv7x7_s2_c3_224", "conv1x1_c64to256_56"], PEERS]


class NNDepthwise(_LayerCall):
    """Depthwise 3x3 (groups == C_in == C_out) on (8, 64, 56, 56)."""

    params = [["dw3x3_c64_56"], PEERS]


class NNLargeKernel(_LayerCall):
    """A 31x31 kernel, 16 -> 16 channels on 256x256 (PyTorch: about 0.6 s)."""

    params = [["conv31x31_c16_256"], PEERS]
    timeout = 300


class NNCallOverhead(_LayerCall):
    """(1, 4, 8, 8) -> 4, 3x3, pad 1: the cost of a call (goal <= 15 us)."""

    params = [["tiny"], PEERS]
    warm_seconds = 0.02


class NNMethod(_LayerCall):
    """fastconv with each explicit method on the layers above.

    Skipped where the method refuses the layer or this fastconv lacks it;
    compare a layer's rows to see what ``method='auto'`` leaves on the table.
    """

    params = [["conv3x3_c64_56", "conv7x7_s2_c3_224", "conv1x1_c64to256_56",
               "dw3x3_c64_56", "conv31x31_c16_256", "tiny"], list(NN_METHODS)]
    param_names = ["layer", "method"]
    timeout = 300

    def setup(self, layer, method):
        super().setup(layer, f"fastconv_{method}")

    def teardown(self, layer, method):
        super().teardown(layer, f"fastconv_{method}")

    def time_layer(self, layer, method):
        self.call()
