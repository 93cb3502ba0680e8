/* Element-wise n-ary ops with NumPy/Keras broadcasting: add, subtract,
 * multiply, divide, maximum, minimum, average and PReLU, then a fused
 * activation.
 *
 * The output has `rank` dims (the batch axis included; Python collapses
 * neighbouring axes that broadcast alike, so rank is small). Input i has
 * size 1 on every axis whose bit is set in masks[i] and the output's size on
 * the others. The last axis runs as a contiguous (stride 1) or a broadcast
 * (stride 0) vector loop per input; the other axes are an odometer. */
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

#define PCI_BINARY_MAX_RANK 8

const char *pci_binary_kind_name(int kind) {
    switch (kind) {
#define PCI_BINARY_NAME(id, name, NAME) \
    case id: return #name;
        PCI_BINARY_TABLE(PCI_BINARY_NAME)
#undef PCI_BINARY_NAME
    default: return NULL;
    }
}

static inline float combine(int kind, float a, float b) {
    switch (kind) {
    case PCI_BINARY_SUB: return a - b;
    case PCI_BINARY_MUL: return a * b;
    case PCI_BINARY_DIV: return a / b;
    case PCI_BINARY_MAX: return b > a ? b : a; /* NaN in a propagates, as in a > b ? a : b with a first */
    case PCI_BINARY_MIN: return b < a ? b : a;
    case PCI_BINARY_PRELU: return a > 0.0f ? a : a * b;
    default: return a + b; /* add, average (divided at the end) */
    }
}

/* out[j] = combine(out[j], x[j * stride]) for j < n; stride is 0 or 1. */
static void combine_row(int kind, float *out, const float *x, size_t n, int stride) {
    if (stride) {
        switch (kind) {
        case PCI_BINARY_MUL:
#pragma omp simd
            for (size_t j = 0; j < n; j++) out[j] *= x[j];
            return;
        case PCI_BINARY_ADD:
        case PCI_BINARY_AVG:
#pragma omp simd
            for (size_t j = 0; j < n; j++) out[j] += x[j];
            return;
        default:
#pragma omp simd
            for (size_t j = 0; j < n; j++) out[j] = combine(kind, out[j], x[j]);
            return;
        }
    }
    const float v = x[0];
#pragma omp simd
    for (size_t j = 0; j < n; j++) out[j] = combine(kind, out[j], v);
}

/* Output row r (all axes but the last fixed) from every input. */
static void binary_row(const float *const *xs, int k, size_t strides[][PCI_BINARY_MAX_RANK], int rank,
                       const int *dims, int kind, float *out, size_t r, size_t inner, pci_act act, int isa) {
    size_t rem = r, off[PCI_MAX_INPUTS] = {0};
    for (int a = rank - 2; a >= 0; a--) { /* this row's offset in each input, from its multi-index */
        const size_t idx = rem % (size_t)dims[a];
        rem /= (size_t)dims[a];
        for (int i = 0; i < k; i++) off[i] += idx * strides[i][a];
    }
    const float *x0 = xs[0] + off[0];
    if (strides[0][rank - 1]) {
        if (out != x0) memmove(out, x0, sizeof(float) * inner);
    } else {
        for (size_t j = 0; j < inner; j++) out[j] = x0[0];
    }
    for (int i = 1; i < k; i++) combine_row(kind, out, xs[i] + off[i], inner, strides[i][rank - 1] != 0);
    if (kind == PCI_BINARY_AVG) { /* Keras divides the sum by the count (not a multiply by 1/k: 1/3 is inexact) */
        const float n = (float)k;
#pragma omp simd
        for (size_t j = 0; j < inner; j++) out[j] /= n;
    }
    pci_act_inplace(out, inner, act, isa);
}

void pci_binary(const float *const *xs, const int *masks, int k, float *y, int kind, int rank, const int *dims,
                pci_act act, pci_ctx ctx) {
    size_t strides[PCI_MAX_INPUTS][PCI_BINARY_MAX_RANK];
    for (int i = 0; i < k; i++) {
        size_t s = 1;
        for (int a = rank - 1; a >= 0; a--) {
            const int bcast = (masks[i] >> a) & 1;
            strides[i][a] = bcast ? 0 : s;
            s *= bcast ? 1 : (size_t)dims[a];
        }
    }
    const size_t inner = (size_t)dims[rank - 1];
    size_t rows = 1;
    for (int a = 0; a < rank - 1; a++) rows *= (size_t)dims[a];
    const int nt = pci_threads_for(ctx, (double)rows * inner * k);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        binary_row(xs, k, strides, rank, dims, kind, y + (size_t)r * inner, (size_t)r, inner, act, ctx.isa);
    });
}

/* ---- the binary op: p = kind, rank, dims[rank]; in_flags = broadcast masks ---- */
int pci_validate_binary(const pci_step *st, pci_check *chk) {
    const int kind = st->s.p[0], rank = st->s.p[1];
    const int *dims = st->s.p + 2;
    if (kind < 0 || kind >= PCI_BINARY_COUNT) return pci_check_fail(chk, "unknown kind %d", kind);
    if (rank < 1 || rank > PCI_BINARY_MAX_RANK) return pci_check_fail(chk, "rank %d not in 1..%d", rank, PCI_BINARY_MAX_RANK);
    if (!pci_all_positive(dims, rank)) return pci_check_fail(chk, "non-positive size");
    if (st->n_in < 1) return pci_check_fail(chk, "needs inputs");
    if (pci_act_shape(st->act.kind) != PCI_ACT_ELEMENTWISE)
        return pci_check_fail(chk, "fused activation %d is not element-wise (the step has no row length)", st->act.kind);
    if ((kind == PCI_BINARY_SUB || kind == PCI_BINARY_DIV || kind == PCI_BINARY_PRELU) && st->n_in != 2)
        return pci_check_fail(chk, "kind %d takes exactly two inputs, got %d", kind, st->n_in);
    const size_t total = pci_size_mul(rank, dims);
    for (int i = 0; i < st->n_in; i++) {
        const int mask = st->in_flags[i];
        if (mask < 0 || mask >= (1 << rank)) return pci_check_fail(chk, "input %d: bad broadcast mask %d", i, mask);
        int in_dims[PCI_BINARY_MAX_RANK];
        for (int a = 0; a < rank; a++) in_dims[a] = (mask >> a) & 1 ? 1 : dims[a];
        PCI_TRY(pci_check_in(chk, st->in[i], pci_size_mul(rank, in_dims), "input"));
    }
    return pci_check_out(chk, st->out, total, "output");
}

void pci_run_binary(const pci_step *st, pci_ctx ctx) {
    pci_binary(st->in, st->in_flags, st->n_in, st->out, st->s.p[0], st->s.p[1], st->s.p + 2, st->act, ctx);
}

const char *pci_algorithm_binary(const pci_step *st, int isa) {
    (void)isa;
    for (int i = 0; i < st->n_in; i++)
        if (st->in_flags[i]) return "broadcast rows";
    return "element-wise";
}
