/* Activations: the scalar reference definitions (Keras's formulas, libm,
 * float32), the kind table, and the run-time choice of the vectorized path
 * (act_vec.h instantiated per ISA) for everything that applies them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_isa.h"

static inline float sigmoidf(float x) {
    /* exp of a large positive argument overflows to inf: 1 / inf = 0, as wanted. */
    return 1.0f / (1.0f + expf(-x));
}

static inline float softplusf(float x) {
    /* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

float pci_act_scalar(float x, pci_act act) {
    switch (act.kind) {
    case PCI_ACT_RELU: {
        /* Keras's relu(x, negative_slope, max_value, threshold), term by term:
         * x where x > threshold (clipped to [0, max_value] when a max is given),
         * plus negative_slope * (x - threshold) where x <= threshold. */
        float y = x > act.p2 ? x : 0.0f;
        if (isfinite(act.p0)) y = fminf(fmaxf(y, 0.0f), act.p0);
        return act.p1 == 0.0f ? y : y + act.p1 * fminf(x - act.p2, 0.0f); /* 0 * -inf: no NaN */
    }
    case PCI_ACT_ELU: return x > 0.0f ? x : act.p0 * expm1f(x);
    case PCI_ACT_SELU: {
        const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
        return scale * (x > 0.0f ? x : alpha * expm1f(x));
    }
    case PCI_ACT_SIGMOID: return sigmoidf(x);
    case PCI_ACT_HARD_SIGMOID: return fminf(fmaxf(act.p0 * x + act.p1, 0.0f), 1.0f);
    case PCI_ACT_TANH: return tanhf(x);
    case PCI_ACT_SOFTPLUS: return softplusf(x);
    case PCI_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case PCI_ACT_SWISH: return x * sigmoidf(x);
    case PCI_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case PCI_ACT_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case PCI_ACT_EXPONENTIAL: return expf(x);
    case PCI_ACT_HARD_SILU: return x * fminf(fmaxf(x / 6.0f + 0.5f, 0.0f), 1.0f);
    case PCI_ACT_MISH: return x * tanhf(softplusf(x));
    case PCI_ACT_CELU: return fmaxf(x, 0.0f) + act.p0 * expm1f(fminf(x, 0.0f) / act.p0);
    case PCI_ACT_HARD_SHRINK: return fabsf(x) > act.p0 ? x : 0.0f;
    case PCI_ACT_HARD_TANH: return fminf(fmaxf(x, -1.0f), 1.0f);
    case PCI_ACT_LOG_SIGMOID: return -softplusf(-x);
    case PCI_ACT_SOFT_SHRINK: return x > act.p0 ? x - act.p0 : (x < -act.p0 ? x + act.p0 : 0.0f);
    case PCI_ACT_SPARSE_PLUS: return x <= -1.0f ? 0.0f : (x < 1.0f ? 0.25f * (x + 1.0f) * (x + 1.0f) : x);
    case PCI_ACT_SQUAREPLUS: return (x + sqrtf(x * x + act.p0)) / 2.0f;
    case PCI_ACT_TANH_SHRINK: return x - tanhf(x);
    case PCI_ACT_THRESHOLD: return x > act.p0 ? x : act.p1;
    case PCI_ACT_SPARSE_SIGMOID: return x <= -1.0f ? 0.0f : (x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f));
    default: return x; /* linear; row kinds are not element-wise */
    }
}

#define PCI_ACT_NAME_ROW(e, id, name, shape, params) [id] = name,
static const char *const act_names[PCI_ACT_COUNT] = {PCI_ACT_TABLE(PCI_ACT_NAME_ROW)};
#define PCI_ACT_SHAPE_ROW(e, id, name, shape, params) [id] = shape,
static const int act_shapes[PCI_ACT_COUNT] = {PCI_ACT_TABLE(PCI_ACT_SHAPE_ROW)};

const char *pci_act_name(int kind) { return kind >= 0 && kind < PCI_ACT_COUNT ? act_names[kind] : NULL; }
int pci_act_shape(int kind) { return kind >= 0 && kind < PCI_ACT_COUNT && act_names[kind] ? act_shapes[kind] : -1; }

static const pci_act_kernels act_generic = {pci_act_apply_generic, pci_act_apply_rows_generic,
                                            pci_act_softmax_row_generic,
                                            pci_act_glu_row_generic};
#ifdef PCI_X86
static const pci_act_kernels act_avx2 = {pci_act_apply_avx2, pci_act_apply_rows_avx2, pci_act_softmax_row_avx2,
                                         pci_act_glu_row_avx2};
static const pci_act_kernels act_avx512 = {pci_act_apply_avx512, pci_act_apply_rows_avx512, pci_act_softmax_row_avx512,
                                           pci_act_glu_row_avx512};
#endif
#ifdef __aarch64__
static const pci_act_kernels act_neon = {pci_act_apply_neon, pci_act_apply_rows_neon, pci_act_softmax_row_neon,
                                         pci_act_glu_row_neon};
#endif

const pci_act_kernels *pci_act_kernels_for(int isa) {
#ifdef PCI_X86
    /* Called per GEMM block: the CPU's ISA is looked up once (a relaxed
     * atomic: every thread computes and stores the same value). */
    static int cpu = -1;
    int have = __atomic_load_n(&cpu, __ATOMIC_RELAXED);
    if (have < 0) {
        have = pci_cpu_isa();
        __atomic_store_n(&cpu, have, __ATOMIC_RELAXED);
    }
    switch (isa < have ? isa : have) {
    case PCI_ISA_AVX512: return &act_avx512;
    case PCI_ISA_AVX2: return &act_avx2;
    default: return &act_generic;
    }
#elif defined(__aarch64__)
    /* NEON is baseline on aarch64: every ISA but the forced generic uses it. */
    return isa == PCI_ISA_GENERIC ? &act_generic : &act_neon;
#else
    (void)isa;
    return &act_generic;
#endif
}

void pci_act_inplace_rows(float *x, size_t rows, size_t n, size_t ld, pci_act act, int isa) {
    switch (act.kind) {
    case PCI_ACT_LINEAR: return;
    case PCI_ACT_RELU:
        if (act.p1 == 0.0f && act.p2 == 0.0f) {
            /* Plain (capped) relu: the common case, the compiler vectorizes it. */
            const float hi = act.p0;
            for (size_t r = 0; r < rows; r++) {
                float *xr = x + r * ld;
#pragma omp simd
                for (size_t i = 0; i < n; i++) {
                    const float y = xr[i] > 0.0f ? xr[i] : 0.0f;
                    xr[i] = y > hi ? hi : y;
                }
            }
            return;
        }
        break;
    default: break;
    }
    if (pci_act_shape(act.kind) != PCI_ACT_ELEMENTWISE) return; /* rows: pci_activation */
    pci_act_kernels_for(isa)->apply_rows(x, rows, n, ld, act);
}

void pci_act_inplace(float *x, size_t n, pci_act act, int isa) { pci_act_inplace_rows(x, 1, n, n, act, isa); }

void pci_softmax_rows(float *x, size_t rows, size_t cols) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        float mx = -INFINITY;
        for (size_t i = 0; i < cols; i++) mx = row[i] > mx ? row[i] : mx;
        double sum = 0.0; /* float64 sum: the result is then within 1 ulp-ish of exact */
        for (size_t i = 0; i < cols; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
        const float inv = (float)(1.0 / sum);
        for (size_t i = 0; i < cols; i++) row[i] *= inv;
    }
}

static int descending(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Keras 3's sparsemax of one row, as the backends (keras/src/backend/tensorflow/nn.py and the others) compute it in
 * float32 (all backends alike): sort descending, running sums c_j, support
 * z_j - (c_j - 1) / j > 0, then tau = (sum of c_j over the support - 1) / k
 * (Keras sums the running sums, where the paper uses c_k: we reproduce Keras),
 * y = max(x - tau, 0). */
static void sparsemax_row(float *x, size_t n) {
    float stack[256];
    float *z = n <= 256 ? stack : malloc(n * sizeof(float));
    if (!z) return;
    memcpy(z, x, n * sizeof(float));
    qsort(z, n, sizeof(float), descending);
    float cum = 0.0f, sum_support = 0.0f, k = 0.0f;
    for (size_t j = 0; j < n; j++) {
        cum += z[j];
        if (z[j] - (cum - 1.0f) / (float)(j + 1) > 0.0f) {
            sum_support += cum;
            k += 1.0f;
        }
    }
    const float tau = (sum_support - 1.0f) / k;
    for (size_t j = 0; j < n; j++) x[j] = x[j] - tau > 0.0f ? x[j] - tau : 0.0f;
    if (z != stack) free(z);
}

void pci_activation(float *x, size_t rows, size_t cols, pci_act act, pci_ctx ctx) {
    if (act.kind == PCI_ACT_LINEAR || rows == 0 || cols == 0) return;
    const int shape = pci_act_shape(act.kind);
    if (shape < 0 || shape == PCI_ACT_HALVES) return; /* glu changes the shape: pci_glu_rows */
    const int nt = pci_threads_for(ctx, 8.0 * (double)rows * (double)cols);
    const pci_act_kernels *k = pci_act_kernels_for(ctx.isa);
    if (act.kind == PCI_ACT_SPARSEMAX) {
        PCI_FOR(nt, long r = 0, r < (long)rows, r++, { sparsemax_row(x + (size_t)r * cols, cols); });
        return;
    }
    if (shape == PCI_ACT_ROW) {
        const int log_form = act.kind == PCI_ACT_LOG_SOFTMAX;
        PCI_FOR(nt, long r = 0, r < (long)rows, r++, { k->softmax_row(x + (size_t)r * cols, cols, log_form); });
        return;
    }
    /* Fixed-size chunks so each element's result is independent of the thread count. */
    const size_t total = rows * cols, chunk = 16384;
    const long nchunks = (long)((total + chunk - 1) / chunk);
    PCI_FOR(nt, long i = 0, i < nchunks, i++, {
        const size_t start = (size_t)i * chunk;
        pci_act_inplace(x + start, PCI_MIN(chunk, total - start), act, ctx.isa);
    });
}

void pci_glu_rows(const float *x, float *y, size_t rows, size_t cols_out, pci_ctx ctx) {
    if (rows == 0 || cols_out == 0) return;
    const int nt = pci_threads_for(ctx, 16.0 * (double)rows * (double)cols_out);
    const pci_act_kernels *k = pci_act_kernels_for(ctx.isa);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        k->glu_row(x + (size_t)r * 2 * cols_out, y + (size_t)r * cols_out, cols_out);
    });
}
