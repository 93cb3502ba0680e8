/* Winograd convolution F(m x m, 3 x 3), m = 2 or 4, for 3x3 stride-1 layers.
 *
 * Per output tile of m x m pixels the input patch d ((m+2)^2 pixels) becomes
 * V = B^T d B, each of the (m+2)^2 positions is an independent GEMM
 * M[xi] = V[xi] (tiles x C) . U[xi] (C x K) with U = G g G^T prepared by the
 * converter (packing.py), and the outputs are Y = A^T M A. Multiplications per
 * output: 9 direct, 4 for F(2x2), 2.25 for F(4x4). The GEMMs run on the same
 * micro-kernels as the direct convolution.
 *
 * Tiles are processed in blocks (pci_winograd_tile_block tiles per thread, or
 * the threads' blocks pooled into one for large U) and every tile's sums run
 * in one order whatever block it falls in, so results do not depend on the
 * number of threads. Scratch (V and M of one block per thread) comes from
 * the caller: the model's arena. The input and output transforms are compiled
 * per instruction set (wino_transforms_for); the GEMMs use the ISA's micro-kernels. */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

/* Transforms along one axis, applied to 16 channels at a time. */
static inline __attribute__((always_inline)) void input_1d(int m, const float *d[], float *out[], int c) {
    if (m == 2) { /* B^T rows: [1 0 -1 0] [0 1 1 0] [0 -1 1 0] [0 1 0 -1] */
#pragma omp simd
        for (int i = 0; i < c; i++) {
            const float d0 = d[0][i], d1 = d[1][i], d2 = d[2][i], d3 = d[3][i];
            out[0][i] = d0 - d2;
            out[1][i] = d1 + d2;
            out[2][i] = d2 - d1;
            out[3][i] = d1 - d3;
        }
    } else { /* F(4x4): B^T of Lavin & Gray */
#pragma omp simd
        for (int i = 0; i < c; i++) {
            const float d0 = d[0][i], d1 = d[1][i], d2 = d[2][i], d3 = d[3][i], d4 = d[4][i], d5 = d[5][i];
            out[0][i] = 4.0f * d0 - 5.0f * d2 + d4;
            out[1][i] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
            out[2][i] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
            out[3][i] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
            out[4][i] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
            out[5][i] = 4.0f * d1 - 5.0f * d3 + d5;
        }
    }
}

static inline __attribute__((always_inline)) void output_1d(int m, const float *s[], float *out[], int c) {
    if (m == 2) { /* A^T rows: [1 1 1 0] [0 1 -1 -1] */
#pragma omp simd
        for (int i = 0; i < c; i++) {
            out[0][i] = s[0][i] + s[1][i] + s[2][i];
            out[1][i] = s[1][i] - s[2][i] - s[3][i];
        }
    } else { /* [1 1 1 1 1 0] [0 1 -1 2 -2 0] [0 1 1 4 4 0] [0 1 -1 8 -8 1] */
#pragma omp simd
        for (int i = 0; i < c; i++) {
            const float a = s[1][i] + s[2][i], b = s[1][i] - s[2][i];
            const float p = s[3][i] + s[4][i], q = s[3][i] - s[4][i];
            out[0][i] = s[0][i] + a + p;
            out[1][i] = b + 2.0f * q;
            out[2][i] = a + 4.0f * p;
            out[3][i] = b + 8.0f * q + s[5][i];
        }
    }
}

#define CB 64 /* channels transformed at a time (stack buffers) */

/* V[xi][t][:] = (B^T d B)[xi] for one tile t of the block (d: its input patch, zero outside the image). */
static inline __attribute__((always_inline)) void input_tile(const int m, const pci_conv_shape *s, const float *x,
                                                              long tile, int th, int tw, float *V, int tb, int t,
                                                              float *dbuf, float *tmp) {
    const int a = m + 2, C = s->c, H = s->h, W = s->w;
    const int n = (int)(tile / ((long)th * tw)), r = (int)(tile % ((long)th * tw));
    const int ih0 = (r / tw) * m - s->pad_t, iw0 = (r % tw) * m - s->pad_l;
    const float *xn = x + (size_t)n * H * W * C;
    for (int c0 = 0; c0 < C; c0 += CB) {
        const int cb = PCI_MIN(CB, C - c0);
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++) {
                float *dst = dbuf + (size_t)(i * a + j) * CB;
                const int ih = ih0 + i, iw = iw0 + j;
                if ((unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W)
                    memcpy(dst, xn + ((size_t)ih * W + iw) * C + c0, sizeof(float) * cb);
                else
                    memset(dst, 0, sizeof(float) * cb);
            }
        const float *in[6];
        float *out[6];
        for (int j = 0; j < a; j++) { /* columns: tmp = B^T d */
            for (int i = 0; i < a; i++) in[i] = dbuf + (size_t)(i * a + j) * CB, out[i] = tmp + (size_t)(i * a + j) * CB;
            input_1d(m, in, out, cb);
        }
        for (int i = 0; i < a; i++) { /* rows: V = tmp B, straight into V */
            for (int j = 0; j < a; j++) {
                in[j] = tmp + (size_t)(i * a + j) * CB;
                out[j] = V + ((size_t)(i * a + j) * tb + t) * C + c0;
            }
            input_1d(m, in, out, cb);
        }
    }
}

/* Y = A^T M A + bias for tile t of the block, activation, stored where inside the image. */
static inline __attribute__((always_inline)) void output_tile(const int m, const pci_conv_shape *s, const float *M,
                                                               long tile, int th, int tw, int tb, int t,
                                                               const float *bias, const float *clamp, pci_act act,
                                                               float *y, float *dbuf, float *tmp, int isa) {
    const int a = m + 2, K = s->oc;
    const int n = (int)(tile / ((long)th * tw)), r = (int)(tile % ((long)th * tw));
    const int oh0 = (r / tw) * m, ow0 = (r % tw) * m;
    for (int k0 = 0; k0 < K; k0 += CB) {
        const int kb = PCI_MIN(CB, K - k0);
        const float *in[6];
        float *out[6];
        float *res = dbuf; /* [m][m][CB] */
        for (int j = 0; j < a; j++) { /* columns: tmp = A^T M */
            for (int i = 0; i < a; i++) in[i] = M + ((size_t)(i * a + j) * tb + t) * K + k0;
            for (int i = 0; i < m; i++) out[i] = tmp + (size_t)(i * a + j) * CB;
            output_1d(m, in, out, kb);
        }
        for (int i = 0; i < m; i++) { /* rows: res = tmp A */
            for (int j = 0; j < a; j++) in[j] = tmp + (size_t)(i * a + j) * CB;
            for (int j = 0; j < m; j++) out[j] = res + (size_t)(i * m + j) * CB;
            output_1d(m, in, out, kb);
        }
        for (int i = 0; i < m && oh0 + i < s->oh; i++)
            for (int j = 0; j < m && ow0 + j < s->ow; j++) {
                const float *src = res + (size_t)(i * m + j) * CB;
                float *dst = y + (((size_t)n * s->oh + oh0 + i) * s->ow + ow0 + j) * K + k0;
                if (clamp) {
                    const float lo = clamp[0], hi = clamp[1];
#pragma omp simd
                    for (int q = 0; q < kb; q++) {
                        float v = src[q] + (bias ? bias[k0 + q] : 0.0f);
                        v = v < lo ? lo : v;
                        dst[q] = v > hi ? hi : v;
                    }
                } else {
#pragma omp simd
                    for (int q = 0; q < kb; q++) dst[q] = src[q] + (bias ? bias[k0 + q] : 0.0f);
                    if (!pci_act_is_row(act)) pci_act_inplace(dst, (size_t)kb, act, isa);
                }
            }
    }
}

/* The transforms compiled once per instruction set (their `omp simd` loops
 * become AVX2 / AVX-512 vectors; the portable baseline is SSE2), m constant. */
typedef struct {
    void (*input)(int m, const pci_conv_shape *s, const float *x, long tile, int th, int tw, float *V, int tb, int t,
                  float *dbuf, float *tmp);
    void (*output)(int m, const pci_conv_shape *s, const float *M, long tile, int th, int tw, int tb, int t,
                   const float *bias, const float *clamp, pci_act act, float *y, float *dbuf, float *tmp);
} wino_transforms;

#define PCI_WINO_VARIANT(SUFFIX, TARGET, ISA)                                                                     \
    TARGET static void input_##SUFFIX(int m, const pci_conv_shape *s, const float *x, long tile, int th, int tw, \
                                      float *V, int tb, int t, float *dbuf, float *tmp) {                        \
        if (m == 2) input_tile(2, s, x, tile, th, tw, V, tb, t, dbuf, tmp);                                       \
        else input_tile(4, s, x, tile, th, tw, V, tb, t, dbuf, tmp);                                              \
    }                                                                                                            \
    TARGET static void output_##SUFFIX(int m, const pci_conv_shape *s, const float *M, long tile, int th, int tw, \
                                       int tb, int t, const float *bias, const float *clamp, pci_act act,        \
                                       float *y, float *dbuf, float *tmp) {                                      \
        if (m == 2) output_tile(2, s, M, tile, th, tw, tb, t, bias, clamp, act, y, dbuf, tmp, ISA);               \
        else output_tile(4, s, M, tile, th, tw, tb, t, bias, clamp, act, y, dbuf, tmp, ISA);                      \
    }                                                                                                            \
    static const wino_transforms wino_##SUFFIX = {input_##SUFFIX, output_##SUFFIX};
PCI_WINO_VARIANT(generic, , PCI_ISA_GENERIC)
#ifdef PCI_X86
PCI_WINO_VARIANT(avx2, __attribute__((target("avx2,fma"))), PCI_ISA_AVX2)
PCI_WINO_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))), PCI_ISA_AVX512)
#endif

static const wino_transforms *wino_transforms_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return &wino_avx512;
    case PCI_ISA_AVX2: return &wino_avx2;
#endif
    default: return &wino_generic;
    }
}

/* U (all a*a positions, float32) larger than this streams from memory or a
 * shared L3 on every block: such layers pool their threads' blocks. */
#define PCI_WINO_SHARED_U_BYTES 12.0e6

int pci_winograd_shared_blocks(const pci_conv_shape *s, int m) {
    return (double)(m + 2) * (m + 2) * s->c * s->oc * 4.0 > PCI_WINO_SHARED_U_BYTES;
}

size_t pci_winograd_tile_block(const pci_conv_shape *s, int m) {
    /* Small U: V and M of a block should stay within ~1 MB (L2), a*a*tb*(C + K) floats.
     * Large U: each U panel is read once per block whatever its size, so the block
     * grows to 48 tiles per thread (VGG16's 512-channel F(2x2) layers, AMD EPYC Zen 3,
     * avx2, 2 threads: 1.3-1.6x over 12 tiles per thread; docs/BENCHMARKS.md). */
    if (pci_winograd_shared_blocks(s, m)) return 48;
    const int a = m + 2;
    const double per_tile = (double)a * a * (s->c + s->oc) * 4.0;
    long tb = (long)(1.0e6 / per_tile) / 6 * 6;
    return (size_t)PCI_MAX(6, PCI_MIN(tb, 96));
}

size_t pci_winograd_scratch_floats(const pci_conv_shape *s, int m) {
    const size_t a = (size_t)m + 2, tb = pci_winograd_tile_block(s, m);
    return a * a * tb * ((size_t)s->c + (size_t)s->oc);
}

void pci_conv2d_winograd(const float *x, const float *u, const float *bias, float *y,
                         const pci_conv_shape *s, int m, pci_act act, float *scratch,
                         size_t scratch_floats, pci_ctx ctx) {
    const pci_weights w = {u, PCI_DTYPE_F32, NULL};
    pci_conv2d_winograd_w(x, &w, bias, y, s, m, act, scratch, scratch_floats, ctx);
}

/* One block's GEMMs: M[xi] = V[xi] (rows x C) . U[xi] (C x K), for the panels
 * [p0, p1) of 16 output channels. V and M hold `stride` tiles per position xi. */
typedef struct {
    const pci_gemm_kernels *uk;
    const pci_weights *uw;
    const float *u;     /* float32 U, or NULL: widened per panel group */
    int C, K, nb, stride, isa;
    size_t ustride, wpanel;
} wino_gemm;

static void wino_gemm_panels(const wino_gemm *g, const float *V, float *M, int xi, int p0, int p1, int rows_total,
                             float *wbuf) {
    const pci_gemm_kernels *uk = g->uk;
    const pci_weights *uw = g->uw;
    const int C = g->C, K = g->K;
    const float *Vx = V + (size_t)xi * g->stride * C;
    float *Mx = M + (size_t)xi * g->stride * K;
    const float *arows[16];
    /* panels outer, row tiles inner: one panel (group) serves every row tile */
    for (int p = p0; p < p1;) {
        int take = uk->max_panels;
        while (take > p1 - p) take >>= 1;
        const size_t first = (size_t)xi * g->nb + (size_t)p; /* panel index = scale panel */
        const int nc = PCI_MIN(take * PCI_NR, K - p * PCI_NR);
        /* float32 U as stored; else widened in registers by the micro-kernel (ub),
         * or into this thread's buffer once for every row tile */
        const float *Up = g->u ? g->u + (size_t)xi * g->ustride + (size_t)p * g->wpanel : NULL;
        const char *ub = NULL;
        const float *sc = NULL;
        if (!Up && uk->fn_w[uw->dtype][take]) {
            ub = (const char *)uw->data + first * g->wpanel * pci_dtype_size(uw->dtype);
            sc = uw->scale ? uw->scale + first * PCI_NR : NULL;
        } else if (!Up) {
            pci_widen_panels(uw, first * g->wpanel, (size_t)take, g->wpanel, first, wbuf, g->isa);
            Up = wbuf;
        }
        for (int r0 = 0; r0 < rows_total; r0 += uk->mr) {
            const int rows = PCI_MIN(uk->mr, rows_total - r0);
            for (int i = 0; i < uk->mr; i++) arows[i] = Vx + (size_t)(r0 + PCI_MIN(i, rows - 1)) * C;
            float *c = Mx + (size_t)r0 * K + p * PCI_NR;
            if (ub) uk->fn_w[uw->dtype][take](1, C, arows, ub, sc, g->wpanel, c, (size_t)K, rows, nc, NULL, 0, NULL);
            else uk->fn[take](1, C, arows, Up, g->wpanel, c, (size_t)K, rows, nc, NULL, 0, NULL);
        }
        p += take;
    }
}

void pci_conv2d_winograd_w(const float *x, const pci_weights *uw, const float *bias, float *y,
                           const pci_conv_shape *s, int m, pci_act act, float *scratch,
                           size_t scratch_floats, pci_ctx ctx) {
    const pci_gemm_kernels *uk = pci_gemm_kernels_for(ctx.isa);
    const wino_transforms *tf = wino_transforms_for(ctx.isa);
    const int a = m + 2, aa = a * a, C = s->c, K = s->oc;
    const int th = (s->oh + m - 1) / m, tw = (s->ow + m - 1) / m;
    const long tiles = (long)s->n * th * tw;
    const int tb = (int)pci_winograd_tile_block(s, m);
    const size_t per_thread = pci_winograd_scratch_floats(s, m);
    const int fit = (int)PCI_MIN((size_t)ctx.num_threads, scratch_floats / per_thread);
    if (fit < 1) return; /* the validator guarantees room for one thread */
    int nt = pci_threads_for(ctx, (double)tiles * m * m * K * C * 9);
    nt = PCI_MIN(nt, fit);
    const int nb = (K + PCI_NR - 1) / PCI_NR;
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    /* Shared blocks: where U is too large to stay in the caches (VGG16's
     * 512-channel layers), the threads pool their scratch into one block of
     * nt * tb tiles and split its GEMMs by (position, panel group), so each U
     * panel is read once per nt * tb tiles instead of once per tb tiles per
     * thread. Elsewhere each thread runs whole blocks of its own (no barriers). */
    const int shared = nt > 1 && pci_winograd_shared_blocks(s, m);
    /* tiles per block: at most the scratch's room, as even as the multiples of mr allow
     * (a short last block would cost a full pass over U for a few tiles) */
    const int room = shared ? nt * tb : tb;
    const long nblocks = (tiles + room - 1) / room;
    const int stride = (int)PCI_MIN((long)room, ((tiles + nblocks - 1) / nblocks + uk->mr - 1) / uk->mr * uk->mr);
    /* Reduced precision: each GEMM's panels (C x 16 per panel, at most
     * max_panels) are widened into a per-thread buffer right before the
     * micro-kernel call and used by the block's tiles: one conversion per
     * weight per tb FMAs (tb >= 6), against one per mr = 6 rows if the
     * micro-kernel widened them in registers. */
    const wino_gemm g = {uk, uw, uw->dtype == PCI_DTYPE_F32 ? (const float *)uw->data : NULL, C, K, nb, stride,
                         ctx.isa, (size_t)nb * C * PCI_NR, (size_t)C * PCI_NR};
    const size_t wbuf_floats = (size_t)uk->max_panels * g.wpanel;
    float *wbufs = g.u ? NULL : malloc((size_t)nt * wbuf_floats * sizeof(float));
    if (!g.u && !wbufs) {
        pci_fill_nan(y, (size_t)s->n * s->oh * s->ow * K);
        return;
    }
    const int ngroups = (nb + uk->max_panels - 1) / uk->max_panels;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        float dbuf[6 * 6 * CB], tmp[6 * 6 * CB];
        float *wbuf = wbufs ? wbufs + (size_t)tid * wbuf_floats : NULL;
        if (shared) {
            float *V = scratch;                            /* [aa][stride][C] */
            float *M = V + (size_t)aa * stride * C;        /* [aa][stride][K] */
            for (long blk = 0; blk < nblocks; blk++) { /* every thread, every block; work split inside */
                const long t0 = blk * stride;
                const int count = (int)PCI_MIN((long)stride, tiles - t0);
#pragma omp for schedule(static)
                for (int t = 0; t < count; t++) tf->input(m, s, x, t0 + t, th, tw, V, stride, t, dbuf, tmp);
#pragma omp for schedule(static)
                for (int item = 0; item < aa * ngroups; item++) {
                    const int xi = item / ngroups, p0 = item % ngroups * uk->max_panels;
                    wino_gemm_panels(&g, V, M, xi, p0, PCI_MIN(nb, p0 + uk->max_panels), count, wbuf);
                }
#pragma omp for schedule(static)
                for (int t = 0; t < count; t++)
                    tf->output(m, s, M, t0 + t, th, tw, stride, t, bias, fused ? clamp : NULL, act, y, dbuf, tmp);
            }
        } else {
            float *V = scratch + per_thread * tid;         /* [aa][stride][C] */
            float *M = V + (size_t)aa * stride * C;        /* [aa][stride][K] */
#pragma omp for schedule(static)
            for (long blk = 0; blk < nblocks; blk++) {
                const long t0 = blk * stride;
                const int count = (int)PCI_MIN((long)stride, tiles - t0);
                /* 1. input transform: V[xi][t][c] = (B^T d B)[xi] */
                for (int t = 0; t < count; t++) tf->input(m, s, x, t0 + t, th, tw, V, stride, t, dbuf, tmp);
                /* 2. aa GEMMs over the block's tiles */
                for (int xi = 0; xi < aa; xi++) wino_gemm_panels(&g, V, M, xi, 0, nb, count, wbuf);
                /* 3. output transform: Y = A^T M A + bias, activation, store the part inside the image */
                for (int t = 0; t < count; t++)
                    tf->output(m, s, M, t0 + t, th, tw, stride, t, bias, fused ? clamp : NULL, act, y, dbuf, tmp);
            }
        }
    }
    free(wbufs);
    if (pci_act_is_row(act)) pci_activation(y, (size_t)s->n * s->oh * s->ow, K, act, ctx);
}
