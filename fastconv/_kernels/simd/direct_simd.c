/*
 * Instantiates the micro-kernels of direct_simd_impl.h for one instruction
 * set.  meson compiles this file once per ISA with -DFC_ISA_SUFFIX=...,
 * -DFC_VEC_BYTES=... and the matching -m flags.
 */
#include <string.h>
#include "direct_simd.h"

#ifndef FC_ISA_SUFFIX
#define FC_ISA_SUFFIX base
#endif
#ifndef FC_VEC_BYTES
#define FC_VEC_BYTES 16
#endif
#ifndef FC_ROWS
#define FC_ROWS 4
#endif
#if FC_ROWS > FC_ROWS_MAX
#error "FC_ROWS exceeds FC_ROWS_MAX"
#endif
#ifndef FC_CBLOCKS
#define FC_CBLOCKS 2
#endif

#define FC_ROWS_NAME_(sfx) fc_block_rows_##sfx
#define FC_ROWS_NAME(sfx) FC_ROWS_NAME_(sfx)
/* The driver blocks output rows by this height: exported from the same
   translation unit as the kernels so the two can never disagree. */
const int FC_ROWS_NAME(FC_ISA_SUFFIX) = FC_ROWS;

/* Channel block and accumulators of the layers' multi-channel kernel: as
   many as the register file holds beside the loaded vectors (16 registers
   below AVX-512, 32 with it). */
#if FC_VEC_BYTES == 64
#define FC_MC_CO_MAX 8
#define FC_MC_ACC 24
#else
#define FC_MC_CO_MAX 6
#define FC_MC_ACC 12
#endif
#define FC_MC_NAME_(sfx) fc_mc_channels_##sfx
#define FC_MC_NAME(sfx) FC_MC_NAME_(sfx)
const int FC_MC_NAME(FC_ISA_SUFFIX) = FC_MC_CO_MAX;

#define FC_CAT_(a, b, c) a##b##_##c
#define FC_CAT(a, b, c) FC_CAT_(a, b, c)

#define FC_T float
#define FC_TS f32
#define FC_TSIZE 4
#define FC_ALIGNR(hi, lo, n) _mm512_alignr_epi32(hi, lo, n)
#define FC_MASKLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define FC_MASKSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, (__m512)(v))
#define FC_MASK_T __mmask16
#define FC_NL_CONST 16
#include "direct_simd_impl.h"
#undef FC_T
#undef FC_TS
#undef FC_TSIZE
#undef FC_ALIGNR
#undef FC_MASKLOAD
#undef FC_MASKSTORE
#undef FC_MASK_T
#undef FC_NL_CONST

#define FC_T double
#define FC_TS f64
#define FC_TSIZE 8
#define FC_ALIGNR(hi, lo, n) _mm512_alignr_epi64(hi, lo, n)
#define FC_MASKLOAD(m, p) _mm512_maskz_loadu_pd(m, p)
#define FC_MASKSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, (__m512d)(v))
#define FC_MASK_T __mmask8
#define FC_NL_CONST 8
#include "direct_simd_impl.h"
#undef FC_T
#undef FC_TS
#undef FC_TSIZE
