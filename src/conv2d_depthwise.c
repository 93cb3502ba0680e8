/* Depthwise convolution (groups == c, one input channel per group), NHWC, any
 * kernel size, stride, dilation and depth multiplier dm (output channel
 * o = ci * dm + m reads input channel ci; weights dwise [kh][kw][oc]).
 *
 * Each thread takes whole output rows. Per row, the taps whose input row lies
 * inside the image are listed once; output pixels whose window stays inside the
 * image sideways run PCI_DW_PX at a time through the ISA's tile kernel (the
 * pixels' inputs are a fixed stride apart, so one pointer per tap serves them
 * all), and the few border pixels run one at a time with only their valid taps.
 * A depth multiplier above 1 first repeats each input channel dm times into a
 * per-thread copy of the row's input rows, so the kernels only ever see
 * "output channel o reads input channel o".
 *
 * Every output is bias + its valid taps in (i, j) order, computed by one
 * thread: results do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"
#include "work_share.h"

/* Weight of a depthwise MAC against the GEMM MACs pci_threads_for counts. */
#define DW_COST_PER_MAC 8.0

/* Generic C tile kernel: the same contract as the ISA ones (pci_internal.h). */
static void dw_tile_generic(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx,
                            int c, const float *bias, float *out, const float *clamp) {
    for (int p = 0; p < npx; p++) {
        float *o = out + (size_t)p * c;
        for (int q = 0; q < c; q++) o[q] = bias ? bias[q] : 0.0f;
        for (int t = 0; t < ntaps; t++) {
            const float *x = xt[t] + (size_t)p * pstep, *w = wt[t];
#pragma omp simd
            for (int q = 0; q < c; q++) o[q] += x[q] * w[q];
        }
        if (clamp) { /* locals and a simd loop: branch-free (data-dependent branches mispredict) */
            const float lo = clamp[0], hi = clamp[1];
#pragma omp simd
            for (int q = 0; q < c; q++) {
                const float v = o[q] < lo ? lo : o[q];
                o[q] = v > hi ? hi : v;
            }
        }
    }
}

pci_dw_tile_fn pci_dw_tile_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return pci_dw_tile_avx512;
    case PCI_ISA_AVX2: return pci_dw_tile_avx2;
#endif
#ifdef PCI_ARM64
    case PCI_ISA_NEON: return pci_dw_tile_neon;
#endif
    default: return dw_tile_generic;
    }
}

/* Stride-1, dilation-1 interior tiles of PCI_DW_PX pixels with a 3- or 5-wide
 * kernel (conv2d_depthwise_tile.h, DW_ROWS): xr[r] is kernel row r's input at
 * the tile's first tap column, wr[r] its kw weight vectors (c floats apart). */
typedef void (*dw_rows_fn)(int kw, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c,
                           const float *bias, float *out, const float *clamp);
#ifdef PCI_X86
void pci_dw_rows_avx2(int kw, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c,
                      const float *bias, float *out, const float *clamp);
void pci_dw_rows_avx512(int kw, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c,
                        const float *bias, float *out, const float *clamp);
#endif
#ifdef PCI_ARM64
void pci_dw_rows_neon(int kw, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c,
                      const float *bias, float *out, const float *clamp);
#endif

static dw_rows_fn dw_rows_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return pci_dw_rows_avx512;
    case PCI_ISA_AVX2: return pci_dw_rows_avx2;
#endif
#ifdef PCI_ARM64
    case PCI_ISA_NEON: return pci_dw_rows_neon;
#endif
    default: return NULL; /* the tile kernel serves every shape */
    }
}

typedef struct {
    const float *x, *w, *bias, *clamp;
    float *y;
    const pci_conv_shape *s;
    pci_dw_tile_fn tile;
    dw_rows_fn rows_fn; /* NULL: no row kernel for this shape / ISA */
    pci_act act;
    int isa; /* of the activation path */
    long rows;
    int ow_lo, ow_hi; /* output columns whose window lies inside the image sideways */
    pci_share *share; /* the rows' split over the threads (work_share.h) */
} dw_job;

/* Output columns [lo, hi) whose every tap column is inside [0, w). */
static void interior_columns(const pci_conv_shape *s, int *lo, int *hi) {
    const long span = (long)(s->kw - 1) * s->dw;
    int a = (int)(((long)s->pad_l + s->sw - 1) / s->sw);         /* ow * sw >= pad_l */
    const long last = (long)s->w - 1 - span + s->pad_l;           /* ow * sw <= last */
    const long b_long = last < 0 ? 0 : last / s->sw + 1;
    const int b = (int)PCI_MIN(b_long, (long)s->ow);
    a = PCI_MIN(a, b);
    *lo = a, *hi = b;
}

static void dw_worker(const dw_job *J) {
    const pci_conv_shape *s = J->s;
    const int oc = s->oc, dm = oc / s->c, kh = s->kh, kw = s->kw;
    const size_t ntap_max = (size_t)kh * kw;
    const size_t pc = dm == 1 ? (size_t)s->c : (size_t)oc; /* floats per input pixel the kernels read */
    /* Per thread: tap pointers (input, weights), the row's valid kernel rows, and
     * for dm > 1 the kh input rows with each channel repeated dm times. */
    const float *stack_ptrs[2 * 256 + 64];
    int stack_rows_i[64];
    const int small = ntap_max <= 256 && kh <= 64;
    const float **xt = small ? stack_ptrs : malloc(sizeof(float *) * (2 * ntap_max + (size_t)kh));
    const float **wt = xt ? xt + (small ? 256 : ntap_max) : NULL;
    const float **xrows = xt ? wt + (small ? 256 : ntap_max) : NULL;
    int *rows_i = small ? stack_rows_i : malloc(sizeof(int) * (size_t)kh);
    float *expanded = dm > 1 ? malloc(sizeof(float) * (size_t)kh * s->w * oc) : NULL;
    const int ok = xt && rows_i && (dm == 1 || expanded);
    const int tid = pci_share_thread();
    for (long lo, hi; pci_share_next(J->share, tid, &lo, &hi);)
    for (long r = lo; r < hi; r++) {
        if (!ok) continue;
        const int n = (int)(r / s->oh), oh = (int)(r % s->oh);
        float *yrow = J->y + (size_t)r * s->ow * oc;
        int nrows = 0;
        for (int i = 0; i < kh; i++) {
            const int ih = oh * s->sh + i * s->dh - s->pad_t;
            if (ih < 0 || ih >= s->h) continue;
            const float *src = J->x + ((size_t)n * s->h + ih) * s->w * s->c;
            if (dm > 1) {
                float *dst = expanded + (size_t)nrows * s->w * oc;
                for (size_t p = 0; p < (size_t)s->w * s->c; p++)
                    for (int m = 0; m < dm; m++) dst[p * dm + m] = src[p];
                src = dst;
            }
            xrows[nrows] = src;
            rows_i[nrows++] = i;
        }
        int shift_from = -1, nt = 0; /* interior tiles: the previous tile's taps, shifted */
        for (int ow = 0; ow < s->ow;) {
            const int interior = ow >= J->ow_lo && ow < J->ow_hi;
            const int npx = interior ? PCI_MIN(PCI_DW_PX, J->ow_hi - ow) : 1;
            if (interior && shift_from >= 0) {
                /* every tap of an interior pixel is valid: same taps, moved by the columns walked */
                const size_t step = (size_t)(ow - shift_from) * s->sw * pc;
                for (int t = 0; t < nt; t++) xt[t] += step;
            } else {
                nt = 0;
                for (int q = 0; q < nrows; q++)
                    for (int j = 0; j < kw; j++) {
                        const int iw = ow * s->sw + j * s->dw - s->pad_l;
                        if (iw < 0 || iw >= s->w) continue;
                        xt[nt] = xrows[q] + (size_t)iw * pc;
                        wt[nt++] = J->w + ((size_t)rows_i[q] * kw + j) * oc;
                    }
            }
            shift_from = interior ? ow : -1;
            if (J->rows_fn && interior && npx == PCI_DW_PX) {
                const float *xr[64], *wr[64];
                for (int q = 0; q < nrows; q++) {
                    xr[q] = xrows[q] + ((size_t)ow - (size_t)s->pad_l) * pc; /* interior: ow >= pad_l */
                    wr[q] = J->w + (size_t)rows_i[q] * kw * oc;
                }
                J->rows_fn(kw, nrows, xr, wr, pc, oc, J->bias, yrow + (size_t)ow * oc, J->clamp);
            } else {
                J->tile(nt, xt, wt, (size_t)s->sw * pc, npx, oc, J->bias, yrow + (size_t)ow * oc, J->clamp);
            }
            ow += npx;
        }
        if (pci_act_is_row(J->act)) pci_activation(yrow, (size_t)s->ow, (size_t)oc, J->act, (pci_ctx){1, J->isa});
        else if (!J->clamp && J->act.kind != PCI_ACT_LINEAR) pci_act_inplace(yrow, (size_t)s->ow * oc, J->act, J->isa);
    }
    if (!small) free(xt), free(rows_i);
    free(expanded);
}

void pci_conv2d_depthwise(const float *x, const float *w, const float *bias, float *y, const pci_conv_shape *s,
                          pci_act act, pci_ctx ctx) {
    float clamp[2];
    const int fused = pci_act_as_clamp(act, clamp);
    /* The row kernel: stride 1, dilation 1 sideways, 3 or 5 columns; kh <= 64 (xr / wr on the stack). */
    const int row_shape = s->sw == 1 && s->dw == 1 && (s->kw == 3 || s->kw == 5) && s->kh <= 64;
    pci_share share;
    dw_job job = {x, w, bias, fused ? clamp : NULL, y, s, pci_dw_tile_for(ctx.isa),
                  row_shape ? dw_rows_for(ctx.isa) : NULL, act, ctx.isa, (long)s->n * s->oh, 0, 0, &share};
    interior_columns(s, &job.ow_lo, &job.ow_hi);
    /* A depthwise multiply-add costs several times a GEMM one (each input value
     * feeds kh*kw outputs at most, so loads and stores bound it): MobileNetV2's
     * 28x28x192 layer (1.4 M MACs) takes ~50 us on one thread, far above the
     * cost of a parallel region, yet sits below the GEMM threshold. */
    const double work = (double)job.rows * s->ow * s->oc * s->kh * s->kw * DW_COST_PER_MAC;
    const int nt = pci_share_init(&share, job.rows, pci_threads_for(ctx, work));
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        dw_worker(&job);
    } else {
        dw_worker(&job);
    }
}
