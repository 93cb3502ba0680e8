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
 * values, weights.c) and rounded once to float32, as packing.pack_winograd
 * does at conversion, so either route gives the same U up to the order of a
 * float64 sum. */
#include <stdint.h>
#include <stdlib.h>

#include "pci_internal.h"

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

size_t pci_winograd_weights_floats(int cin, int cout, int m) {
    /* sizes come from a file: SIZE_MAX on nonsense or overflow */
    if (cin <= 0 || cout <= 0 || (m != 2 && m != 4)) return SIZE_MAX;
    const size_t a = (size_t)m + 2, nb = ((size_t)cout + PCI_NR - 1) / PCI_NR, per = a * a * PCI_NR;
    if (nb > SIZE_MAX / per / (size_t)cin) return SIZE_MAX;
    return per * nb * (size_t)cin;
}

/* U for the input channels of one panel (16 output channels in the lanes), from
 * its widened 3x3 kernel g ([3][3][cin][16]); lanes innermost so that the loops
 * vectorize (per ISA: the wrappers below). */
static inline __attribute__((always_inline)) void transform_panel(const int m, const float *g, int cin, size_t b,
                                                                   size_t ustride, float *u) {
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
                float *dst = u + (size_t)(x * a + y) * ustride + (b * cin + c) * PCI_NR;
#pragma omp simd
                for (int l = 0; l < PCI_NR; l++)
                    dst[l] = (float)(t[x][0][l] * G[y][0] + t[x][1][l] * G[y][1] + t[x][2][l] * G[y][2]);
            }
    }
}

typedef void (*panel_fn)(int m, const float *g, int cin, size_t b, size_t ustride, float *u);
#define PCI_PANEL_VARIANT(SUFFIX, TARGET)                                                                \
    TARGET static void panel_##SUFFIX(int m, const float *g, int cin, size_t b, size_t ustride, float *u) { \
        if (m == 2) transform_panel(2, g, cin, b, ustride, u);                                            \
        else transform_panel(4, g, cin, b, ustride, u);                                                   \
    }
PCI_PANEL_VARIANT(generic, )
#ifdef PCI_X86
PCI_PANEL_VARIANT(avx2, __attribute__((target("avx2,fma"))))
PCI_PANEL_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

static panel_fn panel_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return panel_avx512;
    case PCI_ISA_AVX2: return panel_avx2;
#endif
    default: return panel_generic;
    }
}

int pci_winograd_weights(const pci_weights *w, int cin, int cout, int m, float *u, pci_ctx ctx) {
    const int a = m + 2, nb = (cout + PCI_NR - 1) / PCI_NR;
    const size_t ustride = (size_t)nb * cin * PCI_NR; /* floats per position xi */
    const size_t panel = (size_t)9 * cin * PCI_NR;     /* direct panel16: [panel][3][3][cin][16] */
    const panel_fn fn = panel_for(ctx.isa);
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
