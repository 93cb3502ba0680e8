/* Activations: the scalar definitions (Keras's formulas, in float32) and
 * their in-place application. */
#include <math.h>
#include <string.h>

#include "pci_internal.h"

static inline float sigmoidf(float x) {
    /* exp of a large positive argument overflows to inf: 1 / inf = 0, as wanted. */
    return 1.0f / (1.0f + expf(-x));
}

static inline float softplusf(float x) {
    /* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

float pci_act_scalar(float x, pci_act act) {
    switch (act.kind) {
    case PCI_ACT_RELU: {
        /* Keras's relu(x, negative_slope, max_value, threshold), term by term:
         * x where x > threshold (clipped to [0, max_value] when a max is given),
         * plus negative_slope * (x - threshold) where x <= threshold. */
        float y = x > act.p2 ? x : 0.0f;
        if (isfinite(act.p0)) y = fminf(fmaxf(y, 0.0f), act.p0);
        return y + act.p1 * fminf(x - act.p2, 0.0f);
    }
    case PCI_ACT_ELU: return x > 0.0f ? x : act.p0 * expm1f(x);
    case PCI_ACT_SELU: {
        const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
        return scale * (x > 0.0f ? x : alpha * expm1f(x));
    }
    case PCI_ACT_SIGMOID: return sigmoidf(x);
    case PCI_ACT_HARD_SIGMOID: return fminf(fmaxf(act.p0 * x + act.p1, 0.0f), 1.0f);
    case PCI_ACT_TANH: return tanhf(x);
    case PCI_ACT_SOFTPLUS: return softplusf(x);
    case PCI_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case PCI_ACT_SWISH: return x * sigmoidf(x);
    case PCI_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case PCI_ACT_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case PCI_ACT_EXPONENTIAL: return expf(x);
    case PCI_ACT_HARD_SILU: return x * fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PCI_ACT_MISH: return x * tanhf(softplusf(x));
    default: return x;
    }
}

void pci_act_inplace(float *x, size_t n, pci_act act) {
    switch (act.kind) {
    case PCI_ACT_LINEAR: return;
    case PCI_ACT_RELU:
        if (act.p1 == 0.0f && act.p2 == 0.0f) {
            /* Plain (capped) relu: the common case, kept vectorizable. */
            const float hi = act.p0;
#pragma omp simd
            for (size_t i = 0; i < n; i++) {
                const float y = x[i] > 0.0f ? x[i] : 0.0f;
                x[i] = y > hi ? hi : y;
            }
            return;
        }
        break;
    default: break;
    }
    for (size_t i = 0; i < n; i++) x[i] = pci_act_scalar(x[i], act);
}

void pci_softmax_rows(float *x, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float mx = -INFINITY;
        for (size_t i = 0; i < cols; i++) mx = row[i] > mx ? row[i] : mx;
        double sum = 0.0; /* float64 sum: the result is then within 1 ulp-ish of exact */
        for (size_t i = 0; i < cols; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
        const float inv = (float)(1.0 / sum);
        for (size_t i = 0; i < cols; i++) row[i] *= inv;
    }
}

void pci_activation(float *x, size_t rows, size_t cols, pci_act act, pci_ctx ctx) {
    if (act.kind == PCI_ACT_LINEAR || rows == 0 || cols == 0) return;
    const int nt = pci_threads_for(ctx, 8.0 * (double)rows * (double)cols);
    if (act.kind == PCI_ACT_SOFTMAX) {
        PCI_FOR(nt, long r = 0, r < (long)rows, r++, { pci_softmax_rows(x + (size_t)r * cols, 1, cols); });
        return;
    }
    /* Fixed-size chunks so each element's result is independent of the thread count. */
    const size_t total = rows * cols, chunk = 16384;
    const long nchunks = (long)((total + chunk - 1) / chunk);
    PCI_FOR(nt, long i = 0, i < nchunks, i++, {
        const size_t start = (size_t)i * chunk;
        pci_act_inplace(x + start, PCI_MIN(chunk, total - start), act);
    });
}
