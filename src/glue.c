/* Glue layers: zero padding, nearest upsampling, add, concatenate, and a
 * per-channel scale and shift (batch normalisation that could not be folded). */
#include <string.h>

#include "pci_internal.h"

void pci_zero_pad2d(const float *x, float *y, int n, int h, int w, int c,
                    int top, int bottom, int left, int right, pci_ctx ctx) {
    const int oh = h + top + bottom, ow = w + left + right;
    const long rows = (long)n * oh;
    const int nt = pci_threads_for(ctx, (double)rows * ow * c);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < rows; r++) {
        const int i = (int)(r / oh), row = (int)(r % oh) - top;
        float *out = y + (size_t)r * ow * c;
        if (row < 0 || row >= h) {
            memset(out, 0, sizeof(float) * (size_t)ow * c);
            continue;
        }
        memset(out, 0, sizeof(float) * (size_t)left * c);
        memcpy(out + (size_t)left * c, x + (((size_t)i * h + row) * w) * c, sizeof(float) * (size_t)w * c);
        memset(out + (size_t)(left + w) * c, 0, sizeof(float) * (size_t)right * c);
    }
}

void pci_upsample_nearest2d(const float *x, float *y, int n, int h, int w, int c,
                            int fh, int fw, pci_ctx ctx) {
    const int oh = h * fh, ow = w * fw;
    const long rows = (long)n * oh;
    const int nt = pci_threads_for(ctx, (double)rows * ow * c);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < rows; r++) {
        const int i = (int)(r / oh), row = (int)(r % oh) / fh;
        const float *in = x + (((size_t)i * h + row) * w) * c;
        float *out = y + (size_t)r * ow * c;
        for (int q = 0; q < ow; q++) memcpy(out + (size_t)q * c, in + (size_t)(q / fw) * c, sizeof(float) * c);
    }
}

void pci_add(const float *const *xs, int k, float *y, size_t count, pci_act act, pci_ctx ctx) {
    const size_t chunk = 16384;
    const long nchunks = (long)((count + chunk - 1) / chunk);
    const int nt = pci_threads_for(ctx, (double)count * k);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long ci = 0; ci < nchunks; ci++) {
        const size_t start = (size_t)ci * chunk, end = PCI_MIN(count, start + chunk);
        float *out = y + start;
        const float *x0 = xs[0] + start;
        if (out != x0) memmove(out, x0, sizeof(float) * (end - start));
        for (int j = 1; j < k; j++) {
            const float *xj = xs[j] + start;
#pragma omp simd
            for (size_t i = 0; i < end - start; i++) out[i] += xj[i];
        }
        if (!pci_act_is_row(act)) pci_act_inplace(out, end - start, act, ctx.isa);
    }
}

void pci_concat(const float *const *xs, const int *cols, int k, float *y, size_t rows, pci_ctx ctx) {
    size_t total = 0;
    for (int j = 0; j < k; j++) total += (size_t)cols[j];
    const int nt = pci_threads_for(ctx, (double)rows * total);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < (long)rows; r++) {
        float *out = y + (size_t)r * total;
        for (int j = 0; j < k; j++) {
            memcpy(out, xs[j] + (size_t)r * cols[j], sizeof(float) * (size_t)cols[j]);
            out += cols[j];
        }
    }
}

void pci_scale_shift(const float *x, const float *scale, const float *shift, float *y,
                     size_t rows, int c, pci_act act, pci_ctx ctx) {
    const int nt = pci_threads_for(ctx, (double)rows * c * 2);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < (long)rows; r++) {
        const float *in = x + (size_t)r * c;
        float *out = y + (size_t)r * c;
#pragma omp simd
        for (int i = 0; i < c; i++) out[i] = in[i] * scale[i] + shift[i];
        if (!pci_act_is_row(act)) pci_act_inplace(out, (size_t)c, act, ctx.isa);
    }
    if (pci_act_is_row(act)) pci_activation(y, rows, (size_t)c, act, ctx);
}
