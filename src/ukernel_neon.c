/* AArch64 NEON GEMM micro-kernels: 6 output pixels x 16 output channels.
 *
 * Register blocking for the 32 128-bit q registers: 6 rows x 4 vectors of 4
 * channels = 24 accumulators, the 4 weight vectors of one input channel, and
 * each row's input value loaded-and-broadcast (ld1r) in turn: 24 + 4 + 1-2 of
 * 32, no spills (keeping 4 input channels per row in registers and using them
 * by lane needs 24 + 6 + 4: GCC 12 then spills accumulators in the inner
 * loop). Per input channel: 10 loads for 24 FMAs. Advanced SIMD with FMA is
 * part of ARMv8-A, so the path needs no run-time feature check (dispatch.c). */
#include "pci_internal.h"

#ifdef PCI_ARM64
#include <arm_neon.h>
#include <string.h>

#define MR 6

/* The 24 accumulators are named variables, not an array: GCC 12 keeps an
 * array of vectors on the stack and reloads / stores it every step. */
#define PCI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PCI_DECL(m) float32x4_t c##m##0, c##m##1, c##m##2, c##m##3;
#define PCI_INIT(m)                                                         \
    memset(tmp, 0, sizeof tmp);                                             \
    if (accumulate) {                                                       \
        if (m < mr) memcpy(tmp, c + m * ldc, (size_t)nc * sizeof(float));   \
    } else if (bias) {                                                      \
        memcpy(tmp, bias, (size_t)nc * sizeof(float));                      \
    }                                                                       \
    c##m##0 = vld1q_f32(tmp), c##m##1 = vld1q_f32(tmp + 4);                 \
    c##m##2 = vld1q_f32(tmp + 8), c##m##3 = vld1q_f32(tmp + 12);
#define PCI_FMA(m)                                                          \
    {                                                                       \
        const float32x4_t v = vld1q_dup_f32(a##m + k);                      \
        c##m##0 = vfmaq_f32(c##m##0, v, w0);                                \
        c##m##1 = vfmaq_f32(c##m##1, v, w1);                                \
        c##m##2 = vfmaq_f32(c##m##2, v, w2);                                \
        c##m##3 = vfmaq_f32(c##m##3, v, w3);                                \
    }
#define PCI_CLAMP(m)                                                        \
    c##m##0 = vminq_f32(vmaxq_f32(c##m##0, lo), hi);                        \
    c##m##1 = vminq_f32(vmaxq_f32(c##m##1, lo), hi);                        \
    c##m##2 = vminq_f32(vmaxq_f32(c##m##2, lo), hi);                        \
    c##m##3 = vminq_f32(vmaxq_f32(c##m##3, lo), hi);
#define PCI_STORE(m)                                                        \
    if (m < mr) {                                                           \
        float *dst = nc == 16 ? c + m * ldc : tmp;                          \
        vst1q_f32(dst, c##m##0), vst1q_f32(dst + 4, c##m##1);               \
        vst1q_f32(dst + 8, c##m##2), vst1q_f32(dst + 12, c##m##3);          \
        if (nc != 16) memcpy(c + m * ldc, tmp, (size_t)nc * sizeof(float)); \
    }

/* GCC's pre-allocation scheduler hoists all six input loads above the FMAs,
 * which needs 24 + 4 + 6 = 34 registers and spills three accumulators per
 * step; without that pass the loop keeps everything in registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define PCI_NO_PRESCHED __attribute__((optimize("no-schedule-insns")))
#else
#define PCI_NO_PRESCHED
#endif

PCI_NO_PRESCHED static void ukernel_neon_6x16(int ks, int kc, const float *const *a, const float *w, size_t panel_stride,
                              float *c, size_t ldc, int mr, int nc, const float *bias, int accumulate,
                              const float *clamp) {
    (void)panel_stride;
    float tmp[16];
    PCI_ROWS(PCI_DECL)
    PCI_ROWS(PCI_INIT)
    for (int t = 0; t < ks; t++) {
        const float *a0 = a[t * MR + 0], *a1 = a[t * MR + 1], *a2 = a[t * MR + 2];
        const float *a3 = a[t * MR + 3], *a4 = a[t * MR + 4], *a5 = a[t * MR + 5];
        const float *wt = w + (size_t)t * kc * 16;
        for (int k = 0; k < kc; k++) {
            const float *wk = wt + (size_t)k * 16;
            const float32x4_t w0 = vld1q_f32(wk), w1 = vld1q_f32(wk + 4), w2 = vld1q_f32(wk + 8),
                              w3 = vld1q_f32(wk + 12);
            PCI_ROWS(PCI_FMA)
        }
    }
    if (clamp) {
        const float32x4_t lo = vdupq_n_f32(clamp[0]), hi = vdupq_n_f32(clamp[1]);
        PCI_ROWS(PCI_CLAMP)
    }
    PCI_ROWS(PCI_STORE)
}
/* The 16 weights of row i widened in registers: float16 vcvt_f32_f16,
 * bfloat16 vshll_n_u16(.., 16), int8 vmovl twice + vcvtq_f32_s32 then one
 * multiply by the channels' scales (sc). */
static inline __attribute__((always_inline)) void load_w16(const int dt, const void *w, size_t i,
                                                           const float32x4_t sc[4], float32x4_t out[4]) {
    if (dt == PCI_DTYPE_F16) {
        const float16_t *p = (const float16_t *)w + i * 16;
        for (int q = 0; q < 4; q++) out[q] = vcvt_f32_f16(vld1_f16(p + 4 * q));
    } else if (dt == PCI_DTYPE_BF16) {
        const uint16_t *p = (const uint16_t *)w + i * 16;
        for (int q = 0; q < 4; q++) out[q] = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p + 4 * q), 16));
    } else {
        const int8x16_t b = vld1q_s8((const int8_t *)w + i * 16);
        const int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_s8(vget_high_s8(b));
        out[0] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), sc[0]);
        out[1] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), sc[1]);
        out[2] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), sc[2]);
        out[3] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), sc[3]);
    }
}

/* ukernel_neon_6x16 on a float16 / bfloat16 / int8 kernel (DT, a constant at
 * each call): each weight row widened in registers right after its load
 * (load_w16), then the same FMAs in the same order. */
static inline __attribute__((always_inline)) void ukernel_neon_w_body(
    const int DT, int ks, int kc, const float *const *a, const void *w, const float *scale, float *c, size_t ldc,
    int mr, int nc, const float *bias, int accumulate, const float *clamp) {
    float tmp[16];
    float32x4_t sc[4], wv[4];
    for (int q = 0; q < 4; q++) sc[q] = DT == PCI_DTYPE_I8 ? vld1q_f32(scale + 4 * q) : vdupq_n_f32(0.0f);
    PCI_ROWS(PCI_DECL)
    PCI_ROWS(PCI_INIT)
    for (int t = 0; t < ks; t++) {
        const float *a0 = a[t * MR + 0], *a1 = a[t * MR + 1], *a2 = a[t * MR + 2];
        const float *a3 = a[t * MR + 3], *a4 = a[t * MR + 4], *a5 = a[t * MR + 5];
        for (int k = 0; k < kc; k++) {
            load_w16(DT, w, (size_t)t * kc + (size_t)k, sc, wv);
            const float32x4_t w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3];
            PCI_ROWS(PCI_FMA)
        }
    }
    if (clamp) {
        const float32x4_t lo = vdupq_n_f32(clamp[0]), hi = vdupq_n_f32(clamp[1]);
        PCI_ROWS(PCI_CLAMP)
    }
    PCI_ROWS(PCI_STORE)
}

#define PCI_DEFINE_KERNEL_W(DT, NAME)                                                                         \
    PCI_NO_PRESCHED static void ukernel_neon_##NAME##_6x16(int ks, int kc, const float *const *a, const void *w, \
                                                           const float *scale, size_t ps, float *c, size_t ldc,  \
                                                           int mr, int nc, const float *bias, int accumulate,    \
                                                           const float *clamp) {                                 \
        (void)ps;                                                                                                \
        ukernel_neon_w_body(DT, ks, kc, a, w, scale, c, ldc, mr, nc, bias, accumulate, clamp);                   \
    }
PCI_DEFINE_KERNEL_W(PCI_DTYPE_F16, f16)
PCI_DEFINE_KERNEL_W(PCI_DTYPE_BF16, bf16)
PCI_DEFINE_KERNEL_W(PCI_DTYPE_I8, i8)
#undef PCI_DEFINE_KERNEL_W
#undef PCI_ROWS
#undef PCI_DECL
#undef PCI_INIT
#undef PCI_FMA
#undef PCI_CLAMP
#undef PCI_STORE

/* y16 = x . w over k for one 16-channel panel (batch-1 dense: memory-bound).
 * Four partial sums per vector keep four FMA chains in flight; they are added
 * in a fixed order, so the result does not depend on the thread count. */
static void gemv_neon_16(int k, const float *x, const float *w, float *y16) {
    float32x4_t s[4][4];
    for (int u = 0; u < 4; u++)
        for (int q = 0; q < 4; q++) s[u][q] = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        const float32x4_t xv = vld1q_f32(x + i);
        const float *wi = w + (size_t)i * 16;
#define PCI_LANE(l) \
    for (int q = 0; q < 4; q++) s[l][q] = vfmaq_laneq_f32(s[l][q], vld1q_f32(wi + (l) * 16 + 4 * q), xv, l);
        PCI_LANE(0) PCI_LANE(1) PCI_LANE(2) PCI_LANE(3)
#undef PCI_LANE
    }
    for (; i < k; i++) {
        const float32x4_t v = vdupq_n_f32(x[i]);
        const float *wi = w + (size_t)i * 16;
        for (int q = 0; q < 4; q++) s[0][q] = vfmaq_f32(s[0][q], v, vld1q_f32(wi + 4 * q));
    }
    for (int q = 0; q < 4; q++)
        vst1q_f32(y16 + 4 * q, vaddq_f32(vaddq_f32(s[0][q], s[1][q]), vaddq_f32(s[2][q], s[3][q])));
}

/* gemv_neon_16's sums, in its order, on widened weights. */
static inline __attribute__((always_inline)) void gemv_w_body(const int dt, int k, const float *x, const void *w,
                                                              const float *scale16, float *y16) {
    float32x4_t s[4][4], sc[4], wv[4];
    for (int q = 0; q < 4; q++) sc[q] = dt == PCI_DTYPE_I8 ? vld1q_f32(scale16 + 4 * q) : vdupq_n_f32(0.0f);
    for (int u = 0; u < 4; u++)
        for (int q = 0; q < 4; q++) s[u][q] = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        const float32x4_t xv = vld1q_f32(x + i);
#define PCI_LANE(l)                                                                   \
    load_w16(dt, w, (size_t)i + (l), sc, wv);                                         \
    for (int q = 0; q < 4; q++) s[l][q] = vfmaq_laneq_f32(s[l][q], wv[q], xv, l);
        PCI_LANE(0) PCI_LANE(1) PCI_LANE(2) PCI_LANE(3)
#undef PCI_LANE
    }
    for (; i < k; i++) {
        const float32x4_t v = vdupq_n_f32(x[i]);
        load_w16(dt, w, (size_t)i, sc, wv);
        for (int q = 0; q < 4; q++) s[0][q] = vfmaq_f32(s[0][q], v, wv[q]);
    }
    for (int q = 0; q < 4; q++)
        vst1q_f32(y16 + 4 * q, vaddq_f32(vaddq_f32(s[0][q], s[1][q]), vaddq_f32(s[2][q], s[3][q])));
}

static void gemv_w_neon_16(int k, const float *x, const void *w, int dtype, const float *scale16, float *y16) {
    if (dtype == PCI_DTYPE_F16) gemv_w_body(PCI_DTYPE_F16, k, x, w, scale16, y16);
    else if (dtype == PCI_DTYPE_BF16) gemv_w_body(PCI_DTYPE_BF16, k, x, w, scale16, y16);
    else gemv_w_body(PCI_DTYPE_I8, k, x, w, scale16, y16);
}

const pci_gemm_kernels pci_gemm_neon = {
    MR, 1, {NULL, ukernel_neon_6x16, NULL, NULL, NULL}, 0, NULL, gemv_neon_16, gemv_w_neon_16,
    {[PCI_DTYPE_F16] = {NULL, ukernel_neon_f16_6x16, NULL, NULL, NULL},
     [PCI_DTYPE_BF16] = {NULL, ukernel_neon_bf16_6x16, NULL, NULL, NULL},
     [PCI_DTYPE_I8] = {NULL, ukernel_neon_i8_6x16, NULL, NULL, NULL}}};
#endif
