/* 2-D convolution, NHWC: a readable reference and the fast path.
 *
 * Fast path = indirect GEMM (XNNPACK's scheme): a tile of MR consecutive output
 * pixels (raster order, so rows wrap and narrow layers waste nothing) gets, per
 * kernel tap, MR pointers to its input pixels; taps that fall into the padding
 * point at a block of zeros. The micro-kernel then runs
 * sum_tap sum_cin a[tap][m][cin] * w[tap][cin][oc] on packed weights.
 * Every output element is computed by one thread in one fixed order, so
 * results do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

void pci_conv2d_ref(const float *x, const float *kernel, const float *bias, float *y,
                    const pci_conv_shape *s, pci_act act) {
    const int cin_g = s->c / s->groups, cout_g = s->oc / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int oh = 0; oh < s->oh; oh++)
            for (int ow = 0; ow < s->ow; ow++) {
                float *out = y + (((size_t)n * s->oh + oh) * s->ow + ow) * s->oc;
                for (int o = 0; o < s->oc; o++) {
                    const int g = o / cout_g;
                    double acc = bias ? bias[o] : 0.0;
                    for (int i = 0; i < s->kh; i++) {
                        const int ih = oh * s->sh + i * s->dh - s->pad_t;
                        if (ih < 0 || ih >= s->h) continue;
                        for (int j = 0; j < s->kw; j++) {
                            const int iw = ow * s->sw + j * s->dw - s->pad_l;
                            if (iw < 0 || iw >= s->w) continue;
                            const float *in = x + (((size_t)n * s->h + ih) * s->w + iw) * s->c + g * cin_g;
                            const float *k = kernel + (((size_t)i * s->kw + j) * cin_g) * s->oc + o;
                            for (int ci = 0; ci < cin_g; ci++) acc += (double)in[ci] * k[(size_t)ci * s->oc];
                        }
                    }
                    out[o] = (float)acc;
                }
                if (act.kind == PCI_ACT_SOFTMAX) pci_softmax_rows(out, 1, s->oc);
                else pci_act_inplace(out, s->oc, act);
            }
}

/* ---- depthwise (cin_g == 1): vectorised over output channels ---- */
static void conv2d_depthwise(const float *x, const float *w, const float *bias, float *y,
                             const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const int dm = s->oc / s->c;
    const long rows = (long)s->n * s->oh;
    const int nt = pci_threads_for(ctx, (double)rows * s->ow * s->oc * s->kh * s->kw);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long r = 0; r < rows; r++) {
        const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
        for (int ow = 0; ow < s->ow; ow++) {
            float *out = y + ((size_t)r * s->ow + ow) * s->oc;
            for (int o = 0; o < s->oc; o++) out[o] = bias ? bias[o] : 0.0f;
            for (int i = 0; i < s->kh; i++) {
                const int ih = oh * s->sh + i * s->dh - s->pad_t;
                if (ih < 0 || ih >= s->h) continue;
                for (int j = 0; j < s->kw; j++) {
                    const int iw = ow * s->sw + j * s->dw - s->pad_l;
                    if (iw < 0 || iw >= s->w) continue;
                    const float *in = x + (((size_t)n * s->h + ih) * s->w + iw) * s->c;
                    const float *k = w + ((size_t)i * s->kw + j) * s->oc;
                    if (dm == 1) {
#pragma omp simd
                        for (int o = 0; o < s->oc; o++) out[o] += in[o] * k[o];
                    } else {
                        for (int ci = 0; ci < s->c; ci++)
                            for (int m = 0; m < dm; m++) out[ci * dm + m] += in[ci] * k[ci * dm + m];
                    }
                }
            }
            if (act.kind == PCI_ACT_SOFTMAX) pci_softmax_rows(out, 1, s->oc);
            else pci_act_inplace(out, s->oc, act);
        }
    }
}

/* Largest tap count per micro-kernel call: the indirection buffer lives on the
 * stack; kernels with more taps run in chunks that accumulate into the output. */
#define PCI_TAP_CHUNK 64

/* One group's output-channel block, as run by one micro-kernel call. */
typedef struct {
    int g, panel, panels, oc0, nc;
} oc_block;

static int plan_oc_blocks(const pci_conv_shape *s, int max_panels, oc_block *blocks) {
    const int cout_g = s->oc / s->groups, np = (cout_g + PCI_NR - 1) / PCI_NR;
    int count = 0;
    for (int g = 0; g < s->groups; g++)
        for (int p = 0; p < np;) {
            int take = max_panels;
            while (take > np - p) take >>= 1; /* kernels exist for 4, 2 and 1 panels */
            if (blocks) {
                const int oc0 = p * PCI_NR;
                blocks[count] = (oc_block){g, p, take, g * cout_g + oc0,
                                           PCI_MIN(take * PCI_NR, cout_g - oc0)};
            }
            count++;
            p += take;
        }
    return count;
}

void pci_conv2d(const float *x, const float *wpacked, const float *bias, float *y,
                const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const int cin_g = s->c / s->groups, cout_g = s->oc / s->groups;
    if (s->groups > 1 && cin_g == 1) {
        conv2d_depthwise(x, wpacked, bias, y, s, act, ctx);
        return;
    }
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const int mr = uk->mr, ks = s->kh * s->kw;
    const size_t panel_stride = (size_t)ks * cin_g * PCI_NR;
    const size_t group_stride = panel_stride * ((cout_g + PCI_NR - 1) / PCI_NR);
    /* Inputs wider than the zero block would need a bigger one; allocate it then. */
    float *zeros_heap = NULL;
    const float *zeros = pci_zeros;
    if (cin_g > PCI_ZEROS_LEN) zeros = zeros_heap = calloc((size_t)cin_g, sizeof(float));
    if (!zeros) return;

    const int nblocks = plan_oc_blocks(s, uk->max_panels, NULL);
    oc_block stack_blocks[256];
    oc_block *blocks = nblocks <= 256 ? stack_blocks : malloc(sizeof(oc_block) * (size_t)nblocks);
    if (!blocks) { free(zeros_heap); return; }
    plan_oc_blocks(s, uk->max_panels, blocks);

    const long pixels = (long)s->oh * s->ow, tiles_per_image = (pixels + mr - 1) / mr;
    const long ntiles = tiles_per_image * s->n;
    /* Weights that fit in L2 stay there while pixel tiles stream past
     * (pixel-major order); larger ones are walked block by block. */
    const int weights_outer = (double)s->kh * s->kw * s->c * cout_g * 4.0 > 1.0e6;
    const long items = ntiles * nblocks;
    const int nt = pci_threads_for(ctx, (double)ntiles * mr * s->oc * ks * cin_g);

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const float *a[PCI_TAP_CHUNK * 16];
#pragma omp for schedule(static)
        for (long it = 0; it < items; it++) {
            const long tile = weights_outer ? it % ntiles : it / nblocks;
            const oc_block *b = &blocks[weights_outer ? it / ntiles : it % nblocks];
            const int n = (int)(tile / tiles_per_image);
            const long p0 = (tile % tiles_per_image) * mr;
            const int rows = (int)PCI_MIN((long)mr, pixels - p0);
            float *c = y + ((size_t)n * pixels + p0) * s->oc + b->oc0;
            const float *xg = x + (size_t)n * s->h * s->w * s->c + (size_t)b->g * cin_g;
            const float *wb = wpacked + b->g * group_stride + b->panel * panel_stride;
            /* Top-left input coordinate of each pixel's window (rows past the
             * end repeat the last pixel: computed, never stored). */
            int ih0[16], iw0[16];
            for (int m = 0; m < mr; m++) {
                const long p = p0 + PCI_MIN(m, rows - 1);
                ih0[m] = (int)(p / s->ow) * s->sh - s->pad_t;
                iw0[m] = (int)(p % s->ow) * s->sw - s->pad_l;
            }
            int i = 0, j = 0; /* current tap */
            for (int t0 = 0; t0 < ks; t0 += PCI_TAP_CHUNK) {
                const int tn = PCI_MIN(PCI_TAP_CHUNK, ks - t0);
                for (int t = 0; t < tn; t++) {
                    for (int m = 0; m < mr; m++) {
                        const int ih = ih0[m] + i * s->dh, iw = iw0[m] + j * s->dw;
                        a[t * mr + m] = ((unsigned)ih < (unsigned)s->h && (unsigned)iw < (unsigned)s->w)
                                            ? xg + ((size_t)ih * s->w + iw) * s->c
                                            : zeros;
                    }
                    if (++j == s->kw) j = 0, i++;
                }
                uk->fn[b->panels](tn, cin_g, a, wb + (size_t)t0 * cin_g * PCI_NR, panel_stride, c,
                                  (size_t)s->oc, rows, b->nc, bias ? bias + b->oc0 : NULL, t0 > 0);
            }
            if (act.kind != PCI_ACT_LINEAR && act.kind != PCI_ACT_SOFTMAX)
                for (int m = 0; m < rows; m++) pci_act_inplace(c + (size_t)m * s->oc, b->nc, act);
        }
    }
    if (act.kind == PCI_ACT_SOFTMAX) pci_activation(y, (size_t)s->n * pixels, s->oc, act, ctx);
    if (blocks != stack_blocks) free(blocks);
    free(zeros_heap);
}
