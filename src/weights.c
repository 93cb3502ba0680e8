/* Reduced-precision kernels: widening stored weights to float32.
 *
 * The compute-bound paths (GEMM convolution, Winograd, batched dense) widen a
 * block of weights once into a small per-thread buffer and reuse it across
 * many pixel tiles; the small-weight paths (depthwise, thin first layers,
 * transposed convolution) widen their whole kernel per call. Both run the
 * float32 micro-kernels unchanged on the widened weights, so results are
 * bitwise those of the float32 kernels on quantize.dequantize(stored). The
 * memory-bound batch-1 dense GEMV widens in registers instead (ukernel_*.c).
 *
 * Every path gives the same bits: float16 widening is exact, bfloat16 is a
 * shift, and int8 is one float32 product per weight (never fused). */
#include <math.h>
#include <string.h>

#include "pci_internal.h"

size_t pci_dtype_size(int dtype) {
    switch (dtype) {
    case PCI_DTYPE_F32: return 4;
    case PCI_DTYPE_F16:
    case PCI_DTYPE_BF16: return 2;
    case PCI_DTYPE_I8: return 1;
    default: return 0;
    }
}

const char *pci_dtype_name(int dtype) {
    static const char *const names[PCI_DTYPE_COUNT] = {"float32", "float16", "bfloat16", "int8"};
    return dtype >= 0 && dtype < PCI_DTYPE_COUNT ? names[dtype] : NULL;
}

void pci_fill_nan(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = NAN;
}

static inline float bits_to_float(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline uint32_t float_to_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* IEEE binary16 -> binary32, exact (what numpy's astype and vcvtph2ps give),
 * branch-free so that compilers vectorize the loops over it (F. Giesen's
 * half_to_float): normal numbers rebias the exponent; inf / NaN rebias to
 * 255; zero / subnormals come out of one exact float subtraction. */
static inline float half_to_float(uint16_t h) {
    const uint32_t o = (uint32_t)(h & 0x7fffu) << 13, e = o & 0x0f800000u;
    const uint32_t normal = o + 0x38000000u, special = o + 0x70000000u;
    const uint32_t small = float_to_bits(bits_to_float(o + 0x38800000u) - bits_to_float(113u << 23));
    const uint32_t r = e == 0x0f800000u ? special : (e == 0 ? small : normal);
    return bits_to_float(r | (uint32_t)(h & 0x8000u) << 16);
}

/* The portable path (and every int8 tail or non-16 channel group). */
static void widen_generic(const pci_weights *w, size_t off, size_t n, const float *scale, int lanes, float *dst) {
    switch (w->dtype) {
    case PCI_DTYPE_F16: {
        const uint16_t *p = (const uint16_t *)w->data + off;
        size_t i = 0;
#if defined(__GNUC__)
        /* 4 at a time with GCC / clang vector extensions (the scalar select does not vectorize):
         * the same three cases as half_to_float, combined with comparison masks */
        typedef uint32_t u32x4 __attribute__((vector_size(16)));
        typedef int32_t i32x4 __attribute__((vector_size(16)));
        typedef float f32x4 __attribute__((vector_size(16)));
        for (; i + 4 <= n; i += 4) {
            const u32x4 h = {p[i], p[i + 1], p[i + 2], p[i + 3]};
            const u32x4 o = (h & 0x7fffu) << 13, e = o & 0x0f800000u;
            const u32x4 normal = o + 0x38000000u, special = o + 0x70000000u;
            const f32x4 mant = __builtin_convertvector((i32x4)(o >> 13), f32x4); /* subnormal: mant * 2^-24, exact */
            u32x4 small;
            const f32x4 sv = mant * 0x1p-24f;
            memcpy(&small, &sv, sizeof small);
            const u32x4 is_special = (u32x4)(e == 0x0f800000u), is_small = (u32x4)(e == 0u);
            const u32x4 r = (special & is_special) | (small & is_small) | (normal & ~(is_special | is_small));
            const u32x4 out = r | (h & 0x8000u) << 16;
            memcpy(dst + i, &out, sizeof out);
        }
#endif
        for (; i < n; i++) dst[i] = half_to_float(p[i]);
        break;
    }
    case PCI_DTYPE_BF16: {
        const uint16_t *p = (const uint16_t *)w->data + off;
        for (size_t i = 0; i < n; i++) dst[i] = bits_to_float((uint32_t)p[i] << 16);
        break;
    }
    case PCI_DTYPE_I8: {
        const int8_t *p = (const int8_t *)w->data + off;
        size_t i0 = 0;
        if (lanes == PCI_NR) /* panels: whole rows of 16 channels (vectorized) */
            for (; i0 + PCI_NR <= n; i0 += PCI_NR)
                for (int j = 0; j < PCI_NR; j++) dst[i0 + j] = (float)p[i0 + j] * scale[j];
        for (size_t i = i0, l = 0; i < n; i++) {
            dst[i] = (float)p[i] * scale[l];
            if (++l == (size_t)lanes) l = 0;
        }
        break;
    }
    default: memcpy(dst, (const float *)w->data + off, n * sizeof(float)); break;
    }
}

#ifdef PCI_X86
#include <immintrin.h>

__attribute__((target("avx512f"))) static void widen_avx512(const pci_weights *w, size_t off, size_t n,
                                                             const float *scale, int lanes, float *dst) {
    size_t i = 0;
    if (w->dtype == PCI_DTYPE_F16) {
        const uint16_t *p = (const uint16_t *)w->data + off;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + i))));
    } else if (w->dtype == PCI_DTYPE_BF16) {
        const uint16_t *p = (const uint16_t *)w->data + off;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + i))), 16));
    } else if (w->dtype == PCI_DTYPE_I8 && lanes == 16) {
        const int8_t *p = (const int8_t *)w->data + off;
        const __m512 s = _mm512_loadu_ps(scale);
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + i)))), s));
    }
    /* lanes == 16 and i a multiple of 16: the tail starts at lane 0 again */
    if (i < n) widen_generic(w, off + i, n - i, scale, lanes, dst + i);
}

__attribute__((target("avx2,f16c"))) static void widen_avx2(const pci_weights *w, size_t off, size_t n,
                                                             const float *scale, int lanes, float *dst) {
    size_t i = 0;
    if (w->dtype == PCI_DTYPE_F16) {
        const uint16_t *p = (const uint16_t *)w->data + off;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
    } else if (w->dtype == PCI_DTYPE_BF16) {
        const uint16_t *p = (const uint16_t *)w->data + off;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_si256((__m256i *)(dst + i),
                                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i))), 16));
    } else if (w->dtype == PCI_DTYPE_I8 && lanes == 16) {
        const int8_t *p = (const int8_t *)w->data + off;
        const __m256 s0 = _mm256_loadu_ps(scale), s1 = _mm256_loadu_ps(scale + 8);
        for (; i + 16 <= n; i += 16) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(p + i));
            _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), s0));
            _mm256_storeu_ps(dst + i + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), s1));
        }
    }
    if (i < n) widen_generic(w, off + i, n - i, scale, lanes, dst + i);
}
#endif

void pci_widen(const pci_weights *w, size_t off, size_t n, const float *scale, int lanes, float *dst, int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: widen_avx512(w, off, n, scale, lanes, dst); return;
    case PCI_ISA_AVX2: widen_avx2(w, off, n, scale, lanes, dst); return;
#endif
    default: widen_generic(w, off, n, scale, lanes, dst); return;
    }
}

void pci_widen_panels(const pci_weights *w, size_t off, size_t npanels, size_t panel_floats, size_t scale_panel,
                      float *dst, int isa) {
    for (size_t j = 0; j < npanels; j++)
        pci_widen(w, off + j * panel_floats, panel_floats, w->scale ? w->scale + (scale_panel + j) * PCI_NR : NULL,
                  PCI_NR, dst + j * panel_floats, isa);
}
