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
 * values) and rounded once to float32, as packing.pack_winograd does at
 * conversion, so either route gives the same U up to the order of a float64 sum. */
#include <string.h>

#include "pci_internal.h"

/* The stored weight at flat index i of a panel16 kernel, widened to float32
 * (int8: q * scale of its channel, rounded to float32 as the kernels do). */
static inline float stored_weight(const void *w, int dtype, size_t i, const float *scale, size_t panel, int lane) {
    switch (dtype) {
    case 1: { /* float16 */
        const unsigned short h = ((const unsigned short *)w)[i];
        const unsigned sign = (unsigned)(h >> 15) << 31, exp = (h >> 10) & 31u, man = h & 1023u;
        unsigned bits;
        if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
        else if (exp) bits = sign | ((exp + 112u) << 23) | (man << 13);
        else if (!man) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            unsigned m = man;
            do { m <<= 1; e++; } while (!(m & 1024u));
            bits = sign | ((unsigned)(112 - e) << 23) | ((m & 1023u) << 13);
        }
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case 2: { /* bfloat16 */
        const unsigned bits = (unsigned)((const unsigned short *)w)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case 3: return (float)((const signed char *)w)[i] * scale[panel * PCI_NR + lane];
    default: return ((const float *)w)[i];
    }
}

static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

size_t pci_winograd_weights_floats(int cin, int cout, int m) {
    const size_t a = (size_t)m + 2, nb = ((size_t)cout + PCI_NR - 1) / PCI_NR;
    return a * a * nb * (size_t)cin * PCI_NR;
}

void pci_winograd_weights(const void *kernel, int dtype, const float *scale, int cin, int cout, int m, float *u,
                          pci_ctx ctx) {
    const int a = m + 2, nb = (cout + PCI_NR - 1) / PCI_NR;
    const double(*G)[3] = m == 2 ? G2 : G4;
    const size_t ustride = (size_t)nb * cin * PCI_NR; /* floats per position xi */
    const long pairs = (long)nb * cin;
    const int nt = pci_threads_for(ctx, (double)pairs * PCI_NR * a * a * 12);
    PCI_FOR(nt, long pc = 0, pc < pairs, pc++, {
        const size_t b = (size_t)(pc / cin), c = (size_t)(pc % cin);
        for (int l = 0; l < PCI_NR; l++) {
            double g[3][3], t[6][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) /* direct panel16: [panel][kh][kw][cin][16] */
                    g[i][j] = stored_weight(kernel, dtype, (((b * 3 + i) * 3 + j) * cin + c) * PCI_NR + l, scale, b, l);
            for (int x = 0; x < a; x++)
                for (int j = 0; j < 3; j++) t[x][j] = G[x][0] * g[0][j] + G[x][1] * g[1][j] + G[x][2] * g[2][j];
            for (int x = 0; x < a; x++)
                for (int y = 0; y < a; y++)
                    u[(size_t)(x * a + y) * ustride + (b * cin + c) * PCI_NR + l] =
                        (float)(t[x][0] * G[y][0] + t[x][1] * G[y][1] + t[x][2] * G[y][2]);
        }
    });
}
