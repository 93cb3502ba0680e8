/* Layer normalisation over the last axis (Keras LayerNormalization with
 * axis=-1): y = (x - mean) / sqrt(var + eps) * gamma + beta, with the mean
 * and the (biased) variance of each row. The row statistics are summed in
 * float64, so the result is within float32 rounding of the exact value and
 * does not depend on how a row is split. */
#include <math.h>

#include "executor.h"
#include "pci_internal.h"

static void normalize_row(const float *x, float *y, size_t n, float eps, const float *gamma, const float *beta) {
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    const double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) {
        const double d = x[i] - mean;
        sq += d * d;
    }
    const float inv = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
    const float m = (float)mean;
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] - m) * inv;
        if (gamma) v *= gamma[i];
        if (beta) v += beta[i];
        y[i] = v;
    }
}

void pci_layer_norm(const float *x, const float *gamma, const float *beta, float *y, size_t rows, size_t cols,
                    float eps, pci_ctx ctx) {
    const int nt = pci_threads_for(ctx, 4.0 * (double)rows * (double)cols);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        normalize_row(x + (size_t)r * cols, y + (size_t)r * cols, cols, eps, gamma, beta);
    });
}

/* ---- the layer_norm op: rows, p[0] = row length, f[0] = epsilon; w = gamma, beta (optional) ---- */
int pci_validate_layer_norm(const pci_step *st, pci_check *chk) {
    const int cols = st->s.p[0];
    if (cols <= 0) return pci_check_fail(chk, "non-positive width");
    if (!(st->f[0] >= 0.0f) || !isfinite(st->f[0])) return pci_check_fail(chk, "epsilon %g is not a finite value >= 0", st->f[0]);
    if (st->w[0]) PCI_TRY(pci_check_in(chk, st->w[0], (size_t)cols, "gamma"));
    if (st->w[1]) PCI_TRY(pci_check_in(chk, st->w[1], (size_t)cols, "beta"));
    PCI_TRY(pci_check_in(chk, st->in[0], st->rows * (size_t)cols, "input"));
    return pci_check_out(chk, st->out, st->rows * (size_t)cols, "output");
}

void pci_run_layer_norm(const pci_step *st, pci_ctx ctx) {
    pci_layer_norm(st->in[0], st->w[0], st->w[1], st->out, st->rows, (size_t)st->s.p[0], st->f[0], ctx);
    if (st->act.kind != PCI_ACT_LINEAR) pci_activation(st->out, st->rows, (size_t)st->s.p[0], st->act, ctx);
}

const char *pci_algorithm_layer_norm(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "row statistics (float64 sums)";
}
