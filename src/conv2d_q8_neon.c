/* ARM dot-product (ARMv8.2 `sdot`) micro-kernels of the int8 convolution
 * (conv2d_q8.c): 3 output pixels x 16 channels, 12 int32 accumulators, run
 * over the caller's rows and panels in turn.
 *
 * sdot multiplies signed bytes, so the uint8 input q is read as q - 128 (one
 * eor per 16 input bytes: input_offset 128); the caller's compensation
 * (zp - 128) * sum(w) turns the sum into sum (q - zp) w.
 * Each stored 4 x 16 block ([k][channel], 64 bytes) is loaded with vld4q (register
 * j gets channels j, j+4, j+8, j+12) and one 16-byte tbl per register turns its
 * 4 x 4 blocks so each 32-bit lane holds one channel's 4 weights; the
 * accumulators then hold channel 4 q + j in register j, lane q, and a 4 x 4
 * transpose in the epilogue restores the order. Compiled for any aarch64 target;
 * called only where the CPU has the dot product (pci_int8_dot_available). */
#include <string.h>

#include "pci_internal.h"

#ifdef PCI_ARM64
#include <arm_neon.h>

#define MR 3 /* divides PCI_Q8_MR_MAX: a call never reads pixel pointers past its rows */
#define TARGET __attribute__((target("arch=armv8.2-a+dotprod")))

/* acc[m][j] += the k-group (4 inputs x 16 channels) at w, for pixel m's 4 inputs in lane `lane` of x[m] */
#define Q8_GROUP(w, lane)                                                                       \
    do {                                                                                        \
        const int8x16x4_t v = vld4q_s8(w);                                                      \
        const int8x16_t w0 = vqtbl1q_s8(v.val[0], turn), w1 = vqtbl1q_s8(v.val[1], turn);       \
        const int8x16_t w2 = vqtbl1q_s8(v.val[2], turn), w3 = vqtbl1q_s8(v.val[3], turn);       \
        for (int m = 0; m < MR; m++) {                                                          \
            acc[m][0] = vdotq_laneq_s32(acc[m][0], w0, x[m], lane);                             \
            acc[m][1] = vdotq_laneq_s32(acc[m][1], w1, x[m], lane);                             \
            acc[m][2] = vdotq_laneq_s32(acc[m][2], w2, x[m], lane);                             \
            acc[m][3] = vdotq_laneq_s32(acc[m][3], w3, x[m], lane);                             \
        }                                                                                       \
    } while (0)

/* One panel (16 channels) for up to MR pixels. */
TARGET static void q8_neon_panel(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w, float *c,
                                 size_t ldc, int mr, int nc, const float *cs, const float *bias, const int32_t *comp,
                                 const float *clamp) {
    static const uint8_t turn_bytes[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    const uint8x16_t turn = vld1q_u8(turn_bytes), flip = vdupq_n_u8(0x80);
    int32x4_t acc[MR][4];
    for (int m = 0; m < MR; m++)
        for (int j = 0; j < 4; j++) acc[m][j] = vdupq_n_s32(0);
    for (int t = 0; t < ntaps; t++) {
        const uint8_t *const *at = a + t * astride;
        const int8_t *wt = w + (size_t)t * kc * PCI_NR;
        int k = 0;
        int8x16_t x[MR];
        for (; k + 16 <= kc; k += 16) { /* 4 k-groups: each pixel's 16 inputs in one register */
            for (int m = 0; m < MR; m++) x[m] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(at[m] + k), flip));
            Q8_GROUP(wt + (size_t)k * PCI_NR, 0);
            Q8_GROUP(wt + (size_t)(k + 4) * PCI_NR, 1);
            Q8_GROUP(wt + (size_t)(k + 8) * PCI_NR, 2);
            Q8_GROUP(wt + (size_t)(k + 12) * PCI_NR, 3);
        }
        for (; k < kc; k += 4) { /* the last 1-3 k-groups: 4 inputs per pixel, in lane 0 */
            for (int m = 0; m < MR; m++) {
                uint32_t four;
                memcpy(&four, at[m] + k, 4);
                x[m] = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(four)), flip));
            }
            Q8_GROUP(wt + (size_t)k * PCI_NR, 0);
        }
    }
    const float32x4_t lo = vdupq_n_f32(clamp ? clamp[0] : 0.0f), hi = vdupq_n_f32(clamp ? clamp[1] : 0.0f);
    for (int m = 0; m < mr; m++) {
        /* register j lane q holds channel 4 q + j: transpose to 4 channels per register */
        const int32x4x2_t t01 = vtrnq_s32(acc[m][0], acc[m][1]), t23 = vtrnq_s32(acc[m][2], acc[m][3]);
        const int32x4_t r[4] = {vcombine_s32(vget_low_s32(t01.val[0]), vget_low_s32(t23.val[0])),
                                vcombine_s32(vget_low_s32(t01.val[1]), vget_low_s32(t23.val[1])),
                                vcombine_s32(vget_high_s32(t01.val[0]), vget_high_s32(t23.val[0])),
                                vcombine_s32(vget_high_s32(t01.val[1]), vget_high_s32(t23.val[1]))};
        float out[PCI_NR];
        for (int q = 0; q < 4; q++) {
            const int32x4_t v = comp ? vsubq_s32(r[q], vld1q_s32(comp + 4 * q)) : r[q];
            float32x4_t f = vfmaq_f32(bias ? vld1q_f32(bias + 4 * q) : vdupq_n_f32(0.0f), vcvtq_f32_s32(v),
                                      vld1q_f32(cs + 4 * q));
            if (clamp) f = vminq_f32(vmaxq_f32(f, lo), hi);
            vst1q_f32(out + 4 * q, f);
        }
        memcpy(c + (size_t)m * ldc, out, sizeof(float) * (size_t)nc);
    }
}

TARGET static void q8_neon(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                           size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,
                           const float *bias, const int32_t *comp, const float *clamp) {
    for (int m0 = 0; m0 < mr; m0 += MR)
        for (int p = 0; p * PCI_NR < nc; p++) {
            const int o = p * PCI_NR;
            q8_neon_panel(ntaps, kc, a + m0, astride, w + (size_t)p * panel_stride, c + (size_t)m0 * ldc + o, ldc,
                          PCI_MIN(MR, mr - m0), PCI_MIN(PCI_NR, nc - o), cs + o, bias ? bias + o : NULL,
                          comp ? comp + o : NULL, clamp);
        }
}

TARGET static void q8_minmax_neon(const float *x, size_t n, float *lo, float *hi) {
    /* vmin/vmax propagate NaN, so a NaN anywhere makes the range NaN, as the caller expects */
    float32x4_t a = vdupq_n_f32(x[0]), b = a;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        a = vminq_f32(a, v), b = vmaxq_f32(b, v);
    }
    float l = vminvq_f32(a), h = vmaxvq_f32(b);
    for (; i < n; i++) {
        if (x[i] != x[i]) l = h = x[i];
        if (l == l) l = x[i] < l ? x[i] : l, h = x[i] > h ? x[i] : h;
    }
    *lo = l, *hi = h;
}

TARGET static void q8_quantize_neon(const float *x, size_t n, float inv, int zp, uint8_t *q) {
    const float32x4_t vinv = vdupq_n_f32(inv), vlo = vdupq_n_f32(-256.0f), vhi = vdupq_n_f32(256.0f);
    const int32x4_t vzp = vdupq_n_s32(zp);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int32x4_t r[2];
        for (int h = 0; h < 2; h++) {
            /* maxnm / minnm return the number when one operand is NaN: NaN -> -256, as the generic path */
            const float32x4_t t = vminnmq_f32(vmaxnmq_f32(vmulq_f32(vld1q_f32(x + i + 4 * h), vinv), vlo), vhi);
            r[h] = vaddq_s32(vcvtnq_s32_f32(t), vzp); /* nearest, ties to even */
        }
        const uint16x8_t u = vcombine_u16(vqmovun_s32(r[0]), vqmovun_s32(r[1])); /* clamps below 0 */
        vst1_u8(q + i, vqmovn_u16(u));                                              /* and above 255 */
    }
    for (; i < n; i++) {
        float t = x[i] * inv;
        t = t > -256.0f ? t : -256.0f;
        t = t < 256.0f ? t : 256.0f;
        const int v = (int)vcvtns_s32_f32(t) + zp;
        q[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

#define Q8_NEON4 {q8_neon, q8_neon, q8_neon, q8_neon}
/* the batch-1 dense layer: the portable gemv, which GCC vectorizes (it streams weights) */
const pci_q8_kernels pci_q8_neon_dot = {Q8_NEON4, Q8_NEON4, {NULL}, q8_minmax_neon, q8_quantize_neon, 128,
                                        pci_q8_gemv_generic,
                                        PCI_Q8_NAMES("NEON sdot", "portable C")};
#endif
