/* Winograd weights transformed at run time: U = G g G^T from a 3x3 kernel
 * stored in the direct layout (panel16, any stored precision), written as
 * float32 into scratch in the winograd layout [(m+2)^2][panels][cin][16].
 *
 * Why: a file with reduced-precision weights stays small only if it stores
 * the 3x3 kernel, not U (F(2x2)'s U is 16/9 of it, F(4x4)'s 4x). For the
 * large-channel, small-image layers that use F(2x2) (VGG16's block 4), the
 * transform is ~0.5% of the layer's arithmetic at batch 1 and writes U once,
 * where the tile blocks of the GEMM stream it many times.
 *
 * Each U element is computed in double from the widened weights (float32
 * values, weights.c), rounded to float32 as packing.pack_winograd does at
 * conversion, then to float16 (nearest even) as quantize.store does: either
 * route gives the same U up to the order of a float64 sum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

size_t pci_winograd_weights_floats(int cin, int cout, int m, int u_dtype) {
    /* sizes come from a file: SIZE_MAX on nonsense or overflow */
    if (cin <= 0 || cout <= 0 || (m != 2 && m != 4) || (u_dtype != PCI_DTYPE_F16 && u_dtype != PCI_DTYPE_F32))
        return SIZE_MAX;
    const size_t a = (size_t)m + 2, nb = ((size_t)cout + PCI_NR - 1) / PCI_NR, per = a * a * PCI_NR;
    if (nb > SIZE_MAX / per / (size_t)cin) return SIZE_MAX;
    const size_t n = per * nb * (size_t)cin;
    return u_dtype == PCI_DTYPE_F16 ? n / 2 : n; /* float16 halves: an even count (PCI_NR lanes) */
}

/* float32 -> float16 bits, round to nearest even (F. Giesen's float_to_half_fast3_rtne):
 * what numpy's astype(float16) and vcvtps2ph with rounding mode 0 give. */
static inline uint16_t float_to_half(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= (127u + 16u) << 23) { /* >= 65536, inf or NaN */
        o = u > 255u << 23 ? 0x7e00 : 0x7c00;
    } else if (u < 113u << 23) { /* float16 subnormal or zero: align the bits with a magic add */
        const uint32_t magic_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
        float magic, v;
        memcpy(&magic, &magic_bits, sizeof magic);
        memcpy(&v, &u, sizeof v);
        v += magic;
        memcpy(&u, &v, sizeof u);
        o = (uint16_t)(u - magic_bits);
    } else {
        const uint32_t odd = (u >> 13) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

/* Stores 16 lanes of U at element index i of u: float16 or float32. */
static inline __attribute__((always_inline)) void store_half16_generic(void *u, size_t i, const float *r) {
    uint16_t *dst = (uint16_t *)u + i;
    for (int l = 0; l < PCI_NR; l++) dst[l] = float_to_half(r[l]);
}

static inline __attribute__((always_inline)) void store_float32(void *u, size_t i, const float *r) {
    memcpy((float *)u + i, r, PCI_NR * sizeof(float));
}

#ifdef PCI_X86
#include <immintrin.h>
__attribute__((target("avx2,f16c"))) static inline __attribute__((always_inline)) void store_half16_f16c(
    void *u, size_t i, const float *r) {
    uint16_t *dst = (uint16_t *)u + i;
    _mm_storeu_si128((__m128i *)dst, _mm256_cvtps_ph(_mm256_loadu_ps(r), _MM_FROUND_TO_NEAREST_INT));
    _mm_storeu_si128((__m128i *)(dst + 8), _mm256_cvtps_ph(_mm256_loadu_ps(r + 8), _MM_FROUND_TO_NEAREST_INT));
}
#endif

/* U for the input channels of one panel (16 output channels in the lanes), from
 * its widened 3x3 kernel g ([3][3][cin][16]); lanes innermost so that the loops
 * vectorize (per ISA: the wrappers below). */
static inline __attribute__((always_inline)) void transform_panel(
    const int m, const float *g, int cin, size_t b, size_t ustride, void *u,
    void (*store16)(void *, size_t, const float *)) {
    const int a = m + 2;
    const double(*G)[3] = m == 2 ? G2 : G4;
    for (int c = 0; c < cin; c++) {
        double t[6][3][PCI_NR];
        for (int x = 0; x < a; x++)
            for (int j = 0; j < 3; j++) {
                const float *g0 = g + ((size_t)(0 * 3 + j) * cin + c) * PCI_NR;
                const float *g1 = g + ((size_t)(1 * 3 + j) * cin + c) * PCI_NR;
                const float *g2 = g + ((size_t)(2 * 3 + j) * cin + c) * PCI_NR;
#pragma omp simd
                for (int l = 0; l < PCI_NR; l++)
                    t[x][j][l] = G[x][0] * (double)g0[l] + G[x][1] * (double)g1[l] + G[x][2] * (double)g2[l];
            }
        for (int x = 0; x < a; x++)
            for (int y = 0; y < a; y++) {
                float r[PCI_NR];
#pragma omp simd
                for (int l = 0; l < PCI_NR; l++)
                    r[l] = (float)(t[x][0][l] * G[y][0] + t[x][1][l] * G[y][1] + t[x][2][l] * G[y][2]);
                store16(u, (size_t)(x * a + y) * ustride + (b * cin + c) * PCI_NR, r);
            }
    }
}

typedef void (*panel_fn)(int m, const float *g, int cin, size_t b, size_t ustride, void *u);
#define PCI_PANEL_VARIANT(SUFFIX, TARGET, STORE)                                                          \
    TARGET static void panel_##SUFFIX(int m, const float *g, int cin, size_t b, size_t ustride, void *u) { \
        if (m == 2) transform_panel(2, g, cin, b, ustride, u, STORE);                                      \
        else transform_panel(4, g, cin, b, ustride, u, STORE);                                             \
    }
PCI_PANEL_VARIANT(f16_generic, , store_half16_generic)
PCI_PANEL_VARIANT(f32_generic, , store_float32)
#ifdef PCI_X86
PCI_PANEL_VARIANT(f16_avx2, __attribute__((target("avx2,fma,f16c"))), store_half16_f16c)
PCI_PANEL_VARIANT(f16_avx512, __attribute__((target("avx512f,avx2,fma,f16c"))), store_half16_f16c)
PCI_PANEL_VARIANT(f32_avx2, __attribute__((target("avx2,fma"))), store_float32)
PCI_PANEL_VARIANT(f32_avx512, __attribute__((target("avx512f,avx2,fma"))), store_float32)
#endif

static panel_fn panel_for(int isa, int u_dtype) {
    const int half = u_dtype == PCI_DTYPE_F16;
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return half ? panel_f16_avx512 : panel_f32_avx512;
    case PCI_ISA_AVX2: return half ? panel_f16_avx2 : panel_f32_avx2;
#endif
    default: return half ? panel_f16_generic : panel_f32_generic;
    }
}

int pci_winograd_weights(const pci_weights *w, int cin, int cout, int m, void *u, int u_dtype, pci_ctx ctx) {
    const int a = m + 2, nb = (cout + PCI_NR - 1) / PCI_NR;
    const size_t ustride = (size_t)nb * cin * PCI_NR; /* floats per position xi */
    const size_t panel = (size_t)9 * cin * PCI_NR;     /* direct panel16: [panel][3][3][cin][16] */
    const panel_fn fn = panel_for(ctx.isa, u_dtype);
    const int nt = pci_threads_for(ctx, (double)nb * panel * a * a);
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(| : failed)
    {
        float *g = malloc(panel * sizeof(float)); /* one panel widened: 9 * cin * 16 floats */
        failed |= !g;
#pragma omp for schedule(static)
        for (int b = 0; b < nb; b++) {
            if (!g) continue;
            pci_widen_panels(w, (size_t)b * panel, 1, panel, (size_t)b, g, ctx.isa);
            fn(m, g, cin, (size_t)b, ustride, u);
        }
        free(g);
    }
    return failed ? -1 : 0;
}
