/* The batch-1 dense layer computing in int8 (an int8 kernel, int8 compute on).
 *
 * A batch-1 dense layer reads each weight once: it is bound by how fast its
 * weights stream in, and widening int8 weights to float32 in registers (the
 * float32 path) costs more instructions per byte than memory delivers (VGG16's
 * fc1, 103 MB: 7.0 ms on one core that way, 5.1 ms here; AMD EPYC Zen 4, AVX-512 VNNI). Here the input
 * row is quantized per tensor to uint8 over its measured range, x ~ scale *
 * (q - zp), as conv2d_q8.c quantizes a convolution's input, and each output is
 *   y = float(sum q w - zp sum w) * (scale * kscale[j]) + bias[j]
 * (one fma) with exact int32 sums: results do not depend on the thread count
 * or on the micro-kernel. Batches keep the float32 path (their GEMM reuses each
 * weight across rows, so widening it is cheap). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pci_internal.h"

int pci_dense_q8_supported(int m, int k) { return m == 1 && k >= 1 && k <= PCI_Q8_MAX_K; }

size_t pci_dense_q8_scratch_floats(int k) { return ((size_t)k + 63) / 64 * 64 / sizeof(float); }

void pci_dense_q8(const float *x, const pci_weights *w, const float *bias, float *y, int k, int n, pci_act act,
                  void *scratch, size_t scratch_floats, pci_ctx ctx) {
    if (!pci_dense_q8_supported(1, k) || w->dtype != PCI_DTYPE_I8 || !w->scale ||
        scratch_floats < pci_dense_q8_scratch_floats(k)) { /* validation refuses these: never reached from a plan */
        pci_fill_nan(y, (size_t)n);
        return;
    }
    const pci_q8_kernels *uk = pci_q8_kernels_for(ctx.isa);
    float range[2], scale, inv;
    int zp;
    uk->minmax(x, (size_t)k, &range[0], &range[1]);
    if (pci_q8_params(range, &scale, &inv, &zp) != 0) { /* inf / NaN: the float32 path propagates them */
        pci_dense_w(x, w, bias, y, 1, k, n, act, ctx);
        return;
    }
    uint8_t *xq = scratch;
    uk->quantize(x, (size_t)k, inv, zp, xq);
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const int8_t *wq = w->data;
    const int nb = (n + PCI_NR - 1) / PCI_NR;
    const int nt = pci_threads_for(ctx, (double)k * n * 2.0); /* memory-bound: a byte per multiply-add */
    PCI_FOR(nt, int b = 0, b < nb, b++, {
        int32_t dot[PCI_NR], wsum[PCI_NR];
        uk->gemv(k, xq, wq + (size_t)b * k * PCI_NR, dot, zp ? wsum : NULL);
        const int nc = PCI_MIN(PCI_NR, n - b * PCI_NR);
        for (int j = 0; j < nc; j++) {
            const int o = b * PCI_NR + j;
            const int32_t acc = zp ? dot[j] - zp * wsum[j] : dot[j];
            float v = fmaf((float)acc, scale * w->scale[o], bias ? bias[o] : 0.0f);
            if (fused) v = fminf(fmaxf(v, clamp[0]), clamp[1]);
            y[o] = v;
        }
    });
    if (!fused) pci_activation(y, 1, (size_t)n, act, ctx);
}
