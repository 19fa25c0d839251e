/*
 * Template body, included by direct_simd_impl.h (same FC_T, FC_TS, FC_VT
 * and FC_NL): the multi-channel direct kernel of convolution layers, an
 * implicit GEMM.
 *
 * For the output channels c < nco of one block and the positions q of
 * [q0, q1) in the packed input's position space,
 *
 *   out[c * ostride + q] = init[c] + sum_{r < R} w[r * nco + c] * in[off[r] + q]
 *
 * where r runs over (input channel, kernel taps) and off[r] is where that
 * tap's input starts: fastconv/_kernels/_layer.pyx packs the input so that
 * every tap of every output position is `q + off[r]`, strides and
 * dilations included, and places `out` (the layer's output, or a buffer
 * when positions straddle the padding between rows).
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
 * vector are summed in scalars.
 */

#ifndef FC_MC_ACC
#error "FC_MC_ACC (accumulator registers of a tile) must be defined"
#endif

/* Vectors of positions per tile for nco output channels. */
#define FC_MC_NV(nco) ((FC_MC_ACC) / (nco) < 8 ? (FC_MC_ACC) / (nco) : 8)

static inline __attribute__((always_inline)) void
FC_FN(fc_mc_tile)(const int NCO, const int NV, const FC_T *in, const ptrdiff_t *off,
                  const int R, const FC_T *w, const FC_T *init, FC_T *out,
                  const ptrdiff_t ostride, const ptrdiff_t q)
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
    for (int c = 0; c < NCO; ++c)
        for (int v = 0; v < NV; ++v)
            *(FC_VTU *)(out + c * ostride + q + v * FC_NL) = acc[c][v];
}

/* The scalar sums of a run shorter than one vector. */
static void
FC_FN(fc_mc_scalar)(const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w, int nco,
                    const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0,
                    ptrdiff_t q1)
{
    for (ptrdiff_t q = q0; q < q1; ++q)
        for (int c = 0; c < nco; ++c) {
            FC_T sum = init[c];
            for (int r = 0; r < R; ++r)
                sum += w[(ptrdiff_t)r * nco + c] * in[off[r] + q];
            out[c * ostride + q] = sum;
        }
}

static inline __attribute__((always_inline)) void
FC_FN(fc_mc_run)(const int NCO, const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w,
                 const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0, ptrdiff_t q1)
{
    const int NV = FC_MC_NV(NCO);
    const ptrdiff_t len = (ptrdiff_t)NV * FC_NL;
    ptrdiff_t q = q0;
    for (; q + len <= q1; q += len)
        FC_FN(fc_mc_tile)(NCO, NV, in, off, R, w, init, out, ostride, q);
    for (; q < q1; q += FC_NL) {
        if (q + FC_NL > q1)
            q = q1 - FC_NL; /* overlaps the previous vector: same values again */
        FC_FN(fc_mc_tile)(NCO, 1, in, off, R, w, init, out, ostride, q);
    }
}

void
FC_FN(fc_mc_)(const FC_T *in, const ptrdiff_t *off, int R, const FC_T *w, int nco,
              const FC_T *init, FC_T *out, ptrdiff_t ostride, ptrdiff_t q0, ptrdiff_t q1)
{
    if (q1 - q0 < FC_NL || nco < 1 || nco > FC_MC_CO_MAX) {
        FC_FN(fc_mc_scalar)(in, off, R, w, nco, init, out, ostride, q0, q1);
        return;
    }
    switch (nco) {
#define FC_MC_CASE(K)                                                          \
    case K:                                                                    \
        FC_FN(fc_mc_run)(K, in, off, R, w, init, out, ostride, q0, q1);        \
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
