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

/* Stores count pixels' K channels, NHWC, from the channel-major accumulators
 * acc[k] (lane v = pixel v; k >= KK are zero) through an in-register 8x8
 * transpose: 24 shuffles and a store per pixel instead of K x 8 scalar moves.
 * A pixel's 8-float store runs past its K channels into the next pixel's,
 * which the next store rewrites; the last pixels of the group (fewer than 8
 * floats left) use a K-lane masked store, so nothing outside the group's
 * count x K floats is ever written. */
TARGET static inline __attribute__((always_inline)) void store_nhwc8(const int KK, const __m256 *acc, int K,
                                                                     int count, float *base) {
    __m256 r[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) r[k] = k < KK ? acc[k] : _mm256_setzero_ps();
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* u[q]: pixel q's channels 0-3 (low half) and pixel q + 4's (high half); u[4 + q]: channels 4-7 */
    const __m256 u[8] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                         _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE),
                         _mm256_shuffle_ps(t4, t6, 0x44), _mm256_shuffle_ps(t4, t6, 0xEE),
                         _mm256_shuffle_ps(t5, t7, 0x44), _mm256_shuffle_ps(t5, t7, 0xEE)};
    const __m256i kmask = _mm256_cmpgt_epi32(_mm256_set1_epi32(K), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++) {
        if (v >= count) break;
        const __m256 px = v < 4 ? _mm256_permute2f128_ps(u[v], u[4 + v], 0x20)
                                : _mm256_permute2f128_ps(u[v - 4], u[v], 0x31);
        if ((count - v) * K >= 8) _mm256_storeu_ps(base + (size_t)v * K, px);
        else _mm256_maskstore_ps(base + (size_t)v * K, kmask, px);
    }
}

/* G groups of 8 pixels starting at output column ow0 of output row oh, KK
 * accumulators each (K rounded up to 4, 6 or 8; compile-time constants at each
 * call so they live in registers; weights are zero beyond K, never stored).
 * G * KK <= 12 leaves registers for the input vectors and a weight broadcast. */
TARGET static inline __attribute__((always_inline)) void thin8_groups(
    const int KK, const int G, const float *xn, const float *w, const float *bias, float *out,
    const pci_conv_shape *s, const float *clamp, int oh, int ow0, int rows2) {
    const int C = s->c, K = s->oc, W = s->w, H = s->h, OW = s->ow, kw = s->kw;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc[2][8];
    int count[2];
    /* Group g's first pixel: rows2 = 0, (oh, ow0 + 8 g); rows2 = 1 (the caller
     * checked that both rows' taps stay inside the image rows and that the
     * columns take the plane path below), (oh + g, ow0): the next row's
     * pixels share the weight broadcasts instead of the same row's. */
    int gcol[2];
    size_t grow[2], gout[2];
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        gcol[g] = rows2 ? ow0 : ow0 + 8 * g;
        grow[g] = rows2 ? (size_t)g * s->sh * W : 0;
        gout[g] = rows2 ? (size_t)g * OW * K + (size_t)ow0 * K : (size_t)(ow0 + 8 * g) * K;
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        count[g] = PCI_MIN(8, OW - gcol[g]);
#pragma GCC unroll 8
        for (int k = 0; k < KK; k++) acc[g][k] = _mm256_set1_ps(bias && k < K ? bias[k] : 0.0f);
    }
    /* Where no tap column of a group reaches the padding (always, for 'valid'), every tap
     * reads the group's live lanes: checked on the group's end columns, no vectors. */
    __m256i live[2];
    int uniform = 1, full = 1;
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        live[g] = _mm256_cmpgt_epi32(_mm256_set1_epi32(count[g]), lane);
        full &= count[g] == 8;
        const long first = (long)gcol[g] * s->sw - s->pad_l;
        const long last = (long)(gcol[g] + count[g] - 1) * s->sw - s->pad_l + (long)(kw - 1) * s->dw;
        uniform &= first >= 0 && last < W;
    }
    if (C == 1 && s->sw == 1 && uniform) {
        /* One plane, unit stride, no padding reached: lanes are contiguous; a plain load
         * for full groups, else a masked load of the live lanes (masked lanes never fault).
         * LeNet's 5-wide and the common 3-wide kernels get a compile-time tap loop. */
#define PCI_THIN8_PLANE_TAPS(LOAD, KW, DW)                                                                \
    for (int i = 0; i < s->kh; i++) {                                                                     \
        const int ih = oh * s->sh - s->pad_t + i * s->dh;                                                 \
        if ((unsigned)ih >= (unsigned)H) continue;                                                        \
        const float *row = xn + (size_t)ih * W + ow0 - s->pad_l;                                          \
        const float *wi = w + (size_t)i * kw * PCI_NR;                                                    \
        _Pragma("GCC unroll 8") for (int j = 0; j < KW; j++) {                                            \
            __m256 xv[2];                                                                                 \
            _Pragma("GCC unroll 2") for (int g = 0; g < G; g++) {                                         \
                const float *src = row + grow[g] + (gcol[g] - ow0) + j * DW;                              \
                xv[g] = LOAD;                                                                             \
            }                                                                                             \
            const float *wk = wi + (size_t)j * PCI_NR;                                                    \
            _Pragma("GCC unroll 8") for (int k = 0; k < KK; k++) {                                        \
                const __m256 wv = _mm256_broadcast_ss(wk + k);                                            \
                _Pragma("GCC unroll 2") for (int g = 0; g < G; g++) acc[g][k] =                           \
                    _mm256_fmadd_ps(xv[g], wv, acc[g][k]);                                                \
            }                                                                                             \
        }                                                                                                 \
    }
#define PCI_THIN8_PLANE(LOAD)                                                                             \
    do {                                                                                                  \
        if (kw == 5 && s->dw == 1) PCI_THIN8_PLANE_TAPS(LOAD, 5, 1)                                       \
        else if (kw == 3 && s->dw == 1) PCI_THIN8_PLANE_TAPS(LOAD, 3, 1)                                  \
        else PCI_THIN8_PLANE_TAPS(LOAD, kw, s->dw)                                                        \
    } while (0)
        if (full) PCI_THIN8_PLANE(_mm256_loadu_ps(src));
        else PCI_THIN8_PLANE(_mm256_maskload_ps(src, live[g]));
#undef PCI_THIN8_PLANE
#undef PCI_THIN8_PLANE_TAPS
        goto store;
    }
    /* Otherwise per group and tap column: lane v reads input column (start + v) * sw - pad_l
     * + j * dw, where that lies inside [0, W) and v is a live pixel (once per call, not per tap). */
    __m256i mask[2][16], idx[2][16];
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        const __m256i col0 = _mm256_sub_epi32(
            _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(ow0 + 8 * g)), _mm256_set1_epi32(s->sw)),
            _mm256_set1_epi32(s->pad_l));
        for (int j = 0; j < kw; j++) {
            const __m256i col = _mm256_add_epi32(col0, _mm256_set1_epi32(j * s->dw));
            mask[g][j] = _mm256_and_si256(_mm256_and_si256(live[g], _mm256_cmpgt_epi32(col, _mm256_set1_epi32(-1))),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(W), col));
            idx[g][j] = _mm256_mullo_epi32(col, _mm256_set1_epi32(C));
        }
    }
    if (C == 1 && s->sw == 1) { /* contiguous lanes, some taps in the padding: per-tap masks */
        for (int i = 0; i < s->kh; i++) {
            const int ih = oh * s->sh - s->pad_t + i * s->dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            const float *row = xn + (size_t)ih * W + ow0 - s->pad_l;
            const float *wi = w + (size_t)i * kw * PCI_NR;
            for (int j = 0; j < kw; j++) {
                __m256 xv[2];
#pragma GCC unroll 2
                for (int g = 0; g < G; g++) xv[g] = _mm256_maskload_ps(row + 8 * g + j * s->dw, mask[g][j]);
                const float *wk = wi + (size_t)j * PCI_NR;
#pragma GCC unroll 8
                for (int k = 0; k < KK; k++) {
                    const __m256 wv = _mm256_broadcast_ss(wk + k);
#pragma GCC unroll 2
                    for (int g = 0; g < G; g++) acc[g][k] = _mm256_fmadd_ps(xv[g], wv, acc[g][k]);
                }
            }
        }
    } else {
        for (int i = 0; i < s->kh; i++) {
            const int ih = oh * s->sh - s->pad_t + i * s->dh;
            if ((unsigned)ih >= (unsigned)H) continue;
            const float *row = xn + (size_t)ih * W * C;
            for (int j = 0; j < kw; j++) {
                for (int ci = 0; ci < C; ci++) {
                    __m256 xv[2];
#pragma GCC unroll 2
                    for (int g = 0; g < G; g++)
                        xv[g] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row + ci, idx[g][j],
                                                         _mm256_castsi256_ps(mask[g][j]), 4);
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
    }
store:
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        if (clamp)
#pragma GCC unroll 8
            for (int k = 0; k < KK; k++)
                acc[g][k] = _mm256_min_ps(_mm256_max_ps(acc[g][k], _mm256_set1_ps(clamp[0])), _mm256_set1_ps(clamp[1]));
        store_nhwc8(KK, acc[g], K, count[g], out + gout[g]);
    }
}

TARGET static void thin8_row(const float *x, const float *w, const float *bias, float *y, const pci_conv_shape *s,
                             const float *clamp, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const float *xn = x + (size_t)n * s->h * s->w * s->c;
    float *out = y + (size_t)r * s->ow * s->oc;
    /* Two groups of 8 pixels share each weight broadcast while 2 KK <= 12. */
#define PCI_THIN8_ROW(KK, G2)                                                                               \
    do {                                                                                                    \
        int ow0 = 0;                                                                                        \
        if (G2)                                                                                             \
            for (; ow0 + 8 < s->ow; ow0 += 16) thin8_groups(KK, 2, xn, w, bias, out, s, clamp, oh, ow0, 0); \
        for (; ow0 < s->ow; ow0 += 8) thin8_groups(KK, 1, xn, w, bias, out, s, clamp, oh, ow0, 0);       \
    } while (0)
    if (s->oc <= 4) PCI_THIN8_ROW(4, 1);
    else if (s->oc <= 6) PCI_THIN8_ROW(6, 1);
    else PCI_THIN8_ROW(8, 0);
#undef PCI_THIN8_ROW
}

/* Output rows r and r + 1 of one image, one plane, unit column stride, every
 * tap row inside the image: each group of 8 pixels of row r shares its weight
 * broadcasts with the same columns of row r + 1 (12 accumulators for every
 * group, where a single row's last groups had 6). Groups whose taps reach the
 * column padding run per row. Returns 0, doing nothing, when the rows do not
 * qualify. */
TARGET static int thin8_row_pair(const float *x, const float *w, const float *bias, float *y,
                                 const pci_conv_shape *s, const float *clamp, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    if (s->c != 1 || s->sw != 1 || s->oc > 6 || oh + 1 >= s->oh || oh * s->sh - s->pad_t < 0 ||
        (long)(oh + 1) * s->sh - s->pad_t + (long)(s->kh - 1) * s->dh >= s->h)
        return 0;
    const float *xn = x + (size_t)n * s->h * s->w * s->c;
    float *out = y + (size_t)r * s->ow * s->oc;
    for (int ow0 = 0; ow0 < s->ow; ow0 += 8) {
        const int count = PCI_MIN(8, s->ow - ow0);
        const int inside = ow0 - s->pad_l >= 0 && (long)(ow0 + count - 1) - s->pad_l + (long)(s->kw - 1) * s->dw < s->w;
        if (inside && s->oc <= 4) thin8_groups(4, 2, xn, w, bias, out, s, clamp, oh, ow0, 1);
        else if (inside) thin8_groups(6, 2, xn, w, bias, out, s, clamp, oh, ow0, 1);
        else if (s->oc <= 4) {
            thin8_groups(4, 1, xn, w, bias, out, s, clamp, oh, ow0, 0);
            thin8_groups(4, 1, xn, w, bias, out + (size_t)s->ow * s->oc, s, clamp, oh + 1, ow0, 0);
        } else {
            thin8_groups(6, 1, xn, w, bias, out, s, clamp, oh, ow0, 0);
            thin8_groups(6, 1, xn, w, bias, out + (size_t)s->ow * s->oc, s, clamp, oh + 1, ow0, 0);
        }
    }
    return 1;
}

TARGET void pci_conv2d_thin_avx2(const float *x, const float *w, const float *bias, float *y,
                                 const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const int nt = pci_threads_for(ctx, (double)rows * s->ow * s->oc * s->kh * s->kw * s->c);
    /* Blocks of rows of <= ~2048 output floats (L1), each activated in one pass
     * right after it is computed (element-wise: the same bits whatever the split). */
    const long rb = PCI_MAX(1L, 2048L / ((long)s->ow * s->oc)), blocks = (rows + rb - 1) / rb;
    const int act_after = !fused && !pci_act_is_row(act) && act.kind != PCI_ACT_LINEAR;
    PCI_FOR(nt, long b = 0, b < blocks, b++, {
        const long r1 = PCI_MIN(rows, (b + 1) * rb);
        for (long r = b * rb; r < r1; r++)
            if (r + 1 < r1 && thin8_row_pair(x, w, bias, y, s, fused ? clamp : NULL, r)) r++;
            else thin8_row(x, w, bias, y, s, fused ? clamp : NULL, r);
        if (act_after)
            pci_act_inplace(y + (size_t)b * rb * s->ow * s->oc, (size_t)(r1 - b * rb) * s->ow * s->oc, act, PCI_ISA_AVX2);
    });
    if (pci_act_is_row(act)) pci_activation(y, (size_t)rows * s->ow, s->oc, act, ctx);
}
#endif
