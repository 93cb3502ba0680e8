/* Glue ops: signed padding (negative = crop), concatenation, a per-channel
 * scale and shift (batch normalisation that could not be folded, Rescaling,
 * Normalization) along any axis, and a standalone activation. */
#include <math.h>
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

/* dst[0..n) = v (memset when v is +0.0, the common zero padding) */
static void fill(float *dst, size_t n, float v) {
    if (v == 0.0f && !signbit(v)) {
        memset(dst, 0, sizeof(float) * n);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = v;
}

void pci_pad2d(const float *x, float *y, int n, int h, int w, int c, int top, int bottom, int left, int right,
               float value, pci_ctx ctx) {
    const int oh = h + top + bottom, ow = w + left + right;
    const long rows = (long)n * oh;
    /* output column q reads input column q - left; the columns that exist in both: */
    const int q0 = PCI_MAX(0, left), q1 = PCI_MIN(ow, w + left);
    const int nt = pci_threads_for(ctx, (double)rows * ow * c);
    PCI_FOR(nt, long r = 0, r < rows, r++, {
        const int i = (int)(r / oh), row = (int)(r % oh) - top;
        float *out = y + (size_t)r * ow * c;
        if (row < 0 || row >= h || q1 <= q0) {
            fill(out, (size_t)ow * c, value);
        } else {
            fill(out, (size_t)q0 * c, value);
            memcpy(out + (size_t)q0 * c, x + (((size_t)i * h + row) * w + (q0 - left)) * c,
                   sizeof(float) * (size_t)(q1 - q0) * c);
            fill(out + (size_t)q1 * c, (size_t)(ow - q1) * c, value);
        }
    });
}

void pci_concat(const float *const *xs, const int *cols, int k, float *y, size_t rows, pci_ctx ctx) {
    size_t total = 0;
    for (int j = 0; j < k; j++) total += (size_t)cols[j];
    const int nt = pci_threads_for(ctx, (double)rows * total);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        float *out = y + (size_t)r * total;
        for (int j = 0; j < k; j++) {
            memcpy(out, xs[j] + (size_t)r * cols[j], sizeof(float) * (size_t)cols[j]);
            out += cols[j];
        }
    });
}

/* One (outer index) block of c * inner values; scale or shift may be NULL. */
static void scale_shift_block(const float *in, float *out, const float *scale, const float *shift, int c, size_t inner) {
    for (int ch = 0; ch < c; ch++) {
        const float a = scale ? scale[ch] : 1.0f, b = shift ? shift[ch] : 0.0f;
        const float *src = in + (size_t)ch * inner;
        float *dst = out + (size_t)ch * inner;
#pragma omp simd
        for (size_t i = 0; i < inner; i++) dst[i] = src[i] * a + b;
    }
}

void pci_scale_shift(const float *x, const float *scale, const float *shift, float *y, size_t outer, int c,
                     size_t inner, pci_act act, pci_ctx ctx) {
    const size_t block = (size_t)c * inner;
    const int nt = pci_threads_for(ctx, (double)outer * block * 2);
    if (inner == 1) { /* channels last: vector over channels */
        PCI_FOR(nt, long r = 0, r < (long)outer, r++, {
            const float *in = x + (size_t)r * c;
            float *out = y + (size_t)r * c;
            for (int i = 0; i < c; i++) out[i] = in[i] * (scale ? scale[i] : 1.0f) + (shift ? shift[i] : 0.0f);
            pci_act_inplace(out, (size_t)c, act, ctx.isa); /* row kinds: a no-op here, applied below */
        });
        if (pci_act_is_row(act)) pci_activation(y, outer, (size_t)c, act, ctx);
    } else {
        PCI_FOR(nt, long r = 0, r < (long)outer, r++, {
            scale_shift_block(x + (size_t)r * block, y + (size_t)r * block, scale, shift, c, inner);
            pci_act_inplace(y + (size_t)r * block, block, act, ctx.isa);
        });
    }
}

/* ---- pad2d: p = n, h, w, c, top, bottom, left, right (negative = crop); f[0] = the padding value ---- */
int pci_validate_pad2d(const pci_step *st, pci_check *chk) {
    const int *p = st->s.p;
    if (!pci_all_positive(p, 4)) return pci_check_fail(chk, "non-positive size");
    for (int i = 4; i < 8; i++)
        if (p[i] < -65536 || p[i] > 65536) return pci_check_fail(chk, "padding %d out of range", p[i]);
    const long oh = (long)p[1] + p[4] + p[5], ow = (long)p[2] + p[6] + p[7];
    if (oh < 1 || ow < 1) return pci_check_fail(chk, "cropping leaves nothing (%ld x %ld)", oh, ow);
    if (!isfinite(st->f[0])) return pci_check_fail(chk, "padding value is not finite");
    const int out_dims[4] = {p[0], (int)oh, (int)ow, p[3]};
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(4, p), "input"));
    return pci_check_out(chk, st->out, pci_size_mul(4, out_dims), "output");
}

void pci_run_pad2d(const pci_step *st, pci_ctx ctx) {
    const int *p = st->s.p;
    pci_pad2d(st->in[0], st->out, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], st->f[0], ctx);
}

const char *pci_algorithm_pad2d(const pci_step *st, int isa) {
    (void)isa;
    for (int i = 4; i < 8; i++)
        if (st->s.p[i] < 0) return "row copy (crop)";
    return "row copy";
}

/* ---- concat: rows, in_flags = each input's width ---- */
int pci_validate_concat(const pci_step *st, pci_check *chk) {
    size_t total = 0;
    if (st->n_in < 1) return pci_check_fail(chk, "needs inputs");
    for (int i = 0; i < st->n_in; i++) {
        if (st->in_flags[i] <= 0) return pci_check_fail(chk, "non-positive width");
        PCI_TRY(pci_check_in(chk, st->in[i], st->rows * (size_t)st->in_flags[i], "input"));
        total += (size_t)st->in_flags[i];
    }
    return pci_check_out(chk, st->out, st->rows * total, "output");
}

void pci_run_concat(const pci_step *st, pci_ctx ctx) {
    pci_concat(st->in, st->in_flags, st->n_in, st->out, st->rows, ctx);
}

const char *pci_algorithm_concat(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "row copy";
}

/* ---- scale_shift: p = outer, c, inner; w = scale, shift (either may be absent) ---- */
int pci_validate_scale_shift(const pci_step *st, pci_check *chk) {
    const int *p = st->s.p;
    if (!pci_all_positive(p, 3)) return pci_check_fail(chk, "non-positive size");
    if (pci_act_shape(st->act.kind) != PCI_ACT_ELEMENTWISE && p[2] != 1) /* rows exist only when c is last */
        return pci_check_fail(chk, "fused activation %d works over the last axis, which is not the channel axis",
                              st->act.kind);
    if (st->w[0]) PCI_TRY(pci_check_in(chk, st->w[0], (size_t)p[1], "scale"));
    if (st->w[1]) PCI_TRY(pci_check_in(chk, st->w[1], (size_t)p[1], "shift"));
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(3, p), "input"));
    return pci_check_out(chk, st->out, pci_size_mul(3, p), "output");
}

void pci_run_scale_shift(const pci_step *st, pci_ctx ctx) {
    const int *p = st->s.p;
    pci_scale_shift(st->in[0], st->w[0], st->w[1], st->out, (size_t)p[0], p[1], (size_t)p[2], st->act, ctx);
}

const char *pci_algorithm_scale_shift(const pci_step *st, int isa) {
    (void)isa;
    return st->s.p[2] == 1 ? "channel vector" : "plane vector";
}

/* ---- activation: rows, p[0] = row length (softmax normalises each row) ---- */
int pci_validate_activation(const pci_step *st, pci_check *chk) {
    if (st->s.p[0] <= 0) return pci_check_fail(chk, "non-positive width");
    PCI_TRY(pci_check_in(chk, st->in[0], st->rows * (size_t)st->s.p[0], "input"));
    return pci_check_out(chk, st->out, st->rows * (size_t)st->s.p[0], "output");
}

void pci_run_activation(const pci_step *st, pci_ctx ctx) {
    if (st->out != st->in[0]) memcpy(st->out, st->in[0], st->rows * (size_t)st->s.p[0] * sizeof(float));
    pci_activation(st->out, st->rows, (size_t)st->s.p[0], st->act, ctx);
}

const char *pci_algorithm_activation(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "element-wise";
}

/* ---- glu: rows, p[0] = output row length (the input rows are twice as long) ---- */
int pci_validate_glu(const pci_step *st, pci_check *chk) {
    const int cols = st->s.p[0];
    if (cols <= 0) return pci_check_fail(chk, "non-positive width");
    PCI_TRY(pci_check_in(chk, st->in[0], st->rows * 2 * (size_t)cols, "input"));
    return pci_check_out(chk, st->out, st->rows * (size_t)cols, "output");
}

void pci_run_glu(const pci_step *st, pci_ctx ctx) { pci_glu_rows(st->in[0], st->out, st->rows, (size_t)st->s.p[0], ctx); }

const char *pci_algorithm_glu(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "a * sigmoid(b) per row";
}
