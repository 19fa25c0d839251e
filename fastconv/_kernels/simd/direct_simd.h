/*
 * Register-blocked direct correlation micro-kernels.
 *
 * One kernel call computes up to `rows` (of the kernel set, at most
 * FC_ROWS_MAX) consecutive output rows of an N-D
 * correlation, for `width` consecutive output columns:
 *
 *   out_rows[o][j] = sum_{p < nplanes} sum_{a < ka} sum_{b < kb}
 *                    in_rows[p * (nrows + ka - 1) + o + a][j + b] * w[(p * ka + a) * kb + b]
 *
 * The caller resolves boundary extension and strides into row pointers, so
 * the kernel only ever reads contiguous rows.  Each input row is loaded once
 * per tap column and reused for every output row that needs it, which keeps
 * the loads per FMA well below one.
 *
 * The kernels are compiled once per instruction set (AVX-512, AVX2+FMA, the
 * baseline) and `fc_direct_select` picks the best one the running CPU
 * supports, so a wheel never executes an instruction the CPU lacks.
 */
#ifndef FASTCONV_DIRECT_SIMD_H
#define FASTCONV_DIRECT_SIMD_H

#include <stddef.h>

/* Upper bound of the row-block height of every kernel set (workspace size). */
#define FC_ROWS_MAX 8

typedef void (*fc_rows_f32_fn)(float **out_rows, int nrows, float **in_rows,
                               int nplanes, int ka, int kb, const float *w,
                               ptrdiff_t width);
typedef void (*fc_rows_f64_fn)(double **out_rows, int nrows, double **in_rows,
                               int nplanes, int ka, int kb, const double *w,
                               ptrdiff_t width);

/* Channel sums of a layer's spectra, split complex (direct_simd_impl.h). */
typedef void (*fc_csum_f32_fn)(const float *, const float *, const float *, const float *,
                               float *, float *, int, int, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t, ptrdiff_t, ptrdiff_t);
typedef void (*fc_csum_f64_fn)(const double *, const double *, const double *,
                               const double *, double *, double *, int, int, ptrdiff_t,
                               ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);
/* Winograd F(m x m, 3x3) transforms of a chunk's tile rows, m = 2 or 4 the
   last argument (direct_simd_impl.h). */
typedef void (*fc_wg_in_f32_fn)(const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                ptrdiff_t, ptrdiff_t, float *, ptrdiff_t, int);
typedef void (*fc_wg_in_f64_fn)(const double *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                                ptrdiff_t, ptrdiff_t, double *, ptrdiff_t, int);
typedef void (*fc_wg_out_f32_fn)(const float *, ptrdiff_t, float *, ptrdiff_t, ptrdiff_t,
                                 ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, float,
                                 int);
typedef void (*fc_wg_out_f64_fn)(const double *, ptrdiff_t, double *, ptrdiff_t, ptrdiff_t,
                                 ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, double,
                                 int);
/* Multi-channel direct kernel of layers over positions [q0, q1) in rows of
   wq, the first wo (1 <= wo <= wq) of each row outputs (layer_simd_impl.h):
   in, off, R, w, nco, init, out, ostride, q0, q1, wq, wo. */
typedef void (*fc_mc_f32_fn)(const float *, const ptrdiff_t *, int, const float *, int,
                             const float *, float *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                             ptrdiff_t, ptrdiff_t);
typedef void (*fc_mc_f64_fn)(const double *, const ptrdiff_t *, int, const double *, int,
                             const double *, double *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                             ptrdiff_t, ptrdiff_t);
/* Most outputs one channel-sum call accumulates at once. */
#define FC_CSUM_OUTS_MAX 4

typedef struct {
    fc_rows_f32_fn rows_f32;
    fc_rows_f64_fn rows_f64;
    fc_csum_f32_fn csum_f32;
    fc_csum_f64_fn csum_f64;
    fc_wg_in_f32_fn wg_in_f32;
    fc_wg_in_f64_fn wg_in_f64;
    fc_wg_out_f32_fn wg_out_f32;
    fc_wg_out_f64_fn wg_out_f64;
    fc_mc_f32_fn mc_f32;
    fc_mc_f64_fn mc_f64;
    const char *isa;
    int rows; /* output rows per call the kernels are blocked for */
    int mc_channels; /* most output channels of one mc call */
    /* Comma-separated CPU features the set was compiled for (the names of
       their -m flags, from meson.build); "" for the baseline. */
    const char *features;
} fc_direct_kernels;

/* Number of kernel sets compiled in. */
int fc_direct_count(void);
/* Kernel set i (0 = baseline, the best last), supported by the CPU or not. */
const fc_direct_kernels *fc_direct_at(int i);
/* 1 when the running CPU (and the OS, for the register state) supports
   every feature of set `k`. */
int fc_direct_supported(const fc_direct_kernels *k);
/* 1 when the running CPU and OS support the feature `name` (one of the
   names fc_direct_kernels.features uses); 0 for unknown names. */
int fc_cpu_has(const char *name);
/* Best kernel set for the running CPU. */
const fc_direct_kernels *fc_direct_select(void);
/* Kernel set by name ("baseline", "AVX2+FMA", "AVX-512"); NULL when not
   compiled in or not supported by the running CPU. */
const fc_direct_kernels *fc_direct_by_name(const char *name);

#define FC_DECLARE_ISA(sfx)                                                      \
    void fc_rows_f32_##sfx(float **, int, float **, int, int, int,               \
                           const float *, ptrdiff_t);                            \
    void fc_rows_f64_##sfx(double **, int, double **, int, int, int,             \
                           const double *, ptrdiff_t);                           \
    void fc_csum_f32_##sfx(const float *, const float *, const float *,          \
                           const float *, float *, float *, int, int, ptrdiff_t, \
                           ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);          \
    void fc_csum_f64_##sfx(const double *, const double *, const double *,       \
                           const double *, double *, double *, int, int,         \
                           ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t); \
    void fc_wg_in_f32_##sfx(const float *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,      \
                            ptrdiff_t, ptrdiff_t, float *, ptrdiff_t, int);               \
    void fc_wg_in_f64_##sfx(const double *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,     \
                            ptrdiff_t, ptrdiff_t, double *, ptrdiff_t, int);              \
    void fc_wg_out_f32_##sfx(const float *, ptrdiff_t, float *, ptrdiff_t, ptrdiff_t,       \
                             ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, float,  \
                             int);                                                        \
    void fc_wg_out_f64_##sfx(const double *, ptrdiff_t, double *, ptrdiff_t, ptrdiff_t,     \
                             ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, double, \
                             int);                                                        \
    void fc_mc_f32_##sfx(const float *, const ptrdiff_t *, int, const float *, int,     \
                         const float *, float *, ptrdiff_t, ptrdiff_t, ptrdiff_t,        \
                         ptrdiff_t, ptrdiff_t);                                          \
    void fc_mc_f64_##sfx(const double *, const ptrdiff_t *, int, const double *, int,   \
                         const double *, double *, ptrdiff_t, ptrdiff_t, ptrdiff_t,      \
                         ptrdiff_t, ptrdiff_t);                                          \
    extern const int fc_block_rows_##sfx;                                                \
    extern const int fc_mc_channels_##sfx;

FC_DECLARE_ISA(base)
#if defined(FC_HAVE_avx2)
FC_DECLARE_ISA(avx2)
#endif
#if defined(FC_HAVE_avx512)
FC_DECLARE_ISA(avx512)
#endif

#endif
