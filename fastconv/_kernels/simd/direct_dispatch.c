/*
 * Picks the micro-kernels for the running CPU.
 *
 * Every kernel set carries the list of CPU features its translation unit was
 * compiled for (FC_FEATURES_<suffix>, written by meson from the same list
 * that gives the -m flags), and a set is used only when CPUID reports every
 * one of them and the OS saves the vector registers they need (XGETBV): a
 * CPU or VM exposing AVX-512F without BW/DQ, or with the ZMM state disabled,
 * gets the AVX2 kernels instead of an illegal instruction.
 */
#include <string.h>

#include "direct_simd.h"

#ifndef FC_FEATURES_base
#define FC_FEATURES_base ""
#endif
#if defined(FC_HAVE_avx2) && !defined(FC_FEATURES_avx2)
#error "FC_HAVE_avx2 needs FC_FEATURES_avx2 (the features it was compiled for)"
#endif
#if defined(FC_HAVE_avx512) && !defined(FC_FEATURES_avx512)
#error "FC_HAVE_avx512 needs FC_FEATURES_avx512 (the features it was compiled for)"
#endif

/* The row-block heights are constants of the separately compiled variants
   (fc_block_rows_<isa>), filled in at first use. Baseline first, best last. */
static fc_direct_kernels fc_sets[] = {
    {fc_rows_f32_base, fc_rows_f64_base, fc_csum_f32_base, fc_csum_f64_base,
     fc_wg_in_f32_base, fc_wg_in_f64_base, fc_wg_out_f32_base, fc_wg_out_f64_base,
     fc_mc_f32_base, fc_mc_f64_base, "baseline", 0, 0, FC_FEATURES_base},
#if defined(FC_HAVE_avx2)
    {fc_rows_f32_avx2, fc_rows_f64_avx2, fc_csum_f32_avx2, fc_csum_f64_avx2,
     fc_wg_in_f32_avx2, fc_wg_in_f64_avx2, fc_wg_out_f32_avx2, fc_wg_out_f64_avx2,
     fc_mc_f32_avx2, fc_mc_f64_avx2, "AVX2+FMA", 0, 0, FC_FEATURES_avx2},
#endif
#if defined(FC_HAVE_avx512)
    {fc_rows_f32_avx512, fc_rows_f64_avx512, fc_csum_f32_avx512, fc_csum_f64_avx512,
     fc_wg_in_f32_avx512, fc_wg_in_f64_avx512, fc_wg_out_f32_avx512, fc_wg_out_f64_avx512,
     fc_mc_f32_avx512, fc_mc_f64_avx512, "AVX-512", 0, 0, FC_FEATURES_avx512},
#endif
};

#define FC_NSETS ((int)(sizeof(fc_sets) / sizeof(fc_sets[0])))

static void
fc_fill_rows(void)
{
    int i = 0;
    fc_sets[i].mc_channels = fc_mc_channels_base;
    fc_sets[i++].rows = fc_block_rows_base;
#if defined(FC_HAVE_avx2)
    fc_sets[i].mc_channels = fc_mc_channels_avx2;
    fc_sets[i++].rows = fc_block_rows_avx2;
#endif
#if defined(FC_HAVE_avx512)
    fc_sets[i].mc_channels = fc_mc_channels_avx512;
    fc_sets[i++].rows = fc_block_rows_avx512;
#endif
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

/* XCR0 bits the OS sets when it saves the registers on a context switch:
   SSE | AVX (YMM upper halves), plus opmask | ZMM upper halves | ZMM16-31. */
#define FC_STATE_YMM 0x06u
#define FC_STATE_ZMM 0xe6u

enum { FC_EBX, FC_ECX, FC_EDX };

typedef struct {
    const char *name; /* as in -m<name> */
    unsigned leaf;    /* CPUID leaf (subleaf 0) */
    int reg;
    unsigned bit;
    unsigned state;   /* XCR0 bits the feature's registers need */
} fc_feature;

static const fc_feature fc_features[] = {
    {"avx", 1, FC_ECX, 28, FC_STATE_YMM},
    {"fma", 1, FC_ECX, 12, FC_STATE_YMM},
    {"avx2", 7, FC_EBX, 5, FC_STATE_YMM},
    {"avx512f", 7, FC_EBX, 16, FC_STATE_ZMM},
    {"avx512dq", 7, FC_EBX, 17, FC_STATE_ZMM},
    {"avx512bw", 7, FC_EBX, 30, FC_STATE_ZMM},
    {"avx512vl", 7, FC_EBX, 31, FC_STATE_ZMM},
};

static unsigned
fc_os_state(void)
{
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return 0;
    /* xgetbv by its encoding: no -mxsave needed for the baseline unit. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
}

int
fc_cpu_has(const char *name)
{
    unsigned r[3], a, state;
    for (size_t i = 0; i < sizeof(fc_features) / sizeof(fc_features[0]); ++i) {
        const fc_feature *f = &fc_features[i];
        if (strcmp(name, f->name) != 0)
            continue;
        if (!__get_cpuid_count(f->leaf, 0, &a, &r[FC_EBX], &r[FC_ECX], &r[FC_EDX]))
            return 0;
        if (!(r[f->reg] & (1u << f->bit)))
            return 0;
        state = f->state ? fc_os_state() : 0;
        return (state & f->state) == f->state;
    }
    return -1;
}
#else
int
fc_cpu_has(const char *name)
{
    (void)name;
    return -1;
}
#endif

int
fc_direct_supported(const fc_direct_kernels *k)
{
    const char *p = k->features;
    char name[32];
    while (*p) {
        size_t n = strcspn(p, ",");
        /* An unknown or overlong name counts as missing: never guess. */
        if (n == 0 || n >= sizeof(name))
            return 0;
        memcpy(name, p, n);
        name[n] = '\0';
        if (fc_cpu_has(name) != 1)
            return 0;
        p += n;
        if (*p == ',')
            ++p;
    }
    return 1;
}

int
fc_direct_count(void)
{
    return FC_NSETS;
}

const fc_direct_kernels *
fc_direct_at(int i)
{
    fc_fill_rows();
    return (i >= 0 && i < FC_NSETS) ? &fc_sets[i] : NULL;
}

const fc_direct_kernels *
fc_direct_by_name(const char *name)
{
    fc_fill_rows();
    for (int i = 0; i < FC_NSETS; ++i)
        if (strcmp(name, fc_sets[i].isa) == 0)
            return fc_direct_supported(&fc_sets[i]) ? &fc_sets[i] : NULL;
    return NULL;
}

const fc_direct_kernels *
fc_direct_select(void)
{
    fc_fill_rows();
    for (int i = FC_NSETS - 1; i > 0; --i)
        if (fc_direct_supported(&fc_sets[i]))
            return &fc_sets[i];
    return &fc_sets[0];
}
