/* AVX-512 GEMM micro-kernels: 6 output pixels x (16, 32 or 64) output channels.
 * 6 x 4 zmm accumulators = 24 registers; per k: 4 weight loads, 6 broadcasts,
 * 24 FMAs. Compiled for any x86-64 target and only called when the CPU has
 * AVX-512F (runtime dispatch in dispatch.c). */
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define MR 6
#define TARGET __attribute__((target("avx512f,avx2,fma")))

/* 16 weights at element e of a panel in dtype DT, as float32: float32 a load;
 * float16 vcvtph2ps; bfloat16 vpmovzxwd + vpslld 16; int8 vpmovsxbd +
 * vcvtdq2ps and one multiply by the panel's channel scales s. */
TARGET static inline __attribute__((always_inline)) __m512 wload(const int DT, const void *w, size_t e, __m512 s) {
    if (DT == PCI_DTYPE_F32) return _mm512_loadu_ps((const float *)w + e);
    if (DT == PCI_DTYPE_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + e)));
    if (DT == PCI_DTYPE_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + e))), 16));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)w + e)))), s);
}

/* The 6 x (16 P) accumulators are named variables, not an array: GCC keeps an array
 * of 24 vectors in memory (too large to split into registers), so each call stored
 * and reloaded all of them twice around the main loop, 40% of a K = 16 call's time
 * (MobileNetV2's 1x1 layers; AMD EPYC Zen 4, perf annotate). P (1, 2 or 4) and R (rows
 * computed: 6, or fewer in a tail kernel) are compile-time constants: the unused
 * panels' and rows' code folds away. */
#define PCI_ACC_ROW(m) __m512 c##m##0 = z, c##m##1 = z, c##m##2 = z, c##m##3 = z;
#define PCI_INIT_ROW(m)                                                                                    \
    if ((m) >= R) { /* a tail kernel's rows past R: never used */                                       \
    } else if (accumulate) {                                                                               \
        if ((m) < mr) {                                                                                    \
            c##m##0 = _mm512_maskz_loadu_ps(k0, c + (m) * ldc);                                            \
            if (P > 1) c##m##1 = _mm512_maskz_loadu_ps(k1, c + (m) * ldc + 16);                            \
            if (P > 2) c##m##2 = _mm512_maskz_loadu_ps(k2, c + (m) * ldc + 32);                            \
            if (P > 3) c##m##3 = _mm512_maskz_loadu_ps(k3, c + (m) * ldc + 48);                            \
        }                                                                                                  \
    } else {                                                                                               \
        c##m##0 = b0, c##m##1 = b1, c##m##2 = b2, c##m##3 = b3;                                            \
    }
#define PCI_FMA_ROW(m)                                                                                     \
    if ((m) < R) {                                                                                         \
        const __m512 v = _mm512_set1_ps(a##m[k]);                                                          \
        c##m##0 = _mm512_fmadd_ps(v, w0, c##m##0);                                                         \
        if (P > 1) c##m##1 = _mm512_fmadd_ps(v, w1, c##m##1);                                              \
        if (P > 2) c##m##2 = _mm512_fmadd_ps(v, w2, c##m##2);                                              \
        if (P > 3) c##m##3 = _mm512_fmadd_ps(v, w3, c##m##3);                                              \
    }
#define PCI_CLAMP(x) x = _mm512_min_ps(_mm512_max_ps(x, lo), hi)
#define PCI_CLAMP_ROW(m)                                                                                   \
    if ((m) < R) {                                                                                         \
        PCI_CLAMP(c##m##0);                                                                                \
        if (P > 1) PCI_CLAMP(c##m##1);                                                                     \
        if (P > 2) PCI_CLAMP(c##m##2);                                                                     \
        if (P > 3) PCI_CLAMP(c##m##3);                                                                     \
    }
#define PCI_STORE_ROW(m)                                                                                   \
    if ((m) < R && (m) < mr) {                                                                             \
        if (full) {                                                                                        \
            _mm512_storeu_ps(c + (m) * ldc, c##m##0);                                                      \
            if (P > 1) _mm512_storeu_ps(c + (m) * ldc + 16, c##m##1);                                      \
            if (P > 2) _mm512_storeu_ps(c + (m) * ldc + 32, c##m##2);                                      \
            if (P > 3) _mm512_storeu_ps(c + (m) * ldc + 48, c##m##3);                                      \
        } else {                                                                                           \
            _mm512_mask_storeu_ps(c + (m) * ldc, k0, c##m##0);                                             \
            if (P > 1) _mm512_mask_storeu_ps(c + (m) * ldc + 16, k1, c##m##1);                             \
            if (P > 2) _mm512_mask_storeu_ps(c + (m) * ldc + 32, k2, c##m##2);                             \
            if (P > 3) _mm512_mask_storeu_ps(c + (m) * ldc + 48, k3, c##m##3);                             \
        }                                                                                                  \
    }
#define PCI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* Lanes of panel p kept of nc channels: all, some, or none (masked loads and stores of
 * none touch no memory). */
static inline __mmask16 panel_mask(int nc, int p) {
    const int left = nc - 16 * p;
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

/* DT: the weights' dtype (a compile-time constant at every call): float32
 * compiles to exactly the loads it always had; the others widen each weight
 * vector in registers right after its load (one conversion per 6 rows of FMAs). */
TARGET static inline __attribute__((always_inline)) void ukernel_avx512_body(
    const int DT, const int P, const int R, int ks, int kc, const float *const *a, const void *w, const float *scale,
    size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *bias, int accumulate, const float *clamp) {
    const __m512 z = _mm512_setzero_ps();
    __m512 sc[4];
    for (int p = 0; p < P; p++) sc[p] = DT == PCI_DTYPE_I8 ? _mm512_loadu_ps(scale + 16 * p) : z;
    const __mmask16 k0 = panel_mask(nc, 0), k1 = panel_mask(nc, 1), k2 = panel_mask(nc, 2), k3 = panel_mask(nc, 3);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : z;
    const __m512 b1 = bias && P > 1 ? _mm512_maskz_loadu_ps(k1, bias + 16) : z;
    const __m512 b2 = bias && P > 2 ? _mm512_maskz_loadu_ps(k2, bias + 32) : z;
    const __m512 b3 = bias && P > 3 ? _mm512_maskz_loadu_ps(k3, bias + 48) : z;
    PCI_ROWS(PCI_ACC_ROW)
    PCI_ROWS(PCI_INIT_ROW)
    for (int t = 0; t < ks; t++) {
        /* rows >= R: not read (a tail kernel's pointers past its rows may be anything) */
        const float *a0 = a[t * MR + 0], *a1 = R > 1 ? a[t * MR + 1] : a0, *a2 = R > 2 ? a[t * MR + 2] : a0;
        const float *a3 = R > 3 ? a[t * MR + 3] : a0, *a4 = R > 4 ? a[t * MR + 4] : a0;
        const float *a5 = R > 5 ? a[t * MR + 5] : a0;
        const size_t wt = (size_t)t * kc * 16;
        for (int k = 0; k < kc; k++) {
            const size_t e = wt + (size_t)k * 16;
            const __m512 w0 = wload(DT, w, e, sc[0]);
            const __m512 w1 = P > 1 ? wload(DT, w, e + panel_stride, sc[1]) : z;
            const __m512 w2 = P > 2 ? wload(DT, w, e + 2 * panel_stride, sc[2]) : z;
            const __m512 w3 = P > 3 ? wload(DT, w, e + 3 * panel_stride, sc[3]) : z;
            PCI_ROWS(PCI_FMA_ROW)
        }
    }
    if (clamp) {
        const __m512 lo = _mm512_set1_ps(clamp[0]), hi = _mm512_set1_ps(clamp[1]);
        PCI_ROWS(PCI_CLAMP_ROW)
    }
    /* every panel whole: plain stores, 1.7% faster than all-ones masked ones on the
     * 1x1 layers of MobileNetV2 with K = 16, 24 (alternating processes, AMD EPYC Zen 4) */
    const int full = nc >= 16 * P;
    PCI_ROWS(PCI_STORE_ROW)
}
#undef PCI_ACC_ROW
#undef PCI_INIT_ROW
#undef PCI_FMA_ROW
#undef PCI_CLAMP
#undef PCI_CLAMP_ROW
#undef PCI_STORE_ROW
#undef PCI_ROWS

#define PCI_DEFINE_KERNEL(P)                                                                    \
    TARGET static void ukernel_avx512_6x##P(int ks, int kc, const float *const *a,             \
                                            const float *w, size_t ps, float *c, size_t ldc,   \
                                            int mr, int nc, const float *bias, int accumulate,  \
                                            const float *clamp) {                              \
        ukernel_avx512_body(PCI_DTYPE_F32, P, MR, ks, kc, a, w, NULL, ps, c, ldc, mr, nc, bias, accumulate, clamp); \
    }
PCI_DEFINE_KERNEL(1)
PCI_DEFINE_KERNEL(2)
PCI_DEFINE_KERNEL(4)
#undef PCI_DEFINE_KERNEL

/* The last pixel tile of a layer often has fewer than 6 rows: a 7x7 layer (49
 * pixels, MobileNetV2's and EfficientNet's last stages) ends with a 1-row tile, on
 * which the full kernel would spend 6 rows of FMAs (9% of the layer). These compute
 * R rows only, each row in exactly the full kernel's order. */
#define PCI_DEFINE_TAIL(P, R)                                                                        \
    TARGET static void ukernel_avx512_##R##x##P(int ks, int kc, const float *const *a, const float *w, \
                                               size_t ps, float *c, size_t ldc, int mr, int nc,        \
                                               const float *bias, int accumulate, const float *clamp) { \
        ukernel_avx512_body(PCI_DTYPE_F32, P, R, ks, kc, a, w, NULL, ps, c, ldc, mr, nc, bias, accumulate, clamp); \
    }
#define PCI_DEFINE_TAILS(P) PCI_DEFINE_TAIL(P, 1) PCI_DEFINE_TAIL(P, 2) PCI_DEFINE_TAIL(P, 3) \
    PCI_DEFINE_TAIL(P, 4) PCI_DEFINE_TAIL(P, 5)
PCI_DEFINE_TAILS(1)
PCI_DEFINE_TAILS(2)
PCI_DEFINE_TAILS(4)
#undef PCI_DEFINE_TAILS
#undef PCI_DEFINE_TAIL
#define PCI_TAILS(P) {NULL, ukernel_avx512_1x##P, ukernel_avx512_2x##P, ukernel_avx512_3x##P, ukernel_avx512_4x##P, \
                      ukernel_avx512_5x##P}

#define PCI_DEFINE_KERNEL_W(DT, NAME, P)                                                                      \
    TARGET static void ukernel_avx512_##NAME##_6x##P(int ks, int kc, const float *const *a, const void *w,   \
                                                     const float *scale, size_t ps, float *c, size_t ldc,     \
                                                     int mr, int nc, const float *bias, int accumulate,       \
                                                     const float *clamp) {                                    \
        ukernel_avx512_body(DT, P, MR, ks, kc, a, w, scale, ps, c, ldc, mr, nc, bias, accumulate, clamp);        \
    }
#define PCI_DEFINE_KERNELS_W(DT, NAME) PCI_DEFINE_KERNEL_W(DT, NAME, 1) PCI_DEFINE_KERNEL_W(DT, NAME, 2) \
    PCI_DEFINE_KERNEL_W(DT, NAME, 4)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_F16, f16)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_BF16, bf16)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_I8, i8)
#undef PCI_DEFINE_KERNEL_W
#undef PCI_DEFINE_KERNELS_W

TARGET static void gemv_avx512_16(int k, const float *x, const float *w, float *y16) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        s0 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 0]), _mm512_loadu_ps(w + (size_t)(i + 0) * 16), s0);
        s1 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 1]), _mm512_loadu_ps(w + (size_t)(i + 1) * 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 2]), _mm512_loadu_ps(w + (size_t)(i + 2) * 16), s2);
        s3 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 3]), _mm512_loadu_ps(w + (size_t)(i + 3) * 16), s3);
    }
    for (; i < k; i++)
        s0 = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), _mm512_loadu_ps(w + (size_t)i * 16), s0);
    _mm512_storeu_ps(y16, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* 16 weights of row i of a reduced-precision panel, widened in registers (wload). */
TARGET static inline __attribute__((always_inline)) __m512 load_w16(const int dt, const void *w, size_t i, __m512 s) {
    return wload(dt, w, i * 16, s);
}

/* gemv_avx512_16's sums, in its order, on widened weights (memory-bound:
 * the stored bytes are all that streams from memory). */
TARGET static inline __attribute__((always_inline)) void gemv_w_body(const int dt, int k, const float *x, const void *w,
                                                                     const float *scale16, float *y16) {
    const __m512 sc = dt == PCI_DTYPE_I8 ? _mm512_loadu_ps(scale16) : _mm512_setzero_ps();
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 4 <= k; i += 4) {
        s0 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 0]), load_w16(dt, w, (size_t)i + 0, sc), s0);
        s1 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 1]), load_w16(dt, w, (size_t)i + 1, sc), s1);
        s2 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 2]), load_w16(dt, w, (size_t)i + 2, sc), s2);
        s3 = _mm512_fmadd_ps(_mm512_set1_ps(x[i + 3]), load_w16(dt, w, (size_t)i + 3, sc), s3);
    }
    for (; i < k; i++) s0 = _mm512_fmadd_ps(_mm512_set1_ps(x[i]), load_w16(dt, w, (size_t)i, sc), s0);
    _mm512_storeu_ps(y16, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

TARGET static void gemv_w_avx512_16(int k, const float *x, const void *w, int dtype, const float *scale16, float *y16) {
    if (dtype == PCI_DTYPE_F16) gemv_w_body(PCI_DTYPE_F16, k, x, w, scale16, y16);
    else if (dtype == PCI_DTYPE_BF16) gemv_w_body(PCI_DTYPE_BF16, k, x, w, scale16, y16);
    else gemv_w_body(PCI_DTYPE_I8, k, x, w, scale16, y16);
}

/* R rows x 16 channels (one panel: layers of at most 16 output channels, e.g.
 * LeNet's conv2 and small dense batches). R = 8 independent FMA chains cover
 * the 4-cycle latency of two FMA ports, where 6 rows leave a quarter of them
 * idle; 12 rows measured no faster (12 row pointers spill out of the GPRs). */
TARGET static inline __attribute__((always_inline)) void ukernel_avx512_rows16(
    const int R, int ks, int kc, const float *const *a, const float *w, float *c, size_t ldc, int mr, int nc,
    const float *bias, int accumulate, const float *clamp) {
    __m512 acc[16];
    const __mmask16 mask = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1u);
    const __m512 b = bias && !accumulate ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int m = 0; m < R; m++)
        acc[m] = accumulate ? (m < mr ? _mm512_maskz_loadu_ps(mask, c + m * ldc) : _mm512_setzero_ps()) : b;
    for (int t = 0; t < ks; t++) {
        const float *ap[16];
#pragma GCC unroll 16
        for (int m = 0; m < R; m++) ap[m] = a[t * R + m];
        const float *wt = w + (size_t)t * kc * 16;
        for (int k = 0; k < kc; k++) {
            const __m512 wv = _mm512_loadu_ps(wt + k * 16);
#pragma GCC unroll 16
            for (int m = 0; m < R; m++) acc[m] = _mm512_fmadd_ps(_mm512_set1_ps(ap[m][k]), wv, acc[m]);
        }
    }
    if (clamp) {
        const __m512 lo = _mm512_set1_ps(clamp[0]), hi = _mm512_set1_ps(clamp[1]);
#pragma GCC unroll 16
        for (int m = 0; m < R; m++) acc[m] = _mm512_min_ps(_mm512_max_ps(acc[m], lo), hi);
    }
#pragma GCC unroll 16
    for (int m = 0; m < R; m++)
        if (m < mr) _mm512_mask_storeu_ps(c + m * ldc, mask, acc[m]);
}

#define NARROW_MR 8
TARGET static void ukernel_avx512_narrow(int ks, int kc, const float *const *a, const float *w, size_t ps, float *c,
                                         size_t ldc, int mr, int nc, const float *bias, int accumulate,
                                         const float *clamp) {
    (void)ps;
    ukernel_avx512_rows16(NARROW_MR, ks, kc, a, w, c, ldc, mr, nc, bias, accumulate, clamp);
}

const pci_gemm_kernels pci_gemm_avx512 = {
    MR, 4, {NULL, ukernel_avx512_6x1, ukernel_avx512_6x2, NULL, ukernel_avx512_6x4}, NARROW_MR, ukernel_avx512_narrow,
    gemv_avx512_16, gemv_w_avx512_16,
    {[PCI_DTYPE_F16] = {NULL, ukernel_avx512_f16_6x1, ukernel_avx512_f16_6x2, NULL, ukernel_avx512_f16_6x4},
     [PCI_DTYPE_BF16] = {NULL, ukernel_avx512_bf16_6x1, ukernel_avx512_bf16_6x2, NULL, ukernel_avx512_bf16_6x4},
     [PCI_DTYPE_I8] = {NULL, ukernel_avx512_i8_6x1, ukernel_avx512_i8_6x2, NULL, ukernel_avx512_i8_6x4}},
    {{NULL}, PCI_TAILS(1), PCI_TAILS(2), {NULL}, PCI_TAILS(4)}};
#undef PCI_TAILS
#endif
