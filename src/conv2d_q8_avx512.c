/* AVX-512 VNNI micro-kernels of the int8 convolution (conv2d_q8.c): 6 output
 * pixels x up to 64 channels (4 panels), 24 int32 accumulators (6 x 4 measured
 * 5-6% faster than 12 x 2 and 8 x 3 on VGG16's layers: fewer pixel pointers than
 * registers, so none spill). Per 4 input channels: per panel one 64-byte load of
 * the stored panel16 block (4 rows of 16 channels) and one vpermb interleaving it
 * to the 16 x 4 order vpdpbusd sums; per pixel one broadcast of its 4 uint8
 * inputs and one vpdpbusd (64 multiply-adds) per panel.
 * Compiled for any x86-64 target; called only when the CPU has AVX-512 VNNI,
 * VBMI, BW and VL (pci_int8_dot_available). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define MR PCI_Q8_MR_MAX
/* Each 6-pixel call streams its 64 channels' whole kernel (up to 295 KB: L2, not L1);
 * prefetching the k-steps 32 ahead into L1 took VGG16's 3x3 layers from 437 to 452
 * GOP/s on one core (AMD EPYC Zen 4; 16, 64 and 128 ahead measured the same; weights
 * held in L1 for a timing-only run gave 456). Prefetches past the end never fault. */
#define Q8_PREFETCH 32
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma")))

/* The vpermb index that turns a stored panel16 block of 4 rows x 16 channels into
 * vpdpbusd's order: byte 4 o + j of the result = byte 16 j + o (channel o, input j). */
TARGET static inline __attribute__((always_inline)) __m512i q8_interleave(void) {
    return _mm512_set_epi8(63, 47, 31, 15, 62, 46, 30, 14, 61, 45, 29, 13, 60, 44, 28, 12, 59, 43, 27, 11, 58, 42, 26,
                           10, 57, 41, 25, 9, 56, 40, 24, 8, 55, 39, 23, 7, 54, 38, 22, 6, 53, 37, 21, 5, 52, 36, 20, 4,
                           51, 35, 19, 3, 50, 34, 18, 2, 49, 33, 17, 1, 48, 32, 16, 0);
}

/* How q8_body stores: float32 (plainly or streamed), or uint8 quantized with inv and zp
 * by exactly the steps of q8_quantize_avx512 below (the next layer's quantizer). */
enum { STORE_F32, STORE_F32_STREAM, STORE_U8 };

TARGET static inline __attribute__((always_inline)) void q8_body(
    const int STORE, const int P, int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
    size_t panel_stride, float *c, uint8_t *q, size_t ldc, int mr, int nc, const float *cs, const float *bias,
    const int32_t *comp, const float *clamp, float inv, int zp) {
    const __m512i interleave = q8_interleave();
    __m512i acc[MR][4];
    for (int m = 0; m < MR; m++)
        for (int p = 0; p < P; p++) acc[m][p] = _mm512_setzero_si512();
    for (int t = 0; t < ntaps; t++) {
        const uint8_t *const *at = a + t * astride;
        const int8_t *wt = w + (size_t)t * kc * PCI_NR;
#pragma GCC unroll 2
        for (int k = 0; k < kc; k += 4) {
            __m512i wv[4];
            for (int p = 0; p < P; p++) {
                _mm_prefetch((const char *)(wt + p * panel_stride + (size_t)(k + Q8_PREFETCH) * PCI_NR), _MM_HINT_T0);
                wv[p] = _mm512_permutexvar_epi8(interleave,
                                                _mm512_loadu_si512(wt + p * panel_stride + (size_t)k * PCI_NR));
            }
            for (int m = 0; m < MR; m++) {
                int32_t four;
                memcpy(&four, at[m] + k, 4);
                const __m512i xb = _mm512_set1_epi32(four);
                for (int p = 0; p < P; p++) acc[m][p] = _mm512_dpbusd_epi32(acc[m][p], xb, wv[p]);
            }
        }
    }
    for (int p = 0; p < P; p++) {
        const int lanes = PCI_MIN(PCI_NR, nc - p * PCI_NR);
        if (lanes <= 0) break;
        const __mmask16 mask = (__mmask16)((1u << lanes) - 1);
        const __m512 s = _mm512_maskz_loadu_ps(mask, cs + p * PCI_NR);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * PCI_NR) : _mm512_setzero_ps();
        const __m512i cm = comp ? _mm512_maskz_loadu_epi32(mask, comp + p * PCI_NR) : _mm512_setzero_si512();
        const __m512 lo = _mm512_set1_ps(clamp ? clamp[0] : 0.0f), hi = _mm512_set1_ps(clamp ? clamp[1] : 0.0f);
        for (int m = 0; m < mr; m++) {
            __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[m][p], cm)), s, b);
            if (clamp) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            if (STORE == STORE_U8) {
                __m512 t = _mm512_mul_ps(v, _mm512_set1_ps(inv));
                t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-256.0f)), _mm512_set1_ps(256.0f));
                const __m512i qi = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(zp)),
                                                    _mm512_setzero_si512());
                _mm_mask_storeu_epi8(q + (size_t)m * ldc + p * PCI_NR, mask, _mm512_cvtusepi32_epi8(qi));
                continue;
            }
            float *dst = c + (size_t)m * ldc + p * PCI_NR;
            if (STORE == STORE_F32_STREAM && lanes == PCI_NR && !((uintptr_t)dst & 63))
                _mm512_stream_ps(dst, v); /* the caller fences */
            else _mm512_mask_storeu_ps(dst, mask, v);
        }
    }
}

/* The entries for P panels: float32 stored plainly or streamed, and uint8. */
#define Q8_VNNI(NAME, STORE, P)                                                                                  \
    TARGET static void NAME(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,            \
                            size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,          \
                            const float *bias, const int32_t *comp, const float *clamp) {                        \
        q8_body(STORE, P, ntaps, kc, a, astride, w, panel_stride, c, NULL, ldc, mr, nc, cs, bias, comp, clamp,   \
                1.0f, 0);                                                                                        \
    }
#define Q8_VNNI_U8(NAME, P)                                                                                      \
    TARGET static void NAME(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,            \
                            size_t panel_stride, uint8_t *q, size_t ldq, int mr, int nc, const float *cs,        \
                            const float *bias, const int32_t *comp, const float *clamp, float inv, int zp) {     \
        q8_body(STORE_U8, P, ntaps, kc, a, astride, w, panel_stride, NULL, q, ldq, mr, nc, cs, bias, comp,       \
                clamp, inv, zp);                                                                                 \
    }
Q8_VNNI(q8_vnni_1, STORE_F32, 1)
Q8_VNNI(q8_vnni_2, STORE_F32, 2)
Q8_VNNI(q8_vnni_3, STORE_F32, 3)
Q8_VNNI(q8_vnni_4, STORE_F32, 4)
Q8_VNNI(q8_vnni_nt_1, STORE_F32_STREAM, 1)
Q8_VNNI(q8_vnni_nt_2, STORE_F32_STREAM, 2)
Q8_VNNI(q8_vnni_nt_3, STORE_F32_STREAM, 3)
Q8_VNNI(q8_vnni_nt_4, STORE_F32_STREAM, 4)
Q8_VNNI_U8(q8_vnni_u8_1, 1)
Q8_VNNI_U8(q8_vnni_u8_2, 2)
Q8_VNNI_U8(q8_vnni_u8_3, 3)
Q8_VNNI_U8(q8_vnni_u8_4, 4)

TARGET static void q8_minmax_avx512(const float *x, size_t n, float *lo, float *hi) {
    __m512 a = _mm512_set1_ps(x[0]), b = a;
    __mmask16 nan = 0; /* min/max_ps would drop a NaN (they return their second operand) */
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        a = _mm512_min_ps(a, v), b = _mm512_max_ps(b, v);
    }
    float l = _mm512_reduce_min_ps(a), h = _mm512_reduce_max_ps(b);
    for (; i < n; i++) {
        nan |= x[i] != x[i];
        l = x[i] < l ? x[i] : l, h = x[i] > h ? x[i] : h;
    }
    *lo = nan ? NAN : l, *hi = nan ? NAN : h;
}

TARGET static void q8_quantize_avx512(const float *x, size_t n, float inv, int zp, uint8_t *q) {
    const __m512 vinv = _mm512_set1_ps(inv), vlo = _mm512_set1_ps(-256.0f), vhi = _mm512_set1_ps(256.0f);
    const __m512i vzp = _mm512_set1_epi32(zp), zero = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 mask = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + i), vinv);
        t = _mm512_min_ps(_mm512_max_ps(t, vlo), vhi); /* NaN -> -256, as the generic path */
        const __m512i v = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(t), vzp), zero);
        _mm_mask_storeu_epi8(q + i, mask, _mm512_cvtusepi32_epi8(v)); /* saturates at 255 */
    }
}

/* The batch-1 dense layer's 16 channels (pci_q8_kernels.gemv): per 4 rows one 64-byte load,
 * one vpermb into vpdpbusd's order and one vpdpbusd (and one more against ones for the
 * weight sums); four chains cover vpdpbusd's latency. It streams the int8 weights once:
 * memory-bound, where the float32 GEMV's widening (4 instructions per 16 weights) was not. */
TARGET static void q8_gemv_avx512(int k, const uint8_t *xq, const int8_t *w, int32_t *dot, int32_t *wsum) {
    const __m512i interleave = q8_interleave();
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i d[4], s[4];
    for (int u = 0; u < 4; u++) d[u] = s[u] = _mm512_setzero_si512();
    int i = 0;
    for (; i + 16 <= k; i += 16)
        for (int u = 0; u < 4; u++) {
            const __m512i wv = _mm512_permutexvar_epi8(interleave, _mm512_loadu_si512(w + (size_t)(i + 4 * u) * PCI_NR));
            int32_t four;
            memcpy(&four, xq + i + 4 * u, 4);
            d[u] = _mm512_dpbusd_epi32(d[u], _mm512_set1_epi32(four), wv);
            if (wsum) s[u] = _mm512_dpbusd_epi32(s[u], ones, wv);
        }
    __m512i dt = _mm512_add_epi32(_mm512_add_epi32(d[0], d[1]), _mm512_add_epi32(d[2], d[3]));
    __m512i st = _mm512_add_epi32(_mm512_add_epi32(s[0], s[1]), _mm512_add_epi32(s[2], s[3]));
    for (; i < k; i++) { /* the last rows, one at a time */
        const __m512i row = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(w + (size_t)i * PCI_NR)));
        dt = _mm512_add_epi32(dt, _mm512_mullo_epi32(row, _mm512_set1_epi32(xq[i])));
        st = _mm512_add_epi32(st, row);
    }
    _mm512_storeu_si512(dot, dt);
    if (wsum) _mm512_storeu_si512(wsum, st);
}

const pci_q8_kernels pci_q8_avx512vnni = {{q8_vnni_1, q8_vnni_2, q8_vnni_3, q8_vnni_4},
                                           {q8_vnni_nt_1, q8_vnni_nt_2, q8_vnni_nt_3, q8_vnni_nt_4},
                                           {q8_vnni_u8_1, q8_vnni_u8_2, q8_vnni_u8_3, q8_vnni_u8_4},
                                           q8_minmax_avx512, q8_quantize_avx512, 0,
                                           q8_gemv_avx512,
                                           PCI_Q8_NAMES("AVX-512 VNNI", "AVX-512 VNNI")};
#endif
