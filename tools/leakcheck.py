#!/usr/bin/env python3
"""Memory-leak check: call every public function many times, watch resident memory.

Each case (a public function with one set of arguments: every convolution
method, every pooling op, indices, adaptive pooling, the method chooser) is
called ``--warmup`` times (caches, plan pools and allocator arenas fill up),
then ``--calls`` times more; over the second run the resident set must grow
by less than ``--bound`` KiB (a leak of 100 bytes per call shows up as 1 MB
over 10,000 calls, well above the allocator's noise of a few pages), and
the number of memory blocks Python has allocated by less than one per 10
calls (a leaked reference leaves at least one per call, however small).

Run it against an installed fastconv, from outside the source tree::

    python tools/leakcheck.py            # 10,000 calls per case
    python tools/leakcheck.py --calls 2000 --only pool

Exits 1 when a case grows beyond the bound. Linux only (/proc/self/statm).
"""

import argparse
import gc
import os
import sys
import time

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# A case may leave one more live Python memory block per this many calls,
# and at least _MIN_BLOCKS: after the warm-up, caches, free lists and dict
# resizes still add a few tens to a few hundred blocks (measured: the FFT
# method's first 1000 calls after 500 add 127, the next 1000 add 49). A
# reference leak leaves one or more per call.
_CALLS_PER_BLOCK = 10
_MIN_BLOCKS = 200


def resident_bytes():
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cases():
    """(name, function of no arguments) for every public entry point."""
    import fastconv

    rng = np.random.default_rng(0)
    x2 = rng.standard_normal((24, 20))
    x2f = x2.astype(np.float32)
    x2c = (x2 + 1j * rng.standard_normal(x2.shape)).astype(np.complex64)
    x2i = rng.integers(-50, 50, size=(24, 20)).astype(np.int16)
    x1 = rng.standard_normal(200)
    k2 = rng.standard_normal((3, 4))
    ksep = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
    k1 = rng.standard_normal(9)
    xp = rng.standard_normal((2, 3, 17, 19)).astype(np.float32)
    xpi = rng.integers(-100, 100, size=(3, 17, 19)).astype(np.int32)
    weights = np.abs(rng.standard_normal((3, 3))) + 0.1

    out = []
    for method in ("auto", "direct", "fft", "im2col"):
        out.append((f"convolve {method}",
                    lambda m=method: fastconv.convolve(x2, k2, "same", method=m)))
        out.append((f"correlate {method} float32 reflect",
                    lambda m=method: fastconv.correlate(x2f, k2.astype(np.float32), "full",
                                                        method=m, boundary="reflect")))
    out += [
        ("convolve separable", lambda: fastconv.convolve(x2, ksep, "same", method="separable")),
        ("convolve direct complex64 wrap",
         lambda: fastconv.convolve(x2c, k2.astype(np.complex64), "same", method="direct",
                                   boundary="wrap")),
        ("convolve direct int16 fill",
         lambda: fastconv.convolve(x2i, np.ones((3, 3), np.int16), "valid", method="direct",
                                   fillvalue=3)),
        ("convolve fft 1-D", lambda: fastconv.convolve(x1, k1, "full", method="fft")),
        ("convolve batch axes", lambda: fastconv.convolve(xp, k2[None, None].astype(np.float32),
                                                          "same", axes=(2, 3))),
        ("choose_conv_method", lambda: fastconv.choose_conv_method(x2, k2, "same")),
        ("convolve_separable",
         lambda: fastconv.convolve_separable(x2, [[1.0, 2.0, 1.0], [1.0, 0.0, -1.0]], "same",
                                             boundary="nearest")),
    ]
    for op in ("max", "min", "mean", "sum", "lp"):
        out.append((f"pool {op}", lambda o=op: fastconv.pool(xp, 3, 2, o, axes=(2, 3),
                                                             padding=1)))
        out.append((f"pool {op} int32", lambda o=op: fastconv.pool(xpi, (2, 3), op=o,
                                                                   axes=(1, 2))))
        out.append((f"adaptive_pool {op}",
                    lambda o=op: fastconv.adaptive_pool(xp, (5, 7), o, axes=(2, 3))))
    out += [
        ("pool weighted", lambda: fastconv.pool(xp, 3, 1, "weighted", axes=(2, 3),
                                                weights=weights)),
        ("pool max return_indices",
         lambda: fastconv.pool(xp, 3, 2, "max", axes=(2, 3), padding=1, return_indices=True)),
        ("pool min return_indices int32",
         lambda: fastconv.pool(xpi, 2, op="min", axes=(1, 2), return_indices=True)),
        ("pool max large window (van Herk)",
         lambda: fastconv.pool(x2, 9, 1, "max", padding=4)),
    ]
    import fastconv.nn as nn

    xl = rng.standard_normal((2, 4, 12, 13)).astype(np.float32)
    wl = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    bl = rng.standard_normal(6).astype(np.float32)
    for method in ("auto",) + nn.METHODS:
        out.append((f"nn.conv2d {method}",
                    lambda m=method: nn.conv2d(xl, wl, bl, 1, 1, 1, 2, method=m)))
    out += [
        ("nn.conv strided reflect",
         lambda: nn.conv(xl, wl, bl, stride=2, padding=2, dilation=2, groups=2,
                         padding_mode="reflect")),
        ("nn.conv1d fft", lambda: nn.conv1d(xl[:, :, 0], wl[:, :, 0], None, 1, "same", 1, 2,
                                            method="fft")),
        ("nn.choose_method", lambda: nn.choose_method(xl, wl, bl, padding=1, groups=2)),
    ]
    return out


def check(calls=10_000, warmup=1000, bound_kib=1024, only=None, stream=sys.stdout,
          case_list=None):
    """Run every case; return the list of (name, growth in bytes, growth in blocks) that leak.

    A case leaks when the resident set grows by more than `bound_kib` KiB, or
    the memory blocks Python has allocated (``sys.getallocatedblocks``) by
    one for every `_CALLS_PER_BLOCK` calls or more: a reference leak too
    small to show in the resident set within `calls` calls.
    """
    failures = []
    selected = [(name, fn) for name, fn in (case_list or cases())
                if only is None or only in name]
    if not selected:
        raise SystemExit(f"no case matches {only!r}")
    block_bound = max(calls // _CALLS_PER_BLOCK, _MIN_BLOCKS)
    for name, fn in selected:
        for _ in range(warmup):
            fn()
        gc.collect()
        before, blocks_before = resident_bytes(), sys.getallocatedblocks()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        gc.collect()
        growth = resident_bytes() - before
        blocks = sys.getallocatedblocks() - blocks_before
        leaks = growth > bound_kib * 1024 or blocks > block_bound
        print(f"{'LEAKS' if leaks else 'ok':5} {name:40} {growth / 1024:+7.0f} KiB "
              f"{blocks:+7d} blocks after {calls} calls ({time.perf_counter() - t0:.1f} s)",
              file=stream, flush=True)
        if leaks:
            failures.append((name, growth, blocks))
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls per case measured")
    parser.add_argument("--warmup", type=int, default=1000, help="calls per case before")
    parser.add_argument("--bound", type=int, default=1024,
                        help="largest resident-memory growth allowed per case, KiB")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    failures = check(args.calls, args.warmup, args.bound, args.only)
    print(f"{len(failures)} case(s) leak ({time.perf_counter() - t0:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
