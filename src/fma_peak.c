/* The register-only multiply-add loop behind pci_fma_loop (pci_bench.h): 12
 * independent accumulators per thread, enough to cover the FMA latency x
 * throughput of the cores this project targets (4 cycles x 2 pipes on Zen,
 * Intel and Neoverse alike), with no loads in the loop. */
#include "pci_bench.h"
#include "pci_internal.h"

#ifdef PCI_X86
#include <immintrin.h>
#endif
#ifdef PCI_ARM64
#include <arm_neon.h>
#endif

#define CHAINS 12

/* The multiplier is slightly below 1 and the addend small, so values stay
 * normal and finite for any iteration count; `sink` keeps the result live. */
#define FMA_BODY(VEC, SET1, FMA, ADD, STORE, LANES)                                          \
    VEC acc[CHAINS];                                                                         \
    const VEC mul = SET1(0.999999f), add = SET1(1e-7f);                                      \
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1(1.0f + (float)i);                        \
    for (long it = 0; it < iters; it++)                                                      \
        for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], mul, add);                      \
    for (int i = 1; i < CHAINS; i++) acc[0] = ADD(acc[0], acc[i]);                           \
    float out[LANES];                                                                        \
    STORE(out, acc[0]);                                                                      \
    *sink = out[0];                                                                          \
    return 2.0 * LANES * CHAINS * (double)iters;

#ifdef PCI_X86
__attribute__((target("avx512f,avx2,fma"))) static double loop_avx512(long iters, volatile float *sink) {
    FMA_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}
__attribute__((target("avx2,fma"))) static double loop_avx2(long iters, volatile float *sink) {
    FMA_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}
#endif
#ifdef PCI_ARM64
static double loop_neon(long iters, volatile float *sink) {
#define NEON_FMA(a, b, c) vfmaq_f32(c, a, b)
    FMA_BODY(float32x4_t, vdupq_n_f32, NEON_FMA, vaddq_f32, vst1q_f32, 4)
#undef NEON_FMA
}
#endif

/* Generic: 4-lane blocks as plain C arrays; gcc turns them into the baseline
 * vectors (SSE2 mul + add on x86-64), like the generic kernels. */
static double loop_generic(long iters, volatile float *sink) {
    float acc[CHAINS][4];
    for (int i = 0; i < CHAINS; i++)
        for (int l = 0; l < 4; l++) acc[i][l] = 1.0f + (float)i;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS; i++)
#pragma omp simd
            for (int l = 0; l < 4; l++) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
    float s = 0.0f;
    for (int i = 0; i < CHAINS; i++) s += acc[i][0];
    *sink = s;
    return 2.0 * 4 * CHAINS * (double)iters;
}

static double loop_for(int isa, long iters, volatile float *sink) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return loop_avx512(iters, sink);
    case PCI_ISA_AVX2: return loop_avx2(iters, sink);
#endif
#ifdef PCI_ARM64
    case PCI_ISA_NEON: return loop_neon(iters, sink);
#endif
    default: return loop_generic(iters, sink);
    }
}

double pci_fma_loop(int isa, long iters, int threads) {
    volatile float sink = 0.0f;
    double flops = 0.0;
    if (threads < 1) threads = 1;
#pragma omp parallel num_threads(threads) reduction(+ : flops) if (threads > 1)
    flops += loop_for(isa, iters, &sink);
    return flops;
}
