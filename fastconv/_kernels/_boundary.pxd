# Boundary rules shared by the compiled kernels (_direct, _im2col): an inline
# function in a .pxd is compiled into every module that cimports it, so no
# C-API has to be exported between extension modules.

cdef enum:
    B_FILL = 0
    B_WRAP = 1
    B_REFLECT = 2
    B_MIRROR = 3
    B_NEAREST = 4


cdef inline Py_ssize_t _ext(Py_ssize_t c, Py_ssize_t n, int bmode) noexcept nogil:
    """Index into [0, n) that boundary mode `bmode` reads for position c; -1 = fill."""
    cdef Py_ssize_t period
    if c >= 0 and c < n:
        return c
    if bmode == B_FILL:
        return -1
    if bmode == B_NEAREST:
        return 0 if c < 0 else n - 1
    if bmode == B_WRAP:
        c = c % n
        return c + n if c < 0 else c
    if bmode == B_REFLECT:
        period = 2 * n
        c = c % period
        if c < 0:
            c += period
        return c if c < n else period - 1 - c
    # mirror: the edge sample is not repeated
    if n == 1:
        return 0
    period = 2 * n - 2
    c = c % period
    if c < 0:
        c += period
    return c if c < n else period - c


cdef inline Py_ssize_t _outer_offset(Py_ssize_t tap, Py_ssize_t pos, Py_ssize_t base,
                                     const Py_ssize_t *n, const Py_ssize_t *k,
                                     const Py_ssize_t *m, const Py_ssize_t *s,
                                     const Py_ssize_t *xs, int L, int bmode,
                                     bint *isfill) noexcept nogil:
    """Element offset of the input read by flat tap `tap` at flat output index `pos`
    over the first `L` axes (C order over k[:L] and m[:L]), plus `base`.

    Sets ``isfill[0]`` when some axis reads the fill value (the offset is then
    meaningless).
    """
    cdef Py_ssize_t off = base, a_d, i_d, c
    cdef int d
    isfill[0] = False
    for d in range(L - 1, -1, -1):
        a_d = tap % k[d]
        tap = tap // k[d]
        i_d = pos % m[d]
        pos = pos // m[d]
        c = _ext(i_d + a_d + s[d], n[d], bmode)
        if c < 0:
            isfill[0] = True
        else:
            off = off + c * xs[d]
    return off
