"""im2col method: a bank of kernels over one input, against the direct method.

The workload of the im2col issue: 64 kernels 5x5 over one 512^2 float32
image, broadcast along the first axis (``in1`` (1, 512, 512), ``in2``
(64, 5, 5), ``axes=(1, 2)``, mode 'same'), computed by ``method='im2col'``,
by one broadcast ``method='direct'`` call, by 64 separate direct calls and,
when installed, by ``torch.nn.functional.conv2d``. ``setup`` ends with a few
untimed calls, as the other suites do.
"""

import numpy as np

import fastconv

from .common import n_cpus, safe_import, warm_up

torch = safe_import("torch")

THREADS = min(2, n_cpus())

CASES = {
    "2d_512^2*64x5x5": ((1, 512, 512), (64, 5, 5)),
    "3d_64^3*16x3^3": ((1, 64, 64, 64), (16, 3, 3, 3)),
}
PEERS = ["im2col", "direct broadcast", "direct per kernel", "torch"]


class KernelBank:
    params = (list(CASES), PEERS)
    param_names = ["case", "peer"]

    def setup(self, case, peer):
        shape, kshape = CASES[case]
        rng = np.random.default_rng(11)
        img = rng.standard_normal(shape, dtype=np.float32)
        bank = rng.standard_normal(kshape, dtype=np.float32)
        axes = tuple(range(1, img.ndim))
        if peer == "im2col":
            self.fn = lambda: fastconv.convolve(img, bank, "same", method="im2col", axes=axes,
                                                workers=THREADS)
        elif peer == "direct broadcast":
            self.fn = lambda: fastconv.convolve(img, bank, "same", method="direct", axes=axes,
                                                workers=THREADS)
        elif peer == "direct per kernel":
            self.fn = lambda: [fastconv.convolve(img[0], k, "same", method="direct",
                                                 workers=THREADS) for k in bank]
        else:
            if torch is None:
                raise NotImplementedError("torch is not installed")  # asv: skip
            torch.set_num_threads(THREADS)
            conv = torch.nn.functional.conv2d if img.ndim == 3 else torch.nn.functional.conv3d
            t_img = torch.from_numpy(img[np.newaxis].copy())
            flipped = bank[(slice(None),) + (slice(None, None, -1),) * (img.ndim - 1)]
            t_w = torch.from_numpy(np.ascontiguousarray(flipped[:, np.newaxis]))
            pad = tuple(s // 2 for s in kshape[1:])
            self.fn = lambda: conv(t_img, t_w, padding=pad)
        warm_up(self.fn, 0.05)

    def time_bank(self, case, peer):
        self.fn()
