/* Convolution of thin layers on AVX2 + FMA: few input channels (cin <= 4) and
 * at most 8 output channels, e.g. LeNet-5's 5x5x1 -> 6 first layer. The GEMM
 * path would fill 6 of 16 lanes with output channels; here the 8 lanes of a
 * ymm register hold 8 neighbouring output pixels of one row and each output
 * channel has its own accumulator, so every lane does useful work (the AVX2
 * sibling of conv2d_thin_avx512.c). Each output is a sum over taps in the
 * fixed order (i, j, ci): results do not depend on the thread count. */
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

/* G groups of 8 pixels starting at output column ow0 of output row oh, KK
 * accumulators each (K rounded up to 4, 6 or 8; compile-time constants at each
 * call so they live in registers; weights are zero beyond K, never stored).
 * G * KK <= 12 leaves registers for the input vectors and a weight broadcast. */
TARGET static inline __attribute__((always_inline)) void thin8_groups(
    const int KK, const int G, const float *xn, const float *w, const float *bias, float *out,
    const pci_conv_shape *s, pci_act act, const float *clamp, int oh, int ow0) {
    const int C = s->c, K = s->oc, W = s->w, H = s->h, OW = s->ow, kw = s->kw;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc[2][8];
    int count[2];
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        count[g] = PCI_MIN(8, OW - (ow0 + 8 * g));
#pragma GCC unroll 8
        for (int k = 0; k < KK; k++) acc[g][k] = _mm256_set1_ps(bias && k < K ? bias[k] : 0.0f);
    }
    /* Per group and tap column: lane v reads input column (start + v) * sw - pad_l + j * dw,
     * where that lies inside [0, W) and v is a live pixel (computed once per call, not per tap). */
    __m256i mask[2][16], idx[2][16];
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(count[g]), lane);
        const __m256i col0 = _mm256_sub_epi32(
            _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(ow0 + 8 * g)), _mm256_set1_epi32(s->sw)),
            _mm256_set1_epi32(s->pad_l));
        for (int j = 0; j < kw; j++) {
            const __m256i col = _mm256_add_epi32(col0, _mm256_set1_epi32(j * s->dw));
            mask[g][j] = _mm256_and_si256(_mm256_and_si256(live, _mm256_cmpgt_epi32(col, _mm256_set1_epi32(-1))),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(W), col));
            idx[g][j] = _mm256_mullo_epi32(col, _mm256_set1_epi32(C));
        }
    }
    for (int i = 0; i < s->kh; i++) {
        const int ih = oh * s->sh - s->pad_t + i * s->dh;
        if ((unsigned)ih >= (unsigned)H) continue;
        const float *row = xn + (size_t)ih * W * C;
        for (int j = 0; j < kw; j++) {
            for (int ci = 0; ci < C; ci++) {
                __m256 xv[2];
#pragma GCC unroll 2
                for (int g = 0; g < G; g++) {
                    if (C == 1 && s->sw == 1) /* contiguous lanes: a masked load (masked lanes never fault) */
                        xv[g] = _mm256_maskload_ps(row + (ow0 + 8 * g) - s->pad_l + j * s->dw, mask[g][j]);
                    else
                        xv[g] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row + ci, idx[g][j],
                                                         _mm256_castsi256_ps(mask[g][j]), 4);
                }
                const float *wk = w + ((size_t)(i * kw + j) * C + ci) * PCI_NR;
#pragma GCC unroll 8
                for (int k = 0; k < KK; k++) {
                    const __m256 wv = _mm256_broadcast_ss(wk + k);
#pragma GCC unroll 2
                    for (int g = 0; g < G; g++) acc[g][k] = _mm256_fmadd_ps(xv[g], wv, acc[g][k]);
                }
            }
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        if (clamp)
#pragma GCC unroll 8
            for (int k = 0; k < KK; k++)
                acc[g][k] = _mm256_min_ps(_mm256_max_ps(acc[g][k], _mm256_set1_ps(clamp[0])), _mm256_set1_ps(clamp[1]));
        /* (channels x 8 pixels) -> NHWC through a small buffer: K x 8 scalar moves
         * per 8 pixels, against kh x kw x C x KK vector FMAs. */
        float t[8][8];
#pragma GCC unroll 8
        for (int k = 0; k < KK; k++) _mm256_storeu_ps(t[k], acc[g][k]);
        float *base = out + (size_t)(ow0 + 8 * g) * K;
        for (int v = 0; v < count[g]; v++)
            for (int k = 0; k < K; k++) base[(size_t)v * K + k] = t[k][v];
        if (!clamp && !pci_act_is_row(act) && act.kind != PCI_ACT_LINEAR)
            pci_act_inplace(base, (size_t)count[g] * K, act, PCI_ISA_AVX2);
    }
}

TARGET static void thin8_row(const float *x, const float *w, const float *bias, float *y, const pci_conv_shape *s,
                             pci_act act, const float *clamp, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const float *xn = x + (size_t)n * s->h * s->w * s->c;
    float *out = y + (size_t)r * s->ow * s->oc;
    /* Two groups of 8 pixels share each weight broadcast while 2 KK <= 12. */
#define PCI_THIN8_ROW(KK, G2)                                                                               \
    do {                                                                                                    \
        int ow0 = 0;                                                                                        \
        if (G2)                                                                                             \
            for (; ow0 + 8 < s->ow; ow0 += 16) thin8_groups(KK, 2, xn, w, bias, out, s, act, clamp, oh, ow0); \
        for (; ow0 < s->ow; ow0 += 8) thin8_groups(KK, 1, xn, w, bias, out, s, act, clamp, oh, ow0);          \
    } while (0)
    if (s->oc <= 4) PCI_THIN8_ROW(4, 1);
    else if (s->oc <= 6) PCI_THIN8_ROW(6, 1);
    else PCI_THIN8_ROW(8, 0);
#undef PCI_THIN8_ROW
}

TARGET void pci_conv2d_thin_avx2(const float *x, const float *w, const float *bias, float *y,
                                 const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const int nt = pci_threads_for(ctx, (double)rows * s->ow * s->oc * s->kh * s->kw * s->c);
    PCI_FOR(nt, long r = 0, r < rows, r++, { thin8_row(x, w, bias, y, s, act, fused ? clamp : NULL, r); });
    if (pci_act_is_row(act)) pci_activation(y, (size_t)rows * s->ow, s->oc, act, ctx);
}
#endif
