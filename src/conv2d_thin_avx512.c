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

/* One output row. KK accumulators per group of 16 pixels (4, 6, 8 or 16, a
 * compile-time constant at each call so they live in registers); the packed
 * weights are zero beyond K, so the extra ones are harmless and never stored.
 * G groups (1 or 2) share each weight broadcast, and the per-column masks are
 * computed once per row, not per tap. */
/* Permutation tables of the NHWC store of 9 to 16 channels (see thin_groups). */
typedef struct {
    __m512i idx[16];
    __mmask16 mask[16][16];
} thin_transpose;

TARGET static void thin_transpose_init(thin_transpose *tt, int K) {
    for (int r = 0; r < K; r++) {
        int lanes[16];
        for (int k = 0; k < 16; k++) tt->mask[r][k] = 0;
        for (int e = 0; e < 16; e++) {
            const int q = 16 * r + e;
            lanes[e] = q / K;
            tt->mask[r][q % K] |= (__mmask16)(1u << e);
        }
        tt->idx[r] = _mm512_loadu_si512(lanes);
    }
}

/* Stores count (<= 16) pixels' K (<= KK <= 8) channels, NHWC, from the
 * channel-major accumulators acc[k] (lane v = pixel v): an 8x8 transpose run
 * in each 128-bit lane (unpacks, shuffles), then 128-bit lane shuffles pair
 * each pixel's channels 0-3 and 4-7: 32 shuffles for 16 pixels, against
 * K x KK masked permutes (with their mask loads) for the generic transpose.
 * A pixel's 8-float store runs past its K channels into the next pixel's,
 * which the next store rewrites; where fewer than 8 floats of the group are
 * left, a K-lane masked store: nothing outside count x K floats is written. */
TARGET static inline __attribute__((always_inline)) void store_nhwc16(const int KK, const __m512 *acc, int K,
                                                                      int count, float *base) {
    __m512 r[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) r[k] = k < KK ? acc[k] : _mm512_setzero_ps();
    const __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpackhi_ps(r[0], r[1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
    const __m512 t4 = _mm512_unpacklo_ps(r[4], r[5]), t5 = _mm512_unpackhi_ps(r[4], r[5]);
    const __m512 t6 = _mm512_unpacklo_ps(r[6], r[7]), t7 = _mm512_unpackhi_ps(r[6], r[7]);
    /* u[q], 128-bit lane L: pixel 4L + q's channels 0-3; u[4 + q]: its channels 4-7 */
    const __m512 u[8] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xEE),
                         _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xEE),
                         _mm512_shuffle_ps(t4, t6, 0x44), _mm512_shuffle_ps(t4, t6, 0xEE),
                         _mm512_shuffle_ps(t5, t7, 0x44), _mm512_shuffle_ps(t5, t7, 0xEE)};
    __m256 px[16];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        /* [u[q].L0, u[q].L1, u[4+q].L0, u[4+q].L1] -> lanes (0, 2, 1, 3): pixel q | pixel 4 + q */
        const __m512 a = _mm512_shuffle_f32x4(u[q], u[4 + q], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 b = _mm512_shuffle_f32x4(u[q], u[4 + q], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512 pa = _mm512_shuffle_f32x4(a, a, _MM_SHUFFLE(3, 1, 2, 0));
        const __m512 pb = _mm512_shuffle_f32x4(b, b, _MM_SHUFFLE(3, 1, 2, 0));
        px[q] = _mm512_castps512_ps256(pa);
        px[4 + q] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(pa), 1));
        px[8 + q] = _mm512_castps512_ps256(pb);
        px[12 + q] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(pb), 1));
    }
    const __m256i kmask = _mm256_cmpgt_epi32(_mm256_set1_epi32(K), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 16
    for (int v = 0; v < 16; v++) {
        if (v >= count) break;
        if ((count - v) * K >= 8) _mm256_storeu_ps(base + (size_t)v * K, px[v]);
        else _mm256_maskstore_ps(base + (size_t)v * K, kmask, px[v]);
    }
}

TARGET static inline __attribute__((always_inline)) void thin_groups(
    const int KK, const int G, const thin_transpose *tt, const float *xn, const float *w, const float *bias, float *out,
    const pci_conv_shape *s, int fused, const float *clamp, int oh, int ow0) {
    const int C = s->c, K = s->oc, W = s->w, H = s->h, OW = s->ow;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 acc[2][16];
    __mmask16 live[2];
    const int kw = s->kw;
    /* Where no tap column of a group reaches the padding (always, for 'valid'), every tap
     * reads the group's live lanes: checked on the group's end columns, no vectors. */
    int uniform = 1;
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        const int start = ow0 + 16 * g, count = PCI_MIN(16, OW - start);
        live[g] = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
        const long first = (long)start * s->sw - s->pad_l;
        const long last = (long)(start + count - 1) * s->sw - s->pad_l + (long)(kw - 1) * s->dw;
        uniform &= first >= 0 && last < W;
#pragma GCC unroll 16
        for (int k = 0; k < KK; k++) acc[g][k] = _mm512_set1_ps(bias && k < K ? bias[k] : 0.0f);
    }
    if (C == 1 && s->sw == 1 && uniform) {
        /* One plane, unit stride, no padding reached: a load of the live lanes per tap
         * (masked lanes never fault); LeNet's 5-wide and the common 3-wide kernels get a
         * compile-time tap loop. */
#define PCI_THIN_PLANE_TAPS(KW, DW)                                                                        \
    for (int i = 0; i < s->kh; i++) {                                                                      \
        const int ih = oh * s->sh - s->pad_t + i * s->dh;                                                  \
        if ((unsigned)ih >= (unsigned)H) continue;                                                         \
        const float *row = xn + (size_t)ih * W + ow0 - s->pad_l;                                           \
        const float *wi = w + (size_t)i * kw * PCI_NR;                                                     \
        _Pragma("GCC unroll 8") for (int j = 0; j < KW; j++) {                                             \
            __m512 xv[2];                                                                                  \
            _Pragma("GCC unroll 2") for (int g = 0; g < G; g++)                                            \
                xv[g] = _mm512_maskz_loadu_ps(live[g], row + 16 * g + j * DW);                             \
            const float *wk = wi + (size_t)j * PCI_NR;                                                     \
            _Pragma("GCC unroll 16") for (int k = 0; k < KK; k++) {                                        \
                const __m512 wv = _mm512_set1_ps(wk[k]);                                                   \
                _Pragma("GCC unroll 2") for (int g = 0; g < G; g++) acc[g][k] =                            \
                    _mm512_fmadd_ps(xv[g], wv, acc[g][k]);                                                 \
            }                                                                                              \
        }                                                                                                  \
    }
        if (kw == 5 && s->dw == 1) PCI_THIN_PLANE_TAPS(5, 1)
        else if (kw == 3 && s->dw == 1) PCI_THIN_PLANE_TAPS(3, 1)
        else PCI_THIN_PLANE_TAPS(kw, s->dw)
#undef PCI_THIN_PLANE_TAPS
        goto store;
    }
    /* Otherwise per group and tap column: lane v reads input column (start + v) * sw - pad_l
     * + j * dw, where that lies inside [0, W) and v is a live pixel (once per call, not per tap). */
    __mmask16 mask[2][16];
    __m512i idx[2][16];
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        const int start = ow0 + 16 * g;
        const __m512i col0 = _mm512_sub_epi32(
            _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(start)), _mm512_set1_epi32(s->sw)),
            _mm512_set1_epi32(s->pad_l));
        for (int j = 0; j < kw; j++) {
            const __m512i col = _mm512_add_epi32(col0, _mm512_set1_epi32(j * s->dw));
            mask[g][j] = live[g] & _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) &
                         _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(W));
            idx[g][j] = _mm512_mullo_epi32(col, _mm512_set1_epi32(C));
        }
    }
    if (C == 1 && s->sw == 1) { /* contiguous lanes, some taps in the padding: per-tap masks */
        for (int i = 0; i < s->kh; i++) {
            const int ih = oh * s->sh - s->pad_t + i * s->dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            const float *row = xn + (size_t)ih * W + ow0 - s->pad_l;
            const float *wi = w + (size_t)i * kw * PCI_NR;
            for (int j = 0; j < kw; j++) {
                __m512 xv[2];
#pragma GCC unroll 2
                for (int g = 0; g < G; g++) xv[g] = _mm512_maskz_loadu_ps(mask[g][j], row + 16 * g + j * s->dw);
                const float *wk = wi + (size_t)j * PCI_NR;
#pragma GCC unroll 16
                for (int k = 0; k < KK; k++) {
                    const __m512 wv = _mm512_set1_ps(wk[k]);
#pragma GCC unroll 2
                    for (int g = 0; g < G; g++) acc[g][k] = _mm512_fmadd_ps(xv[g], wv, acc[g][k]);
                }
            }
        }
    } else {
        for (int i = 0; i < s->kh; i++) {
            const int ih = oh * s->sh - s->pad_t + i * s->dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            const float *row = xn + (size_t)ih * W * C;
            for (int j = 0; j < kw; j++)
                for (int ci = 0; ci < C; ci++) {
                    __m512 xv[2];
#pragma GCC unroll 2
                    for (int g = 0; g < G; g++)
                        xv[g] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask[g][j], idx[g][j], row + ci, 4);
                    const float *wk = w + ((size_t)(i * kw + j) * C + ci) * PCI_NR;
#pragma GCC unroll 16
                    for (int k = 0; k < KK; k++) {
                        const __m512 wv = _mm512_set1_ps(wk[k]);
#pragma GCC unroll 2
                        for (int g = 0; g < G; g++) acc[g][k] = _mm512_fmadd_ps(xv[g], wv, acc[g][k]);
                    }
                }
        }
    }
store:
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        const int start = ow0 + 16 * g, count = PCI_MIN(16, OW - start);
        float *base = out + (size_t)start * K;
        if (fused)
#pragma GCC unroll 16
            for (int k = 0; k < KK; k++)
                acc[g][k] = _mm512_min_ps(_mm512_max_ps(acc[g][k], _mm512_set1_ps(clamp[0])), _mm512_set1_ps(clamp[1]));
        if (KK <= 8) {
            store_nhwc16(KK, acc[g], K, count, base);
            continue;
        }
        /* 9..16 channels: transpose (channels x 16 pixels) into NHWC: output
         * vector r holds floats 16r .. 16r+15 of the pixels' K channels; each
         * comes from acc[k] lane v with 16r + e = v K + k (masked permutes). */
        for (int r = 0; r < K; r++) {
            __m512 v = _mm512_setzero_ps();
#pragma GCC unroll 16 /* masks of k >= K are empty: no-op permutes, cheaper than a branch each */
            for (int k = 0; k < KK; k++)
                v = _mm512_mask_permutexvar_ps(v, _load_mask16((__mmask16 *)&tt->mask[r][k]), tt->idx[r], acc[g][k]);
            const int left = count * K - 16 * r;
            if (left >= 16) _mm512_storeu_ps(base + 16 * r, v);
            else if (left > 0) _mm512_mask_storeu_ps(base + 16 * r, (__mmask16)((1u << left) - 1u), v);
        }
    }
}

TARGET static void thin_row(const thin_transpose *tt, const float *x, const float *w, const float *bias, float *y,
                            const pci_conv_shape *s, int fused, const float *clamp, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const float *xn = x + (size_t)n * s->h * s->w * s->c;
    float *out = y + (size_t)r * s->ow * s->oc;
    /* KK accumulators per group of 16 pixels: the output channels rounded up to
     * 4, 6, 8 or 16 (LeNet's 6 wastes no FMA), two groups sharing each weight
     * broadcast while 2 KK accumulators fit the registers. */
#define PCI_THIN_ROW(KK, G2)                                                                               \
    do {                                                                                                   \
        int ow0 = 0;                                                                                       \
        if (G2)                                                                                            \
            for (; ow0 + 16 < s->ow; ow0 += 32) thin_groups(KK, 2, tt, xn, w, bias, out, s, fused, clamp, oh, ow0); \
        for (; ow0 < s->ow; ow0 += 16) thin_groups(KK, 1, tt, xn, w, bias, out, s, fused, clamp, oh, ow0); \
    } while (0)
    if (s->oc <= 4) PCI_THIN_ROW(4, 1);
    else if (s->oc <= 6) PCI_THIN_ROW(6, 1);
    else if (s->oc <= 8) PCI_THIN_ROW(8, 1);
    else PCI_THIN_ROW(16, 0);
#undef PCI_THIN_ROW
}

TARGET void pci_conv2d_thin_avx512(const float *x, const float *w, const float *bias, float *y,
                                   const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const int nt = pci_threads_for(ctx, (double)rows * s->ow * s->oc * s->kh * s->kw * s->c);
    thin_transpose tt;
    thin_transpose_init(&tt, s->oc);
    /* Blocks of rows of <= ~2048 output floats (L1), each activated in one pass
     * right after it is computed (element-wise: the same bits whatever the split). */
    const long rb = PCI_MAX(1L, 2048L / ((long)s->ow * s->oc)), blocks = (rows + rb - 1) / rb;
    const int act_after = !fused && !pci_act_is_row(act) && act.kind != PCI_ACT_LINEAR;
    PCI_FOR(nt, long b = 0, b < blocks, b++, {
        const long r1 = PCI_MIN(rows, (b + 1) * rb);
        for (long r = b * rb; r < r1; r++) thin_row(&tt, x, w, bias, y, s, fused, clamp, r);
        if (act_after)
            pci_act_inplace(y + (size_t)b * rb * s->ow * s->oc, (size_t)(r1 - b * rb) * s->ow * s->oc, act, PCI_ISA_AVX512);
    });
    if (pci_act_is_row(act)) pci_activation(y, (size_t)rows * s->ow, s->oc, act, ctx);
}
#endif
