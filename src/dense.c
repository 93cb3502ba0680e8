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
    const pci_weights w = {wpacked, PCI_DTYPE_F32, NULL};
    pci_dense_w(x, &w, bias, y, m, k, n, act, ctx);
}

void pci_dense_w(const float *x, const pci_weights *w, const float *bias, float *y,
                 int m, int k, int n, pci_act act, pci_ctx ctx) {
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const int nb = (n + PCI_NR - 1) / PCI_NR;
    const size_t panel_stride = (size_t)k * PCI_NR;
    if (m == 1) {
        const int nt = pci_threads_for(ctx, (double)k * n * 8.0); /* memory-bound: a MAC costs a 4-byte load */
        float clamp[2];
        const int fused = pci_act_as_clamp(act, clamp);
        /* Reduced precision widens in registers inside the GEMV (gemv_w): the
         * layer only streams its weights, so half / a quarter of the bytes is
         * what makes float16 / int8 faster; a widened copy would cost more. */
        const int dt = w->dtype;
        const float *wf = dt == PCI_DTYPE_F32 ? (const float *)w->data : NULL;
        const char *wb = (const char *)w->data;
        const size_t panel_bytes = panel_stride * pci_dtype_size(dt);
        PCI_FOR(nt, int b = 0, b < nb, b++, {
            float out[PCI_NR];
            if (wf) uk->gemv(k, x, wf + (size_t)b * panel_stride, out);
            else uk->gemv_w(k, x, wb + (size_t)b * panel_bytes, dt, w->scale ? w->scale + (size_t)b * PCI_NR : NULL, out);
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
    pci_conv2d_w(x, w, bias, y, &s1, act, ctx);
}

/* ---- the dense op (op_table.h): p = m, k, n ---- */
#include "executor.h"

/* Step parameter 3: 0 computes in float32; 1 in int8 on the input row quantized over
 * its measured range (batch 1, an int8 kernel: dense_q8.c). */
#define DENSE_INT8 3

int pci_validate_dense(const pci_step *st, pci_check *chk) {
    const int *p = st->s.p;
    if (!pci_all_positive(p, 3)) return pci_check_fail(chk, "non-positive size");
    const int int8 = p[DENSE_INT8];
    if (int8 < 0 || int8 > 1) return pci_check_fail(chk, "int8 compute mode %d (0: float32, 1: measured range)", int8);
    if (int8) {
        if (st->w_dtype[PCI_SLOT_KERNEL] != PCI_DTYPE_I8 || !pci_dense_q8_supported(p[0], p[1]))
            return pci_check_fail(chk, "int8 compute needs an int8 kernel, batch 1 and at most %d input features",
                                  PCI_Q8_MAX_K);
        if (st->scratch_floats < pci_dense_q8_scratch_floats(p[1])) return pci_check_fail(chk, "int8 scratch too small");
        PCI_TRY(pci_check_out(chk, st->scratch, st->scratch_floats, "int8 scratch"));
    }
    const int in_dims[2] = {p[0], p[1]}, out_dims[2] = {p[0], p[2]};
    const int w_dims[3] = {(p[2] + PCI_NR - 1) / PCI_NR, p[1], PCI_NR};
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(2, in_dims), "input"));
    PCI_TRY(pci_check_kernel(chk, st, pci_size_mul(3, w_dims), (size_t)w_dims[0] * PCI_NR));
    if (st->w[1]) PCI_TRY(pci_check_in(chk, st->w[1], (size_t)p[2], "bias"));
    return pci_check_out(chk, st->out, pci_size_mul(2, out_dims), "output");
}

void pci_run_dense(const pci_step *st, pci_ctx ctx) {
    const pci_weights w = pci_step_kernel(st);
    if (st->s.p[DENSE_INT8])
        pci_dense_q8(st->in[0], &w, st->w[1], st->out, st->s.p[1], st->s.p[2], st->act, st->scratch,
                     st->scratch_floats, ctx);
    else
        pci_dense_w(st->in[0], &w, st->w[1], st->out, st->s.p[0], st->s.p[1], st->s.p[2], st->act, ctx);
}

const char *pci_algorithm_dense(const pci_step *st, int isa) {
    if (st->s.p[DENSE_INT8]) /* the kernel dense_q8.c takes on this ISA */
        return pci_q8_kernels_for(isa)->names[4];
    return st->s.p[0] == 1 ? "packed GEMV" : "packed GEMM (1x1 conv)";
}
