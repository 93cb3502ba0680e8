/* Dense layers: y = act(x @ W + b) on packed panel16 weights.
 * Batch 1 is a GEMV streaming each weight once (memory-bound: VGG16's fc1 is
 * 411 MB); larger batches run the conv micro-kernel with one tap. */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

void pci_dense_ref(const float *x, const float *kernel, const float *bias, float *y,
                   int m, int k, int n, pci_act act) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = bias ? bias[j] : 0.0;
            for (int l = 0; l < k; l++) acc += (double)x[(size_t)i * k + l] * kernel[(size_t)l * n + j];
            y[(size_t)i * n + j] = (float)acc;
        }
    }
    pci_ctx serial = {1, PCI_ISA_GENERIC};
    pci_activation(y, (size_t)m, (size_t)n, act, serial);
}

void pci_dense(const float *x, const float *wpacked, const float *bias, float *y,
               int m, int k, int n, pci_act act, pci_ctx ctx) {
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const int nb = (n + PCI_NR - 1) / PCI_NR;
    const size_t panel_stride = (size_t)k * PCI_NR;
    if (m == 1) {
        const int nt = pci_threads_for(ctx, (double)k * n);
        float clamp[2];
        const int fused = pci_act_as_clamp(act, clamp);
        PCI_FOR(nt, int b = 0, b < nb, b++, {
            float out[PCI_NR];
            uk->gemv(k, x, wpacked + (size_t)b * panel_stride, out);
            const int nc = PCI_MIN(PCI_NR, n - b * PCI_NR);
            for (int j = 0; j < nc; j++) {
                float v = out[j] + (bias ? bias[b * PCI_NR + j] : 0.0f);
                if (fused) v = v < clamp[0] ? clamp[0] : (v > clamp[1] ? clamp[1] : v);
                y[b * PCI_NR + j] = v;
            }
        });
        if (!fused) pci_activation(y, 1, (size_t)n, act, ctx);
        return;
    } else {
        const int mr = uk->mr, tiles = (m + mr - 1) / mr;
        const long items = (long)tiles * nb;
        const int nt = pci_threads_for(ctx, (double)m * k * n);
        float clamp[2];
        const int fused = pci_act_as_clamp(act, clamp);
        PCI_FOR(nt, long it = 0, it < items, it++, {
            const int t = (int)(it / nb), b = (int)(it % nb);
            const int r0 = t * mr, rows = PCI_MIN(mr, m - r0);
            const float *a[16];
            for (int i = 0; i < mr; i++) a[i] = x + (size_t)(r0 + PCI_MIN(i, rows - 1)) * k;
            uk->fn[1](1, k, a, wpacked + (size_t)b * panel_stride, panel_stride, y + (size_t)r0 * n + b * PCI_NR,
                      (size_t)n, rows, PCI_MIN(PCI_NR, n - b * PCI_NR), bias ? bias + b * PCI_NR : NULL, 0,
                      fused ? clamp : NULL);
        });
        if (!fused) pci_activation(y, (size_t)m, (size_t)n, act, ctx);
    }
}
