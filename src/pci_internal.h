/* Internal declarations shared by the kernel files (not part of the C API). */
#ifndef PCI_INTERNAL_H
#define PCI_INTERNAL_H

#include "pci_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work below this many multiply-adds runs on the calling thread: a parallel
 * region costs ~3 us with libgomp, more than a LeNet-sized layer takes. */
#define PCI_PARALLEL_MIN_WORK 2000000.0

#define PCI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PCI_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Threads to use for `work` multiply-adds (or element operations). */
static inline int pci_threads_for(pci_ctx ctx, double work) {
    return (ctx.num_threads > 1 && work >= PCI_PARALLEL_MIN_WORK) ? ctx.num_threads : 1;
}

/* `#pragma omp parallel for schedule(static)` that skips OpenMP entirely on one
 * thread: even a serialized region costs ~0.4 us, a tenth of a LeNet layer.
 * The body must not contain pragmas (put such loops in a function). */
#define PCI_FOR(nt, decl, cond, inc, ...)                                   \
    do {                                                                   \
        if ((nt) > 1) {                                                    \
            _Pragma("omp parallel for schedule(static) num_threads(nt)")   \
            for (decl; cond; inc) __VA_ARGS__                              \
        } else {                                                           \
            for (decl; cond; inc) __VA_ARGS__                              \
        }                                                                  \
    } while (0)

/* A read-only block of zeros that padded taps point at (indirect GEMM). */
#define PCI_ZEROS_LEN 65536
extern const float pci_zeros[PCI_ZEROS_LEN];

/* GEMM micro-kernel over an indirection buffer:
 *   c[m, 0:nc] (+)= bias + sum_t sum_k a[t*mr_max + m][k] * w[t*kc*16 + k*16 + panel*panel_stride]
 * for m < mr (rows >= mr are computed from whatever a[] holds but not stored).
 * `a` holds mr_max pointers per tap; `w` is panel16 data for ks taps, panels
 * panel_stride floats apart. accumulate != 0: start from c instead of bias.
 * clamp (NULL: none) = {lo, hi}: results are clamped to [lo, hi] before the
 * store, which fuses relu / relu6 into the kernel (XNNPACK's "minmax"). */
typedef void (*pci_ukernel_fn)(int ks, int kc, const float *const *a, const float *w,
                               size_t panel_stride, float *c, size_t ldc, int mr, int nc,
                               const float *bias, int accumulate, const float *clamp);

#define PCI_MAX_MR 8 /* rows per call of any fn[] kernel (not the narrow one) */
typedef struct {
    int mr;                 /* rows (output pixels) per call */
    int max_panels;         /* largest panel count with a kernel: 1, 2 or 4 */
    pci_ukernel_fn fn[5];   /* fn[p]: kernel for p panels (NULL where absent) */
    /* Layers with one panel (<= 16 output channels) keep few accumulators busy
     * with mr rows; a taller kernel (NULL: none) hides the FMA latency. */
    int narrow_mr;
    pci_ukernel_fn narrow;
    /* y[0:16*panels] = x . w over k (one output row; batch-1 dense). */
    void (*gemv)(int k, const float *x, const float *w, float *y16);
    /* The same on a float16 / bfloat16 / int8 panel (dtype), each weight widened
     * in registers (int8: times scale16[lane]) and then summed in exactly the
     * order of gemv: bitwise what gemv computes on the widened panel. */
    void (*gemv_w)(int k, const float *x, const void *w, int dtype, const float *scale16, float *y16);
    /* fn_w[dtype][p]: fn[p] on a float16 / bfloat16 / int8 panel16 kernel w
     * (panel_stride in elements; int8: panel j's channels scale by
     * scale[16 j ..]), widened in registers: bitwise fn[p] on the widened
     * weights. NULL where absent (callers then widen into a buffer). */
    void (*fn_w[PCI_DTYPE_COUNT][5])(int ks, int kc, const float *const *a, const void *w, const float *scale,
                                     size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *bias,
                                     int accumulate, const float *clamp);
    /* tail[p][r]: fn[p] computing only rows 0..r-1 (r < mr: a layer's last, partial
     * pixel tile), bitwise what fn[p] stores for them; NULL where absent. */
    pci_ukernel_fn tail[5][PCI_MAX_MR];
    /* Largest panel count fn[] serves (0: max_panels). Kernels above max_panels
     * run their panels in turn on the same rows: they stream each panel's weights
     * once per panel, not once per call, so they only suit weights that stay in
     * cache (the direct convolution's pixel-major order); their use is to spare
     * the driver's per-call bookkeeping. */
    int call_panels;
} pci_gemm_kernels;

/* Panels per call where the weights stay cached (see call_panels). */
static inline int pci_call_panels(const pci_gemm_kernels *uk) {
    return uk->call_panels > uk->max_panels ? uk->call_panels : uk->max_panels;
}

/* The float32 micro-kernel for a tile of `rows` output rows and `panels` panels. */
static inline pci_ukernel_fn pci_ukernel_for(const pci_gemm_kernels *uk, int panels, int rows) {
    return rows < uk->mr && uk->tail[panels][rows] ? uk->tail[panels][rows] : uk->fn[panels];
}

/* dst[i] = weight (off + i) widened to float32, i < n (weights.c). An int8
 * weight i is multiplied by scale[i % lanes] (a float32 product): callers
 * start `off` at a channel-group boundary (lanes 16: a panel; lanes oc: a
 * depthwise row). isa picks the vector path (bitwise the same results). */
void pci_widen(const pci_weights *w, size_t off, size_t n, const float *scale, int lanes, float *dst, int isa);
/* Widens `npanels` consecutive panel16 panels of `panel_floats` weights each,
 * the first at element `off` (int8: panel j reads scale + 16 * (scale_panel + j)). */
void pci_widen_panels(const pci_weights *w, size_t off, size_t npanels, size_t panel_floats, size_t scale_panel,
                      float *dst, int isa);
/* Writes NaN to n floats: the output of a kernel that could not get its
 * working memory (an allocation failed) is never stale data that looks valid. */
void pci_fill_nan(float *y, size_t n);

const pci_gemm_kernels *pci_gemm_kernels_for(int isa);

/* Direct convolution with 16 output pixels per vector, for cin <= 4 and
 * cout <= 16, one group (panel16 weights); AVX-512 only. */
void pci_conv2d_thin_avx512(const float *x, const float *w, const float *bias, float *y,
                            const pci_conv_shape *s, pci_act act, pci_ctx ctx);
/* The same with 8 output pixels per ymm vector, for cin <= 4, cout <= 8 and
 * kw <= 16, one group (panel16 weights); AVX2 + FMA only. */
void pci_conv2d_thin_avx2(const float *x, const float *w, const float *bias, float *y,
                          const pci_conv_shape *s, pci_act act, pci_ctx ctx);
/* Depthwise convolution (conv2d_depthwise.c) and its per-ISA tile kernels:
 *   out[p * c + q] = clamp(bias[q] + sum_t xt[t][p * pstep + q] * wt[t][q])
 * for pixels p < npx and channels q < c, taps in order (bias NULL: 0; clamp
 * NULL: none). npx == PCI_DW_PX runs register-blocked over the pixels. */
#define PCI_DW_PX 4
typedef void (*pci_dw_tile_fn)(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx,
                               int c, const float *bias, float *out, const float *clamp);
pci_dw_tile_fn pci_dw_tile_for(int isa);
void pci_conv2d_depthwise(const float *x, const float *w, const float *bias, float *y, const pci_conv_shape *s,
                          pci_act act, pci_ctx ctx);
extern const pci_gemm_kernels pci_gemm_generic;
#if defined(__x86_64__) || defined(_M_X64)
#define PCI_X86 1
extern const pci_gemm_kernels pci_gemm_avx2;
extern const pci_gemm_kernels pci_gemm_avx512;
void pci_dw_tile_avx2(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx, int c,
                      const float *bias, float *out, const float *clamp);
void pci_dw_tile_avx512(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx, int c,
                        const float *bias, float *out, const float *clamp);
#endif
#if defined(__aarch64__)
#define PCI_ARM64 1
extern const pci_gemm_kernels pci_gemm_neon;
void pci_dw_tile_neon(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx, int c,
                      const float *bias, float *out, const float *clamp);
#endif

/* ---- conv2d computing in int8 (conv2d_q8.c) ---- */
#ifndef PCI_Q8_MR_MAX
#define PCI_Q8_MR_MAX 6    /* output pixels per micro-kernel call (the NEON kernel runs them 3 at a time) */
#endif
#ifndef PCI_Q8_PANELS
#define PCI_Q8_PANELS 4    /* 16-channel panels per micro-kernel call, at most */
#endif
#define PCI_Q8_MAX_TAPS 64 /* kh * kw: the indirection buffer lives on the stack */
#define PCI_Q8_MAX_K 32768 /* kh * kw * cin: int32 sums with room for the compensation */
/* Output pixels per work item (the driver's tile): PCI_Q8_MR_MAX-row micro-kernel calls in turn,
 * so one indirection fill and one item's bookkeeping serve them all (small-K layers pay per item). */
#define PCI_Q8_TILE (4 * PCI_Q8_MR_MAX)
/* c[m, 0:nc] = clamp(float(sum_t sum_k (a[t * astride + m][k] - input_offset) * w[t*kc*16 + k*16 + panel * panel_stride]
 * - comp) * cs + bias) for m < mr <= PCI_Q8_MR_MAX, nc <= 16 * panels (comp, bias, clamp: NULL for none). */
typedef void (*pci_q8_ukernel_fn)(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                                  size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *cs,
                                  const float *bias, const int32_t *comp, const float *clamp);
/* The same, storing q[m * ldq + o] = the uint8 quantization of that value with inv and zp
 * (bitwise the kernels' own quantize); clamp or linear only (no other activation). */
typedef void (*pci_q8_ukernel_u8_fn)(int ntaps, int kc, const uint8_t *const *a, int astride, const int8_t *w,
                                     size_t panel_stride, uint8_t *q, size_t ldq, int mr, int nc, const float *cs,
                                     const float *bias, const int32_t *comp, const float *clamp, float inv, int zp);
typedef struct {
    pci_q8_ukernel_fn ukernel[4]; /* [panels - 1], panels <= PCI_Q8_PANELS */
    /* the same storing with non-temporal stores where aligned (large outputs; the caller fences) */
    pci_q8_ukernel_fn ukernel_stream[4];
    /* uint8 outputs (NULL: the driver stores floats in a tile and quantizes them) */
    pci_q8_ukernel_u8_fn ukernel_u8[4];
    /* lo, hi over x[0..n) (NaN if any is NaN); q[i] = clamp(nearbyint(clamp(x[i] * inv, +-256)) + zp, 0, 255) */
    void (*minmax)(const float *x, size_t n, float *lo, float *hi);
    void (*quantize)(const float *x, size_t n, float inv, int zp, uint8_t *q);
    /* the micro-kernels sum (q - input_offset) * w (signed dot products: 128); the caller's
     * comp = (zp - input_offset) * sum(w) per channel (NULL when 0) makes it sum (q - zp) * w */
    int input_offset;
    /* The batch-1 dense layer (dense_q8.c), 16 channels of one panel16 panel ([k][16]):
     * dot[j] = sum_k xq[k] * w[k][j] and, when wsum is not NULL, wsum[j] = sum_k w[k][j]
     * (exact int32 sums: every implementation agrees bitwise). */
    void (*gemv)(int k, const uint8_t *xq, const int8_t *w, int32_t *dot, int32_t *wsum);
    /* what `bench --per-layer` names: the convolution with float32 / uint8 in / uint8 out / both, and the gemv */
    const char *names[5];
} pci_q8_kernels;
/* pci_q8_kernels.names of a kernel set: its convolution kernels' and its gemv's implementation */
#define PCI_Q8_NAMES(conv, gemv)                                                                                   \
    {"int8 indirect GEMM (" conv ")", "int8 indirect GEMM (" conv "), uint8 in",                                   \
     "int8 indirect GEMM (" conv "), uint8 out", "int8 indirect GEMM (" conv "), uint8 in and out",                \
     "int8 GEMV (" gemv ")"}
/* The portable gemv above (the generic and NEON kernel sets). */
void pci_q8_gemv_generic(int k, const uint8_t *xq, const int8_t *w, int32_t *dot, int32_t *wsum);
/* The int8 kernel set of an ISA (the portable one where it has no int8 dot products). */
const pci_q8_kernels *pci_q8_kernels_for(int isa);
/* The batch-1 dense layer in int8 (dense_q8.c): shape rule (m == 1, k <= PCI_Q8_MAX_K),
 * scratch (the quantized input row) and the layer; float32 where the input has inf / NaN. */
int pci_dense_q8_supported(int m, int k);
size_t pci_dense_q8_scratch_floats(int k);
void pci_dense_q8(const float *x, const pci_weights *w, const float *bias, float *y, int k, int n, pci_act act,
                  void *scratch, size_t scratch_floats, pci_ctx ctx);
#ifdef PCI_X86
extern const pci_q8_kernels pci_q8_avx512vnni;
extern const pci_q8_kernels pci_q8_avxvnni; /* the avx2 path on CPUs with AVX-VNNI */
#endif
#ifdef PCI_ARM64
extern const pci_q8_kernels pci_q8_neon_dot;
#endif
/* 1 when the int8 path's shape rules hold (one group, cin % 4 == 0, <= 64 taps, K <= 32768). */
int pci_conv2d_q8_supported(const pci_conv_shape *s);
/* Scratch the int8 path needs, in floats (SIZE_MAX on overflow). */
size_t pci_conv2d_q8_scratch_floats(const pci_conv_shape *s);
/* The per-tensor quantization of a range [lo, hi] (widened to hold 0; 255 steps):
 * x ~ scale * (q - zp). 0, or -1 when it has none (NaN, or a step that is not a
 * normal float32): the caller then computes in float32. */
int pci_q8_params(const float range[2], float *scale, float *inv, int *zp);
/* The quantizer the int8 convolution uses on `isa` (all of them agree bitwise):
 * q[i] = the uint8 quantization of x[i], inv = 1 / scale and zp from pci_q8_params. */
typedef void (*pci_q8_quantize_fn)(const float *x, size_t n, float inv, int zp, uint8_t *q);
pci_q8_quantize_fn pci_q8_quantizer(int isa);
/* Quantizes rows x nc floats of a tile (row stride ldt) into y (row stride ldy): the
 * uint8 epilogue of the drivers that store floats first; one call where both are contiguous. */
static inline void pci_q8_quantize_tile(pci_q8_quantize_fn quantize, const float *tile, size_t ldt, int rows, int nc,
                                        float inv, int zp, uint8_t *y, size_t ldy) {
    if ((size_t)nc == ldt && (size_t)nc == ldy) {
        quantize(tile, (size_t)rows * (size_t)nc, inv, zp, y);
        return;
    }
    for (int m = 0; m < rows; m++) quantize(tile + (size_t)m * ldt, (size_t)nc, inv, zp, y + (size_t)m * ldy);
}
/* A uint8 output: the tensor the next (int8) layer reads, quantized as it would itself. */
typedef struct {
    uint8_t *y;
    float inv;
    int zp;
} pci_q8_out;
/* pci_conv2d_w (float32 compute) writing a uint8 output: the GEMM path, whose
 * micro-kernels store each item in a small float tile that is then quantized
 * (one group; no row activation: the validator checks). */
void pci_conv2d_w_u8out(const float *x, const pci_weights *w, const float *bias, const pci_q8_out *yq,
                        const pci_conv_shape *s, pci_act act, pci_ctx ctx);
/* Where the int8 convolution reads and writes. x: float32, or (x_u8) uint8 already
 * quantized over x_range by the layer before; x_range NULL: x's own min and max,
 * measured per call (float32 x only). y: float32, or uint8 quantized over y_range
 * when that is given (the next layer's calibrated range: the quantization it would
 * apply itself, so results are bitwise the same as through a float32 tensor).
 * uint8 ends need ranges with pci_q8_params. */
typedef struct {
    const void *x;
    const float *x_range;
    int x_u8;
    void *y;
    const float *y_range;
} pci_q8_io;
void pci_conv2d_q8_io(const pci_q8_io *io, const pci_weights *w, const float *bias, const pci_conv_shape *s,
                      pci_act act, void *scratch, size_t scratch_floats, pci_ctx ctx);
/* y = conv(x) with an int8 panel16 kernel w, float32 in and out, the input quantized
 * to uint8 over range[0..1] (NULL: its own min and max, measured per call). */
void pci_conv2d_q8(const float *x, const pci_weights *w, const float *bias, float *y, const pci_conv_shape *s,
                   pci_act act, const float *range, void *scratch, size_t scratch_floats, pci_ctx ctx);
/* Max pooling of a uint8 tensor (quantized: the max commutes with the monotonic quantization). */
void pci_max_pool2d_u8(const uint8_t *x, uint8_t *y, const pci_pool_shape *s, pci_ctx ctx);

/* relu / relu6 / capped relu fuse into the GEMM store as a clamp; returns 1 and
 * fills clamp[2] when `act` is one of them (or linear with no clamp needed: 0). */
static inline int pci_act_as_clamp(pci_act act, float clamp[2]) {
    if (act.kind == PCI_ACT_RELU && act.p1 == 0.0f && act.p2 == 0.0f) {
        clamp[0] = 0.0f;
        clamp[1] = act.p0; /* INFINITY when uncapped */
        return 1;
    }
    return 0;
}

/* Applies an element-wise activation to n contiguous floats with the
 * vectorized path for `isa` (row kinds such as softmax: no-op, see
 * pci_act_is_row; the caller applies them to whole rows). */
void pci_act_inplace(float *x, size_t n, pci_act act, int isa);
/* The same on `rows` rows of n floats, ld floats apart (a GEMM block's outputs), in one call. */
void pci_act_inplace_rows(float *x, size_t rows, size_t n, size_t ld, pci_act act, int isa);
/* Kinds over a whole last-axis row (softmax, log_softmax, sparsemax): never per block. */
static inline int pci_act_is_row(pci_act act) { return pci_act_shape(act.kind) == PCI_ACT_ROW; }
/* One thread, generic path: what the readable references use. */
#define PCI_CTX_REF ((pci_ctx){1, PCI_ISA_GENERIC})
/* Softmax over each row of `cols` floats. */
void pci_softmax_rows(float *x, size_t rows, size_t cols);


#endif
