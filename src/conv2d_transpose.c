/* Transposed 2-D convolution, NHWC.
 *
 * y[n, oh, ow, o] = b[o] + sum x[n, ih, iw, c] * k[kh, kw, o, c]
 *     over oh = ih * sh + kh - pad_t, ow = iw * sw + kw - pad_l.
 *
 * Fast path (XNNPACK's subconvolution scheme): output pixels whose row and
 * column fall in the same phase (rh, rw) = ((oh + pad_t) % sh, (ow + pad_l) % sw)
 * receive contributions from the same taps kh = rh + sh*i, kw = rw + sw*j only,
 * so each phase is an ordinary stride-1 indirect GEMM over the input with its
 * own packed weights. No zero is ever multiplied, no column buffer is built. */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

void pci_conv2d_transpose_ref(const float *x, const float *kernel, const float *bias, float *y,
                              const pci_tconv_shape *s, pci_act act) {
    const size_t out_pixels = (size_t)s->n * s->oh * s->ow;
    double *acc = calloc(out_pixels * s->oc, sizeof(double));
    if (!acc) return;
    for (int n = 0; n < s->n; n++)
        for (int ih = 0; ih < s->h; ih++)
            for (int iw = 0; iw < s->w; iw++)
                for (int i = 0; i < s->kh; i++) {
                    const int oh = ih * s->sh + i - s->pad_t;
                    if (oh < 0 || oh >= s->oh) continue;
                    for (int j = 0; j < s->kw; j++) {
                        const int ow = iw * s->sw + j - s->pad_l;
                        if (ow < 0 || ow >= s->ow) continue;
                        const float *in = x + (((size_t)n * s->h + ih) * s->w + iw) * s->c;
                        double *out = acc + (((size_t)n * s->oh + oh) * s->ow + ow) * s->oc;
                        for (int o = 0; o < s->oc; o++) {
                            const float *k = kernel + (((size_t)i * s->kw + j) * s->oc + o) * s->c;
                            double sum = 0.0;
                            for (int c = 0; c < s->c; c++) sum += (double)in[c] * k[c];
                            out[o] += sum;
                        }
                    }
                }
    for (size_t p = 0; p < out_pixels; p++) {
        float *out = y + p * s->oc;
        for (int o = 0; o < s->oc; o++) out[o] = (float)(acc[p * s->oc + o] + (bias ? bias[o] : 0.0));
        pci_activation(out, 1, s->oc, act, PCI_CTX_REF);
    }
    free(acc);
}

static inline int taps_in_phase(int k, int s, int r) { return r < k ? (k - r + s - 1) / s : 0; }

size_t pci_tconv_packed_size(const pci_tconv_shape *s) {
    const size_t nb = (size_t)(s->oc + PCI_NR - 1) / PCI_NR;
    size_t total = 0;
    for (int rh = 0; rh < s->sh; rh++)
        for (int rw = 0; rw < s->sw; rw++)
            total += nb * taps_in_phase(s->kh, s->sh, rh) * taps_in_phase(s->kw, s->sw, rw) * s->c * PCI_NR;
    return total;
}

#define PCI_TAP_CHUNK 64

/* wpacked: a float32 kernel; or NULL and wq a reduced-precision one that the
 * ISA's fn_w micro-kernel widens in registers. */
static void tconv_run(const float *x, const float *wpacked, const pci_weights *wq, const float *bias, float *y,
                      const pci_tconv_shape *s, pci_act act, pci_ctx ctx) {
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const size_t esize = wq ? pci_dtype_size(wq->dtype) : sizeof(float);
    size_t phase_off = 0; /* element offset of the phase's first panel */
    const int mr = uk->mr, nb = (s->oc + PCI_NR - 1) / PCI_NR;
    const float *zeros = pci_zeros;
    float *zeros_heap = NULL;
    if (s->c > PCI_ZEROS_LEN) zeros = zeros_heap = calloc((size_t)s->c, sizeof(float));
    if (!zeros) return;
    const float *wphase = wpacked;
    for (int rh = 0; rh < s->sh; rh++)
        for (int rw = 0; rw < s->sw; rw++) {
            const int th = taps_in_phase(s->kh, s->sh, rh), tw = taps_in_phase(s->kw, s->sw, rw);
            const int ks = th * tw;
            const size_t panel_stride = (size_t)ks * s->c * PCI_NR;
            /* First output row/column of this phase, and how many there are. */
            const int oh0 = ((rh - s->pad_t) % s->sh + s->sh) % s->sh;
            const int ow0 = ((rw - s->pad_l) % s->sw + s->sw) % s->sw;
            const int nrows = oh0 < s->oh ? (s->oh - oh0 + s->sh - 1) / s->sh : 0;
            const int ncols = ow0 < s->ow ? (s->ow - ow0 + s->sw - 1) / s->sw : 0;
            const int tiles_per_row = (ncols + mr - 1) / mr;
            const long items = (long)s->n * nrows * tiles_per_row * nb;
            const int nt = pci_threads_for(ctx, (double)items * mr * PCI_NR * ks * s->c);
#pragma omp parallel num_threads(nt) if (nt > 1)
            {
                const float *a[PCI_TAP_CHUNK * 16];
#pragma omp for schedule(static)
                for (long it = 0; it < items; it++) {
                    const int blk = (int)(it % nb);
                    const long rt = it / nb;
                    const int tile = (int)(rt % tiles_per_row);
                    const long row = rt / tiles_per_row;
                    const int n = (int)(row / nrows), oh = oh0 + (int)(row % nrows) * s->sh;
                    const int q0 = tile * mr, rows = PCI_MIN(mr, ncols - q0);
                    const int oc0 = blk * PCI_NR, nc = PCI_MIN(PCI_NR, s->oc - oc0);
                    const size_t ldc = (size_t)s->sw * s->oc;
                    float *c = y + (((size_t)n * s->oh + oh) * s->ow + ow0 + (size_t)q0 * s->sw) * s->oc + oc0;
                    if (ks == 0) { /* no tap reaches this phase: bias only */
                        for (int m = 0; m < rows; m++)
                            for (int o = 0; o < nc; o++) c[m * ldc + o] = bias ? bias[oc0 + o] : 0.0f;
                    }
                    const float *xn = x + (size_t)n * s->h * s->w * s->c;
                    const float *wb = wpacked ? wphase + (size_t)blk * panel_stride : NULL;
                    const size_t wb_off = phase_off + (size_t)blk * panel_stride;
                    for (int t0 = 0; t0 < ks; t0 += PCI_TAP_CHUNK) {
                        const int tn = PCI_MIN(PCI_TAP_CHUNK, ks - t0);
                        for (int t = 0; t < tn; t++) {
                            const int kh = rh + s->sh * ((t0 + t) / tw), kw = rw + s->sw * ((t0 + t) % tw);
                            const int ih = (oh + s->pad_t - kh) / s->sh; /* exact: same phase */
                            const int numer_h = oh + s->pad_t - kh;
                            for (int m = 0; m < mr; m++) {
                                const int ow = ow0 + (q0 + PCI_MIN(m, rows - 1)) * s->sw;
                                const int numer_w = ow + s->pad_l - kw;
                                const int iw = numer_w / s->sw;
                                a[t * mr + m] = (numer_h >= 0 && ih < s->h && numer_w >= 0 && iw < s->w)
                                                    ? xn + ((size_t)ih * s->w + iw) * s->c
                                                    : zeros;
                            }
                        }
                        if (wb)
                            uk->fn[1](tn, s->c, a, wb + (size_t)t0 * s->c * PCI_NR, panel_stride, c, ldc, rows,
                                      nc, bias ? bias + oc0 : NULL, t0 > 0, NULL);
                        else /* every phase's panel blk scales by channels 16 blk .. 16 blk + 15 */
                            uk->fn_w[wq->dtype][1](tn, s->c, a,
                                                   (const char *)wq->data + (wb_off + (size_t)t0 * s->c * PCI_NR) * esize,
                                                   wq->scale ? wq->scale + (size_t)blk * PCI_NR : NULL, panel_stride,
                                                   c, ldc, rows, nc, bias ? bias + oc0 : NULL, t0 > 0, NULL);
                    }
                    if (act.kind != PCI_ACT_LINEAR && !pci_act_is_row(act))
                        pci_act_inplace_rows(c, (size_t)rows, (size_t)nc, ldc, act, ctx.isa);
                }
            }
            if (wphase) wphase += (size_t)nb * panel_stride;
            phase_off += (size_t)nb * panel_stride;
        }
    if (pci_act_is_row(act))
        pci_activation(y, (size_t)s->n * s->oh * s->ow, s->oc, act, ctx);
    free(zeros_heap);
}

void pci_conv2d_transpose(const float *x, const float *wpacked, const float *bias, float *y,
                          const pci_tconv_shape *s, pci_act act, pci_ctx ctx) {
    tconv_run(x, wpacked, NULL, bias, y, s, act, ctx);
}

/* A reduced-precision kernel is widened in registers by the ISA's fn_w
 * micro-kernel; where there is none (generic C), it is widened whole into a
 * heap copy per call and the float32 path runs on it. Every phase's panel blk
 * reads the scales of channels 16 blk .. 16 blk + 15 (the phases share the
 * output channels). */
void pci_conv2d_transpose_w(const float *x, const pci_weights *w, const float *bias, float *y,
                            const pci_tconv_shape *s, pci_act act, pci_ctx ctx) {
    if (w->dtype == PCI_DTYPE_F32) {
        pci_conv2d_transpose(x, (const float *)w->data, bias, y, s, act, ctx);
        return;
    }
    if (pci_gemm_kernels_for(ctx.isa)->fn_w[w->dtype][1]) {
        tconv_run(x, NULL, w, bias, y, s, act, ctx);
        return;
    }
    const size_t count = pci_tconv_packed_size(s), nb = (size_t)(s->oc + PCI_NR - 1) / PCI_NR;
    float *wf = malloc(PCI_MAX(count, 1) * sizeof(float));
    if (!wf) {
        pci_fill_nan(y, (size_t)s->n * s->oh * s->ow * s->oc);
        return;
    }
    size_t off = 0;
    for (int rh = 0; rh < s->sh; rh++)
        for (int rw = 0; rw < s->sw; rw++) {
            const size_t panel = (size_t)taps_in_phase(s->kh, s->sh, rh) * taps_in_phase(s->kw, s->sw, rw) * s->c * PCI_NR;
            if (!panel) continue;
            pci_widen_panels(w, off, nb, panel, 0, wf + off, ctx.isa);
            off += nb * panel;
        }
    pci_conv2d_transpose(x, wf, bias, y, s, act, ctx);
    free(wf);
}

/* ---- the conv2d_transpose op (op_table.h) ---- */
#include "executor.h"

int pci_validate_conv2d_transpose(const pci_step *st, pci_check *chk) {
    const pci_tconv_shape *s = &st->s.tconv;
    if (!pci_all_positive(&s->n, 11)) return pci_check_fail(chk, "non-positive size or stride");
    if (s->pad_t < 0 || s->pad_l < 0) return pci_check_fail(chk, "negative padding");
    if (s->kh > 65536 || s->kw > 65536 || s->sh > 65536 || s->sw > 65536) return pci_check_fail(chk, "kernel or stride too large");
    const int in_dims[4] = {s->n, s->h, s->w, s->c}, out_dims[4] = {s->n, s->oh, s->ow, s->oc};
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(4, in_dims), "input"));
    PCI_TRY(pci_check_kernel(chk, st, pci_tconv_packed_size(s), (size_t)(s->oc + PCI_NR - 1) / PCI_NR * PCI_NR));
    if (st->w[1]) PCI_TRY(pci_check_in(chk, st->w[1], (size_t)s->oc, "bias"));
    return pci_check_out(chk, st->out, pci_size_mul(4, out_dims), "output");
}

void pci_run_conv2d_transpose(const pci_step *st, pci_ctx ctx) {
    const pci_weights w = pci_step_kernel(st);
    pci_conv2d_transpose_w(st->in[0], &w, st->w[1], st->out, &st->s.tconv, st->act, ctx);
}

const char *pci_algorithm_conv2d_transpose(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "phase-split indirect GEMM";
}
