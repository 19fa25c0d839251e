"""Convolution layers of neural networks on NumPy arrays, channels first.

conv          N-D convolution layer: stride, padding (also 'same'),
              dilation, groups, padding_mode, bias
conv1d        the same with ``torch.nn.functional.conv1d``'s signature
conv2d        ... ``conv2d``'s
conv3d        ... ``conv3d``'s
choose_method the method ``method='auto'`` takes, or the fastest measured
METHODS       the values `method` accepts

Results, shapes and dtypes are PyTorch's; the computation runs on
fastconv's compiled methods (direct, gemm, winograd, fft), chosen by its cost model.
"""

from ._layers import METHODS, choose_method, conv, conv1d, conv2d, conv3d

__all__ = ["METHODS", "choose_method", "conv", "conv1d", "conv2d", "conv3d"]
