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

int pci_winograd_weights(const pci_weights *w, int cin, int cout, int m, float *u, pci_ctx ctx) {
    const int a = m + 2, nb = (cout + PCI_NR - 1) / PCI_NR;
    const double(*G)[3] = m == 2 ? G2 : G4;
    const size_t ustride = (size_t)nb * cin * PCI_NR; /* floats per position xi */
    const size_t panel = (size_t)9 * cin * PCI_NR;     /* direct panel16: [panel][3][3][cin][16] */
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
            for (int c = 0; c < cin; c++)
                for (int l = 0; l < PCI_NR; l++) {
                    double t[6][3];
#define W(i, j) ((double)g[((size_t)((i) * 3 + (j)) * cin + c) * PCI_NR + l])
                    for (int x = 0; x < a; x++)
                        for (int j = 0; j < 3; j++) t[x][j] = G[x][0] * W(0, j) + G[x][1] * W(1, j) + G[x][2] * W(2, j);
#undef W
                    for (int x = 0; x < a; x++)
                        for (int y = 0; y < a; y++)
                            u[(size_t)(x * a + y) * ustride + ((size_t)b * cin + c) * PCI_NR + l] =
                                (float)(t[x][0] * G[y][0] + t[x][1] * G[y][1] + t[x][2] * G[y][2]);
                }
        }
        free(g);
    }
    return failed ? -1 : 0;
}
