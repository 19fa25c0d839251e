"""The compiled call-path helpers: layout and pooling keys, overlap bounds, thread default."""

import itertools

import numpy as np
import pytest

import fastconv

from fastconv._kernels import _calls
from fastconv._normal import threads


def _views(base):
    """Views of `base` with every kind of stride and offset."""
    yield base
    yield base[1:]
    yield base[::2]
    yield base[::-1]
    yield base[3:7]
    yield base[7:]
    yield base[:0]
    yield base.reshape(4, 5)[:, 1:3]
    yield base.reshape(4, 5).T
    yield base.reshape(4, 5)[::-2, ::3]
    yield np.lib.stride_tricks.as_strided(base, (3, 4), (0, base.itemsize))
    yield base.view(np.uint8)[3:11]


def test_bounds_overlap_is_may_share_memory():
    base = np.arange(20.0)
    other = np.arange(20.0)
    views = list(_views(base)) + list(_views(other))
    checked = 0
    for a, b in itertools.product(views, repeat=2):
        assert _calls.bounds_overlap(a, b) == np.may_share_memory(a, b), (a.strides, b.strides)
        checked += 1
    assert checked == len(views) ** 2
    # both answers occur, so the comparison can fail either way
    assert _calls.bounds_overlap(base[:5], base[4:])
    assert not _calls.bounds_overlap(base[:5], base[5:])


def test_layout_key_tells_layouts_apart():
    a = np.zeros((4, 6), np.float64)
    same = np.ones((4, 6), np.float64)
    assert _calls.layout_key(a) == _calls.layout_key(same)
    different = [
        a.T, a[:, ::2], a[::-1], a.astype(np.float32), a.astype(">f8"),
        a.reshape(6, 4), a.reshape(24), a.astype(np.int64),
        np.frombuffer(bytearray(8 * 24 + 1), np.float64, 24, 1).reshape(4, 6),  # misaligned
    ]
    keys = [_calls.layout_key(v) for v in different]
    assert _calls.layout_key(a) not in keys
    assert len(set(keys)) == len(keys)


def test_layout_key_of_two_arrays_has_no_ambiguous_split():
    x1, x2 = np.zeros(3), np.zeros((3, 1))
    # (1-D, 2-D) and (2-D, 1-D) must not give the same bytes
    assert _calls.layout_key(x1, x2) != _calls.layout_key(x2, x1)
    assert _calls.layout_key(x1, x2) != _calls.layout_key(x1)
    assert _calls.layout_key(x1, None) == _calls.layout_key(x1)


def test_layout_key_refuses_a_non_array():
    with pytest.raises(TypeError):
        _calls.layout_key([1, 2, 3])
    with pytest.raises(TypeError):
        _calls.layout_key(np.zeros(3), [1, 2])


def test_is_c_contiguous_aligned():
    a = np.zeros((3, 4))
    assert _calls.is_c_contiguous_aligned(a)
    assert not _calls.is_c_contiguous_aligned(a.T)
    misaligned = np.frombuffer(bytearray(8 * 12 + 1), np.float64, 12, 1)
    assert misaligned.flags.c_contiguous and not misaligned.flags.aligned
    assert not _calls.is_c_contiguous_aligned(misaligned)


def test_default_threads_is_capped():
    from fastconv._kernels import _direct
    assert _calls.default_threads(1) == 1
    assert _calls.default_threads(10**6) == _direct.max_threads()
    # with no set_workers in force, a call's default is OpenMP's limit, capped
    assert threads.resolve_workers(None) == min(_direct.max_threads(), threads._usable_cpus())


# int64 has two NumPy type numbers on LP64 platforms (long and long long):
# equal dtypes, which the kernels' checks of their output must accept.
_ALIASES = [np.dtype(c) for c in "lq" if np.dtype(c).itemsize == 8]


@pytest.mark.parametrize("in_code, out_code", [(a.char, b.char) for a in _ALIASES
                                               for b in _ALIASES])
def test_int64_of_either_type_number(in_code, out_code):
    x = np.arange(60).reshape(6, 10).astype(in_code)
    k = np.array([[1, -2, 1]]).astype(in_code)
    expected = x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]
    out = np.empty(expected.shape, out_code)
    assert fastconv.correlate(x, k, "valid", out=out) is out
    np.testing.assert_array_equal(out, expected)
    sep = np.empty((6, 10), out_code)
    fastconv.convolve_separable(x, [np.array([1]).astype(in_code), k[0]], "same", out=sep)
    np.testing.assert_array_equal(sep, fastconv.convolve(x, k, "same"))
    pooled = np.empty((3, 5), out_code)
    assert fastconv.pool(x, 2, out=pooled) is pooled
    np.testing.assert_array_equal(pooled, x.reshape(3, 2, 5, 2).max(axis=(1, 3)))


def test_the_aliases_exist_here():
    # on LP64 Linux both chars are int64 with different type numbers, so the
    # test above mixes them
    assert len({d.num for d in _ALIASES}) == len(_ALIASES) >= 1


def _pool_key(x, size=2, stride=None, op="max", axes=None, padding=0, ceil_mode=False, p=2,
              weights=None, count_include_pad=True, return_indices=False, nthreads=2, simd=0,
              adaptive=False):
    return _calls.pool_key(adaptive, x, size, stride, op, axes, padding, ceil_mode, p, weights,
                           count_include_pad, return_indices, nthreads, simd)


def test_pool_key_tells_calls_apart():
    x = np.zeros((4, 6))
    base = _pool_key(x)
    assert base == _pool_key(np.zeros((4, 6)))
    variants = [
        dict(size=3), dict(size=(2,)), dict(size=(2, 2)), dict(stride=2), dict(stride=(2,)),
        dict(op="min"), dict(op="maxx"), dict(axes=0), dict(axes=(0,)), dict(axes=(0, 1)),
        dict(padding=1), dict(padding=(0,)), dict(ceil_mode=True), dict(p=2.0), dict(p=3),
        dict(count_include_pad=False), dict(return_indices=True), dict(nthreads=1),
        dict(simd=1), dict(adaptive=True), dict(size=-1), dict(size=(2, 0)), dict(size=()),
        dict(axes=()), dict(stride=()),
    ]
    keys = [_pool_key(x, **kw) for kw in variants]
    keys += [_pool_key(x.astype(np.float32)), _pool_key(x.T), _pool_key(x[:, ::2]),
             _pool_key(x.astype(">f8")), _pool_key(x.reshape(6, 4))]
    assert None not in keys
    assert base not in keys
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("kw", [
    dict(size=True), dict(size=(2, True)), dict(size=2.0), dict(size=[2]), dict(size=2**70),
    dict(size=(2, -2**70)), dict(stride=False), dict(axes=True), dict(padding=None),
    dict(padding=np.int64(0)), dict(op=b"max"), dict(op="max\ud800"), dict(op="m" * 16),
    dict(ceil_mode=0), dict(count_include_pad=1), dict(return_indices=None), dict(p=True),
    dict(p=np.float64(2)), dict(p=2**70), dict(weights=np.ones(2)), dict(size=(1,) * 65),
])
def test_pool_key_is_none_for_what_it_cannot_hold(kw):
    assert _pool_key(np.zeros((4, 6)), **kw) is None
    assert _pool_key([[0.0] * 6] * 4) is None


def test_out_fits_only_the_exact_writeable_array():
    f4 = np.dtype(np.float32)
    out = np.empty((2, 3), f4)
    assert _calls.out_fits(out, (2, 3), f4)
    assert _calls.out_fits(out, (2, 3), np.dtype("=f4"))
    read_only = out.copy()
    read_only.flags.writeable = False

    class Sub(np.ndarray):
        pass

    for candidate, shape, dtype in [
        (out, (3, 2), f4), (out, (2, 3, 1), f4), (out, (2,), f4), (out, [2, 3], f4),
        (out, (2, 3.0), f4), (out, (2, 3), np.dtype(np.float64)), (out, (2, 3), "f4"),
        (out.astype(">f4"), (2, 3), f4), (read_only, (2, 3), f4), (out.view(Sub), (2, 3), f4),
        (out.tolist(), (2, 3), f4), (None, (2, 3), f4),
    ]:
        # False only sends check_out to its full checks: they decide
        assert not _calls.out_fits(candidate, shape, dtype)
