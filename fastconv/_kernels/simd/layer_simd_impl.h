/*
 * Template body, included by direct_simd_impl.h (same FC_T, FC_TS, FC_VT
 * and FC_NL): the multi-channel direct kernel of convolution layers, an
 * implicit GEMM.
 *
 * For the output channels c < nco of one block and the positions q of
 * [q0, q1) in the packed input's position space,
 *
 *   out[c * ostride + o(q)] = init[c] + sum_{r < R} w[r * nco + c] * in[off[r] + q]
 *
 * where r runs over (input channel, kernel taps) and off[r] is where that
 * tap's input starts: fastconv/_kernels/_layer.pyx packs the input so that
 * every tap of every output position is `q + off[r]`, strides and
 * dilations included. Positions come in rows of wq of which the first wo
 * are outputs: o(q) = (q / wq) * wo + q % wq, and the positions of a row
 * past its wo-th (the padding between rows) are computed and dropped, by
 * masked stores, so the outputs go straight to the layer's output.
 *
 * A tile is nco x NV vectors of positions: NV(nco) is as many vectors as
 * keep the nco * NV accumulators and the NV loaded vectors in registers
 * (FC_MC_ACC accumulators), so each input vector loaded feeds nco FMAs and
 * each broadcast weight NV. The weights of a block are interleaved by
 * channel (w[r * nco + c]) so the broadcasts of one r are adjacent. Every
 * tile sums all of r in registers and stores once: partial sums kept in
 * memory across chunks of r measured slower (their reloads cost more than
 * the cache misses they save). Tiles past the last full one run one vector
 * wide, the last partial vector overlapping the previous one (recomputed,
 * stored again), so no load goes past q1 + off[r]; fewer positions than a
 * vector are one vector of masked loads and stores with AVX-512, else
 * summed in scalars.
 */

#ifndef FC_MC_ACC
#error "FC_MC_ACC (accumulator registers of a tile) must be defined"
#endif

/* Vectors of positions per tile for nco output channels. */
#define FC_MC_NV(nco) ((FC_MC_ACC) / (nco) < 8 ? (FC_MC_ACC) / (nco) : 8)

/* Lanes [lo, hi) of v to base[lo .. hi). */
static inline __attribute__((always_inline)) void
FC_FN(fc_mc_store_lanes)(FC_T *base, const ptrdiff_t lo, const ptrdiff_t hi, const FC_VT v)
{
#if defined(__AVX512F__) && FC_VEC_BYTES == 64
    /* a masked store neither writes nor faults outside its lanes */
    const unsigned all = (1u << FC_NL_CONST) - 1u;
    FC_MASKSTORE(base, (FC_MASK_T)((all >> (FC_NL_CONST - hi)) & (all << lo)), v);
#else
    FC_T lanes[FC_NL];
    *(FC_VTU *)lanes = v;
    for (ptrdiff_t i = lo; i < hi; ++i)
        base[i] = lanes[i];
#endif
}

/* The outputs among positions p .. p + n - 1 (n <= FC_NL; p at row `row`,
   column `col` < wq) of v: the lanes of each row's first wo columns. */
static inline __attribute__((always_inline)) void
FC_FN(fc_mc_put)(FC_T *out, ptrdiff_t row, ptrdiff_t col, const ptrdiff_t wq,
                 const ptrdiff_t wo, const FC_VT v, const ptrdiff_t n)
{
    if (n == FC_NL && col + FC_NL <= wo) {
        *(FC_VTU *)(out + row * wo + col) = v;
        return;
    }
    /* lane of column 0 of row `row`: -col; each row of wq lanes further on */
    for (ptrdiff_t lane = -col; lane < n; lane += wq, ++row) {
        const ptrdiff_t lo = lane > 0 ? lane : 0;
        const ptrdiff_t hi = lane + wo < n ? lane + wo : n;
        if (lo < hi)
            FC_FN(fc_mc_store_lanes)(out + row * wo - lane, lo, hi, v);
    }
}

static inline __attribute__((always_inline)) void
FC_FN(fc_mc_tile)(const int NCO, const int NV, const FC_T *in, const ptrdiff_t *off,
                  const int R, const FC_T *w, const FC_T *init, FC_T *out,
                  const ptrdiff_t ostride, const ptrdiff_t q, const ptrdiff_t wq,
                  const ptrdiff_t wo)
{
    FC_VT acc[FC_MC_CO_MAX][8];
    for (int c = 0; c < NCO; ++c)
        for (int v = 0; v < NV; ++v)
            acc[c][v] = init[c] - (FC_VT){0};
    const FC_T *base = in + q;
    for (int r = 0; r < R; ++r) {
        const FC_T *src = base + off[r];
        const FC_T *wr = w + (ptrdiff_t)r * NCO;
        FC_VT x[8];
        for (int v = 0; v < NV; ++v)
            x[v] = *(const FC_VTU *)(src + v * FC_NL);
        for (int c = 0; c < NCO; ++c) {
            const FC_VT wv = wr[c] - (FC_VT){0};
            for (int v = 0; v < NV; ++v)
                acc[c][v] += wv * x[v];
        }
    }
    if (wq == wo) {
        for (int c = 0; c < NCO; ++c)
            for (int v = 0; v < NV; ++v)
                *(FC_VTU *)(out + c * ostride + q + v * FC_NL) = acc[c][v];
        return;
    }
    ptrdiff_t row[8], col[8];
    row[0] = q / wq;
    col[0] = q - row[0] * wq;
    for (int v = 1; v < NV; ++v) {
        row[v] = row[v - 1];
        col[v] = col[v - 1] + FC_NL;
        while (col[v] >= wq) {
            col[v] -= wq;
            ++row[v];
        }
    }
    for (int c = 0; c < NCO; ++c)
        for (int v = 0; v < NV; ++v)
            FC_FN(fc_mc_put)(out + c * ostride, row[v], col[v], wq, wo, acc[c][v], FC_NL);
}

/* The scalar sums of a run shorter than one vector. */
static void
FC_FN(fc_mc_scalar)(const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w, int nco,
                    const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0,
                    ptrdiff_t q1, ptrdiff_t wq, ptrdiff_t wo)
{
    for (ptrdiff_t q = q0; q < q1; ++q) {
        const ptrdiff_t row = q / wq, col = q - row * wq;
        if (col >= wo)
            continue;
        for (int c = 0; c < nco; ++c) {
            FC_T sum = init[c];
            for (int r = 0; r < R; ++r)
                sum += w[(ptrdiff_t)r * nco + c] * in[off[r] + q];
            out[c * ostride + row * wo + col] = sum;
        }
    }
}

#if defined(__AVX512F__) && FC_VEC_BYTES == 64
/* A run of n < FC_NL positions from q0 as one vector of masked loads and
   stores: no load or store outside the run (masked lanes never fault), and
   vector speed for the short runs of small chunks. */
static inline __attribute__((always_inline)) void
FC_FN(fc_mc_short)(const int NCO, const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w,
                   const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0, ptrdiff_t n,
                   ptrdiff_t wq, ptrdiff_t wo)
{
    const FC_MASK_T mask = (FC_MASK_T)((1u << n) - 1u);
    FC_VT acc[FC_MC_CO_MAX];
    for (int c = 0; c < NCO; ++c)
        acc[c] = init[c] - (FC_VT){0};
    for (int r = 0; r < R; ++r) {
        const FC_VT x = (FC_VT)FC_MASKLOAD(mask, in + off[r] + q0);
        const FC_T *wr = w + (ptrdiff_t)r * NCO;
        for (int c = 0; c < NCO; ++c)
            acc[c] += (wr[c] - (FC_VT){0}) * x;
    }
    const ptrdiff_t row = q0 / wq, col = q0 - row * wq;
    for (int c = 0; c < NCO; ++c)
        FC_FN(fc_mc_put)(out + c * ostride, row, col, wq, wo, acc[c], n);
}
#endif

static inline __attribute__((always_inline)) void
FC_FN(fc_mc_run)(const int NCO, const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w,
                 const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0, ptrdiff_t q1,
                 ptrdiff_t wq, ptrdiff_t wo)
{
    const int NV = FC_MC_NV(NCO);
    const ptrdiff_t len = (ptrdiff_t)NV * FC_NL;
    ptrdiff_t q = q0;
    for (; q + len <= q1; q += len)
        FC_FN(fc_mc_tile)(NCO, NV, in, off, R, w, init, out, ostride, q, wq, wo);
    for (; q < q1; q += FC_NL) {
        if (q + FC_NL > q1)
            q = q1 - FC_NL; /* overlaps the previous vector: same values again */
        FC_FN(fc_mc_tile)(NCO, 1, in, off, R, w, init, out, ostride, q, wq, wo);
    }
}

void
FC_FN(fc_mc_)(const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w, int nco,
              const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0, ptrdiff_t q1,
              ptrdiff_t wq, ptrdiff_t wo)
{
    if (nco < 1 || nco > FC_MC_CO_MAX || q1 <= q0) {
        FC_FN(fc_mc_scalar)(in, off, R, w, nco, init, out, ostride, q0, q1, wq, wo);
        return;
    }
    if (q1 - q0 < FC_NL) {
#if defined(__AVX512F__) && FC_VEC_BYTES == 64
        switch (nco) {
#define FC_MC_SHORT(K)                                                                \
    case K:                                                                           \
        FC_FN(fc_mc_short)(K, in, off, R, w, init, out, ostride, q0, q1 - q0, wq, wo); \
        break;
        FC_MC_SHORT(1) FC_MC_SHORT(2) FC_MC_SHORT(3) FC_MC_SHORT(4) FC_MC_SHORT(5)
        FC_MC_SHORT(6) FC_MC_SHORT(7) FC_MC_SHORT(8)
#undef FC_MC_SHORT
        default: break;
        }
#else
        FC_FN(fc_mc_scalar)(in, off, R, w, nco, init, out, ostride, q0, q1, wq, wo);
#endif
        return;
    }
    switch (nco) {
#define FC_MC_CASE(K)                                                          \
    case K:                                                                    \
        FC_FN(fc_mc_run)(K, in, off, R, w, init, out, ostride, q0, q1, wq, wo); \
        break;
    FC_MC_CASE(1) FC_MC_CASE(2) FC_MC_CASE(3) FC_MC_CASE(4) FC_MC_CASE(5) FC_MC_CASE(6)
#if FC_MC_CO_MAX > 6
    FC_MC_CASE(7) FC_MC_CASE(8)
#endif
#if FC_MC_CO_MAX > 8
#error "add the cases of the wider channel block"
#endif
#undef FC_MC_CASE
    default: break;
    }
}

#undef FC_MC_NV
