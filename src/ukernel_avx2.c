/* AVX2 + FMA GEMM micro-kernel: 6 output pixels x 16 output channels
 * (12 ymm accumulators). Called only when the CPU has AVX2 and FMA. */
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>
#include <string.h>

#define MR 6
#define TARGET __attribute__((target("avx2,fma")))

TARGET static void ukernel_avx2_6x16(int ks, int kc, const float *const *a, const float *w,
                                     size_t panel_stride, float *c, size_t ldc, int mr, int nc,
                                     const float *bias, int accumulate, const float *clamp) {
    (void)panel_stride;
    __m256 lo[MR], hi[MR];
    float tmp[16];
    for (int m = 0; m < MR; m++) {
        if (accumulate) {
            memset(tmp, 0, sizeof tmp);
            if (m < mr) memcpy(tmp, c + m * ldc, (size_t)nc * sizeof(float));
        } else if (bias) {
            memset(tmp, 0, sizeof tmp);
            memcpy(tmp, bias, (size_t)nc * sizeof(float));
        } else {
            memset(tmp, 0, sizeof tmp);
        }
        lo[m] = _mm256_loadu_ps(tmp);
        hi[m] = _mm256_loadu_ps(tmp + 8);
    }
    for (int t = 0; t < ks; t++) {
        const float *a0 = a[t * MR + 0], *a1 = a[t * MR + 1], *a2 = a[t * MR + 2];
        const float *a3 = a[t * MR + 3], *a4 = a[t * MR + 4], *a5 = a[t * MR + 5];
        const float *wt = w + (size_t)t * kc * 16;
        for (int k = 0; k < kc; k++) {
            const __m256 w0 = _mm256_loadu_ps(wt + k * 16), w1 = _mm256_loadu_ps(wt + k * 16 + 8);
            __m256 v;
#define PCI_ROW(m, ptr)                              \
    v = _mm256_broadcast_ss(ptr + k);                \
    lo[m] = _mm256_fmadd_ps(v, w0, lo[m]);           \
    hi[m] = _mm256_fmadd_ps(v, w1, hi[m]);
            PCI_ROW(0, a0) PCI_ROW(1, a1) PCI_ROW(2, a2) PCI_ROW(3, a3) PCI_ROW(4, a4) PCI_ROW(5, a5)
#undef PCI_ROW
        }
    }
    if (clamp) {
        const __m256 lo_v = _mm256_set1_ps(clamp[0]), hi_v = _mm256_set1_ps(clamp[1]);
        for (int m = 0; m < MR; m++) {
            lo[m] = _mm256_min_ps(_mm256_max_ps(lo[m], lo_v), hi_v);
            hi[m] = _mm256_min_ps(_mm256_max_ps(hi[m], lo_v), hi_v);
        }
    }
    for (int m = 0; m < mr; m++) {
        if (nc == 16) {
            _mm256_storeu_ps(c + m * ldc, lo[m]);
            _mm256_storeu_ps(c + m * ldc + 8, hi[m]);
        } else {
            _mm256_storeu_ps(tmp, lo[m]);
            _mm256_storeu_ps(tmp + 8, hi[m]);
            memcpy(c + m * ldc, tmp, (size_t)nc * sizeof(float));
        }
    }
}

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

const pci_gemm_kernels pci_gemm_avx2 = {
    MR, 1, {NULL, ukernel_avx2_6x16, NULL, NULL, NULL}, 0, NULL, gemv_avx2_16};
#endif
