/*
 * Template body, included by direct_simd.c with FC_T (float or double),
 * FC_TS (f32/f64), FC_VEC_BYTES and FC_CBLOCKS defined.
 *
 * Why this vectorises: the accumulators are GCC/Clang vector-extension
 * values (`vector_size`), so every `acc += w * v` is one SIMD FMA (with
 * -ffp-contract=fast) of the width the ISA flags of this translation unit
 * allow; no reliance on the auto-vectoriser.  `fc_taps` is always inlined
 * with compile-time (lo, hi, C), so its loops over output rows and column
 * blocks unroll completely and the FC_ROWS x FC_CBLOCKS accumulators live in
 * registers for the whole tap loop.
 *
 * With AVX-512 and a compile-time tap count up to one vector (3, 5, 7), the
 * tap-shifted input vectors of a row are made with valign from C+1 loads
 * (fc_taps_shift) instead of C unaligned, cache-line-splitting loads per tap:
 * fewer load-port cycles per FMA (7x7: 137 -> 158 GFLOP/s on one core).
 * Single-vector blocks (tails, edge pieces) keep the plain loads: there the
 * extra load and the shuffles cost more than they save (measured).
 */
#define FC_VT FC_CAT(fc_vec_, FC_TS, FC_ISA_SUFFIX)
#define FC_VTU FC_CAT(fc_uvec_, FC_TS, FC_ISA_SUFFIX)
#define FC_FN(name) FC_CAT(name, FC_TS, FC_ISA_SUFFIX)

typedef FC_T FC_VT __attribute__((vector_size(FC_VEC_BYTES)));
/* Same vector with element alignment: dereferencing it is an unaligned load. */
typedef FC_T FC_VTU __attribute__((vector_size(FC_VEC_BYTES), aligned(sizeof(FC_T)), may_alias));

#define FC_NL ((ptrdiff_t)(FC_VEC_BYTES / sizeof(FC_T)))

static inline __attribute__((always_inline)) void
FC_FN(fc_taps)(const int lo, const int hi, const int C, const FC_T *src,
               const FC_T *wr, const int kb, FC_VT acc[FC_ROWS][FC_CBLOCKS])
{
    /* Input row r feeds output rows lo..hi with kernel rows r-lo..r-hi;
       wr points at kernel row r, so output row o uses wr[b - o*kb]. */
    for (int b = 0; b < kb; ++b) {
        FC_VT v[FC_CBLOCKS];
        for (int c = 0; c < C; ++c)
            v[c] = *(const FC_VTU *)(src + b + c * FC_NL);
        for (int o = lo; o <= hi; ++o) {
            /* scalar - zero vector: an exact broadcast the compiler folds (adding
               +0.0 would not be an identity for -0.0). */
            const FC_VT wv = wr[b - o * kb] - (FC_VT){0};
            for (int c = 0; c < C; ++c)
                acc[o][c] += wv * v[c];
        }
    }
}


#if defined(__AVX512F__) && FC_VEC_BYTES == 64
#include <immintrin.h>
/* Elements b .. b+FC_NL-1 of the concatenation lo:hi (one valignd/valignq):
   the tap-shifted input vector made from two loads instead of a fresh
   unaligned load per tap. The switch folds away once b is a constant. */
static inline __attribute__((always_inline)) FC_VT
FC_FN(fc_shift)(const FC_VT lo, const FC_VT hi, const int b)
{
#define FC_SH(B) case B: return (FC_VT)FC_ALIGNR((__m512i)hi, (__m512i)lo, B);
    switch (b) {
    FC_SH(1) FC_SH(2) FC_SH(3) FC_SH(4) FC_SH(5) FC_SH(6) FC_SH(7)
#if FC_NL_CONST > 8
    FC_SH(8) FC_SH(9) FC_SH(10) FC_SH(11) FC_SH(12) FC_SH(13) FC_SH(14) FC_SH(15)
#endif
    default: return lo;
    }
#undef FC_SH
}

static inline __attribute__((always_inline)) void
FC_FN(fc_taps_shift)(const int lo, const int hi, const int C, const FC_T *src,
                     const FC_T *wr, const int kb, FC_VT acc[FC_ROWS][FC_CBLOCKS])
{
    FC_VT V[FC_CBLOCKS + 1];
    for (int c = 0; c < C; ++c)
        V[c] = *(const FC_VTU *)(src + c * FC_NL);
    /* Only kb-1 elements of the last vector are needed: a masked load never
       reads (or faults) past the end of the row. */
    V[C] = (FC_VT)FC_MASKLOAD((FC_MASK_T)((1u << (kb - 1)) - 1u), src + C * FC_NL);
    for (int b = 0; b < kb; ++b) {
        FC_VT v[FC_CBLOCKS];
        for (int c = 0; c < C; ++c)
            v[c] = FC_FN(fc_shift)(V[c], V[c + 1], b);
        for (int o = lo; o <= hi; ++o) {
            const FC_VT wv = wr[b - o * kb] - (FC_VT){0};
            for (int c = 0; c < C; ++c)
                acc[o][c] += wv * v[c];
        }
    }
}
#define FC_HAVE_SHIFT 1
#endif

#if defined(FC_HAVE_SHIFT)
#define FC_TAPS_CASE(LO, HI)                                                   \
    case (LO) * FC_ROWS + (HI):                                                \
        if (SHIFTED && C > 1)                                                 \
            FC_FN(fc_taps_shift)(LO, HI, C, src, wr, kb, acc);                 \
        else                                                                   \
            FC_FN(fc_taps)(LO, HI, C, src, wr, kb, acc);                       \
        break;
#else
#define FC_TAPS_CASE(LO, HI)                                                   \
    case (LO) * FC_ROWS + (HI):                                                \
        FC_FN(fc_taps)(LO, HI, C, src, wr, kb, acc);                           \
        break;
#endif

static inline __attribute__((always_inline)) void
FC_FN(fc_block)(const int C, FC_T **out_rows, const int nrows, FC_T **in_rows,
                const int nplanes, const int ka, const int kb, const FC_T *w,
                const ptrdiff_t j, const int SHIFTED)
{
    FC_VT acc[FC_ROWS][FC_CBLOCKS];
    for (int o = 0; o < FC_ROWS; ++o)
        for (int c = 0; c < C; ++c)
            acc[o][c] = (FC_VT){0};

    const int nrin = nrows + ka - 1;
    for (int p = 0; p < nplanes; ++p) {
        FC_T **rows = in_rows + (ptrdiff_t)p * nrin;
        const FC_T *wp = w + (ptrdiff_t)p * ka * kb;
        /* Unrolled when the row count and ka are compile-time constants (a
           full block of a square kernel, see fc_rows_): (lo, hi) then fold,
           and the switch with its indirect jump per input row goes away. */
#pragma GCC unroll 16
        for (int r = 0; r < nrin; ++r) {
            const int lo = r - ka + 1 > 0 ? r - ka + 1 : 0;
            const int hi = r < nrows - 1 ? r : nrows - 1;
            const FC_T *src = rows[r] + j;
            const FC_T *wr = wp + (ptrdiff_t)r * kb;
            /* One specialised tap loop per (lo, hi): branch-free inner loops. */
            switch (lo * FC_ROWS + hi) {
                FC_TAPS_CASE(0, 0) FC_TAPS_CASE(0, 1) FC_TAPS_CASE(0, 2)
                FC_TAPS_CASE(0, 3) FC_TAPS_CASE(1, 1) FC_TAPS_CASE(1, 2)
                FC_TAPS_CASE(1, 3) FC_TAPS_CASE(2, 2) FC_TAPS_CASE(2, 3)
                FC_TAPS_CASE(3, 3)
#if FC_ROWS > 4
                FC_TAPS_CASE(0, 4) FC_TAPS_CASE(1, 4) FC_TAPS_CASE(2, 4)
                FC_TAPS_CASE(3, 4) FC_TAPS_CASE(4, 4)
#endif
#if FC_ROWS > 5
                FC_TAPS_CASE(0, 5) FC_TAPS_CASE(1, 5) FC_TAPS_CASE(2, 5)
                FC_TAPS_CASE(3, 5) FC_TAPS_CASE(4, 5) FC_TAPS_CASE(5, 5)
#endif
#if FC_ROWS > 6
#error "add the (lo, hi) cases of the taller row block"
#endif
                default: break;
            }
        }
    }
    /* Ordinary stores. Non-temporal stores of these vectors ran 2-4x slower
       on a 2-core Zen 3 (the stores of FC_ROWS rows and several blocks
       interleave, so the write-combining buffers leave with partial lines):
       outputs far larger than the caches are instead computed into staging
       rows and streamed out whole by the caller (_direct.pyx, fc_stream.h). */
    for (int o = 0; o < FC_ROWS; ++o) {
        if (o < nrows) {
            for (int c = 0; c < C; ++c)
                *(FC_VTU *)(out_rows[o] + j + c * FC_NL) = acc[o][c];
        }
    }
}

#if defined(FC_HAVE_SHIFT)
/* Narrow rows (fewer columns than one vector) with AVX-512: one masked
   vector per row, so small images and the channels of small feature maps
   still run at vector speed; masked loads never read (or fault) past the
   `width + kb - 1` samples of an input row. */
static void
FC_FN(fc_narrow)(FC_T **out_rows, int nrows, FC_T **in_rows, int nplanes,
                 int ka, int kb, const FC_T *w, ptrdiff_t width)
{
    const FC_MASK_T mask = (FC_MASK_T)((1u << width) - 1u);
    FC_VT acc[FC_ROWS];
    for (int o = 0; o < FC_ROWS; ++o)
        acc[o] = (FC_VT){0};
    const int nrin = nrows + ka - 1;
    for (int p = 0; p < nplanes; ++p) {
        FC_T **rows = in_rows + (ptrdiff_t)p * nrin;
        const FC_T *wp = w + (ptrdiff_t)p * ka * kb;
        for (int r = 0; r < nrin; ++r) {
            const int lo = r - ka + 1 > 0 ? r - ka + 1 : 0;
            const int hi = r < nrows - 1 ? r : nrows - 1;
            const FC_T *src = rows[r];
            const FC_T *wr = wp + (ptrdiff_t)r * kb;
            for (int b = 0; b < kb; ++b) {
                const FC_VT v = (FC_VT)FC_MASKLOAD(mask, src + b);
                /* every row tested, so the accumulators stay in registers */
                for (int o = 0; o < FC_ROWS; ++o)
                    if (o >= lo && o <= hi)
                        acc[o] += (wr[b - o * kb] - (FC_VT){0}) * v;
            }
        }
    }
    for (int o = 0; o < FC_ROWS; ++o)
        if (o < nrows)
            FC_MASKSTORE(out_rows[o], mask, acc[o]);
}
#else

/* Narrow rows (fewer columns than one vector): plain scalar sums. */
static void
FC_FN(fc_scalar)(FC_T **out_rows, int nrows, FC_T **in_rows, int nplanes,
                 int ka, int kb, const FC_T *w, ptrdiff_t width)
{
    const int nrin = nrows + ka - 1;
    for (int o = 0; o < nrows; ++o) {
        for (ptrdiff_t j = 0; j < width; ++j) {
            FC_T sum = 0;
            for (int p = 0; p < nplanes; ++p)
                for (int a = 0; a < ka; ++a) {
                    const FC_T *src = in_rows[(ptrdiff_t)p * nrin + o + a] + j;
                    const FC_T *wr = w + ((ptrdiff_t)p * ka + a) * kb;
                    for (int b = 0; b < kb; ++b)
                        sum += src[b] * wr[b];
                }
            out_rows[o][j] = sum;
        }
    }
}
#endif

/* One output row from one input row (a kernel of a single row and plane:
   1-D signals, row differences such as [1, -1], the passes of separable
   kernels): a plain loop over column blocks, free of the row-block
   machinery, whose per-row dispatch costs more than such rows' few
   multiply-adds. The same operations in the same order as fc_block, so the
   results are identical. */
static inline __attribute__((always_inline)) void
FC_FN(fc_line)(FC_T *out, const FC_T *in, const FC_T *w, const int kb, ptrdiff_t width)
{
    const ptrdiff_t block = FC_CBLOCKS * FC_NL;
    ptrdiff_t j = 0;
    for (; j + block <= width; j += block) {
        FC_VT acc[FC_CBLOCKS];
        for (int c = 0; c < FC_CBLOCKS; ++c)
            acc[c] = (FC_VT){0};
        for (int b = 0; b < kb; ++b) {
            const FC_VT wv = w[b] - (FC_VT){0};
            for (int c = 0; c < FC_CBLOCKS; ++c)
                acc[c] += wv * *(const FC_VTU *)(in + j + b + c * FC_NL);
        }
        for (int c = 0; c < FC_CBLOCKS; ++c)
            *(FC_VTU *)(out + j + c * FC_NL) = acc[c];
    }
    for (;;) {
        if (j >= width)
            break;
        /* the last partial vector overlaps the previous one (see fc_row_loop) */
        if (j + FC_NL > width)
            j = width - FC_NL;
        FC_VT acc = (FC_VT){0};
        for (int b = 0; b < kb; ++b)
            acc += (w[b] - (FC_VT){0}) * *(const FC_VTU *)(in + j + b);
        *(FC_VTU *)(out + j) = acc;
        j += FC_NL;
    }
}

static void
FC_FN(fc_lines)(FC_T **out_rows, int nrows, FC_T **in_rows, const int kb, const FC_T *w,
                ptrdiff_t width)
{
    switch (kb) {
#define FC_LINE_CASE(K)                                                        \
    case K:                                                                    \
        for (int o = 0; o < nrows; ++o)                                        \
            FC_FN(fc_line)(out_rows[o], in_rows[o], w, K, width);              \
        break;
    FC_LINE_CASE(1) FC_LINE_CASE(2) FC_LINE_CASE(3) FC_LINE_CASE(5) FC_LINE_CASE(7)
#undef FC_LINE_CASE
    default:
        for (int o = 0; o < nrows; ++o)
            FC_FN(fc_line)(out_rows[o], in_rows[o], w, kb, width);
        break;
    }
}

/* The whole row for one tap-column count; `kb` is a compile-time constant
   when the caller below passes a literal, so the tap loops unroll fully. */
static inline __attribute__((always_inline)) void
FC_FN(fc_row_loop)(FC_T **out_rows, int nrows, FC_T **in_rows, int nplanes,
                   int ka, const int kb, const FC_T *w, ptrdiff_t width, const int SHIFTED)
{
    const ptrdiff_t block = FC_CBLOCKS * FC_NL;
    ptrdiff_t j = 0;
    for (; j + block <= width; j += block)
        FC_FN(fc_block)(FC_CBLOCKS, out_rows, nrows, in_rows, nplanes, ka, kb, w, j, SHIFTED);
    for (; j + FC_NL <= width; j += FC_NL)
        FC_FN(fc_block)(1, out_rows, nrows, in_rows, nplanes, ka, kb, w, j, SHIFTED);
    /* The last partial vector overlaps the previous one: those outputs are
       recomputed with the same operations, so they are written unchanged. */
    if (j < width)
        FC_FN(fc_block)(1, out_rows, nrows, in_rows, nplanes, ka, kb, w, width - FC_NL, SHIFTED);
}

void
FC_FN(fc_rows_)(FC_T **out_rows, int nrows, FC_T **in_rows, int nplanes,
                int ka, int kb, const FC_T *w, ptrdiff_t width)
{
    if (width < FC_NL) {
#if defined(FC_HAVE_SHIFT)
        FC_FN(fc_narrow)(out_rows, nrows, in_rows, nplanes, ka, kb, w, width);
#else
        FC_FN(fc_scalar)(out_rows, nrows, in_rows, nplanes, ka, kb, w, width);
#endif
        return;
    }
    if (ka == 1 && nplanes == 1 && kb <= 16) {
        FC_FN(fc_lines)(out_rows, nrows, in_rows, kb, w, width);
        return;
    }
    /* Small kernels are the common case and the most loop-overhead bound:
       constant tap counts let the tap loops unroll. */
    /* Full row blocks of one-plane square kernels (most calls' interior)
       also get constant row counts: see fc_block. */
#define FC_SQUARE(K)                                                           \
    if (nrows == FC_ROWS && nplanes == 1 && ka == (K)) {                       \
        FC_FN(fc_row_loop)(out_rows, FC_ROWS, in_rows, 1, K, K, w, width, 1);  \
        break;                                                                 \
    }
    switch (kb) {
    case 3: FC_SQUARE(3) FC_FN(fc_row_loop)(out_rows, nrows, in_rows, nplanes, ka, 3, w, width, 1); break;
    case 5: FC_SQUARE(5) FC_FN(fc_row_loop)(out_rows, nrows, in_rows, nplanes, ka, 5, w, width, 1); break;
    case 7: FC_SQUARE(7) FC_FN(fc_row_loop)(out_rows, nrows, in_rows, nplanes, ka, 7, w, width, 1); break;
    default: FC_FN(fc_row_loop)(out_rows, nrows, in_rows, nplanes, ka, kb, w, width, 0); break;
    }
#undef FC_SQUARE
}

/* Channel sums of a convolution layer in the frequency domain, split
   complex (real and imaginary parts in separate arrays):

     y[o][f] = sum_{c < cg} x[c][f] * conj(w[o][c][f])   for o < ob <= FC_CSUM_OUTS

   with x[c] at xr/xi + c * xc, w[o][c] at wr/wi + o * wo + c * wc and y[o]
   at yr/yi + o * yo. Each input vector is loaded once for all ob outputs,
   whose accumulators stay in registers over the channel loop: four FMAs
   per complex multiply-add and no shuffles. */
#define FC_CSUM_OUTS 4
static inline __attribute__((always_inline)) void
FC_FN(fc_csum_block)(const FC_T *xr, const FC_T *xi, const FC_T *wr, const FC_T *wi,
                     FC_T *yr, FC_T *yi, const int cg, const int ob, ptrdiff_t f,
                     ptrdiff_t xc, ptrdiff_t wo, ptrdiff_t wc, ptrdiff_t yo)
{
    FC_VT ar[FC_CSUM_OUTS], ai[FC_CSUM_OUTS];
    for (int o = 0; o < FC_CSUM_OUTS; ++o)
        ar[o] = ai[o] = (FC_VT){0};
    for (int c = 0; c < cg; ++c) {
        const FC_VT vr = *(const FC_VTU *)(xr + c * xc + f);
        const FC_VT vi = *(const FC_VTU *)(xi + c * xc + f);
        for (int o = 0; o < FC_CSUM_OUTS; ++o) {
            if (o < ob) {
                const FC_VT qr = *(const FC_VTU *)(wr + o * wo + c * wc + f);
                const FC_VT qi = *(const FC_VTU *)(wi + o * wo + c * wc + f);
                ar[o] += vr * qr + vi * qi;
                ai[o] += vi * qr - vr * qi;
            }
        }
    }
    for (int o = 0; o < FC_CSUM_OUTS; ++o) {
        if (o < ob) {
            *(FC_VTU *)(yr + o * yo + f) = ar[o];
            *(FC_VTU *)(yi + o * yo + f) = ai[o];
        }
    }
}

void
FC_FN(fc_csum_)(const FC_T *xr, const FC_T *xi, const FC_T *wr, const FC_T *wi,
                FC_T *yr, FC_T *yi, int cg, int ob, ptrdiff_t nf, ptrdiff_t xc,
                ptrdiff_t wo, ptrdiff_t wc, ptrdiff_t yo)
{
    if (nf < FC_NL) {
        for (int o = 0; o < ob; ++o)
            for (ptrdiff_t f = 0; f < nf; ++f) {
                FC_T sr = 0, si = 0;
                for (int c = 0; c < cg; ++c) {
                    const FC_T a = xr[c * xc + f], b = xi[c * xc + f];
                    const FC_T p = wr[o * wo + c * wc + f], q = wi[o * wo + c * wc + f];
                    sr += a * p + b * q;
                    si += b * p - a * q;
                }
                yr[o * yo + f] = sr;
                yi[o * yo + f] = si;
            }
        return;
    }
    ptrdiff_t f = 0;
    for (; f + FC_NL <= nf; f += FC_NL)
        FC_FN(fc_csum_block)(xr, xi, wr, wi, yr, yi, cg, ob, f, xc, wo, wc, yo);
    /* the last partial vector overlaps the previous one: the same values */
    if (f < nf)
        FC_FN(fc_csum_block)(xr, xi, wr, wi, yr, yi, cg, ob, nf - FC_NL, xc, wo, wc, yo);
}
#undef FC_CSUM_OUTS

/* Winograd F(2x2, 3x3) and F(4x4, 3x3) input and output transforms, vectorised across the
   tiles of one tile row: a tile's four input columns are the even and odd
   elements of two pairs of row loads (shuffles), its two output columns
   are interleaved back into one contiguous run. */
#define FC_NLC (FC_VEC_BYTES / FC_TSIZE)
#if FC_NLC == 2
#define FC_EVEN_IDX 0, 2
#define FC_ODD_IDX 1, 3
#define FC_ILO_IDX 0, 2
#define FC_IHI_IDX 1, 3
#elif FC_NLC == 4
#define FC_EVEN_IDX 0, 2, 4, 6
#define FC_ODD_IDX 1, 3, 5, 7
#define FC_ILO_IDX 0, 4, 1, 5
#define FC_IHI_IDX 2, 6, 3, 7
#elif FC_NLC == 8
#define FC_EVEN_IDX 0, 2, 4, 6, 8, 10, 12, 14
#define FC_ODD_IDX 1, 3, 5, 7, 9, 11, 13, 15
#define FC_ILO_IDX 0, 8, 1, 9, 2, 10, 3, 11
#define FC_IHI_IDX 4, 12, 5, 13, 6, 14, 7, 15
#elif FC_NLC == 16
#define FC_EVEN_IDX 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define FC_ODD_IDX 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define FC_ILO_IDX 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define FC_IHI_IDX 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#else
#error "no shuffle indices for this vector length"
#endif
#if defined(__clang__)
#define FC_SHUF(a, b, IDX) __builtin_shufflevector(a, b, IDX)
#else
#if FC_TSIZE == 4
typedef int FC_CAT(fc_mask_, FC_TS, FC_ISA_SUFFIX) __attribute__((vector_size(FC_VEC_BYTES)));
#else
typedef long long FC_CAT(fc_mask_, FC_TS, FC_ISA_SUFFIX)
    __attribute__((vector_size(FC_VEC_BYTES)));
#endif
#define FC_SHUF(a, b, IDX) \
    __builtin_shuffle(a, b, (FC_CAT(fc_mask_, FC_TS, FC_ISA_SUFFIX)){IDX})
#endif

/* One tile row of one channel: tiles tx < ntx read rows 0-3 of `src` (row
   stride wp) at columns 2 tx .. 2 tx + 3; point p of tile tx goes to
   v[p * pstride + tx]. Whole vectors of tiles, as fc_wg4_in_ (below):
   rows must have 2 ceil(ntx / FC_NL) FC_NL + 2 readable elements, and the
   FC_NL - 1 places past each point's last tile get values of no tile. */
static void
FC_FN(fc_wg2_in_)(const FC_T *src, ptrdiff_t wp, ptrdiff_t ntx, FC_T *v, ptrdiff_t pstride)
{
    for (ptrdiff_t tx = 0; tx < ntx; tx += FC_NL) {
        FC_VT d[4][4], u[4][4];
        for (int r = 0; r < 4; ++r) {
            const FC_T *row = src + r * wp + 2 * tx;
            const FC_VT lo = *(const FC_VTU *)row, hi = *(const FC_VTU *)(row + FC_NL);
            const FC_VT lo2 = *(const FC_VTU *)(row + 2);
            const FC_VT hi2 = *(const FC_VTU *)(row + FC_NL + 2);
            d[r][0] = FC_SHUF(lo, hi, FC_EVEN_IDX);
            d[r][1] = FC_SHUF(lo, hi, FC_ODD_IDX);
            d[r][2] = FC_SHUF(lo2, hi2, FC_EVEN_IDX);
            d[r][3] = FC_SHUF(lo2, hi2, FC_ODD_IDX);
        }
        for (int j = 0; j < 4; ++j) {
            u[0][j] = d[0][j] - d[2][j];
            u[1][j] = d[1][j] + d[2][j];
            u[2][j] = d[2][j] - d[1][j];
            u[3][j] = d[1][j] - d[3][j];
        }
        for (int r = 0; r < 4; ++r) {
            FC_T *out = v + (r * 4) * pstride + tx;
            *(FC_VTU *)out = u[r][0] - u[r][2];
            *(FC_VTU *)(out + pstride) = u[r][1] + u[r][2];
            *(FC_VTU *)(out + 2 * pstride) = u[r][2] - u[r][1];
            *(FC_VTU *)(out + 3 * pstride) = u[r][1] - u[r][3];
        }
    }
}

/* One tile row of one output channel: point p of tile tx at m[p * pstride
   + tx]; writes rows 0..nrows-1 (1 or 2) of `dst` (row stride wo) at
   columns 2 tx, 2 tx + 1 below `ncols`, plus `bias`. */
/* One output row of a vector of tiles m outputs wide (m = 2 or 4 vectors in
   `cols`, the row's outputs in order) into `row`: whole vectors when every
   tile is in the row and uncropped, else through a buffer, the outputs of
   tiles below ntx and columns below ncols only. */
static inline void
FC_FN(fc_wg_store_)(FC_T *row, const FC_VT *cols, int m, int whole, ptrdiff_t tx,
                    ptrdiff_t ntx, ptrdiff_t ncols)
{
    if (whole) {
        for (int i = 0; i < m; ++i)
            *(FC_VTU *)(row + i * FC_NL) = cols[i];
        return;
    }
    FC_T run[4 * FC_NL];
    memcpy(run, cols, (size_t)m * sizeof(FC_VT));
    ptrdiff_t keep = m * (ntx < tx + FC_NL ? ntx - tx : FC_NL);
    if (keep > ncols - m * tx)
        keep = ncols - m * tx;
    for (ptrdiff_t i = 0; i < keep; ++i)
        row[i] = run[i];
}

static void
FC_FN(fc_wg2_out_)(const FC_T *m, ptrdiff_t pstride, ptrdiff_t ntx, FC_T *dst, ptrdiff_t wo,
                   int nrows, ptrdiff_t ncols, FC_T bias)
{
    /* whole vectors of tiles, as fc_wg4_out_ (below) */
    for (ptrdiff_t tx = 0; tx < ntx; tx += FC_NL) {
        FC_VT q[4][4], u[2][4];
        for (int p = 0; p < 16; ++p)
            q[p / 4][p % 4] = *(const FC_VTU *)(m + p * pstride + tx);
        for (int j = 0; j < 4; ++j) {
            u[0][j] = q[0][j] + q[1][j] + q[2][j];
            u[1][j] = q[1][j] - q[2][j] - q[3][j];
        }
        const int whole = tx + FC_NL <= ntx && 2 * (tx + FC_NL) <= ncols;
        for (int r = 0; r < nrows; ++r) {
            const FC_VT y0 = u[r][0] + u[r][1] + u[r][2] + bias;
            const FC_VT y1 = u[r][1] - u[r][2] - u[r][3] + bias;
            FC_VT cols[2];
            cols[0] = FC_SHUF(y0, y1, FC_ILO_IDX);
            cols[1] = FC_SHUF(y0, y1, FC_IHI_IDX);
            FC_FN(fc_wg_store_)(dst + r * wo + 2 * tx, cols, 2, whole, tx, ntx, ncols);
        }
    }
}

/* Winograd F(4x4, 3x3) (Lavin & Gray 2016): 6x6 input tiles 4 apart, 36
   points, 4x4 outputs. The interpolation points are 0, 1, -1, 1/2, -2 and
   infinity, not the common 0, +-1, +-2: in float32 their error measured
   2-3 times the direct sum's where +-2's was 5-9 times (Barabasz et al.
   2020 study the choice). Rows of B^T (d' = B^T d B) and A^T (y = A^T m A),
   the same combinations for rows and columns:
     B^T: [1 -3/2 -2 3/2 1 0] [0 -1 1/2 5/2 1 0] [0 1 -5/2 1/2 1 0]
          [0 -2 -1 2 1 0] [0 1/2 -1 -1/2 1 0] [0 1 -3/2 -2 3/2 1]
     A^T: [1 1 1 1 1 0] [0 1 -1 1/2 -2 0] [0 1 1 1/4 4 0] [0 1 -1 1/8 -8 1]
   Across the tiles of a row, a tile's columns 4 tx + j are taken from four
   row loads by two rounds of even/odd shuffles (columns 4 and 5 from loads
   4 further on), and its four output columns are interleaved back by two
   rounds. */
#define FC_WG4_BT(o, d)                                                         \
    do {                                                                        \
        (o)[0] = (d)[0] + (d)[4] - 2 * (d)[2] + (FC_T)1.5 * ((d)[3] - (d)[1]);   \
        (o)[1] = (d)[4] - (d)[1] + (FC_T)0.5 * (d)[2] + (FC_T)2.5 * (d)[3];      \
        (o)[2] = (d)[4] + (d)[1] - (FC_T)2.5 * (d)[2] + (FC_T)0.5 * (d)[3];      \
        (o)[3] = (d)[4] - (d)[2] + 2 * ((d)[3] - (d)[1]);                        \
        (o)[4] = (d)[4] - (d)[2] + (FC_T)0.5 * ((d)[1] - (d)[3]);                \
        (o)[5] = (d)[5] + (d)[1] - 2 * (d)[3] + (FC_T)1.5 * ((d)[4] - (d)[2]);   \
    } while (0)
#define FC_WG4_AT(o, q)                                                         \
    do {                                                                        \
        (o)[0] = (q)[0] + (q)[1] + (q)[2] + (q)[3] + (q)[4];                     \
        (o)[1] = (q)[1] - (q)[2] + (FC_T)0.5 * (q)[3] - 2 * (q)[4];              \
        (o)[2] = (q)[1] + (q)[2] + (FC_T)0.25 * (q)[3] + 4 * (q)[4];             \
        (o)[3] = (q)[1] - (q)[2] + (FC_T)0.125 * (q)[3] - 8 * (q)[4] + (q)[5];   \
    } while (0)

/* Column j (0-3) of FC_NL tiles 4 apart starting at `p`, elements p[4 l +
   j], into ph[j]: four loads, two rounds of even/odd shuffles. */
static inline void
FC_FN(fc_wg4_phases_)(const FC_T *p, FC_VT *ph)
{
    FC_VT a[4];
    for (int i = 0; i < 4; ++i)
        a[i] = *(const FC_VTU *)(p + i * FC_NL);
    const FC_VT e01 = FC_SHUF(a[0], a[1], FC_EVEN_IDX);
    const FC_VT o01 = FC_SHUF(a[0], a[1], FC_ODD_IDX);
    const FC_VT e23 = FC_SHUF(a[2], a[3], FC_EVEN_IDX);
    const FC_VT o23 = FC_SHUF(a[2], a[3], FC_ODD_IDX);
    ph[0] = FC_SHUF(e01, e23, FC_EVEN_IDX);
    ph[1] = FC_SHUF(o01, o23, FC_EVEN_IDX);
    ph[2] = FC_SHUF(e01, e23, FC_ODD_IDX);
    ph[3] = FC_SHUF(o01, o23, FC_ODD_IDX);
}

/* One tile row of one channel: tiles tx < ntx read rows 0-5 of `src` (row
   stride wp) at columns 4 tx .. 4 tx + 5; point p of tile tx goes to
   v[p * pstride + tx]. Whole vectors of tiles only, the last one past ntx:
   rows must have 4 ceil(ntx / FC_NL) FC_NL + 4 readable elements, and the
   FC_NL - 1 places after each point's last tile get values of no tile
   (the caller writes the tiles that belong there afterwards, or leaves
   them unused): a row's last tiles cost a vector, not a scalar loop. */
static void
FC_FN(fc_wg4_in_)(const FC_T *src, ptrdiff_t wp, ptrdiff_t ntx, FC_T *v, ptrdiff_t pstride)
{
    for (ptrdiff_t tx = 0; tx < ntx; tx += FC_NL) {
        FC_VT h[6][6];
        for (int r = 0; r < 6; ++r) {
            const FC_T *row = src + r * wp + 4 * tx;
            FC_VT d[6], next[4];
            /* columns 0-3 of the tiles, and 4-5: 0-1 of the next ones */
            FC_FN(fc_wg4_phases_)(row, d);
            FC_FN(fc_wg4_phases_)(row + 4, next);
            d[4] = next[0];
            d[5] = next[1];
            FC_WG4_BT(h[r], d);
        }
        for (int j = 0; j < 6; ++j) {
            FC_VT col[6], t[6];
            for (int r = 0; r < 6; ++r)
                col[r] = h[r][j];
            FC_WG4_BT(t, col);
            for (int i = 0; i < 6; ++i)
                *(FC_VTU *)(v + (i * 6 + j) * pstride + tx) = t[i];
        }
    }
}

/* One tile row of one output channel: point p of tile tx at m[p * pstride
   + tx]; writes rows 0..nrows-1 (1 to 4) of `dst` (row stride wo) at
   columns 4 tx .. 4 tx + 3 below `ncols`, plus `bias`. */
static void
FC_FN(fc_wg4_out_)(const FC_T *m, ptrdiff_t pstride, ptrdiff_t ntx, FC_T *dst, ptrdiff_t wo,
                   int nrows, ptrdiff_t ncols, FC_T bias)
{
    /* whole vectors of tiles (reading FC_NL - 1 places past the last tile
       of a point at most); those cropped at the right edge or past ntx
       stored element by element from a buffer */
    for (ptrdiff_t tx = 0; tx < ntx; tx += FC_NL) {
        FC_VT u[4][6];
        for (int j = 0; j < 6; ++j) {
            FC_VT q[6], t[4];
            for (int i = 0; i < 6; ++i)
                q[i] = *(const FC_VTU *)(m + (i * 6 + j) * pstride + tx);
            FC_WG4_AT(t, q);
            for (int a = 0; a < 4; ++a)
                u[a][j] = t[a];
        }
        const int whole = tx + FC_NL <= ntx && 4 * (tx + FC_NL) <= ncols;
        for (int a = 0; a < nrows; ++a) {
            FC_VT y[4];
            FC_WG4_AT(y, u[a]);
            for (int b = 0; b < 4; ++b)
                y[b] += bias;
            const FC_VT z0 = FC_SHUF(y[0], y[2], FC_ILO_IDX);
            const FC_VT z1 = FC_SHUF(y[0], y[2], FC_IHI_IDX);
            const FC_VT z2 = FC_SHUF(y[1], y[3], FC_ILO_IDX);
            const FC_VT z3 = FC_SHUF(y[1], y[3], FC_IHI_IDX);
            FC_VT cols[4];
            cols[0] = FC_SHUF(z0, z2, FC_ILO_IDX);
            cols[1] = FC_SHUF(z0, z2, FC_IHI_IDX);
            cols[2] = FC_SHUF(z1, z3, FC_ILO_IDX);
            cols[3] = FC_SHUF(z1, z3, FC_IHI_IDX);
            FC_FN(fc_wg_store_)(dst + a * wo + 4 * tx, cols, 4, whole, tx, ntx, ncols);
        }
    }
}

/* The input transform of tile rows row0 .. row0 + nrows - 1 of one channel,
   counted through the batch (row R: image R / tiles_h, tile row R %
   tiles_h), each of ntx tiles of F(m x m, 3x3), m = 2 or 4, m apart:
   `src` is the channel's padded map in image 0 (row stride wp, images
   image_stride apart), point p of the chunk's tile t = (R - row0) * ntx +
   tx goes to v[p * pstride + t]. F(4x4) rows need the readable length of
   fc_wg2_in_ / fc_wg4_in_, and each point FC_NL - 1 writable places past
   its tiles, which get values of no tile. */
void
FC_FN(fc_wg_in_)(const FC_T *src, ptrdiff_t wp, ptrdiff_t image_stride, ptrdiff_t row0,
                 ptrdiff_t nrows, ptrdiff_t tiles_h, ptrdiff_t ntx, FC_T *v, ptrdiff_t pstride,
                 int m)
{
    /* rows in order: the values a row's last vector leaves past its tiles
       are overwritten by the next row's */
    for (ptrdiff_t row = row0; row < row0 + nrows; ++row) {
        const ptrdiff_t n = row / tiles_h, ty = row - n * tiles_h;
        const FC_T *line = src + n * image_stride + m * ty * wp;
        FC_T *tiles = v + (row - row0) * ntx;
        if (m == 4)
            FC_FN(fc_wg4_in_)(line, wp, ntx, tiles, pstride);
        else
            FC_FN(fc_wg2_in_)(line, wp, ntx, tiles, pstride);
    }
}

/* The output transform of the same tile rows for one output channel:
   point p of tile t at mp[p * pstride + t] (FC_NL - 1 readable places past
   each point's tiles); `dst` the channel's map in image 0
   (ho x wo, images image_stride apart), cropped, plus `bias`. */
void
FC_FN(fc_wg_out_)(const FC_T *mp, ptrdiff_t pstride, FC_T *dst, ptrdiff_t image_stride,
                  ptrdiff_t row0, ptrdiff_t nrows, ptrdiff_t tiles_h, ptrdiff_t ntx,
                  ptrdiff_t ho, ptrdiff_t wo, FC_T bias, int m)
{
    for (ptrdiff_t row = row0; row < row0 + nrows; ++row) {
        const ptrdiff_t n = row / tiles_h, ty = row - n * tiles_h;
        FC_T *line = dst + n * image_stride + m * ty * wo;
        const FC_T *tiles = mp + (row - row0) * ntx;
        const int rows_here = (int)(ho - m * ty < m ? ho - m * ty : m);
        if (m == 4)
            FC_FN(fc_wg4_out_)(tiles, pstride, ntx, line, wo, rows_here, wo, bias);
        else
            FC_FN(fc_wg2_out_)(tiles, pstride, ntx, line, wo, rows_here, wo, bias);
    }
}

#undef FC_WG4_BT
#undef FC_WG4_AT

/* The layers' multi-channel kernel, on the same vector types. */
#include "layer_simd_impl.h"

#undef FC_SHUF
#undef FC_EVEN_IDX
#undef FC_ODD_IDX
#undef FC_ILO_IDX
#undef FC_IHI_IDX
#undef FC_NLC

#undef FC_VT
#undef FC_VTU
#undef FC_FN
#undef FC_NL
#undef FC_TAPS_CASE
