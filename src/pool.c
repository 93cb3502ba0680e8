/* Max / average pooling and global pooling, NHWC, vectorised over channels.
 * Keras 'same' semantics: padded cells never win a max, and an average divides
 * by the number of real cells under the window. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pci_internal.h"

/* Thread-count weight of one pooled element against one GEMM multiply-add
 * (pci_threads_for's unit): the GEMM kernels retire ~30 multiply-adds per ns
 * on a core, pooling ~1-3 elements; so LeNet's first pool at batch 64
 * (~150 us alone) is worth a parallel region and batch 1 (~3 us) is not. */
#define PCI_POOL_COST 32.0

/* acc[q] = max(acc[q], v[q]) or acc[q] + v[q], for q < n: every reduction
 * below is a sequence of these, in window order. */
static inline void pool_combine(float *acc, const float *v, int n, int is_max) {
    if (is_max) {
#pragma omp simd
        for (int q = 0; q < n; q++) acc[q] = v[q] > acc[q] ? v[q] : acc[q];
    } else {
#pragma omp simd
        for (int q = 0; q < n; q++) acc[q] += v[q];
    }
}

/* acc[q] = max(a[q], b[q]) or a[q] + b[q]: a window's first two cells in one pass. */
static inline void pool_pair(float *acc, const float *a, const float *b, int n, int is_max) {
    if (is_max) {
#pragma omp simd
        for (int q = 0; q < n; q++) acc[q] = b[q] > a[q] ? b[q] : a[q];
    } else {
#pragma omp simd
        for (int q = 0; q < n; q++) acc[q] = a[q] + b[q];
    }
}

/* Windows that never touch the padding (valid pooling): reduce the kh input
 * rows with whole-row vector operations first, then the kw columns; for few
 * channels (LeNet's 6) this beats a channel-vector loop per window. */
static int pool_rows_first(const pci_pool_shape *s) {
    return s->pad_t == 0 && s->pad_l == 0 && (long)(s->oh - 1) * s->sh + s->kh <= s->h &&
           (long)(s->ow - 1) * s->sw + s->kw <= s->w && (size_t)s->w * s->c <= 4096;
}

/* Few channels (LeNet's 6): reduce the kw columns of a row with whole-row
 * vector operations too, t[q] = op_j acc[q + j c], then pick each output pixel's
 * c values at q = ow sw c (short per-pixel loops would cost more). */
static inline __attribute__((always_inline)) void pool_columns_few(const float *acc, float *out, const pci_pool_shape *s, int is_max,
                                                        float inv) {
    const int c = s->c;
    const int span = ((s->ow - 1) * s->sw + 1) * c, kw = s->kw;
    float t[4096 + 8]; /* span <= w c <= 4096, + 8 for the vector reads below */
    if (kw >= 2) pool_pair(t, acc, acc + c, span, is_max); /* the first two columns in one pass */
    else memcpy(t, acc, sizeof(float) * span);
    memset(t + span, 0, sizeof(float) * 8); /* read by the last vectors below, never kept */
    for (int j = 2; j < kw; j++) {
        const float *col = acc + (size_t)j * c; /* q + j c < w c: the windows fit (pool_rows_first) */
        pool_combine(t, col, span, is_max);
    }
    int ow = 0;
    if (c <= 8)
        /* 8 floats per pixel, one vector: the lanes past its c channels land on
         * the following pixels' channels, which their own stores rewrite, and
         * never past this row's output; the last pixels are exact. Reads stay
         * inside t (span + 8 floats, the last 8 zeroed; lanes past span are never kept). */
        for (; (long)ow * c + 8 <= (long)s->ow * c; ow++) {
            const float *win = t + (size_t)ow * s->sw * c;
            float *o = out + (size_t)ow * c;
#pragma omp simd
            for (int k = 0; k < 8; k++) o[k] = is_max ? win[k] : win[k] * inv;
        }
    for (; ow < s->ow; ow++) {
        const float *win = t + (size_t)ow * s->sw * c;
        float *o = out + (size_t)ow * c;
        for (int k = 0; k < c; k++) o[k] = is_max ? win[k] : win[k] * inv;
    }
}

static inline __attribute__((always_inline)) void pool_row_rows_first(const float *x, float *out,
                                                                      const pci_pool_shape *s, int is_max, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh), wc = s->w * s->c, c = s->c;
    float acc[4096];
    const float *in = x + ((size_t)n * s->h + (size_t)oh * s->sh) * wc;
    if (s->kh >= 2) pool_pair(acc, in, in + wc, wc, is_max); /* the first two rows in one pass */
    else memcpy(acc, in, sizeof(float) * wc);
    for (int i = 2; i < s->kh; i++) {
        const float *row = in + (size_t)i * wc;
        pool_combine(acc, row, wc, is_max);
    }
    const float inv = 1.0f / (float)(s->kh * s->kw);
    if (c >= 32) { /* then the kw columns, a channel vector per output pixel */
        for (int ow = 0; ow < s->ow; ow++) {
            const float *win = acc + (size_t)ow * s->sw * c;
            float *o = out + (size_t)ow * c;
            memcpy(o, win, sizeof(float) * c);
            for (int j = 1; j < s->kw; j++) {
                const float *col = win + (size_t)j * c;
                pool_combine(o, col, c, is_max);
            }
            if (!is_max)
#pragma omp simd
                for (int k = 0; k < c; k++) o[k] *= inv;
        }
        return;
    }
    pool_columns_few(acc, out, s, is_max, inv);
}

/* One output row of any pooling (padding included): each window's cells in order. */
static inline __attribute__((always_inline)) void pool_row_windows(const float *x, float *y, const pci_pool_shape *s,
                                                                    int is_max, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const int h0 = PCI_MAX(oh * s->sh - s->pad_t, 0);
    const int h1 = PCI_MIN(oh * s->sh - s->pad_t + s->kh, s->h);
    for (int ow = 0; ow < s->ow; ow++) {
        const int w0 = PCI_MAX(ow * s->sw - s->pad_l, 0);
        const int w1 = PCI_MIN(ow * s->sw - s->pad_l + s->kw, s->w);
        float *out = y + ((size_t)r * s->ow + ow) * s->c;
        const float init = is_max ? -INFINITY : 0.0f;
        for (int c = 0; c < s->c; c++) out[c] = init;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                const float *in = x + (((size_t)n * s->h + ih) * s->w + iw) * s->c;
                pool_combine(out, in, s->c, is_max);
            }
        if (!is_max) {
            const int cells = (h1 - h0) * (w1 - w0);
            const float inv = cells > 0 ? 1.0f / (float)cells : 0.0f;
#pragma omp simd
            for (int c = 0; c < s->c; c++) out[c] *= inv;
        }
    }
}

/* Image i of a global pooling: (hw, c) -> c, the row accumulator in memory. */
static inline __attribute__((always_inline)) void global_pool_image(const float *x, float *y, int hw, int c,
                                                                     int is_max, long i) {
    float *out = y + (size_t)i * c;
    const float *in = x + (size_t)i * hw * c;
    for (int k = 0; k < c; k++) out[k] = is_max ? -INFINITY : 0.0f;
    for (int p = 0; p < hw; p++) pool_combine(out, in + (size_t)p * c, c, is_max);
    if (!is_max) {
        const float inv = 1.0f / (float)hw;
#pragma omp simd
        for (int k = 0; k < c; k++) out[k] *= inv;
    }
}

/* Few channels (<= GLOBAL_FEW): with the row accumulator in memory every pixel
 * waits on the previous pixel's store (EfficientNet's 112x112x32 squeeze took
 * 3x the time), so blocks of GLOBAL_CB channels accumulate in registers, and
 * an item is one image's block: batch 1 still splits over threads. Each
 * channel is reduced over the pixels in order by one thread either way:
 * results do not depend on the thread count. */
#define GLOBAL_CB 32
#define GLOBAL_FEW 64

static inline __attribute__((always_inline)) void global_pool_item(const float *x, float *y, int hw, int c,
                                                                    int is_max, long item) {
    if (c > GLOBAL_FEW) {
        global_pool_image(x, y, hw, c, is_max, item);
        return;
    }
    const int nb = (c + GLOBAL_CB - 1) / GLOBAL_CB;
    const long i = item / nb;
    const int k0 = (int)(item % nb) * GLOBAL_CB, kn = PCI_MIN(GLOBAL_CB, c - k0);
    const float *in = x + (size_t)i * hw * c + k0;
    float acc[GLOBAL_CB];
    for (int k = 0; k < GLOBAL_CB; k++) acc[k] = is_max ? -INFINITY : 0.0f;
    if (kn == GLOBAL_CB) {
        for (int p = 0; p < hw; p++) pool_combine(acc, in + (size_t)p * c, GLOBAL_CB, is_max);
    } else {
        for (int p = 0; p < hw; p++) pool_combine(acc, in + (size_t)p * c, kn, is_max);
    }
    float *out = y + (size_t)i * c + k0;
    const float inv = 1.0f / (float)hw;
    for (int k = 0; k < kn; k++) out[k] = is_max ? acc[k] : acc[k] * inv;
}

/* The bodies above compiled once per instruction set (the `omp simd` loops
 * become AVX2 / AVX-512 vectors there; the portable build's baseline is SSE2),
 * chosen at run time by ctx.isa. Each works on one output row (image). */
typedef struct {
    void (*rows_first)(const float *x, float *out, const pci_pool_shape *s, int is_max, long r);
    void (*windows)(const float *x, float *y, const pci_pool_shape *s, int is_max, long r);
    void (*global)(const float *x, float *y, int hw, int c, int is_max, long item);
} pool_kernels;

#define PCI_POOL_VARIANT(SUFFIX, TARGET)                                                                   \
    TARGET static void rows_first_##SUFFIX(const float *x, float *out, const pci_pool_shape *s, int is_max, \
                                           long r) {                                                      \
        pool_row_rows_first(x, out, s, is_max, r);                                                        \
    }                                                                                                     \
    TARGET static void windows_##SUFFIX(const float *x, float *y, const pci_pool_shape *s, int is_max,     \
                                        long r) {                                                         \
        pool_row_windows(x, y, s, is_max, r);                                                             \
    }                                                                                                     \
    TARGET static void global_##SUFFIX(const float *x, float *y, int hw, int c, int is_max, long item) {   \
        global_pool_item(x, y, hw, c, is_max, item);                                                      \
    }                                                                                                     \
    static const pool_kernels pool_##SUFFIX = {rows_first_##SUFFIX, windows_##SUFFIX, global_##SUFFIX};
PCI_POOL_VARIANT(generic, )
#ifdef PCI_X86
PCI_POOL_VARIANT(avx2, __attribute__((target("avx2,fma"))))
PCI_POOL_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

static const pool_kernels *pool_kernels_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return &pool_avx512;
    case PCI_ISA_AVX2: return &pool_avx2;
#endif
    default: return &pool_generic;
    }
}

static void pool2d(const float *x, float *y, const pci_pool_shape *s, int is_max, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    const pool_kernels *pk = pool_kernels_for(ctx.isa);
    const int nt = pci_threads_for(ctx, PCI_POOL_COST * rows * s->ow * s->c * s->kh * s->kw);
    if (pool_rows_first(s)) {
        PCI_FOR(nt, long r = 0, r < rows, r++, { pk->rows_first(x, y + (size_t)r * s->ow * s->c, s, is_max, r); });
        return;
    }
    PCI_FOR(nt, long r = 0, r < rows, r++, { pk->windows(x, y, s, is_max, r); });
}

void pci_max_pool2d(const float *x, float *y, const pci_pool_shape *s, pci_ctx ctx) {
    pool2d(x, y, s, 1, ctx);
}

void pci_avg_pool2d(const float *x, float *y, const pci_pool_shape *s, pci_ctx ctx) {
    pool2d(x, y, s, 0, ctx);
}

/* Max pooling of uint8 (quantized) tensors: the max of the quantized cells is the
 * quantized max, since quantization is monotonic. Memory-bound, so one portable
 * loop (pmaxub / umax on every target). 0, the smallest uint8, starts each window:
 * it never wins over a real cell, and a window with none (a forged shape's) stays 0. */
static void max_pool_row_u8(const uint8_t *x, uint8_t *y, const pci_pool_shape *s, long r) {
    const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
    const int h0 = PCI_MAX(oh * s->sh - s->pad_t, 0), h1 = PCI_MIN(oh * s->sh - s->pad_t + s->kh, s->h);
    for (int ow = 0; ow < s->ow; ow++) {
        const int w0 = PCI_MAX(ow * s->sw - s->pad_l, 0), w1 = PCI_MIN(ow * s->sw - s->pad_l + s->kw, s->w);
        uint8_t *out = y + ((size_t)r * s->ow + ow) * s->c;
        memset(out, 0, (size_t)s->c);
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                const uint8_t *in = x + (((size_t)n * s->h + ih) * s->w + iw) * s->c;
#pragma omp simd
                for (int k = 0; k < s->c; k++) out[k] = in[k] > out[k] ? in[k] : out[k];
            }
    }
}

void pci_max_pool2d_u8(const uint8_t *x, uint8_t *y, const pci_pool_shape *s, pci_ctx ctx) {
    const long rows = (long)s->n * s->oh;
    const int nt = pci_threads_for(ctx, PCI_POOL_COST / 4 * rows * s->ow * s->c * s->kh * s->kw);
    PCI_FOR(nt, long r = 0, r < rows, r++, { max_pool_row_u8(x, y, s, r); });
}

void pci_global_pool(const float *x, float *y, int n, int hw, int c, int is_max, pci_ctx ctx) {
    const pool_kernels *pk = pool_kernels_for(ctx.isa);
    const int nt = pci_threads_for(ctx, PCI_POOL_COST * n * hw * c);
    const long items = c > GLOBAL_FEW ? (long)n : (long)n * ((c + GLOBAL_CB - 1) / GLOBAL_CB);
    PCI_FOR(nt, long it = 0, it < items, it++, { pk->global(x, y, hw, c, is_max, it); });
}

/* ---- the pool2d op (p: the pci_pool_shape, then is_max) and global_pool (n, hw, c, is_max) ---- */
#include "executor.h"

int pci_validate_pool2d(const pci_step *st, pci_check *chk) {
    const pci_pool_shape *s = &st->s.pool;
    if (!pci_all_positive(&s->n, 10)) return pci_check_fail(chk, "non-positive size, window or stride");
    if (s->pad_t < 0 || s->pad_l < 0) return pci_check_fail(chk, "negative padding");
    if (s->pad_t >= s->kh || s->pad_l >= s->kw) return pci_check_fail(chk, "padding as large as the window");
    if (st->s.p[12] != 0 && st->s.p[12] != 1) return pci_check_fail(chk, "mode %d is not max (1) or average (0)", st->s.p[12]);
    if (st->in_dtype != st->out_dtype) return pci_check_fail(chk, "input and output dtypes differ");
    if (st->in_dtype == PCI_TENSOR_U8 && st->s.p[12] != 1)
        return pci_check_fail(chk, "uint8 (quantized) tensors pool by max only");
    const int in_dims[4] = {s->n, s->h, s->w, s->c}, out_dims[4] = {s->n, s->oh, s->ow, s->c};
    PCI_TRY(pci_check_tensor(chk, st->in[0], pci_size_mul(4, in_dims), st->in_dtype, 0, "input"));
    return pci_check_tensor(chk, st->out, pci_size_mul(4, out_dims), st->out_dtype, 1, "output");
}

void pci_run_pool2d(const pci_step *st, pci_ctx ctx) {
    if (st->in_dtype == PCI_TENSOR_U8) pci_max_pool2d_u8((const uint8_t *)st->in[0], (uint8_t *)st->out, &st->s.pool, ctx);
    else pool2d(st->in[0], st->out, &st->s.pool, st->s.p[12], ctx);
}

const char *pci_algorithm_pool2d(const pci_step *st, int isa) {
    (void)isa; /* every ISA runs the same reduction order, in its own vectors */
    if (st->in_dtype == PCI_TENSOR_U8) return "window reduction (uint8)";
    return pool_rows_first(&st->s.pool) ? "rows-first reduction" : "window reduction";
}

int pci_validate_global_pool(const pci_step *st, pci_check *chk) {
    const int *p = st->s.p;
    if (!pci_all_positive(p, 3)) return pci_check_fail(chk, "non-positive size");
    if (p[3] != 0 && p[3] != 1) return pci_check_fail(chk, "mode %d is not max (1) or average (0)", p[3]);
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(3, p), "input"));
    const int out_dims[2] = {p[0], p[2]};
    return pci_check_out(chk, st->out, pci_size_mul(2, out_dims), "output");
}

void pci_run_global_pool(const pci_step *st, pci_ctx ctx) {
    pci_global_pool(st->in[0], st->out, st->s.p[0], st->s.p[1], st->s.p[2], st->s.p[3], ctx);
}

const char *pci_algorithm_global_pool(const pci_step *st, int isa) {
    (void)st, (void)isa;
    return "channel-vector reduction";
}
