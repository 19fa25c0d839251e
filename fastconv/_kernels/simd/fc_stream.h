/*
 * Copies whose destination bypasses the caches (non-temporal stores), for
 * outputs far larger than the last-level cache: an ordinary store first
 * reads the line it writes (read for ownership), so writing N bytes moves
 * 2N; a full-line non-temporal store moves N. The destination is written in
 * whole 64-byte runs, consecutively, so that each write-combining buffer
 * leaves full. fc_stream_fence orders them before later stores of any
 * thread (call it before the data is handed on).
 */
#ifndef FC_STREAM_H
#define FC_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>

static inline void
fc_stream_copy(void *dst, const void *src, size_t nbytes)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t head = (size_t)(-(uintptr_t)d) & 15u;
    if (head > nbytes)
        head = nbytes;
    memcpy(d, s, head);
    d += head;
    s += head;
    nbytes -= head;
    for (; nbytes >= 64; nbytes -= 64, d += 64, s += 64) {
        const __m128i a = _mm_loadu_si128((const __m128i *)s);
        const __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        const __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        const __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_stream_si128((__m128i *)d, a);
        _mm_stream_si128((__m128i *)(d + 16), b);
        _mm_stream_si128((__m128i *)(d + 32), c);
        _mm_stream_si128((__m128i *)(d + 48), e);
    }
    memcpy(d, s, nbytes);
}

static inline void fc_stream_fence(void) { _mm_sfence(); }
#define FC_HAVE_STREAM 1

#else
static inline void
fc_stream_copy(void *dst, const void *src, size_t nbytes) { memcpy(dst, src, nbytes); }
static inline void fc_stream_fence(void) {}
#define FC_HAVE_STREAM 0
#endif

#endif
