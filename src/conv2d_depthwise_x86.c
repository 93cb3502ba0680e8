/* Depthwise convolution tile kernels for AVX2 + FMA (8-float ymm vectors) and
 * AVX-512 (16-float zmm vectors, masked tails): one template body
 * (conv2d_depthwise_tile.h) instantiated per ISA. Called only when the CPU has
 * the ISA (pci_dw_tile_for). */
#include <stdlib.h>

#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>

/* ---- AVX2 + FMA: 4 pixels x 3 vectors = 12 of the 16 ymm registers accumulate ---- */
#define DW_TARGET __attribute__((target("avx2,fma")))
#define DW_NAME(part) dw_avx2_##part
#define DW_TILE pci_dw_tile_avx2
#define DW_ROWS pci_dw_rows_avx2
/* Row blocks: 5x5, 4 pixels x 1 vector (+ 5 weights) fit the 16 ymm registers;
 * 3x3, 4 pixels x 2 vectors + 6 weights + 2 inputs use all 16. One vector leaves
 * 4 accumulators, too few to hide the FMA latency: on AMD Zen 3, 2 vectors ran
 * MobileNetV2's 56x56x144 layer in 0.83x the time (alone) and the whole model in
 * 0.97x (1 thread, alternating processes). */
#define DW_RV 1
#define DW_RV3 2
#define DW_VL 8
#define DW_P PCI_DW_PX
#define DW_V 3
#define DW_VEC __m256
#define DW_MASK_T __m256i
#define DW_ZERO() _mm256_setzero_ps()
#define DW_SET1(v) _mm256_set1_ps(v)
#define DW_LOAD(p) _mm256_loadu_ps(p)
#define DW_STORE(p, v) _mm256_storeu_ps(p, v)
#define DW_LOADM(p, m) _mm256_maskload_ps(p, m)
#define DW_STOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define DW_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define DW_MIN(a, b) _mm256_min_ps(a, b)
#define DW_MAX(a, b) _mm256_max_ps(a, b)
/* lanes < n set (n in 1..8) */
#define DW_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#include "conv2d_depthwise_tile.h"
#undef DW_TARGET
#undef DW_NAME
#undef DW_TILE
#undef DW_ROWS
#undef DW_RV
#undef DW_VL
#undef DW_V
#undef DW_VEC
#undef DW_MASK_T
#undef DW_ZERO
#undef DW_SET1
#undef DW_LOAD
#undef DW_STORE
#undef DW_LOADM
#undef DW_STOREM
#undef DW_FMA
#undef DW_MIN
#undef DW_MAX
#undef DW_MASK

/* ---- AVX-512: 4 pixels x 4 vectors = 16 of the 32 zmm registers accumulate ---- */
#define DW_TARGET __attribute__((target("avx512f,avx2,fma")))
#define DW_NAME(part) dw_avx512_##part
#define DW_TILE pci_dw_tile_avx512
#define DW_ROWS pci_dw_rows_avx512
#define DW_RV 2 /* row blocks: 4 pixels x 2 vectors + up to 10 weight vectors */
#define DW_VL 16
#define DW_V 4
#define DW_VEC __m512
#define DW_MASK_T __mmask16
#define DW_ZERO() _mm512_setzero_ps()
#define DW_SET1(v) _mm512_set1_ps(v)
#define DW_LOAD(p) _mm512_loadu_ps(p)
#define DW_STORE(p, v) _mm512_storeu_ps(p, v)
#define DW_LOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define DW_STOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define DW_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define DW_MIN(a, b) _mm512_min_ps(a, b)
#define DW_MAX(a, b) _mm512_max_ps(a, b)
#define DW_MASK(n) ((__mmask16)((1u << (n)) - 1u))
#include "conv2d_depthwise_tile.h"
#endif
