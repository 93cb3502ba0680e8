/* Every SIMD activation path against the generic path (itself checked against
 * float64 NumPy by tests/test_activations.py), on the same wide inputs:
 * element-wise kinds, softmax / log_softmax rows and glu. Built natively
 * (x86: AVX2, AVX-512 where the CPU has them) and for aarch64 (NEON, run
 * under qemu) by tools/check_act_isa.sh. Exit status 1 on any mismatch.
 *
 * Agreement: both sides are within 1e-6 of float64, so they must agree within
 * 2e-6 relative (|ref| floored at FLT_MIN), with identical inf / NaN. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_isa.h"

#define TOL 2e-6

static uint64_t rng_state = 88172645463325252ull;
static uint32_t next_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static size_t make_inputs(float *x, size_t cap) {
    size_t n = 0;
    for (int i = 0; i <= 40000 && n < cap; i++) x[n++] = -40.0f + 80.0f * (float)i / 40000.0f;
    for (int i = 0; i <= 8000 && n + 2 <= cap; i++) {
        const float m = (float)pow(10.0, -45.5 + 84.0 * i / 8000.0);
        x[n++] = m;
        x[n++] = -m;
    }
    while (n < cap - 64) {
        uint32_t b = next_u32();
        float f;
        memcpy(&f, &b, sizeof f);
        if (f == f) x[n++] = f;
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                             1e-45f, -1e-45f, 88.72f, 89.0f, -103.9f, -104.0f, 0.5f, -0.5f, 1, -1, 3, -3,
                             2.5f, -2.5f, 15, -15, 30, -30, -80.5f, -90.0f, 1e4f, -1e4f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && n < cap; i++) x[n++] = special[i];
    return n;
}

static double max_diff = 0.0; /* largest relative difference seen (finite values) */

static int agree(float got, float ref) {
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got)) return got == ref;
    const double d = fabs((double)got - (double)ref);
    const double scale = fabs((double)ref) > FLT_MIN ? fabs((double)ref) : FLT_MIN;
    if (d / scale > max_diff) max_diff = d / scale;
    return d <= TOL * scale;
}

static int compare(const char *what, const char *isa, const float *x, const float *got, const float *ref,
                   size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (!agree(got[i], ref[i])) {
            if (bad < 3)
                fprintf(stderr, "%s on %s: x=%.9g got %.9g, generic %.9g\n", what, isa, x ? x[i] : NAN,
                        got[i], ref[i]);
            bad++;
        }
    return bad != 0;
}

int main(void) {
    const size_t cap = 200000;
    float *x = malloc(cap * sizeof(float)), *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
    if (!x || !a || !b) return 2;
    const size_t n = make_inputs(x, cap);
    /* (kind, p0, p1, p2): every element-wise kind, some with non-default parameters */
    const pci_act acts[] = {
        {PCI_ACT_RELU, INFINITY, 0, 0}, {PCI_ACT_RELU, 2.5f, 0.1f, 0.5f}, {PCI_ACT_ELU, 1, 0, 0},
        {PCI_ACT_ELU, 0.5f, 0, 0}, {PCI_ACT_SELU, 0, 0, 0}, {PCI_ACT_SIGMOID, 0, 0, 0},
        {PCI_ACT_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, 0}, {PCI_ACT_HARD_SIGMOID, 0.2f, 0.5f, 0},
        {PCI_ACT_TANH, 0, 0, 0}, {PCI_ACT_SOFTPLUS, 0, 0, 0}, {PCI_ACT_SOFTSIGN, 0, 0, 0},
        {PCI_ACT_SWISH, 0, 0, 0}, {PCI_ACT_GELU, 0, 0, 0}, {PCI_ACT_GELU_TANH, 0, 0, 0},
        {PCI_ACT_EXPONENTIAL, 0, 0, 0}, {PCI_ACT_HARD_SILU, 0, 0, 0}, {PCI_ACT_MISH, 0, 0, 0},
        {PCI_ACT_CELU, 1, 0, 0}, {PCI_ACT_CELU, 2.5f, 0, 0}, {PCI_ACT_HARD_SHRINK, 0.5f, 0, 0},
        {PCI_ACT_HARD_TANH, 0, 0, 0}, {PCI_ACT_LOG_SIGMOID, 0, 0, 0}, {PCI_ACT_SOFT_SHRINK, 0.5f, 0, 0},
        {PCI_ACT_SPARSE_PLUS, 0, 0, 0}, {PCI_ACT_SQUAREPLUS, 4, 0, 0}, {PCI_ACT_SQUAREPLUS, 0, 0, 0},
        {PCI_ACT_TANH_SHRINK, 0, 0, 0}, {PCI_ACT_THRESHOLD, 0.25f, -2, 0}, {PCI_ACT_SPARSE_SIGMOID, 0, 0, 0},
    };
    const int nacts = (int)(sizeof acts / sizeof acts[0]);
#if defined(__aarch64__)
    const int isas[] = {1}; /* any non-generic ISA selects NEON on aarch64 */
    const char *names[] = {"neon"};
#elif defined(PCI_X86)
    const int isas[] = {PCI_ISA_AVX2, PCI_ISA_AVX512};
    const char *names[] = {"avx2", "avx512"};
#else
    const int isas[] = {0};
    const char *names[] = {"generic"};
#endif
    const pci_act_kernels *gen = pci_act_kernels_for(PCI_ISA_GENERIC);
    int fails = 0, checks = 0;
    for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++) {
        const pci_act_kernels *k = pci_act_kernels_for(isas[t]);
        if (k == gen) {
            printf("act_isa_check: %s not available on this CPU, skipped\n", names[t]);
            continue;
        }
        for (int i = 0; i < nacts; i++) {
            memcpy(a, x, n * sizeof(float));
            memcpy(b, x, n * sizeof(float));
            k->apply(a, n, acts[i]);
            gen->apply(b, n, acts[i]);
            char what[64];
            snprintf(what, sizeof what, "%s(%g, %g, %g)", pci_act_name(acts[i].kind), acts[i].p0, acts[i].p1,
                     acts[i].p2);
            fails += compare(what, names[t], x, a, b, n);
            checks++;
        }
        /* rows: finite logits of growing spread, lengths around the lane count */
        const size_t lens[] = {1, 3, 4, 7, 8, 16, 17, 100, 1000};
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const size_t cols = lens[li];
            for (int log_form = 0; log_form < 2; log_form++) {
                for (size_t j = 0; j < cols; j++) a[j] = b[j] = (float)((double)(next_u32() % 20001) / 100.0 - 100.0);
                k->softmax_row(a, cols, log_form);
                gen->softmax_row(b, cols, log_form);
                fails += compare(log_form ? "log_softmax" : "softmax", names[t], NULL, a, b, cols);
                checks++;
            }
            /* glu on (a | b) halves from the wide inputs */
            const size_t half = cols;
            float *out_k = a + 2 * half, *out_g = b + 2 * half;
            for (size_t j = 0; j < 2 * half; j++) a[j] = x[(j * 7919u) % n];
            k->glu_row(a, out_k, half);
            gen->glu_row(a, out_g, half);
            fails += compare("glu", names[t], NULL, out_k, out_g, half);
            checks++;
        }
    }
    printf("act_isa_check: %d checks over %zu inputs, %d failed; largest difference from generic %.3g\n",
           checks, n, fails, max_diff);
    free(x);
    free(a);
    free(b);
    return fails ? 1 : 0;
}
