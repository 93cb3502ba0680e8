/* 2-D convolution, NHWC: a readable reference and the fast path.
 *
 * Fast path = indirect GEMM (XNNPACK's scheme): a tile of MR consecutive output
 * pixels (raster order, so rows wrap and narrow layers waste nothing) gets, per
 * kernel tap, MR pointers to its input pixels; taps that fall into the padding
 * point at a block of zeros. The micro-kernel then runs
 * sum_tap sum_cin a[tap][m][cin] * w[tap][cin][oc] on packed weights.
 * Every output element is computed by one thread in one fixed order, so
 * results do not depend on the thread count. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"
#include "work_share.h"

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
                pci_activation(out, 1, s->oc, act, PCI_CTX_REF);
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

/* How the taps of one output pixel are laid out for the micro-kernel.
 * Row mode (dilation_w == 1, one group): a tap is a whole kernel row, kw*cin
 * floats that are contiguous in NHWC, so LeNet's 5x5x1 kernel is 5 taps of 5
 * instead of 25 taps of 1; pixels whose row runs off the left/right edge get
 * a zero-padded copy in per-thread scratch. Otherwise a tap is one (kh, kw). */
typedef struct {
    int row_mode, ntaps, kc;
} tap_layout;

/* Input columns one pixel's taps span (row mode: a kernel row). */
static int tap_span(const pci_conv_shape *s, tap_layout tl) {
    return tl.row_mode ? s->kw : (s->kw - 1) * s->dw + 1;
}

/* 1 when mr pixels from input column iw (on one output row) have every window inside
 * the image sideways: then their pointers step by stride * channels (fill_row_taps). */
static int row_taps_inside(const pci_conv_shape *s, tap_layout tl, int iw, int mr) {
    return iw >= 0 && (long)iw + (long)(mr - 1) * s->sw + tap_span(s, tl) <= s->w;
}

/* The common case of fill_taps: the tile's pixels on one output row, whose windows
 * start at input (ih, iw) and step sideways (row_taps_inside). */
static void fill_row_taps(const pci_conv_shape *s, tap_layout tl, const float *xg, int ih0, int iw0, int mr,
                          int t0, int tn, const float **a, const float *zeros) {
    const size_t step = (size_t)s->sw * s->c;
    for (int t = 0; t < tn; t++) {
        const int tap = t0 + t;
        const int i = tl.row_mode ? tap : tap / s->kw, j = tl.row_mode ? 0 : tap % s->kw;
        const int ih = ih0 + i * s->dh;
        const float **at = a + (size_t)t * mr;
        if ((unsigned)ih >= (unsigned)s->h) {
            for (int m = 0; m < mr; m++) at[m] = zeros;
            continue;
        }
        const float *p = xg + ((size_t)ih * s->w + iw0 + j * s->dw) * s->c;
        for (int m = 0; m < mr; m++, p += step) at[m] = p;
    }
}

/* Fills a[t * mr + m] for taps t0 .. t0+tn-1 of the tile's pixels. */
static void fill_taps(const pci_conv_shape *s, tap_layout tl, const float *xg, const int *ih0,
                      const int *iw0, int mr, int t0, int tn, const float **a, float *scratch,
                      const float *zeros) {
    const int h = s->h, w = s->w, c = s->c, kw = s->kw, dh = s->dh, dw = s->dw;
    /* Common case first: every pixel of the tile on one output row, every
     * window inside the image sideways: pointers step by stride * channels. */
    const int span = tap_span(s, tl);
    if (ih0[0] == ih0[mr - 1] && row_taps_inside(s, tl, iw0[0], mr)) {
        fill_row_taps(s, tl, xg, ih0[0], iw0[0], mr, t0, tn, a, zeros);
        return;
    }
    /* Next: tiles that wrap onto the next output row (LeNet's 10-wide conv2
     * with 8-pixel tiles) but whose windows all lie inside the image: every
     * tap is the pixel's first tap plus a fixed offset. */
    int inside = 1;
    for (int m = 0; m < mr; m++)
        inside &= ih0[m] >= 0 && ih0[m] + (s->kh - 1) * dh < h && iw0[m] >= 0 && iw0[m] + span <= w;
    if (inside) {
        const float *first[16];
        for (int m = 0; m < mr; m++) first[m] = xg + ((size_t)ih0[m] * w + iw0[m]) * c;
        for (int t = 0; t < tn; t++) {
            const int tap = t0 + t;
            const int i = tl.row_mode ? tap : tap / kw, j = tl.row_mode ? 0 : tap % kw;
            const size_t off = ((size_t)i * dh * w + (size_t)j * dw) * c;
            for (int m = 0; m < mr; m++) a[t * mr + m] = first[m] + off;
        }
        return;
    }
    for (int t = 0; t < tn; t++) {
        const int tap = t0 + t;
        const int i = tl.row_mode ? tap : tap / kw, j = tl.row_mode ? 0 : tap % kw;
        for (int m = 0; m < mr; m++) {
            const int ih = ih0[m] + i * dh, iw = iw0[m] + j * dw;
            const float *p = zeros;
            if ((unsigned)ih < (unsigned)h) {
                const float *row = xg + (size_t)ih * w * c;
                if (!tl.row_mode) {
                    if ((unsigned)iw < (unsigned)w) p = row + (size_t)iw * c;
                } else if (iw >= 0 && iw + kw <= w) {
                    p = row + (size_t)iw * c;
                } else { /* the window leaves the image sideways: zero-padded copy */
                    float *dst = scratch + ((size_t)t * mr + m) * tl.kc;
                    for (int q = 0; q < kw; q++) {
                        if ((unsigned)(iw + q) < (unsigned)w) memcpy(dst + (size_t)q * c, row + (size_t)(iw + q) * c, sizeof(float) * c);
                        else memset(dst + (size_t)q * c, 0, sizeof(float) * c);
                    }
                    p = dst;
                }
            }
            a[t * mr + m] = p;
        }
    }
}

/* An activation not fused into the micro-kernel, on one item's rows x nc outputs
 * (ldc apart); row activations (softmax...) run after the whole layer instead. */
static void block_activation(float *c, size_t ldc, int rows, int nc, pci_act act, int isa) {
    if (act.kind == PCI_ACT_LINEAR || pci_act_is_row(act)) return;
    if ((size_t)nc == ldc) /* the block spans the row: its rows are contiguous */
        pci_act_inplace(c, (size_t)rows * ldc, act, isa);
    else
        pci_act_inplace_rows(c, (size_t)rows, (size_t)nc, ldc, act, isa);
}

/* Everything one thread needs to run its share of a convolution's work items. */
typedef struct {
    const float *x, *wpacked, *bias, *zeros;
    const pci_weights *wq; /* a reduced-precision kernel (wpacked NULL), or NULL */
    float *y;
    const pci_conv_shape *s;
    const pci_gemm_kernels *uk;
    const oc_block *blocks;
    tap_layout tl;
    pci_act act;
    const float *clamp;
    size_t panel_stride, group_stride, scratch_floats;
    long items, ntiles, tiles_per_image, pixels;
    int nblocks, block_panels, weights_outer, narrow, mr, cin_g, fused;
    int isa; /* activation path */
    int inreg; /* wq widened in registers by the ISA's fn_w micro-kernels (no buffer) */
    const pci_q8_out *yq; /* uint8 output (y NULL): each item's floats in a tile, quantized from there */
    pci_q8_quantize_fn quantize;
    pci_share *share; /* the items' split over the threads (work_share.h) */
} conv_job;

/* Called inside a parallel region (pci_share_next hands each thread its items) or
 * directly on one thread (no OpenMP region at all). */
static void conv_worker(const conv_job *J) {
    const float *x = J->x, *wpacked = J->wpacked, *bias = J->bias, *zeros = J->zeros, *clamp = J->clamp;
    float *y = J->y;
    const pci_conv_shape *s = J->s;
    const pci_gemm_kernels *uk = J->uk;
    const oc_block *blocks = J->blocks;
    const tap_layout tl = J->tl;
    const pci_act act = J->act;
    const size_t panel_stride = J->panel_stride, group_stride = J->group_stride, scratch_floats = J->scratch_floats;
    const long ntiles = J->ntiles, tiles_per_image = J->tiles_per_image, pixels = J->pixels;
    const int nblocks = J->nblocks, weights_outer = J->weights_outer, narrow = J->narrow, mr = J->mr;
    const int cin_g = J->cin_g, fused = J->fused;
    const float *a[PCI_TAP_CHUNK * 16];
    float stack_scratch[2048];
    float *scratch = scratch_floats <= 2048 ? stack_scratch : malloc(scratch_floats * sizeof(float));
    /* Reduced precision: the ISA's micro-kernels widen each weight vector in
     * registers where they exist (inreg: one conversion per mr rows of FMAs,
     * no extra memory traffic); otherwise this thread's output-channel block
     * is widened to float32 once into a buffer and reused by every pixel tile
     * of the block (weights_outer order: a thread's items walk one block
     * across all its tiles). */
    float *wbuf = J->wq && !J->inreg ? malloc((size_t)J->block_panels * panel_stride * sizeof(float)) : NULL;
    const oc_block *widened = NULL;
    if (J->wq && !J->inreg && !wbuf) {
        if (scratch != stack_scratch) free(scratch);
        scratch = NULL; /* no working memory: the items below write NaN */
    }
    const size_t ldc = J->yq ? (size_t)J->block_panels * PCI_NR : (size_t)s->oc;
    float *ftile = J->yq ? malloc((size_t)mr * ldc * sizeof(float)) : NULL;
    if (J->yq && !ftile) {
        if (scratch != stack_scratch) free(scratch);
        scratch = NULL; /* no working memory: the items below write zeros */
    }
    const int single_chunk = tl.ntaps <= PCI_TAP_CHUNK;
    long filled_tile = -1;
    int filled_g = -1, ih0[16], iw0[16];
    const int tid = pci_share_thread();
    for (long lo, hi; pci_share_next(J->share, tid, &lo, &hi);)
    for (long it = lo; it < hi; it++) {
        const long tile = weights_outer ? it % ntiles : it / nblocks;
        const oc_block *b = &blocks[weights_outer ? it / ntiles : it % nblocks];
        const int n = (int)(tile / tiles_per_image);
        const long p0 = (tile % tiles_per_image) * mr;
        const int rows = (int)PCI_MIN((long)mr, pixels - p0);
        const size_t first_out = ((size_t)n * pixels + p0) * s->oc + b->oc0;
        float *c = J->yq ? ftile : y + first_out;
        if (!scratch) {
            for (int m = 0; m < rows; m++) {
                if (J->yq) memset(J->yq->y + first_out + (size_t)m * s->oc, 0, (size_t)b->nc);
                else pci_fill_nan(c + (size_t)m * s->oc, (size_t)b->nc);
            }
            continue;
        }
        const float *xg = x + (size_t)n * s->h * s->w * s->c + (size_t)b->g * cin_g;
        const float *wb = NULL;
        const size_t first = (size_t)b->g * (group_stride / panel_stride) + (size_t)b->panel; /* = scale panel */
        if (J->inreg) {
            /* wq->data, addressed in elements by the micro-kernel */
        } else if (wbuf) {
            if (b != widened) {
                pci_widen_panels(J->wq, first * panel_stride, (size_t)b->panels, panel_stride, first, wbuf, J->isa);
                widened = b;
            }
            wb = wbuf;
        } else {
            wb = wpacked + b->g * group_stride + b->panel * panel_stride;
        }
        /* Consecutive items of one thread usually share the pixel tile (pixel-major
         * order: the tile's output-channel blocks in turn); with one tap chunk the
         * indirection buffer filled for the previous block is still valid. This
         * bookkeeping cost a 1x1 layer a third of its instructions. */
        const int reuse = single_chunk && tile == filled_tile && b->g == filled_g;
        /* The tile's first pixel; when all mr pixels lie on its output row with their
         * windows inside the image sideways (most tiles of a wide layer), the taps
         * step from it and the per-pixel origins are not needed: the same pointers,
         * with 2.7% fewer instructions for MobileNetV2's first layer (callgrind) and
         * 0.97x its time (AMD Zen 4, AVX2 path, tools/bench_ab.py). */
        int one_row = 0, ih_first = 0, iw_first = 0;
        if (!reuse) { /* a reused buffer needs none of this: one division per filled tile */
            int oh = (int)(p0 / s->ow), ow = (int)(p0 % s->ow);
            ih_first = oh * s->sh - s->pad_t, iw_first = ow * s->sw - s->pad_l;
            one_row = ow + mr <= s->ow && row_taps_inside(s, tl, iw_first, mr);
            /* Otherwise the top-left input coordinate of each pixel's window (rows past
             * the end repeat the last pixel: computed, never stored): a step along the
             * output row from the first. */
            for (int m = 0; !one_row && m < mr; m++) {
                ih0[m] = oh * s->sh - s->pad_t;
                iw0[m] = ow * s->sw - s->pad_l;
                if (m + 1 < rows && ++ow == s->ow) ow = 0, oh++; /* past the last row: repeat it */
            }
        }
        for (int t0 = 0; t0 < tl.ntaps; t0 += PCI_TAP_CHUNK) {
            const int tn = PCI_MIN(PCI_TAP_CHUNK, tl.ntaps - t0);
            if (!reuse && one_row) fill_row_taps(s, tl, xg, ih_first, iw_first, mr, t0, tn, a, zeros);
            else if (!reuse) fill_taps(s, tl, xg, ih0, iw0, mr, t0, tn, a, scratch, zeros);
            const int last = t0 + tn == tl.ntaps;
            if (J->inreg) {
                const int dt = J->wq->dtype;
                const size_t e = first * panel_stride + (size_t)t0 * tl.kc * PCI_NR;
                uk->fn_w[dt][b->panels](tn, tl.kc, a, (const char *)J->wq->data + e * pci_dtype_size(dt),
                                        J->wq->scale ? J->wq->scale + first * PCI_NR : NULL, panel_stride, c,
                                        ldc, rows, b->nc, bias ? bias + b->oc0 : NULL, t0 > 0,
                                        fused && last ? clamp : NULL);
            } else {
                const pci_ukernel_fn fn = narrow ? uk->narrow : pci_ukernel_for(uk, b->panels, rows);
                fn(tn, tl.kc, a, wb + (size_t)t0 * tl.kc * PCI_NR, panel_stride, c, ldc, rows, b->nc,
                   bias ? bias + b->oc0 : NULL, t0 > 0, fused && last ? clamp : NULL);
            }
        }
        filled_tile = tile, filled_g = b->g;
        if (!fused) block_activation(c, ldc, rows, b->nc, act, J->isa);
        if (J->yq) /* the next layer's quantizer, on the same floats it would read */
            pci_q8_quantize_tile(J->quantize, c, ldc, rows, b->nc, J->yq->inv, J->yq->zp, J->yq->y + first_out,
                                 (size_t)s->oc);
    }
    if (scratch != stack_scratch) free(scratch);
    free(wbuf);
    free(ftile);
}

/* A 1x1 convolution with stride 1, no padding and one group is a plain GEMM over
 * the n*h*w pixels: pixel q's input is the row x + q*c. Its driver walks those
 * pixels in tiles of mr that may span images (each output is still summed by one
 * call in one fixed order: results are those of conv_worker, bit for bit) and
 * steps from item to item instead of re-deriving each one: conv_worker's general
 * per-item bookkeeping (window origins, tap pointers, chunking, reuse checks) was
 * 13-19% of MobileNetV2's 1x1 layers with 16-32 input channels (perf, AMD EPYC
 * Zen 4, AVX-512), where one micro-kernel call is only a few hundred cycles. */
static int pointwise_eligible(const pci_conv_shape *s, const pci_q8_out *yq, const pci_weights *wq, int inreg) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pad_t == 0 && s->pad_l == 0 &&
           s->oh == s->h && s->ow == s->w && s->groups == 1 && !yq && (!wq || inreg);
}

static void pointwise_worker(const conv_job *J) {
    const pci_conv_shape *s = J->s;
    const pci_gemm_kernels *uk = J->uk;
    const int mr = J->mr, nblocks = J->nblocks, c_in = s->c, oc = s->oc;
    const long total = (long)s->n * J->pixels, ntiles = J->ntiles; /* tiles of all images' pixels */
    const int dt = J->wq ? J->wq->dtype : PCI_DTYPE_F32;
    const float *a[16];
    long prev = -2, tile = 0, p0 = 0;
    int bi = 0, rows = 0;
    const int tid = pci_share_thread();
    for (long lo, hi; pci_share_next(J->share, tid, &lo, &hi);)
    for (long it = lo; it < hi; it++) {
        int new_tile;
        if (it != prev + 1) { /* the first item of a chunk not following this thread's last */
            tile = J->weights_outer ? it % ntiles : it / nblocks;
            bi = (int)(J->weights_outer ? it / ntiles : it % nblocks);
            new_tile = 1;
        } else if (J->weights_outer) {
            new_tile = 1;
            if (++tile == ntiles) tile = 0, bi++;
        } else {
            new_tile = ++bi == nblocks;
            if (new_tile) bi = 0, tile++;
        }
        prev = it;
        if (new_tile) { /* rows past the end repeat the last pixel: computed, never stored */
            p0 = tile * mr;
            rows = (int)PCI_MIN((long)mr, total - p0);
            for (int m = 0; m < mr; m++) a[m] = J->x + (size_t)(p0 + PCI_MIN(m, rows - 1)) * c_in;
        }
        const oc_block *b = &J->blocks[bi];
        float *c = J->y + (size_t)p0 * oc + b->oc0;
        const float *bias = J->bias ? J->bias + b->oc0 : NULL, *clamp = J->fused ? J->clamp : NULL;
        const size_t first = (size_t)b->panel * J->panel_stride; /* element of the block's first weight */
        if (J->inreg) {
            uk->fn_w[dt][b->panels](1, c_in, a, (const char *)J->wq->data + first * pci_dtype_size(dt),
                                    J->wq->scale ? J->wq->scale + (size_t)b->panel * PCI_NR : NULL, J->panel_stride, c,
                                    (size_t)oc, rows, b->nc, bias, 0, clamp);
        } else {
            const pci_ukernel_fn fn = J->narrow ? uk->narrow : pci_ukernel_for(uk, b->panels, rows);
            fn(1, c_in, a, J->wpacked + first, J->panel_stride, c, (size_t)oc, rows, b->nc, bias, 0, clamp);
        }
        if (!J->fused) block_activation(c, (size_t)oc, rows, b->nc, J->act, J->isa);
    }
}

/* Which direct kernel runs a shape on an ISA: the one decision that both the
 * dispatch below and the description `pyconvinfer bench` prints read. */
typedef enum { CONV_DEPTHWISE, CONV_THIN, CONV_THIN_AVX2, CONV_GEMM } conv_path;

static conv_path choose_conv_path(const pci_conv_shape *s, int isa) {
    if (s->groups > 1 && s->c / s->groups == 1) return CONV_DEPTHWISE;
#ifdef PCI_X86
    const int thin = s->groups == 1 && s->c <= 4 && s->kw <= 16;
    if (thin && s->oc <= PCI_NR && pci_effective_isa(isa) == PCI_ISA_AVX512) return CONV_THIN;
    /* 8 accumulators at most on AVX2 (16 ymm registers); 9..16 channels keep the GEMM. */
    if (thin && s->oc <= 8 && pci_effective_isa(isa) == PCI_ISA_AVX2) return CONV_THIN_AVX2;
#else
    (void)isa;
#endif
    return CONV_GEMM;
}

static size_t conv_packed_floats(const pci_conv_shape *s, int algo);

/* Depthwise and thin layers have small kernels (kh*kw*C, kh*kw*cin*16 floats):
 * widened whole into a heap copy per call, then the float32 path runs on it.
 * So are other small kernels (SMALL_KERNEL): widening them costs next to
 * nothing, and the float32 driver keeps its pixel-major order (a 3x3x3x64
 * first layer took 4x longer on AVX2 in the block-outer order a per-block
 * buffer needs, refilling the indirection buffer per block). */
#define SMALL_KERNEL 262144 /* floats: a 1 MiB transient copy at most */
static void conv2d_run(const float *x, const float *wpacked, const pci_weights *wq, const float *bias, float *y,
                       const pci_q8_out *yq, const pci_conv_shape *s, pci_act act, pci_ctx ctx);

static void conv2d_small_widened(const float *x, const pci_weights *w, const float *bias, float *y,
                                 const pci_q8_out *yq, const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const size_t count = conv_packed_floats(s, 0);
    float *wf = malloc(count * sizeof(float));
    if (!wf) {
        if (yq) memset(yq->y, 0, (size_t)s->n * s->oh * s->ow * s->oc);
        else pci_fill_nan(y, (size_t)s->n * s->oh * s->ow * s->oc);
        return;
    }
    if (s->groups > 1 && s->c / s->groups == 1) /* dwise [kh][kw][oc]: channel = element % oc */
        pci_widen(w, 0, count, w->scale, s->oc, wf, ctx.isa);
    else { /* panel16: panels of kh*kw*cin_g*16, scales per (group, panel) in order */
        const size_t panel = (size_t)s->kh * s->kw * (s->c / s->groups) * PCI_NR;
        pci_widen_panels(w, 0, count / panel, panel, 0, wf, ctx.isa);
    }
    conv2d_run(x, wf, NULL, bias, y, yq, s, act, ctx);
    free(wf);
}

void pci_conv2d(const float *x, const float *wpacked, const float *bias, float *y,
                const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    conv2d_run(x, wpacked, NULL, bias, y, NULL, s, act, ctx);
}

/* y (float32), or yq (uint8: y NULL) */
static void conv2d_w_run(const float *x, const pci_weights *w, const float *bias, float *y, const pci_q8_out *yq,
                         const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    /* a uint8 output takes the GEMM path (its tile epilogue quantizes) */
    const conv_path path = yq ? CONV_GEMM : choose_conv_path(s, ctx.isa);
    if (w->dtype == PCI_DTYPE_F32) conv2d_run(x, (const float *)w->data, NULL, bias, y, yq, s, act, ctx);
    else if (path != CONV_GEMM || conv_packed_floats(s, 0) <= SMALL_KERNEL)
        conv2d_small_widened(x, w, bias, y, yq, s, act, ctx);
    else conv2d_run(x, NULL, w, bias, y, yq, s, act, ctx);
}

void pci_conv2d_w(const float *x, const pci_weights *w, const float *bias, float *y,
                  const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    conv2d_w_run(x, w, bias, y, NULL, s, act, ctx);
}

void pci_conv2d_w_u8out(const float *x, const pci_weights *w, const float *bias, const pci_q8_out *yq,
                        const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    conv2d_w_run(x, w, bias, NULL, yq, s, act, ctx);
}

/* wpacked: a float32 kernel; or NULL and wq a reduced-precision one (GEMM path only).
 * yq: a uint8 output instead of y (GEMM path; one group; no row activation). */
static void conv2d_run(const float *x, const float *wpacked, const pci_weights *wq, const float *bias, float *y,
                       const pci_q8_out *yq, const pci_conv_shape *s, pci_act act, pci_ctx ctx) {
    const int cin_g = s->c / s->groups, cout_g = s->oc / s->groups;
    switch (yq ? CONV_GEMM : choose_conv_path(s, ctx.isa)) {
    case CONV_DEPTHWISE: pci_conv2d_depthwise(x, wpacked, bias, y, s, act, ctx); return;
#ifdef PCI_X86
    case CONV_THIN: pci_conv2d_thin_avx512(x, wpacked, bias, y, s, act, ctx); return;
    case CONV_THIN_AVX2: pci_conv2d_thin_avx2(x, wpacked, bias, y, s, act, ctx); return;
#endif
    default: break;
    }
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const int narrow = uk->narrow && cout_g <= PCI_NR; /* one panel: the taller kernel */
    const int mr = narrow ? uk->narrow_mr : uk->mr, ks = s->kh * s->kw;
    tap_layout tl = {s->dw == 1 && s->groups == 1 && s->kw * cin_g <= PCI_ZEROS_LEN, ks, cin_g};
    if (tl.row_mode) tl.ntaps = s->kh, tl.kc = s->kw * cin_g;
    /* Taps in the padding read a block of zeros; wider than the static one, allocate it. */
    float *zeros_heap = tl.kc > PCI_ZEROS_LEN ? calloc((size_t)tl.kc, sizeof(float)) : NULL;
    const float *zeros = zeros_heap ? zeros_heap : pci_zeros;
    if (tl.kc > PCI_ZEROS_LEN && !zeros_heap) return;
    const size_t panel_stride = (size_t)ks * cin_g * PCI_NR;
    const size_t group_stride = panel_stride * ((cout_g + PCI_NR - 1) / PCI_NR);

    const long pixels = (long)s->oh * s->ow, tiles_per_image = (pixels + mr - 1) / mr;
    const long ntiles = tiles_per_image * s->n;
    /* Weights that fit in L2 stay there while pixel tiles stream past
     * (pixel-major order); larger ones are walked block by block. */
    /* In registers when every panel count plan_oc_blocks can pick has such a
     * kernel (not the narrow one). float16 / bfloat16 always: their widening is
     * one instruction. int8 takes three (sign-extend, convert, scale) per
     * weight vector: with many pixel tiles per block (compute-bound: VGG16's
     * block5 has 33) that was 15% slower than widening each block once into a
     * buffer; with few (batched dense: memory-bound, fc1 at batch 4 has 1) the
     * buffer's extra pass was 30% slower than in registers (measured, AVX-512).
     * Winograd's GEMMs stream their weights and take int8 in registers. */
    int inreg = wq && !narrow && (wq->dtype != PCI_DTYPE_I8 || ntiles <= 8);
    for (int p = 1; inreg && p <= pci_call_panels(uk); p <<= 1) inreg = uk->fn_w[wq->dtype][p] != NULL;
    const int weights_outer = (double)s->kh * s->kw * s->c * cout_g * 4.0 > 1.0e6 || (wq && !inreg); /* see conv_worker */
    const int pointwise = pointwise_eligible(s, yq, wq, inreg);
    /* Blocks as wide as the register-blocked kernels, except pixel-major in
     * conv_worker: there a tile's output channels go in as few calls as the
     * kernels allow (one call per tile spares the per-item bookkeeping: MobileNetV2's
     * first layer 0.92x, AMD Zen 3, AVX2). Weights-outer, a block's weights are
     * what stays in cache while the tiles stream past; the pointwise driver's
     * items cost little, and its 1x1 layers ran 4-8% slower in P-panel calls. */
    const int block_panels = weights_outer || pointwise ? uk->max_panels : pci_call_panels(uk);
    const int nblocks = plan_oc_blocks(s, block_panels, NULL);
    oc_block stack_blocks[256];
    oc_block *blocks = nblocks <= 256 ? stack_blocks : malloc(sizeof(oc_block) * (size_t)nblocks);
    if (!blocks) { free(zeros_heap); return; }
    plan_oc_blocks(s, block_panels, blocks);
    const long items = ntiles * nblocks;
    const int nt_wanted = pci_threads_for(ctx, (double)ntiles * mr * s->oc * ks * cin_g);
    const size_t scratch_floats = tl.row_mode ? (size_t)PCI_MIN(tl.ntaps, PCI_TAP_CHUNK) * mr * tl.kc : 0;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);

    pci_share share;
    conv_job job = {x, wpacked, bias, zeros, wq, y, s, uk, blocks, tl, act, clamp, panel_stride, group_stride,
                    scratch_floats, items, ntiles, tiles_per_image, pixels, nblocks, block_panels, weights_outer, narrow, mr,
                    cin_g, fused, ctx.isa, inreg, yq, yq ? pci_q8_quantizer(ctx.isa) : NULL, &share};
    void (*const worker)(const conv_job *) = pointwise ? pointwise_worker : conv_worker;
    if (worker == pointwise_worker) { /* its tiles run across images */
        job.ntiles = ((long)s->n * pixels + mr - 1) / mr;
        job.items = job.ntiles * nblocks;
    }
    const int nt = pci_share_init(&share, job.items, nt_wanted);
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        worker(&job);
    } else {
        worker(&job);
    }
    if (pci_act_is_row(act) && !yq) pci_activation(y, (size_t)s->n * pixels, s->oc, act, ctx);
    if (blocks != stack_blocks) free(blocks);
    free(zeros_heap);
}

/* ---- the conv2d op (op_table.h): direct (algo 0) or Winograd F(algo x algo, 3x3) ---- */
#include "executor.h"

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

/* Floats of the packed weights a shape reads (panel16 or dwise; packing.py). */
static size_t conv_packed_floats(const pci_conv_shape *s, int algo) {
    const size_t cin_g = (size_t)(s->c / s->groups), cout_g = (size_t)(s->oc / s->groups);
    if (algo) return (size_t)(algo + 2) * (algo + 2) * div_up((size_t)s->oc, PCI_NR) * s->c * PCI_NR;
    if (s->groups > 1 && cin_g == 1) return (size_t)s->kh * s->kw * s->oc;
    return (size_t)s->groups * div_up(cout_g, PCI_NR) * s->kh * s->kw * cin_g * PCI_NR;
}

/* int8 scales of the packed kernel, one per packed output channel (ops/conv.py
 * _conv_channels): per Winograd position and panel, per depthwise channel, or
 * per group and panel. */
/* Step parameter after the 16 shape ints: 0 when a Winograd step's kernel is U;
 * 1 (2) when it is the direct 3x3 one, transformed each run into scratch as
 * float16 (float32) U (winograd_weights.c). */
#define CONV_RUNTIME_U 16
/* Step parameter 17: 0 computes in float32; 1 in int8 with the input's range
 * measured per run, 2 with the calibrated range [f[0], f[1]] (conv2d_q8.c). */
#define CONV_INT8 17
static int runtime_u_dtype(int flag) { return flag == 1 ? PCI_DTYPE_F16 : PCI_DTYPE_F32; }

static size_t conv_scale_floats(const pci_conv_shape *s, int algo) {
    const size_t cout_g = (size_t)(s->oc / s->groups);
    if (algo) return (size_t)(algo + 2) * (algo + 2) * div_up((size_t)s->oc, PCI_NR) * PCI_NR;
    if (s->groups > 1 && s->c / s->groups == 1) return (size_t)s->oc;
    return (size_t)s->groups * div_up(cout_g, PCI_NR) * PCI_NR;
}

static int finite_interval(const float r[2]) { return isfinite(r[0]) && isfinite(r[1]) && r[0] <= r[1]; }

int pci_validate_conv2d(const pci_step *st, pci_check *chk) {
    const pci_conv_shape *s = &st->s.conv;
    if (!pci_all_positive(&s->n, 13) || s->groups <= 0) return pci_check_fail(chk, "non-positive size, stride or dilation");
    if (s->pad_t < 0 || s->pad_l < 0) return pci_check_fail(chk, "negative padding");
    if (s->c % s->groups || s->oc % s->groups) return pci_check_fail(chk, "groups do not divide the channels");
    if (s->kh > s->h + 2 * s->pad_t + 65536 || s->kw > s->w + 2 * s->pad_l + 65536) return pci_check_fail(chk, "kernel too large");
    const int runtime_u = st->s.p[CONV_RUNTIME_U];
    if (runtime_u != 0 && (!st->algo || (runtime_u != 1 && runtime_u != 2)))
        return pci_check_fail(chk, "run-time Winograd weights flag %d (0: U in the file, 1: float16 U, 2: float32 U; "
                                   "Winograd only)", runtime_u);
    if (st->algo) {
        if (st->algo != 2 && st->algo != 4) return pci_check_fail(chk, "Winograd tile size %d is not 2 or 4", st->algo);
        if (s->kh != 3 || s->kw != 3 || s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 || s->groups != 1)
            return pci_check_fail(chk, "Winograd needs a 3x3 kernel, stride 1, dilation 1, one group");
        const size_t shared = runtime_u ? pci_winograd_weights_floats(s->c, s->oc, st->algo, runtime_u_dtype(runtime_u)) : 0;
        if (shared == SIZE_MAX || st->scratch_floats < shared ||
            st->scratch_floats - shared < pci_winograd_scratch_floats(s, st->algo))
            return pci_check_fail(chk, "Winograd scratch too small");
        PCI_TRY(pci_check_out(chk, st->scratch, st->scratch_floats, "Winograd scratch"));
    }
    const int int8 = st->s.p[CONV_INT8];
    if (int8 < 0 || int8 > 2) return pci_check_fail(chk, "int8 compute mode %d (0: float32, 1: measured range, 2: calibrated)", int8);
    if (int8) {
        if (st->algo || st->w_dtype[PCI_SLOT_KERNEL] != PCI_DTYPE_I8 || !pci_conv2d_q8_supported(s))
            return pci_check_fail(chk, "int8 compute needs the direct algorithm, an int8 kernel, one group, input "
                                       "channels a multiple of 4, at most %d taps and kh*kw*cin <= %d", PCI_Q8_MAX_TAPS,
                                  PCI_Q8_MAX_K);
        if (int8 == 2 && !finite_interval(st->f))
            return pci_check_fail(chk, "calibrated input range [%g, %g] is not a finite interval", st->f[0], st->f[1]);
        const size_t need = pci_conv2d_q8_scratch_floats(s);
        if (need == SIZE_MAX || st->scratch_floats < need) return pci_check_fail(chk, "int8 scratch too small");
        PCI_TRY(pci_check_out(chk, st->scratch, st->scratch_floats, "int8 scratch"));
    }
    const int in_u8 = st->in_dtype == PCI_TENSOR_U8;
    if (in_u8 || st->out_dtype == PCI_TENSOR_U8) {
        float scale, inv;
        int zp;
        /* int8 compute over a calibrated range that quantizes: never falls back to float32 at run time */
        const int fixed_int8 = int8 == 2 && pci_q8_params(st->f, &scale, &inv, &zp) == 0;
        /* float32 compute on the direct GEMM path, one group: its tile epilogue quantizes */
        const int float_gemm = int8 == 0 && !st->algo && s->groups == 1;
        if (in_u8 && !fixed_int8)
            return pci_check_fail(chk, "a uint8 input needs int8 compute with a calibrated input range that "
                                       "quantizes (mode 2)");
        if (!fixed_int8 && !float_gemm)
            return pci_check_fail(chk, "a uint8 output needs int8 compute with a calibrated input range that "
                                       "quantizes (mode 2), or float32 compute, direct, one group");
        if (st->out_dtype == PCI_TENSOR_U8 && (!finite_interval(st->f + 2) ||
                                               pci_q8_params(st->f + 2, &scale, &inv, &zp) != 0))
            return pci_check_fail(chk, "uint8 output range [%g, %g] does not quantize", st->f[2], st->f[3]);
        if (st->out_dtype == PCI_TENSOR_U8 && pci_act_is_row(st->act))
            return pci_check_fail(chk, "a uint8 output cannot follow a row activation (softmax...)");
    }
    const int in_dims[4] = {s->n, s->h, s->w, s->c}, out_dims[4] = {s->n, s->oh, s->ow, s->oc};
    PCI_TRY(pci_check_tensor(chk, st->in[0], pci_size_mul(4, in_dims), st->in_dtype, 0, "input"));
    const int layout = runtime_u ? 0 : st->algo; /* run-time U: the file holds the direct 3x3 kernel */
    PCI_TRY(pci_check_kernel(chk, st, conv_packed_floats(s, layout), conv_scale_floats(s, layout)));
    if (st->w[1]) PCI_TRY(pci_check_in(chk, st->w[1], (size_t)s->oc, "bias"));
    return pci_check_tensor(chk, st->out, pci_size_mul(4, out_dims), st->out_dtype, 1, "output");
}

void pci_run_conv2d(const pci_step *st, pci_ctx ctx) {
    const pci_weights w = pci_step_kernel(st);
    if (st->algo && st->s.p[CONV_RUNTIME_U]) { /* U into the start of the scratch, then Winograd on it */
        const pci_conv_shape *s = &st->s.conv;
        const int u_dtype = runtime_u_dtype(st->s.p[CONV_RUNTIME_U]);
        const size_t shared = pci_winograd_weights_floats(s->c, s->oc, st->algo, u_dtype);
        if (pci_winograd_weights(&w, s->c, s->oc, st->algo, st->scratch, u_dtype, ctx) != 0) {
            pci_fill_nan(st->out, (size_t)s->n * s->oh * s->ow * s->oc);
            return;
        }
        const pci_weights uw = {st->scratch, u_dtype, NULL};
        pci_conv2d_winograd_w(st->in[0], &uw, st->w[1], st->out, s, st->algo, st->act, st->scratch + shared,
                              st->scratch_floats - shared, ctx);
    } else if (st->s.p[CONV_INT8]) {
        const pci_q8_io io = {st->in[0], st->s.p[CONV_INT8] == 2 ? st->f : NULL, st->in_dtype == PCI_TENSOR_U8, st->out,
                              st->out_dtype == PCI_TENSOR_U8 ? st->f + 2 : NULL};
        pci_conv2d_q8_io(&io, &w, st->w[1], &st->s.conv, st->act, st->scratch, st->scratch_floats, ctx);
    } else if (st->algo)
        pci_conv2d_winograd_w(st->in[0], &w, st->w[1], st->out, &st->s.conv, st->algo, st->act, st->scratch,
                              st->scratch_floats, ctx);
    else if (st->out_dtype == PCI_TENSOR_U8) { /* float32 compute quantizing for the int8 layer after */
        float scale, inv;
        int zp;
        if (pci_q8_params(st->f + 2, &scale, &inv, &zp) != 0) return; /* validated */
        const pci_q8_out yq = {(uint8_t *)st->out, inv, zp};
        pci_conv2d_w_u8out(st->in[0], &w, st->w[1], &yq, &st->s.conv, st->act, ctx);
    } else
        pci_conv2d_w(st->in[0], &w, st->w[1], st->out, &st->s.conv, st->act, ctx);
}

const char *pci_algorithm_conv2d(const pci_step *st, int isa) {
    static const char *const wino[2][3] = {{"Winograd F(2x2,3x3)", "Winograd F(2x2,3x3), f16 U at run time",
                                            "Winograd F(2x2,3x3), U at run time"},
                                           {"Winograd F(4x4,3x3)", "Winograd F(4x4,3x3), f16 U at run time",
                                            "Winograd F(4x4,3x3), U at run time"}};
    if (st->s.p[CONV_INT8]) {
        return pci_q8_kernels_for(isa)->names[(st->in_dtype == PCI_TENSOR_U8) + 2 * (st->out_dtype == PCI_TENSOR_U8)];
    }
    const int flag = st->s.p[CONV_RUNTIME_U];
    if ((st->algo == 2 || st->algo == 4) && flag >= 0 && flag <= 2) return wino[st->algo == 4][flag];
    if (st->out_dtype == PCI_TENSOR_U8) return "indirect GEMM, uint8 out";
    switch (choose_conv_path(&st->s.conv, isa)) {
    case CONV_DEPTHWISE: return "depthwise direct";
    case CONV_THIN:
    case CONV_THIN_AVX2: return "thin direct (pixel lanes)";
    default: return "indirect GEMM";
    }
}
