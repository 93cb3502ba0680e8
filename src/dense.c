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
    }
    /* Batches: the rows are pixels of a 1x1 convolution, whose driver blocks
     * output channels for the widest micro-kernel and fuses the activation. */
    const pci_conv_shape s1 = {1, 1, m, k, 1, m, n, 1, 1, 1, 1, 1, 1, 0, 0, 1};
    pci_conv2d(x, wpacked, bias, y, &s1, act, ctx);
}
