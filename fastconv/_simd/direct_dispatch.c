/* Picks the micro-kernels for the running CPU once, at first use. */
#include <string.h>

#include "direct_simd.h"

/* Row-block heights, matching -DFC_ROWS=... of each variant in meson.build:
   as many accumulators as the register file holds without spilling. */
#define FC_ROWS_base 4
#define FC_ROWS_avx2 4
#define FC_ROWS_avx512 6

static const fc_direct_kernels fc_kernels_base = {
    fc_rows_f32_base, fc_rows_f64_base, "baseline", FC_ROWS_base};

#if defined(FC_X86_DISPATCH)
static const fc_direct_kernels fc_kernels_avx2 = {
    fc_rows_f32_avx2, fc_rows_f64_avx2, "AVX2+FMA", FC_ROWS_avx2};
static const fc_direct_kernels fc_kernels_avx512 = {
    fc_rows_f32_avx512, fc_rows_f64_avx512, "AVX-512", FC_ROWS_avx512};
#endif

const fc_direct_kernels *
fc_direct_by_name(const char *name)
{
    if (strcmp(name, "baseline") == 0)
        return &fc_kernels_base;
#if defined(FC_X86_DISPATCH)
    __builtin_cpu_init();
    if (strcmp(name, "AVX2+FMA") == 0 && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma"))
        return &fc_kernels_avx2;
    if (strcmp(name, "AVX-512") == 0 && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512vl"))
        return &fc_kernels_avx512;
#endif
    return NULL;
}

const fc_direct_kernels *
fc_direct_select(void)
{
#if defined(FC_X86_DISPATCH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        return &fc_kernels_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &fc_kernels_avx2;
#endif
    return &fc_kernels_base;
}
