/* Depthwise convolution tile kernels for ARM NEON (4-float q vectors): the
 * template body of the x86 paths (conv2d_depthwise_tile.h) instantiated for
 * aarch64, where NEON is part of the base ISA. 4 pixels x 4 vectors = 16 of the
 * 32 q registers accumulate; tails (channels % 4) go through a small buffer,
 * NEON having no masked loads. */
#include <stdlib.h>

#include "pci_internal.h"

#ifdef PCI_ARM64
#include <arm_neon.h>

static inline float32x4_t dw_neon_loadm(const float *p, int n) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; i++) t[i] = p[i];
    return vld1q_f32(t);
}

static inline void dw_neon_storem(float *p, int n, float32x4_t v) {
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < n; i++) p[i] = t[i];
}

#define DW_TARGET
#define DW_NAME(part) dw_neon_##part
#define DW_TILE pci_dw_tile_neon
#define DW_ROWS pci_dw_rows_neon
#define DW_RV 2 /* row blocks: 4 pixels x 2 vectors + up to 10 weight vectors */
#define DW_VL 4
#define DW_P PCI_DW_PX
#define DW_V 4
#define DW_VEC float32x4_t
#define DW_MASK_T int /* lanes in use */
#define DW_ZERO() vdupq_n_f32(0.0f)
#define DW_SET1(v) vdupq_n_f32(v)
#define DW_LOAD(p) vld1q_f32(p)
#define DW_STORE(p, v) vst1q_f32(p, v)
#define DW_LOADM(p, m) dw_neon_loadm(p, m)
#define DW_STOREM(p, m, v) dw_neon_storem(p, m, v)
#define DW_FMA(a, b, c) vfmaq_f32(c, a, b) /* c + a * b, one rounding, as the x86 FMAs */
#define DW_MIN(a, b) vminq_f32(a, b)
#define DW_MAX(a, b) vmaxq_f32(a, b)
#define DW_MASK(n) (n)
#include "conv2d_depthwise_tile.h"
#endif
