/* Convolution of thin layers on AVX-512: few input channels (cin <= 4) and at
 * most 16 output channels, e.g. the first layer of a grayscale CNN (LeNet-5's
 * 5x5x1 -> 6). The GEMM path would fill 6 of 16 lanes with output channels;
 * here the 16 lanes hold 16 neighbouring output pixels of one row and each
 * output channel has its own accumulator, so every lane does useful work.
 * Each output is a sum over taps in the fixed order (i, j, ci): results do
 * not depend on the thread count. */
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx2,fma")))

/* One output row. KK accumulators (8 or 16, a compile-time constant at each
 * call so they live in registers); the packed weights are zero beyond K, so
 * the extra ones are harmless and never stored. */
TARGET static inline __attribute__((always_inline)) void thin_row(
    const int KK, const float *x, const float *w, const float *bias, float *y, const pci_conv_shape *s,
    pci_act act, int fused, const float *clamp, long r) {
    const int C = s->c, K = s->oc, W = s->w, H = s->h, OW = s->ow;
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const float *xn = x + (size_t)n * H * W * C;
    float *out = y + (size_t)r * OW * K;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int ow0 = 0; ow0 < OW; ow0 += 16) {
        const int count = PCI_MIN(16, OW - ow0);
        __m512 acc[16];
        for (int k = 0; k < KK; k++) acc[k] = _mm512_set1_ps(bias && k < K ? bias[k] : 0.0f);
        /* input column of lane v for tap column 0: (ow0 + v) * sw - pad_l */
        const __m512i col0 = _mm512_sub_epi32(
            _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(ow0)), _mm512_set1_epi32(s->sw)),
            _mm512_set1_epi32(s->pad_l));
        const __mmask16 live = (__mmask16)((1u << count) - 1u);
        for (int i = 0; i < s->kh; i++) {
            const int ih = oh * s->sh - s->pad_t + i * s->dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            const float *row = xn + (size_t)ih * W * C;
            for (int j = 0; j < s->kw; j++) {
                const __m512i col = _mm512_add_epi32(col0, _mm512_set1_epi32(j * s->dw));
                const __mmask16 in = live & _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) &
                                     _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(W));
                const __m512i idx = _mm512_mullo_epi32(col, _mm512_set1_epi32(C));
                for (int ci = 0; ci < C; ci++) {
                    __m512 xv;
                    if (C == 1 && s->sw == 1) /* contiguous: a masked load (masked lanes never fault) */
                        xv = _mm512_maskz_loadu_ps(in, row + (ow0 - s->pad_l + j * s->dw));
                    else
                        xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, idx, row + ci, 4);
                    const float *wk = w + ((size_t)(i * s->kw + j) * C + ci) * PCI_NR;
                    for (int k = 0; k < KK; k++) acc[k] = _mm512_fmadd_ps(xv, _mm512_set1_ps(wk[k]), acc[k]);
                }
            }
        }
        float tmp[16][16];
        for (int k = 0; k < KK; k++) {
            if (fused) acc[k] = _mm512_min_ps(_mm512_max_ps(acc[k], _mm512_set1_ps(clamp[0])), _mm512_set1_ps(clamp[1]));
            _mm512_storeu_ps(tmp[k], acc[k]);
        }
        for (int v = 0; v < count; v++) {
            float *o = out + (size_t)(ow0 + v) * K;
            for (int k = 0; k < K; k++) o[k] = tmp[k][v];
            if (!fused && act.kind != PCI_ACT_SOFTMAX) pci_act_inplace(o, (size_t)K, act);
        }
    }
}

TARGET void pci_conv2d_thin_avx512(const float *x, const float *w, const float *bias, float *y,
                                   const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const int nt = pci_threads_for(ctx, (double)rows * s->ow * s->oc * s->kh * s->kw * s->c);
    const int wide = s->oc > 8;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < rows; r++) {
        if (wide) thin_row(16, x, w, bias, y, s, act, fused, clamp, r);
        else thin_row(8, x, w, bias, y, s, act, fused, clamp, r);
    }
    if (act.kind == PCI_ACT_SOFTMAX) pci_activation(y, (size_t)rows * s->ow, s->oc, act, ctx);
}
#endif
