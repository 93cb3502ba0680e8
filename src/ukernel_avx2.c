/* AVX2 + FMA GEMM micro-kernel: 6 output pixels x 16 output channels
 * (12 ymm accumulators). Called only when the CPU has AVX2 and FMA. */
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

#define MR 6
#define TARGET __attribute__((target("avx2,fma")))
#define TARGET_F16C __attribute__((target("avx2,fma,f16c")))

/* Lanes < n of an 8-float vector (n clamped to 0..8), for the channel tail. */
TARGET static inline __m256i lanes_below(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 12 accumulators (6 rows x 2 ymm) + 2 weight vectors + 1 broadcast = 15 of the
 * 16 ymm registers. Every loop over rows has a constant trip count and the
 * partial tiles are handled with masks (not copies through a stack buffer):
 * that keeps the accumulators in registers. An earlier version stored all 12
 * to the stack on every k step (gcc kept the arrays addressable for a
 * runtime-bounded store loop) and ran at ~40% of the FMA peak. */
/* 8 weights at element e in dtype DT, as float32: float32 a load; float16
 * vcvtph2ps (F16C); bfloat16 vpmovzxwd + vpslld 16; int8 vpmovsxbd +
 * vcvtdq2ps and one multiply by the channels' scales s. */
TARGET_F16C static inline __attribute__((always_inline)) __m256 wload8(const int DT, const void *w, size_t e, __m256 s) {
    if (DT == PCI_DTYPE_F32) return _mm256_loadu_ps((const float *)w + e);
    if (DT == PCI_DTYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + e)));
    if (DT == PCI_DTYPE_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + e))), 16));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)w + e)))), s);
}

/* DT: the weights' dtype, a compile-time constant at each call (float32
 * compiles to the plain loads; the others widen each weight vector in
 * registers right after its load). */
/* HALF (a compile-time constant): the panel's last 8 channels are past nc (nc <= 8), so only
 * the low vector of each row is loaded, computed and stored: half the FMAs, and the low lanes
 * summed exactly as in a full panel (the same bits). */
TARGET_F16C static inline __attribute__((always_inline)) void ukernel_avx2_body(
    const int DT, const int R, const int HALF, int ks, int kc, const float *const *a, const void *w,
    const float *scale, float *c, size_t ldc, int mr, int nc, const float *bias, int accumulate, const float *clamp) {
    const __m256 sc0 = DT == PCI_DTYPE_I8 ? _mm256_loadu_ps(scale) : _mm256_setzero_ps();
    const __m256 sc1 = DT == PCI_DTYPE_I8 && !HALF ? _mm256_loadu_ps(scale + 8) : _mm256_setzero_ps();
    const __m256i m0 = lanes_below(nc), m1 = lanes_below(nc - 8);
    __m256 lo[MR], hi[MR];
    if (accumulate) {
#pragma GCC unroll 6
        for (int m = 0; m < R; m++) {
            const float *cm = c + (size_t)PCI_MIN(m, mr - 1) * ldc; /* rows >= mr: computed, never stored */
            lo[m] = _mm256_maskload_ps(cm, m0);
            hi[m] = HALF ? _mm256_setzero_ps() : _mm256_maskload_ps(cm + 8, m1);
        }
    } else {
        const __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
        const __m256 b1 = bias && !HALF ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
#pragma GCC unroll 6
        for (int m = 0; m < R; m++) lo[m] = b0, hi[m] = b1;
    }
    for (int t = 0; t < ks; t++) {
        /* rows >= R: not read (a tail kernel's pointers past its rows may be anything) */
        const float *a0 = a[t * MR + 0], *a1 = R > 1 ? a[t * MR + 1] : a0, *a2 = R > 2 ? a[t * MR + 2] : a0;
        const float *a3 = R > 3 ? a[t * MR + 3] : a0, *a4 = R > 4 ? a[t * MR + 4] : a0;
        const float *a5 = R > 5 ? a[t * MR + 5] : a0;
        const size_t wt = (size_t)t * kc * 16;
        for (int k = 0; k < kc; k++) {
            const __m256 w0 = wload8(DT, w, wt + (size_t)k * 16, sc0);
            const __m256 w1 = HALF ? w0 : wload8(DT, w, wt + (size_t)k * 16 + 8, sc1);
            __m256 v;
#define PCI_ROW(m, ptr)                                     \
    if ((m) < R) {                                          \
        v = _mm256_broadcast_ss(ptr + k);                   \
        lo[m] = _mm256_fmadd_ps(v, w0, lo[m]);              \
        if (!HALF) hi[m] = _mm256_fmadd_ps(v, w1, hi[m]);   \
    }
            PCI_ROW(0, a0) PCI_ROW(1, a1) PCI_ROW(2, a2) PCI_ROW(3, a3) PCI_ROW(4, a4) PCI_ROW(5, a5)
#undef PCI_ROW
        }
    }
    if (clamp) {
        const __m256 lo_v = _mm256_set1_ps(clamp[0]), hi_v = _mm256_set1_ps(clamp[1]);
#pragma GCC unroll 6
        for (int m = 0; m < R; m++) {
            lo[m] = _mm256_min_ps(_mm256_max_ps(lo[m], lo_v), hi_v);
            if (!HALF) hi[m] = _mm256_min_ps(_mm256_max_ps(hi[m], lo_v), hi_v);
        }
    }
    if (HALF && nc == 8) {
#pragma GCC unroll 6
        for (int m = 0; m < R; m++)
            if (m < mr) _mm256_storeu_ps(c + m * ldc, lo[m]);
    } else if (HALF) {
#pragma GCC unroll 6
        for (int m = 0; m < R; m++)
            if (m < mr) _mm256_maskstore_ps(c + m * ldc, m0, lo[m]);
    } else if (nc == 16) {
#pragma GCC unroll 6
        for (int m = 0; m < R; m++)
            if (m < mr) {
                _mm256_storeu_ps(c + m * ldc, lo[m]);
                _mm256_storeu_ps(c + m * ldc + 8, hi[m]);
            }
    } else {
#pragma GCC unroll 6
        for (int m = 0; m < R; m++)
            if (m < mr) {
                _mm256_maskstore_ps(c + m * ldc, m0, lo[m]);
                _mm256_maskstore_ps(c + m * ldc + 8, m1, hi[m]);
            }
    }
}

/* P panels (16 output channels each) in one call: the P single-panel bodies in
 * turn on the same pixel rows, each element summed exactly as by a one-panel
 * call (results are bitwise those of P calls). One call per pixel tile instead
 * of P spares the driver's per-item bookkeeping and the call: on AMD Zen 3 that
 * was 31% of MobileNetV2's first layer (27 weights per channel) and 15% of its
 * 16 -> 96 expand layer. w: P panels panel_stride elements apart; nc: the
 * block's channels (the last panel may be partial). */
TARGET_F16C static inline __attribute__((always_inline)) void ukernel_avx2_panels(
    const int DT, const int R, const int P, int ks, int kc, const float *const *a, const void *w, const float *scale,
    size_t panel_stride, float *c, size_t ldc, int mr, int nc, const float *bias, int accumulate, const float *clamp) {
    const size_t esize = DT == PCI_DTYPE_F32 ? 4 : DT == PCI_DTYPE_I8 ? 1 : 2;
    for (int p = 0; p < P && 16 * p < nc; p++) {
        const void *wp = (const char *)w + (size_t)p * panel_stride * esize;
        const float *sp = DT == PCI_DTYPE_I8 ? scale + 16 * p : NULL, *bp = bias ? bias + 16 * p : NULL;
        const int np = PCI_MIN(16, nc - 16 * p);
        /* A panel of at most 8 live channels (24 or 40 outputs: the last of 2 or 3) in half */
        if (np <= 8) ukernel_avx2_body(DT, R, 1, ks, kc, a, wp, sp, c + 16 * p, ldc, mr, np, bp, accumulate, clamp);
        else ukernel_avx2_body(DT, R, 0, ks, kc, a, wp, sp, c + 16 * p, ldc, mr, np, bp, accumulate, clamp);
    }
}

/* Float32 kernels for R rows (R < 6: a layer's last, partial pixel tile, each
 * row computed in exactly the 6-row order; see ukernel_avx512.c) and P panels. */
#define PCI_DEFINE_F32(R, P)                                                                                   \
    TARGET_F16C static void ukernel_avx2_##R##x##P(int ks, int kc, const float *const *a, const float *w,      \
                                                   size_t ps, float *c, size_t ldc, int mr, int nc,            \
                                                   const float *bias, int accumulate, const float *clamp) {    \
        ukernel_avx2_panels(PCI_DTYPE_F32, R, P, ks, kc, a, w, NULL, ps, c, ldc, mr, nc, bias, accumulate,     \
                            clamp);                                                                            \
    }
#define PCI_DEFINE_F32_ROWS(P) \
    PCI_DEFINE_F32(1, P) PCI_DEFINE_F32(2, P) PCI_DEFINE_F32(3, P) PCI_DEFINE_F32(4, P) PCI_DEFINE_F32(5, P) \
    PCI_DEFINE_F32(6, P)
PCI_DEFINE_F32_ROWS(1)
PCI_DEFINE_F32_ROWS(2)
PCI_DEFINE_F32_ROWS(4)
#undef PCI_DEFINE_F32_ROWS
#undef PCI_DEFINE_F32

#define PCI_DEFINE_KERNEL_W(DT, NAME, P)                                                                       \
    TARGET_F16C static void ukernel_avx2_##NAME##_6x##P(int ks, int kc, const float *const *a, const void *w,  \
                                                        const float *scale, size_t ps, float *c, size_t ldc,   \
                                                        int mr, int nc, const float *bias, int accumulate,     \
                                                        const float *clamp) {                                  \
        ukernel_avx2_panels(DT, MR, P, ks, kc, a, w, scale, ps, c, ldc, mr, nc, bias, accumulate, clamp);      \
    }
#define PCI_DEFINE_KERNELS_W(DT, NAME) \
    PCI_DEFINE_KERNEL_W(DT, NAME, 1) PCI_DEFINE_KERNEL_W(DT, NAME, 2) PCI_DEFINE_KERNEL_W(DT, NAME, 4)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_F16, f16)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_BF16, bf16)
PCI_DEFINE_KERNELS_W(PCI_DTYPE_I8, i8)
#undef PCI_DEFINE_KERNELS_W
#undef PCI_DEFINE_KERNEL_W

TARGET static void gemv_avx2_16(int k, const float *x, const float *w, float *y16) {
    __m256 s0l = _mm256_setzero_ps(), s0h = s0l, s1l = s0l, s1h = s0l;
    int i = 0;
    for (; i + 2 <= k; i += 2) {
        const __m256 v0 = _mm256_set1_ps(x[i]), v1 = _mm256_set1_ps(x[i + 1]);
        const float *w0 = w + (size_t)i * 16, *w1 = w0 + 16;
        s0l = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0), s0l);
        s0h = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0 + 8), s0h);
        s1l = _mm256_fmadd_ps(v1, _mm256_loadu_ps(w1), s1l);
        s1h = _mm256_fmadd_ps(v1, _mm256_loadu_ps(w1 + 8), s1h);
    }
    for (; i < k; i++) {
        const __m256 v0 = _mm256_set1_ps(x[i]);
        const float *w0 = w + (size_t)i * 16;
        s0l = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0), s0l);
        s0h = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0 + 8), s0h);
    }
    _mm256_storeu_ps(y16, _mm256_add_ps(s0l, s1l));
    _mm256_storeu_ps(y16 + 8, _mm256_add_ps(s0h, s1h));
}

/* Weights of row i, lanes 8h .. 8h+7, widened in registers (wload8). */
TARGET_F16C static inline __attribute__((always_inline)) __m256 load_w8(const int dt, const void *w, size_t i, int h,
                                                                         __m256 s) {
    return wload8(dt, w, i * 16 + (size_t)h * 8, s);
}

/* gemv_avx2_16's sums, in its order, on widened weights. */
TARGET_F16C static inline __attribute__((always_inline)) void gemv_w_body(const int dt, int k, const float *x,
                                                                          const void *w, const float *scale16,
                                                                          float *y16) {
    const __m256 c0 = dt == PCI_DTYPE_I8 ? _mm256_loadu_ps(scale16) : _mm256_setzero_ps();
    const __m256 c1 = dt == PCI_DTYPE_I8 ? _mm256_loadu_ps(scale16 + 8) : _mm256_setzero_ps();
    __m256 s0l = _mm256_setzero_ps(), s0h = s0l, s1l = s0l, s1h = s0l;
    int i = 0;
    for (; i + 2 <= k; i += 2) {
        const __m256 v0 = _mm256_set1_ps(x[i]), v1 = _mm256_set1_ps(x[i + 1]);
        s0l = _mm256_fmadd_ps(v0, load_w8(dt, w, (size_t)i, 0, c0), s0l);
        s0h = _mm256_fmadd_ps(v0, load_w8(dt, w, (size_t)i, 1, c1), s0h);
        s1l = _mm256_fmadd_ps(v1, load_w8(dt, w, (size_t)i + 1, 0, c0), s1l);
        s1h = _mm256_fmadd_ps(v1, load_w8(dt, w, (size_t)i + 1, 1, c1), s1h);
    }
    for (; i < k; i++) {
        const __m256 v0 = _mm256_set1_ps(x[i]);
        s0l = _mm256_fmadd_ps(v0, load_w8(dt, w, (size_t)i, 0, c0), s0l);
        s0h = _mm256_fmadd_ps(v0, load_w8(dt, w, (size_t)i, 1, c1), s0h);
    }
    _mm256_storeu_ps(y16, _mm256_add_ps(s0l, s1l));
    _mm256_storeu_ps(y16 + 8, _mm256_add_ps(s0h, s1h));
}

TARGET_F16C static void gemv_w_avx2_16(int k, const float *x, const void *w, int dtype, const float *scale16,
                                       float *y16) {
    if (dtype == PCI_DTYPE_F16) gemv_w_body(PCI_DTYPE_F16, k, x, w, scale16, y16);
    else if (dtype == PCI_DTYPE_BF16) gemv_w_body(PCI_DTYPE_BF16, k, x, w, scale16, y16);
    else gemv_w_body(PCI_DTYPE_I8, k, x, w, scale16, y16);
}

#define PCI_TAILS(P) {NULL, ukernel_avx2_1x##P, ukernel_avx2_2x##P, ukernel_avx2_3x##P, ukernel_avx2_4x##P, \
                      ukernel_avx2_5x##P}
#define PCI_W(NAME) {NULL, ukernel_avx2_##NAME##_6x1, ukernel_avx2_##NAME##_6x2, NULL, ukernel_avx2_##NAME##_6x4}
const pci_gemm_kernels pci_gemm_avx2 = {
    MR, 1, {NULL, ukernel_avx2_6x1, ukernel_avx2_6x2, NULL, ukernel_avx2_6x4}, 0, NULL, gemv_avx2_16, gemv_w_avx2_16,
    {[PCI_DTYPE_F16] = PCI_W(f16), [PCI_DTYPE_BF16] = PCI_W(bf16), [PCI_DTYPE_I8] = PCI_W(i8)},
    {{NULL}, PCI_TAILS(1), PCI_TAILS(2), {NULL}, PCI_TAILS(4)}, 4};
#undef PCI_W
#undef PCI_TAILS
#endif
