/* Picks the micro-kernels for the running CPU once, at first use. */
#include <string.h>

#include "direct_simd.h"

/* Filled in at first use: the row-block heights are constants of the
   separately compiled variants (fc_block_rows_<isa>). */
static fc_direct_kernels fc_kernels_base = {
    fc_rows_f32_base, fc_rows_f64_base, "baseline", 0};

#if defined(FC_X86_DISPATCH)
static fc_direct_kernels fc_kernels_avx2 = {
    fc_rows_f32_avx2, fc_rows_f64_avx2, "AVX2+FMA", 0};
static fc_direct_kernels fc_kernels_avx512 = {
    fc_rows_f32_avx512, fc_rows_f64_avx512, "AVX-512", 0};
#endif

static void
fc_fill_rows(void)
{
    fc_kernels_base.rows = fc_block_rows_base;
#if defined(FC_X86_DISPATCH)
    fc_kernels_avx2.rows = fc_block_rows_avx2;
    fc_kernels_avx512.rows = fc_block_rows_avx512;
#endif
}

const fc_direct_kernels *
fc_direct_by_name(const char *name)
{
    fc_fill_rows();
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
    fc_fill_rows();
#if defined(FC_X86_DISPATCH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        return &fc_kernels_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &fc_kernels_avx2;
#endif
    return &fc_kernels_base;
}
