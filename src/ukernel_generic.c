/* Portable GEMM micro-kernel: 4 output pixels x 16 output channels.
 * Plain C that compilers vectorize for whatever the build targets (SSE2 on a
 * portable x86-64 build, NEON on ARM, AVX-512 under -march=native). */
#include <string.h>

#include "pci_internal.h"

#define MR 4

const float pci_zeros[PCI_ZEROS_LEN];

static void ukernel_generic_4x16(int ks, int kc, const float *const *a, const float *w,
                                 size_t panel_stride, float *c, size_t ldc, int mr, int nc,
                                 const float *bias, int accumulate, const float *clamp) {
    (void)panel_stride;
    float acc[MR][PCI_NR];
    for (int m = 0; m < MR; m++)
        for (int j = 0; j < PCI_NR; j++)
            acc[m][j] = accumulate ? (m < mr && j < nc ? c[m * ldc + j] : 0.0f)
                                   : (bias && j < nc ? bias[j] : 0.0f);
    for (int t = 0; t < ks; t++) {
        const float *restrict a0 = a[t * MR + 0];
        const float *restrict a1 = a[t * MR + 1];
        const float *restrict a2 = a[t * MR + 2];
        const float *restrict a3 = a[t * MR + 3];
        const float *restrict wt = w + (size_t)t * kc * PCI_NR;
        for (int k = 0; k < kc; k++) {
            const float *restrict wk = wt + (size_t)k * PCI_NR;
            const float v0 = a0[k], v1 = a1[k], v2 = a2[k], v3 = a3[k];
#pragma omp simd
            for (int j = 0; j < PCI_NR; j++) {
                acc[0][j] += v0 * wk[j];
                acc[1][j] += v1 * wk[j];
                acc[2][j] += v2 * wk[j];
                acc[3][j] += v3 * wk[j];
            }
        }
    }
    if (clamp)
        for (int m = 0; m < mr; m++)
            for (int j = 0; j < PCI_NR; j++) {
                const float v = acc[m][j] < clamp[0] ? clamp[0] : acc[m][j];
                acc[m][j] = v > clamp[1] ? clamp[1] : v;
            }
    for (int m = 0; m < mr; m++) memcpy(c + m * ldc, acc[m], (size_t)nc * sizeof(float));
}

static void gemv_generic_16(int k, const float *x, const float *w, float *y16) {
    /* Four partial sums break the FMA dependency chain; combined in a fixed order. */
    float acc[4][PCI_NR] = {{0}};
    int i = 0;
    for (; i + 4 <= k; i += 4)
        for (int u = 0; u < 4; u++) {
            const float v = x[i + u];
            const float *wk = w + (size_t)(i + u) * PCI_NR;
#pragma omp simd
            for (int j = 0; j < PCI_NR; j++) acc[u][j] += v * wk[j];
        }
    for (; i < k; i++) {
        const float v = x[i];
        const float *wk = w + (size_t)i * PCI_NR;
        for (int j = 0; j < PCI_NR; j++) acc[0][j] += v * wk[j];
    }
    for (int j = 0; j < PCI_NR; j++) y16[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
}

/* gemv_generic_16's sums, in its order, on a reduced-precision panel widened
 * CHUNK rows at a time (a multiple of 4: the partial sums keep their rows)
 * into a stack buffer (portable C: no conversion instructions to count on;
 * the vector ISAs widen in registers). */
#define CHUNK 64
static void gemv_w_generic_16(int k, const float *x, const void *w, int dtype, const float *scale16, float *y16) {
    const pci_weights wv = {w, dtype, scale16};
    float acc[4][PCI_NR] = {{0}}, wk[CHUNK * PCI_NR];
    int i = 0;
    while (i + 4 <= k) {
        const int rows = PCI_MIN(CHUNK, (k - i) / 4 * 4);
        pci_widen(&wv, (size_t)i * PCI_NR, (size_t)rows * PCI_NR, scale16, PCI_NR, wk, PCI_ISA_GENERIC);
        for (int r = 0; r < rows; r += 4)
            for (int u = 0; u < 4; u++) {
                const float v = x[i + r + u];
                const float *wr = wk + (size_t)(r + u) * PCI_NR;
#pragma omp simd
                for (int j = 0; j < PCI_NR; j++) acc[u][j] += v * wr[j];
            }
        i += rows;
    }
    for (; i < k; i++) {
        const float v = x[i];
        pci_widen(&wv, (size_t)i * PCI_NR, PCI_NR, scale16, PCI_NR, wk, PCI_ISA_GENERIC);
        for (int j = 0; j < PCI_NR; j++) acc[0][j] += v * wk[j];
    }
    for (int j = 0; j < PCI_NR; j++) y16[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]);
}
#undef CHUNK

const pci_gemm_kernels pci_gemm_generic = {
    MR, 1, {NULL, ukernel_generic_4x16, NULL, NULL, NULL}, 0, NULL, gemv_generic_16, gemv_w_generic_16};
