/* conv2d computing in int8 (an int8 kernel on a CPU with int8 dot products).
 *
 * The input is quantized per tensor to uint8, x ~ scale * (q - zp), with
 * [lo, hi] its range (measured each run, or calibrated at conversion); the
 * int8 kernel's products are summed exactly in int32; each output is
 *   y = float(sum (q - zp) w) * (scale * kscale[oc]) + bias[oc]
 * (one fma), then clamped or activated like the float32 path. Indirect GEMM as
 * in conv2d.c; the micro-kernels (generic here, AVX-512 VNNI in
 * conv2d_q8_avx512.c, ARM sdot in conv2d_q8_neon.c) read the stored panel16
 * kernel ([tap][cin][16] per panel) as it is, interleaving each 4 x 16 block in
 * registers, so an int8 file needs no second copy of its weights. Integer sums
 * are exact and every output takes the same float steps, so results do not
 * depend on the thread count or on the micro-kernel (all agree bitwise). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

#define Q8_ALIGN 64

static size_t round_up(size_t v) { return (v + Q8_ALIGN - 1) / Q8_ALIGN * Q8_ALIGN; }

int pci_conv2d_q8_supported(const pci_conv_shape *s) {
    /* One group; whole 4-channel groups per tap (a dot product of 4 never spans
     * two taps); all taps in one call (the indirection buffer is on the stack);
     * int32 sums that cannot overflow: the sum and the compensation each stay
     * within 255 * 127 * K <= 2^30, so their difference within 2^31. */
    const long k = (long)s->kh * s->kw * s->c;
    return s->groups == 1 && s->c % 4 == 0 && (long)s->kh * s->kw <= PCI_Q8_MAX_TAPS && k <= PCI_Q8_MAX_K;
}

/* Scratch bytes: the quantized input, a block of zero points the padding taps
 * read, and per output channel the compensation zp * wsum and scale x kscale. */
size_t pci_conv2d_q8_scratch_floats(const pci_conv_shape *s) {
    const int dims[4] = {s->n, s->h, s->w, s->c};
    size_t xbytes = 1;
    for (int i = 0; i < 4; i++) {
        if (dims[i] <= 0 || xbytes > (SIZE_MAX / 4) / (size_t)dims[i]) return SIZE_MAX;
        xbytes *= (size_t)dims[i];
    }
    const size_t bytes = round_up(xbytes) + round_up((size_t)s->kw * s->c) + round_up((size_t)s->oc * 8);
    return bytes / sizeof(float);
}

/* ---- the portable micro-kernel and quantizer (the readable reference) ---- */
static void q8_ukernel_generic(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                               size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,
                               const float *bias, const int32_t *comp, const float *clamp) {
    for (int m = 0; m < mr; m++)
        for (int o = 0; o < nc; o++) {
            const int8_t *wp = w + (size_t)(o / PCI_NR) * panel_stride + o % PCI_NR;
            int32_t acc = 0;
            for (int t = 0; t < ntaps; t++) {
                const uint8_t *x = a[t * astride + m];
                const int8_t *wt = wp + (size_t)t * kc * PCI_NR;
                for (int k = 0; k < kc; k++) acc += (int32_t)x[k] * wt[(size_t)k * PCI_NR];
            }
            if (comp) acc -= comp[o];
            float v = fmaf((float)acc, cs[o], bias ? bias[o] : 0.0f);
            if (clamp) v = fminf(fmaxf(v, clamp[0]), clamp[1]);
            c[(size_t)m * ldc + o] = v;
        }
}

static void q8_minmax_generic(const float *x, size_t n, float *lo, float *hi) {
    float a = x[0], b = x[0];
    for (size_t i = 0; i < n; i++) {
        if (x[i] != x[i]) { /* NaN: the caller runs the float32 path, which propagates it */
            *lo = *hi = x[i];
            return;
        }
        a = x[i] < a ? x[i] : a;
        b = x[i] > b ? x[i] : b;
    }
    *lo = a, *hi = b;
}

static void q8_quantize_generic(const float *x, size_t n, float inv, int zp, uint8_t *q) {
    for (size_t i = 0; i < n; i++) {
        float t = x[i] * inv;
        t = t > -256.0f ? t : -256.0f; /* NaN too: the vector paths' max(t, -256) */
        t = t < 256.0f ? t : 256.0f;
        const int v = (int)nearbyintf(t) + zp; /* nearest, ties to even: the vector paths' cvtps */
        q[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

void pci_q8_gemv_generic(int k, const uint8_t *xq, const int8_t *w, int32_t *dot, int32_t *wsum) {
    int32_t d[PCI_NR] = {0}, s[PCI_NR] = {0};
    for (int i = 0; i < k; i++) /* 16 independent int32 lanes: the compiler vectorizes both sums */
        for (int j = 0; j < PCI_NR; j++) {
            d[j] += (int32_t)xq[i] * w[(size_t)i * PCI_NR + j];
            s[j] += w[(size_t)i * PCI_NR + j];
        }
    memcpy(dot, d, sizeof(d));
    if (wsum) memcpy(wsum, s, sizeof(s));
}

#define Q8_GENERIC4 {q8_ukernel_generic, q8_ukernel_generic, q8_ukernel_generic, q8_ukernel_generic}
static const pci_q8_kernels q8_generic = {Q8_GENERIC4, Q8_GENERIC4, {NULL}, q8_minmax_generic, q8_quantize_generic, 0,
                                          pci_q8_gemv_generic,
                                          PCI_Q8_NAMES("portable C", "portable C")};

const pci_q8_kernels *pci_q8_kernels_for(int isa) {
    if (!pci_int8_dot_available(isa)) return &q8_generic;
#ifdef PCI_X86
    return pci_effective_isa(isa) == PCI_ISA_AVX512 ? &pci_q8_avx512vnni : &pci_q8_avxvnni;
#elif defined(PCI_ARM64)
    return &pci_q8_neon_dot;
#else
    return &q8_generic;
#endif
}

pci_q8_quantize_fn pci_q8_quantizer(int isa) { return pci_q8_kernels_for(isa)->quantize; }

/* Outputs from this size on are written with non-temporal stores: they do not stay
 * in a core's L2 for the next layer anyway, and streaming them past the caches keeps
 * the quantized input and the weights there and skips the read-for-ownership
 * (VGG16 int8, 2 threads, AMD EPYC Zen 4, AVX-512: 45.1 -> 42.8 ms; streaming
 * every output measured the same as this threshold). */
#define Q8_STREAM_BYTES (1u << 20)

/* ---- the driver ---- */
typedef struct {
    const uint8_t *xq, *zeros;
    const int8_t *w;
    const float *cs, *bias, *clamp;
    const int32_t *comp;
    float *y;
    uint8_t *yq; /* uint8 output (y NULL): quantized with y_inv, y_zp */
    float y_inv;
    int y_zp;
    int fused_u8; /* yq written by the ISA's uint8 micro-kernels (clamp or linear activation) */
    const pci_conv_shape *s;
    const pci_q8_kernels *uk;
    pci_act act;
    size_t panel_stride;
    long items, ntiles, tiles_per_image, pixels;
    int nblocks, npanels, weights_outer, isa, zp, row_mode, stream;
} q8_job;

/* Row mode (dilation_w == 1): a tap is a whole kernel row, kw * cin bytes that
 * are contiguous in NHWC, so the micro-kernel's inner loop runs kw times longer
 * between pointer switches (VGG16's 64-channel layers: 16 -> 48 steps); a
 * window that leaves the image sideways gets a copy in `edge` padded with the
 * zero point. Otherwise a tap is one (kh, kw) position. Both sum the same
 * products, so they agree bitwise. */
static void q8_fill(const q8_job *J, int row_mode, const uint8_t *xn, long p0, int rows, const int *tap_dy,
                    const int *tap_dx, const uint8_t **a, uint8_t *edge) {
    const pci_conv_shape *s = J->s;
    const int mr = PCI_Q8_TILE, ntaps = row_mode ? s->kh : s->kh * s->kw;
    const size_t kc = row_mode ? (size_t)s->kw * s->c : (size_t)s->c;
    /* rows past the end repeat the last pixel: computed, never stored */
    int oh = (int)(p0 / s->ow), ow = (int)(p0 % s->ow);
    for (int m = 0; m < mr; m++) {
        const int ih0 = oh * s->sh - s->pad_t, iw0 = ow * s->sw - s->pad_l;
        for (int t = 0; t < ntaps; t++) {
            const int ih = ih0 + (row_mode ? t * s->dh : tap_dy[t]), iw = iw0 + (row_mode ? 0 : tap_dx[t]);
            const uint8_t *p = J->zeros;
            if ((unsigned)ih < (unsigned)s->h) {
                const uint8_t *row = xn + (size_t)ih * s->w * s->c;
                if (!row_mode) {
                    if ((unsigned)iw < (unsigned)s->w) p = row + (size_t)iw * s->c;
                } else if (iw >= 0 && iw + s->kw <= s->w) {
                    p = row + (size_t)iw * s->c;
                } else {
                    uint8_t *dst = edge + ((size_t)t * mr + m) * kc;
                    for (int q = 0; q < s->kw; q++) {
                        uint8_t *cell = dst + (size_t)q * s->c;
                        if ((unsigned)(iw + q) < (unsigned)s->w) memcpy(cell, row + (size_t)(iw + q) * s->c, (size_t)s->c);
                        else memset(cell, J->zp, (size_t)s->c);
                    }
                    p = dst;
                }
            }
            a[t * mr + m] = p;
        }
        if (m + 1 < rows && ++ow == s->ow) ow = 0, oh++;
    }
}

static void q8_worker(const q8_job *J) {
    const pci_conv_shape *s = J->s;
    const int mr = PCI_Q8_TILE;
    const uint8_t *a[PCI_Q8_MAX_TAPS * PCI_Q8_TILE];
    int tap_dy[PCI_Q8_MAX_TAPS], tap_dx[PCI_Q8_MAX_TAPS]; /* each tap's offset in the window */
    for (int t = 0; t < s->kh * s->kw; t++) tap_dy[t] = (t / s->kw) * s->dh, tap_dx[t] = (t % s->kw) * s->dw;
    /* without the edge buffer (no memory), this thread takes one tap per position */
    uint8_t *edge = J->row_mode ? malloc((size_t)s->kh * mr * s->kw * s->c) : NULL;
    const int row_mode = edge != NULL, ntaps = row_mode ? s->kh : s->kh * s->kw;
    const int kc = row_mode ? s->kw * s->c : s->c;
    long filled = -1;
    /* uint8 output: each call's floats land in this L1 tile, quantized from there */
    float ftile[PCI_Q8_TILE * PCI_Q8_PANELS * PCI_NR];
    const size_t ldc = J->yq ? PCI_Q8_PANELS * PCI_NR : (size_t)s->oc;
#pragma omp for schedule(static) nowait
    for (long it = 0; it < J->items; it++) {
        const long tile = J->weights_outer ? it % J->ntiles : it / J->nblocks;
        const int blk = (int)(J->weights_outer ? it / J->ntiles : it % J->nblocks);
        const int panel = blk * PCI_Q8_PANELS, panels = PCI_MIN(PCI_Q8_PANELS, J->npanels - panel);
        const int oc0 = panel * PCI_NR, nc = PCI_MIN(panels * PCI_NR, s->oc - oc0);
        const int n = (int)(tile / J->tiles_per_image);
        const long p0 = (tile % J->tiles_per_image) * mr;
        const int rows = (int)PCI_MIN((long)mr, J->pixels - p0);
        if (tile != filled) /* pixel-major order: the tile's blocks in turn share its taps */
            q8_fill(J, row_mode, J->xq + (size_t)n * s->h * s->w * s->c, p0, rows, tap_dy, tap_dx, a, edge);
        filled = tile;
        const size_t first = ((size_t)n * J->pixels + p0) * s->oc + oc0; /* the tile's first output */
        if (J->yq && J->fused_u8) { /* the micro-kernel quantizes in registers */
            const pci_q8_ukernel_u8_fn fu = J->uk->ukernel_u8[panels - 1];
            for (int m0 = 0; m0 < rows; m0 += PCI_Q8_MR_MAX)
                fu(ntaps, kc, a + m0, mr, J->w + (size_t)panel * J->panel_stride, J->panel_stride,
                   J->yq + first + (size_t)m0 * s->oc, (size_t)s->oc, PCI_MIN(PCI_Q8_MR_MAX, rows - m0), nc,
                   J->cs + oc0, J->bias ? J->bias + oc0 : NULL, J->comp ? J->comp + oc0 : NULL, J->clamp, J->y_inv,
                   J->y_zp);
            continue;
        }
        float *c = J->yq ? ftile : J->y + first;
        const pci_q8_ukernel_fn fn = (J->stream ? J->uk->ukernel_stream : J->uk->ukernel)[panels - 1];
        for (int m0 = 0; m0 < rows; m0 += PCI_Q8_MR_MAX)
            fn(ntaps, kc, a + m0, mr, J->w + (size_t)panel * J->panel_stride, J->panel_stride, c + (size_t)m0 * ldc,
               ldc, PCI_MIN(PCI_Q8_MR_MAX, rows - m0), nc, J->cs + oc0, J->bias ? J->bias + oc0 : NULL,
               J->comp ? J->comp + oc0 : NULL, J->clamp);
        if (!J->clamp && J->act.kind != PCI_ACT_LINEAR && !pci_act_is_row(J->act))
            pci_act_inplace_rows(c, (size_t)rows, (size_t)nc, ldc, J->act, J->isa);
        if (J->yq) /* the next layer's quantizer, on the same floats it would read */
            pci_q8_quantize_tile(J->uk->quantize, c, ldc, rows, nc, J->y_inv, J->y_zp, J->yq + first, (size_t)s->oc);
    }
    free(edge);
#ifdef PCI_X86
    if (J->stream) __builtin_ia32_sfence(); /* the non-temporal stores are visible before the region ends */
#endif
}

/* min and max over n floats, split among nt threads (exact in any order). */
static void q8_range(const pci_q8_kernels *uk, const float *x, size_t n, int nt, float *lo, float *hi) {
    float los[64], his[64];
    nt = PCI_MAX(1, PCI_MIN(nt, 64));
    const size_t chunk = (n + (size_t)nt - 1) / (size_t)nt;
    PCI_FOR(nt, int t = 0, t < nt, t++, {
        const size_t b = (size_t)t * chunk, e = PCI_MIN(n, b + chunk);
        if (b < e) uk->minmax(x + b, e - b, &los[t], &his[t]);
        else los[t] = his[t] = x[0];
    });
    *lo = los[0], *hi = his[0];
    for (int t = 1; t < nt; t++) *lo = fminf(*lo, los[t]), *hi = fmaxf(*hi, his[t]);
}

int pci_q8_params(const float range[2], float *scale, float *inv, int *zp) {
    float lo = range[0], hi = range[1];
    if (isnan(lo) || isnan(hi)) return -1; /* fminf / fmaxf below would drop it */
    /* The range always holds 0 (padding and relu zeros are exact); 255 steps. */
    lo = fminf(lo, 0.0f), hi = fmaxf(hi, 0.0f);
    const float sc = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    /* steps that overflow (wider than float32: |x| near 1.7e38) or underflow (below 255 x FLT_MIN) */
    if (!(sc >= FLT_MIN && sc <= FLT_MAX)) return -1;
    *scale = sc, *inv = 1.0f / sc;
    *zp = (int)PCI_MIN(255.0f, PCI_MAX(0.0f, nearbyintf(-lo * *inv)));
    return 0;
}

void pci_conv2d_q8(const float *x, const pci_weights *w, const float *bias, float *y, const pci_conv_shape *s,
                   pci_act act, const float *range, void *scratch, size_t scratch_floats, pci_ctx ctx) {
    const pci_q8_io io = {x, range, 0, y, NULL};
    pci_conv2d_q8_io(&io, w, bias, s, act, scratch, scratch_floats, ctx);
}

void pci_conv2d_q8_io(const pci_q8_io *io, const pci_weights *w, const float *bias, const pci_conv_shape *s,
                      pci_act act, void *scratch, size_t scratch_floats, pci_ctx ctx) {
    const size_t nx = (size_t)s->n * s->h * s->w * s->c, ny = (size_t)s->n * s->oh * s->ow * s->oc;
    const size_t need = pci_conv2d_q8_scratch_floats(s);
    float scale = 1.0f, inv = 1.0f, y_scale = 1.0f, y_inv = 1.0f;
    int zp = 0, y_zp = 0;
    const int bad_x = io->x_u8 && (!io->x_range || pci_q8_params(io->x_range, &scale, &inv, &zp) != 0);
    const int bad_y = io->y_range && (pci_q8_params(io->y_range, &y_scale, &y_inv, &y_zp) != 0 || pci_act_is_row(act));
    if (!pci_conv2d_q8_supported(s) || w->dtype != PCI_DTYPE_I8 || need == SIZE_MAX || scratch_floats < need || bad_x ||
        bad_y) { /* validation refuses these: never reached from a plan */
        if (io->y_range) memset(io->y, 0, ny);
        else pci_fill_nan(io->y, ny);
        return;
    }
    const pci_q8_kernels *uk = pci_q8_kernels_for(ctx.isa);
    const int nt = pci_threads_for(ctx, (double)nx * 8); /* the range and quantize passes */
    const float *x = io->x;
    if (!io->x_u8) {
        float range[2];
        if (io->x_range) range[0] = io->x_range[0], range[1] = io->x_range[1];
        else q8_range(uk, x, nx, nt, &range[0], &range[1]);
        /* inf / NaN inputs (the float32 path propagates them) and ranges without a
         * quantization: float32 (a uint8 output always has a calibrated, valid input range) */
        if (pci_q8_params(range, &scale, &inv, &zp) != 0) {
            if (io->y_range) memset(io->y, 0, ny); /* validation refuses a uint8 y without a calibrated x range */
            else pci_conv2d_w(x, w, bias, io->y, s, act, ctx);
            return;
        }
    }

    uint8_t *xq = scratch, *zeros = xq + round_up(nx); /* xq unused for a uint8 x */
    int32_t *comp = (int32_t *)(void *)(zeros + round_up((size_t)s->kw * s->c));
    float *cs = (float *)(void *)(comp + s->oc);
    const int8_t *wq = w->data;
    const int ks = s->kh * s->kw, npanels = (s->oc + PCI_NR - 1) / PCI_NR;
    const size_t panel_stride = (size_t)ks * s->c * PCI_NR;
    memset(zeros, zp, (size_t)s->kw * s->c); /* a row mode tap's worth */
    for (int o = 0; o < s->oc; o++) cs[o] = scale * w->scale[o];
    const int shift = zp - uk->input_offset; /* VNNI: zp, 0 after relu; sdot: zp - 128 */
    if (shift) /* sum(w) per channel: one sequential pass over each panel's rows of 16 */
        for (int p = 0; p < npanels; p++) {
            const int8_t *wp = wq + (size_t)p * panel_stride;
            int32_t sum[PCI_NR] = {0};
            for (size_t k = 0; k < (size_t)ks * s->c; k++)
                for (int j = 0; j < PCI_NR; j++) sum[j] += wp[k * PCI_NR + j];
            for (int j = 0; j < PCI_NR && p * PCI_NR + j < s->oc; j++) comp[p * PCI_NR + j] = shift * sum[j];
        }
    if (!io->x_u8) {
        const size_t qchunk = 1 << 16;
        const long nchunks = (long)((nx + qchunk - 1) / qchunk);
        PCI_FOR(nt, long i = 0, i < nchunks, i++, {
            const size_t b = (size_t)i * qchunk;
            uk->quantize(x + b, PCI_MIN(qchunk, nx - b), inv, zp, xq + b);
        });
    }

    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    const long pixels = (long)s->oh * s->ow, tiles_per_image = (pixels + PCI_Q8_TILE - 1) / PCI_Q8_TILE;
    const long ntiles = tiles_per_image * s->n;
    const int nblocks = (npanels + PCI_Q8_PANELS - 1) / PCI_Q8_PANELS;
    /* Kernels beyond L2's share are walked block by block (each block's 64
     * channels stay cached while the pixel tiles stream past). */
    const int weights_outer = (double)ks * s->c * s->oc > 512.0 * 1024;
    const q8_job job = {io->x_u8 ? (const uint8_t *)io->x : xq, zeros, wq, cs, bias, fused ? clamp : NULL,
                        shift ? comp : NULL, io->y_range ? NULL : io->y, io->y_range ? io->y : NULL, y_inv, y_zp,
                        uk->ukernel_u8[0] && (fused || act.kind == PCI_ACT_LINEAR), s,
                        uk, act, panel_stride, ntiles * nblocks, ntiles, tiles_per_image, pixels, nblocks, npanels,
                        weights_outer, ctx.isa, zp, s->dw == 1 && s->kw > 1,
                        !io->y_range && ny * sizeof(float) >= Q8_STREAM_BYTES};
    if (pci_threads_for(ctx, (double)ntiles * PCI_Q8_TILE * s->oc * ks * s->c) > 1) {
#pragma omp parallel num_threads(ctx.num_threads)
        q8_worker(&job);
    } else {
        q8_worker(&job);
    }
    if (pci_act_is_row(act)) pci_activation(io->y, (size_t)s->n * pixels, s->oc, act, ctx); /* float32 y only */
}
