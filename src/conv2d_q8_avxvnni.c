/* AVX-VNNI micro-kernels of the int8 convolution (conv2d_q8.c) and the batch-1
 * int8 dense layer (dense_q8.c), for the avx2 path: the VEX-encoded vpdpbusd on
 * ymm registers that CPUs without AVX-512 have (Intel Alder Lake and later
 * client parts, the N100's Gracemont cores; also Sapphire Rapids and later).
 *
 * 6 output pixels x 16 channels (one panel16 panel) per step: 12 int32
 * accumulators, 2 weight vectors and a broadcast fill 15 of the 16 ymm
 * registers, so a call runs its panels in turn. Without AVX-512's vpermb, each
 * stored 4 x 16 block ([k][channel], 64 bytes) takes 6 shuffles into vpdpbusd's
 * order (a channel's 4 weights in one 32-bit lane): per 32-byte half (2 rows)
 * one vpermq gathers each row's channels 0-7 into the low lane and 8-15 into the
 * high one and one vpshufb pairs the two rows' bytes per channel; unpacking the
 * halves' 16-bit pairs then gives channels 0-3 | 8-11 and 4-7 | 12-15, which
 * two lane swaps put back in order in the epilogue. 6 shuffles per 12 vpdpbusd.
 *
 * The integer sums are exact and the epilogue takes the portable kernel's float
 * steps, so results agree bitwise with every other int8 path. Compiled for any
 * x86-64 target; called only where the CPU has AVX-VNNI, AVX2 and FMA
 * (pci_int8_dot_available on the avx2 path). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define MR PCI_Q8_MR_MAX
#define TARGET __attribute__((target("avx2,fma,avxvnni")))

enum { STORE_F32, STORE_F32_STREAM, STORE_U8 };

/* Bytes 0-7 of each lane (row a's channels) and 8-15 (row b's) into pairs (a, b) per channel. */
TARGET static inline __attribute__((always_inline)) __m256i pair_rows(const int8_t *two_rows) {
    const __m256i pairs = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 0, 8, 1, 9, 2, 10, 3,
                                           11, 4, 12, 5, 13, 6, 14, 7, 15);
    const __m256i v = _mm256_permute4x64_epi64(_mm256_loadu_si256((const __m256i *)(const void *)two_rows), 0xD8);
    return _mm256_shuffle_epi8(v, pairs);
}

/* The 4 x 16 block at w in vpdpbusd's order: *w0 channels 0-3 | 8-11, *w1 channels 4-7 | 12-15. */
TARGET static inline __attribute__((always_inline)) void interleave_block(const int8_t *w, __m256i *w0, __m256i *w1) {
    const __m256i r01 = pair_rows(w), r23 = pair_rows(w + 2 * PCI_NR);
    *w0 = _mm256_unpacklo_epi16(r01, r23);
    *w1 = _mm256_unpackhi_epi16(r01, r23);
}

/* The generic quantizer's steps on 8 floats: clamp(nearbyint(clamp(v * inv, +-256)) + zp, 0, 255). */
TARGET static inline __attribute__((always_inline)) __m128i quantize8(__m256 v, __m256 inv, __m256i zp) {
    __m256 t = _mm256_mul_ps(v, inv);
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-256.0f)), _mm256_set1_ps(256.0f)); /* NaN -> -256 */
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), zp);
    const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    return _mm_packus_epi16(w16, w16); /* bytes 0-7, saturated to 0..255 */
}

/* One panel (nc <= 16 channels) for mr <= MR pixels. */
TARGET static inline __attribute__((always_inline)) void vnni_panel(
    const int STORE, int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w, float *c, uint8_t *q,
    size_t ldc, int mr, int nc, const float *cs, const float *bias, const int32_t *comp, const float *clamp,
    float inv, int zp) {
    __m256i acc[MR][2];
    for (int m = 0; m < MR; m++) acc[m][0] = acc[m][1] = _mm256_setzero_si256();
    for (int t = 0; t < ntaps; t++) {
        const uint8_t *const *at = a + t * astride;
        const int8_t *wt = w + (size_t)t * kc * PCI_NR;
#pragma GCC unroll 2
        for (int k = 0; k < kc; k += 4) {
            __m256i w0, w1;
            interleave_block(wt + (size_t)k * PCI_NR, &w0, &w1);
            for (int m = 0; m < MR; m++) {
                int32_t four;
                memcpy(&four, at[m] + k, 4);
                const __m256i xb = _mm256_set1_epi32(four);
                acc[m][0] = _mm256_dpbusd_avx_epi32(acc[m][0], xb, w0);
                acc[m][1] = _mm256_dpbusd_avx_epi32(acc[m][1], xb, w1);
            }
        }
    }
    /* the panel's parameters, zero past nc, so every load below is whole */
    float s16[PCI_NR] = {0}, b16[PCI_NR] = {0};
    int32_t c16[PCI_NR] = {0};
    memcpy(s16, cs, sizeof(float) * (size_t)nc);
    if (bias) memcpy(b16, bias, sizeof(float) * (size_t)nc);
    if (comp) memcpy(c16, comp, sizeof(int32_t) * (size_t)nc);
    const __m256 lo = _mm256_set1_ps(clamp ? clamp[0] : 0.0f), hi = _mm256_set1_ps(clamp ? clamp[1] : 0.0f);
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i vzp = _mm256_set1_epi32(zp);
    for (int m = 0; m < mr; m++) {
        const __m256i half[2] = {_mm256_permute2x128_si256(acc[m][0], acc[m][1], 0x20),  /* channels 0-7 */
                                 _mm256_permute2x128_si256(acc[m][0], acc[m][1], 0x31)}; /* 8-15 */
        for (int h = 0; h < 2; h++) {
            const int lanes = PCI_MIN(8, nc - 8 * h);
            if (lanes <= 0) break;
            const __m256i sum = _mm256_sub_epi32(half[h], _mm256_loadu_si256((const __m256i *)(const void *)(c16 + 8 * h)));
            __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_loadu_ps(s16 + 8 * h), _mm256_loadu_ps(b16 + 8 * h));
            if (clamp) v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            if (STORE == STORE_U8) {
                const __m128i bytes = quantize8(v, vinv, vzp);
                uint8_t *dst = q + (size_t)m * ldc + 8 * h;
                if (lanes == 8) _mm_storel_epi64((__m128i *)(void *)dst, bytes);
                else {
                    uint8_t tmp[16];
                    _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
                    memcpy(dst, tmp, (size_t)lanes);
                }
                continue;
            }
            float *dst = c + (size_t)m * ldc + 8 * h;
            if (lanes == 8) {
                if (STORE == STORE_F32_STREAM && !((uintptr_t)dst & 31)) _mm256_stream_ps(dst, v); /* the caller fences */
                else _mm256_storeu_ps(dst, v);
            } else {
                float tmp[8];
                _mm256_storeu_ps(tmp, v);
                memcpy(dst, tmp, sizeof(float) * (size_t)lanes);
            }
        }
    }
}

/* A call's rows over its panels in turn (nc <= 16 * PCI_Q8_PANELS). */
TARGET static inline __attribute__((always_inline)) void vnni_call(
    const int STORE, int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w, size_t panel_stride,
    float *c, uint8_t *q, size_t ldc, int mr, int nc, const float *cs, const float *bias, const int32_t *comp,
    const float *clamp, float inv, int zp) {
    for (int p = 0; p * PCI_NR < nc; p++) {
        const int o = p * PCI_NR;
        vnni_panel(STORE, ntaps, kc, a, astride, w + (size_t)p * panel_stride, c ? c + o : NULL, q ? q + o : NULL,
                   ldc, mr, PCI_MIN(PCI_NR, nc - o), cs + o, bias ? bias + o : NULL, comp ? comp + o : NULL, clamp,
                   inv, zp);
    }
}

TARGET static void q8_avxvnni(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                              size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,
                              const float *bias, const int32_t *comp, const float *clamp) {
    vnni_call(STORE_F32, ntaps, kc, a, astride, w, panel_stride, c, NULL, ldc, mr, nc, cs, bias, comp, clamp, 1.0f, 0);
}

TARGET static void q8_avxvnni_nt(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                                 size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,
                                 const float *bias, const int32_t *comp, const float *clamp) {
    vnni_call(STORE_F32_STREAM, ntaps, kc, a, astride, w, panel_stride, c, NULL, ldc, mr, nc, cs, bias, comp, clamp,
              1.0f, 0);
}

TARGET static void q8_avxvnni_u8(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                                 size_t panel_stride, uint8_t *q, size_t ldq, int mr, int nc, const float *cs,
                                 const float *bias, const int32_t *comp, const float *clamp, float inv, int zp) {
    vnni_call(STORE_U8, ntaps, kc, a, astride, w, panel_stride, NULL, q, ldq, mr, nc, cs, bias, comp, clamp, inv, zp);
}

TARGET static void q8_minmax_avx2(const float *x, size_t n, float *lo, float *hi) {
    __m256 a = _mm256_set1_ps(x[0]), b = a, nan = _mm256_setzero_ps(); /* min/max_ps would drop a NaN */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        a = _mm256_min_ps(a, v), b = _mm256_max_ps(b, v);
    }
    float la[8], ha[8];
    _mm256_storeu_ps(la, a), _mm256_storeu_ps(ha, b);
    int any_nan = _mm256_movemask_ps(nan) != 0;
    float l = la[0], h = ha[0];
    for (int j = 1; j < 8; j++) l = la[j] < l ? la[j] : l, h = ha[j] > h ? ha[j] : h;
    for (; i < n; i++) {
        any_nan |= x[i] != x[i];
        l = x[i] < l ? x[i] : l, h = x[i] > h ? x[i] : h;
    }
    *lo = any_nan ? NAN : l, *hi = any_nan ? NAN : h;
}

TARGET static void q8_quantize_avx2(const float *x, size_t n, float inv, int zp, uint8_t *q) {
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i vzp = _mm256_set1_epi32(zp);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm_storel_epi64((__m128i *)(void *)(q + i), quantize8(_mm256_loadu_ps(x + i), vinv, vzp));
    if (i < n) { /* the last 1-7, through a zero-padded block */
        float tail[8] = {0};
        uint8_t out[16];
        memcpy(tail, x + i, sizeof(float) * (n - i));
        _mm_storeu_si128((__m128i *)(void *)out, quantize8(_mm256_loadu_ps(tail), vinv, vzp));
        memcpy(q + i, out, n - i);
    }
}

/* 8 rows of the batch-1 dense layer: per 4 rows one interleave and two vpdpbusd
 * (two more against ones for the weight sums), in two chains (u) that cover
 * vpdpbusd's latency. */
TARGET static inline __attribute__((always_inline)) void gemv_rows8(const uint8_t *xq, const int8_t *w, int sums,
                                                                     __m256i d[2][2], __m256i s[2][2]) {
    const __m256i ones = _mm256_set1_epi8(1);
    for (int u = 0; u < 2; u++) {
        __m256i w0, w1;
        interleave_block(w + (size_t)4 * u * PCI_NR, &w0, &w1);
        int32_t four;
        memcpy(&four, xq + 4 * u, 4);
        const __m256i xb = _mm256_set1_epi32(four);
        d[u][0] = _mm256_dpbusd_avx_epi32(d[u][0], xb, w0), d[u][1] = _mm256_dpbusd_avx_epi32(d[u][1], xb, w1);
        if (sums) s[u][0] = _mm256_dpbusd_avx_epi32(s[u][0], ones, w0), s[u][1] = _mm256_dpbusd_avx_epi32(s[u][1], ones, w1);
    }
}

/* The batch-1 dense layer's 16 channels (pci_q8_kernels.gemv). Memory-bound: it
 * streams the int8 weights once. The last k % 8 rows go through a zero-padded
 * block (zero weights add nothing to either sum). */
TARGET static void q8_gemv_avxvnni(int k, const uint8_t *xq, const int8_t *w, int32_t *dot, int32_t *wsum) {
    __m256i d[2][2], s[2][2];
    for (int u = 0; u < 2; u++) d[u][0] = d[u][1] = s[u][0] = s[u][1] = _mm256_setzero_si256();
    int i = 0;
    for (; i + 8 <= k; i += 8) gemv_rows8(xq + i, w + (size_t)i * PCI_NR, wsum != NULL, d, s);
    if (i < k) {
        int8_t wt[8 * PCI_NR] = {0};
        uint8_t xt[8] = {0};
        memcpy(wt, w + (size_t)i * PCI_NR, (size_t)(k - i) * PCI_NR);
        memcpy(xt, xq + i, (size_t)(k - i));
        gemv_rows8(xt, wt, wsum != NULL, d, s);
    }
    for (int h = 0; h < 2; h++) { /* back to channel order: 0-3 | 8-11 and 4-7 | 12-15 */
        const __m256i d0 = _mm256_add_epi32(d[0][0], d[1][0]), d1 = _mm256_add_epi32(d[0][1], d[1][1]);
        const __m256i s0 = _mm256_add_epi32(s[0][0], s[1][0]), s1 = _mm256_add_epi32(s[0][1], s[1][1]);
        const int sel = h ? 0x31 : 0x20;
        _mm256_storeu_si256((__m256i *)(void *)(dot + 8 * h), _mm256_permute2x128_si256(d0, d1, sel));
        if (wsum) _mm256_storeu_si256((__m256i *)(void *)(wsum + 8 * h), _mm256_permute2x128_si256(s0, s1, sel));
    }
}

#define Q8_AVXVNNI4(F) {F, F, F, F}
const pci_q8_kernels pci_q8_avxvnni = {Q8_AVXVNNI4(q8_avxvnni), Q8_AVXVNNI4(q8_avxvnni_nt), Q8_AVXVNNI4(q8_avxvnni_u8),
                                       q8_minmax_avx2, q8_quantize_avx2, 0, q8_gemv_avxvnni,
                                       PCI_Q8_NAMES("AVX-VNNI", "AVX-VNNI")};
#endif
