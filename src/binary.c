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

/* out[j] = combine(out[j], x[j * stride]) for j < n; stride is 0 or 1. One
 * loop per kind and stride: a switch inside the loop keeps it scalar. */
#define COMBINE_LOOPS(KIND)                                                      \
    case KIND:                                                                   \
        if (stride) {                                                            \
            _Pragma("omp simd") for (size_t j = 0; j < n; j++) out[j] = combine(KIND, out[j], x[j]); \
        } else {                                                                 \
            _Pragma("omp simd") for (size_t j = 0; j < n; j++) out[j] = combine(KIND, out[j], v); \
        }                                                                        \
        return;

static inline __attribute__((always_inline)) void combine_row(int kind, float *out, const float *x, size_t n, int stride) {
    const float v = x[0];
    switch (kind) {
        COMBINE_LOOPS(PCI_BINARY_SUB)
        COMBINE_LOOPS(PCI_BINARY_MUL)
        COMBINE_LOOPS(PCI_BINARY_DIV)
        COMBINE_LOOPS(PCI_BINARY_MAX)
        COMBINE_LOOPS(PCI_BINARY_MIN)
        COMBINE_LOOPS(PCI_BINARY_PRELU)
    default: /* add, average (divided at the end) */
        COMBINE_LOOPS(PCI_BINARY_ADD)
    }
}
#undef COMBINE_LOOPS

/* out[j] = combine(a[j * sa], b[j * sb]) for j < n (strides 0 or 1): the first
 * two inputs in one pass instead of a copy and a combine. */
#define COMBINE2_LOOPS(KIND)                                                                            \
    case KIND:                                                                                          \
        if (sa && sb) {                                                                                 \
            _Pragma("omp simd") for (size_t j = 0; j < n; j++) out[j] = combine(KIND, a[j], b[j]);      \
        } else if (sa) {                                                                                \
            _Pragma("omp simd") for (size_t j = 0; j < n; j++) out[j] = combine(KIND, a[j], bv);        \
        } else if (sb) {                                                                                \
            _Pragma("omp simd") for (size_t j = 0; j < n; j++) out[j] = combine(KIND, av, b[j]);        \
        } else {                                                                                        \
            const float r = combine(KIND, av, bv);                                                      \
            for (size_t j = 0; j < n; j++) out[j] = r;                                                  \
        }                                                                                               \
        return;

static inline __attribute__((always_inline)) void combine2(int kind, float *out, const float *a, int sa, const float *b, int sb, size_t n) {
    const float av = a[0], bv = b[0];
    switch (kind) {
        COMBINE2_LOOPS(PCI_BINARY_SUB)
        COMBINE2_LOOPS(PCI_BINARY_MUL)
        COMBINE2_LOOPS(PCI_BINARY_DIV)
        COMBINE2_LOOPS(PCI_BINARY_MAX)
        COMBINE2_LOOPS(PCI_BINARY_MIN)
        COMBINE2_LOOPS(PCI_BINARY_PRELU)
    default: /* add, average (divided at the end) */
        COMBINE2_LOOPS(PCI_BINARY_ADD)
    }
}
#undef COMBINE2_LOOPS

/* The output runs as segments of at most SEG floats of one "row" (every axis
 * but the last fixed, or with folding every axis but the last two): a row of a
 * plain add is the whole tensor, so it still splits over threads, and a row of
 * an (H*W, 3) image normalisation is 150 k floats instead of 50 k rows of 3.
 * Each output element is computed by the same arithmetic whatever the split:
 * results do not depend on the thread count. */
#define SEG 1024
/* Inputs that repeat a last-axis vector along a folded row: at most this many. */
#define MAX_PERIODIC 4

/* How input i walks a segment: contiguous (stride 1), one value (stride 0), or
 * a vector of `period` floats repeated (folded rows broadcast along axis rank-2). */
enum { WALK_CONTIG, WALK_SCALAR, WALK_PERIODIC };

typedef struct {
    const float *const *xs;
    size_t (*strides)[PCI_BINARY_MAX_RANK];
    const int *dims, *walk;
    int k, kind, outer_rank; /* axes 0 .. outer_rank-1 index rows */
    size_t row_len, segs_per_row, period;
    float *y;
    pci_act act;
    int isa;
} binary_job;

/* out[j] = x[j] (or x[0] for stride 0), j < n. */
static inline __attribute__((always_inline)) void load_row(float *out, const float *x, size_t n, int stride) {
    if (stride) {
        if (out != x) memmove(out, x, sizeof(float) * n);
    } else {
        const float v = x[0];
        for (size_t j = 0; j < n; j++) out[j] = v;
    }
}

/* The inputs' values for segment [j0, j0 + n) of a row, ready for combine_row:
 * a periodic input is tiled into buf (segments start at multiples of the period). */
static inline __attribute__((always_inline)) const float *segment_src(const binary_job *J, int i, const float *row, size_t j0, size_t n, float *buf,
                                int *stride) {
    switch (J->walk[i]) {
    case WALK_SCALAR: *stride = 0; return row;
    case WALK_PERIODIC:
        /* doubling copies: a 3-float period fills a segment in 9 memcpy calls, not 341 */
        memcpy(buf, row, sizeof(float) * J->period);
        for (size_t have = J->period; have < n; have *= 2) memcpy(buf + have, buf, sizeof(float) * PCI_MIN(have, n - have));
        *stride = 1;
        return buf;
    default: *stride = 1; return row + j0;
    }
}

static inline __attribute__((always_inline)) void binary_segment(const binary_job *J, size_t item) {
    const size_t r = item / J->segs_per_row, j0 = (item % J->segs_per_row) * (SEG / J->period * J->period);
    const size_t n = PCI_MIN(SEG / J->period * J->period, J->row_len - j0);
    size_t rem = r, off[PCI_MAX_INPUTS] = {0};
    for (int a = J->outer_rank - 1; a >= 0; a--) { /* this row's offset in each input, from its multi-index */
        const size_t idx = rem % (size_t)J->dims[a];
        rem /= (size_t)J->dims[a];
        for (int i = 0; i < J->k; i++) off[i] += idx * J->strides[i][a];
    }
    float *out = J->y + r * J->row_len + j0;
    float tiles[MAX_PERIODIC][SEG];
    int ntiles = 0, stride;
    /* A contiguous first input may alias the output (in-place steps): loading it is a no-op then. */
    const float *x0 = segment_src(J, 0, J->xs[0] + off[0], j0, n, tiles[ntiles], &stride);
    ntiles += J->walk[0] == WALK_PERIODIC;
    if (J->k == 1) {
        load_row(out, x0, n, stride);
    } else { /* out may alias a contiguous x0 or x1 element for element: one pass reads before it writes */
        int stride1;
        const float *x1 = segment_src(J, 1, J->xs[1] + off[1], j0, n, tiles[ntiles], &stride1);
        ntiles += J->walk[1] == WALK_PERIODIC;
        combine2(J->kind, out, x0, stride, x1, stride1, n);
    }
    for (int i = 2; i < J->k; i++) {
        const float *xi = segment_src(J, i, J->xs[i] + off[i], j0, n, tiles[ntiles], &stride);
        ntiles += J->walk[i] == WALK_PERIODIC;
        combine_row(J->kind, out, xi, n, stride);
    }
    if (J->kind == PCI_BINARY_AVG) { /* Keras divides the sum by the count (not a multiply by 1/k: 1/3 is inexact) */
        const float cnt = (float)J->k;
#pragma omp simd
        for (size_t j = 0; j < n; j++) out[j] /= cnt;
    }
    pci_act_inplace(out, n, J->act, J->isa);
}

/* The segment body compiled once per instruction set (its `omp simd` loops
 * become AVX2 / AVX-512 vectors there; the portable build's baseline is SSE2),
 * chosen at run time by ctx.isa. Each element is one IEEE operation (no
 * multiply-add to contract): every path gives the same bits. */
typedef void (*binary_segment_fn)(const binary_job *J, size_t item);
#define PCI_BINARY_VARIANT(SUFFIX, TARGET) \
    TARGET static void segment_##SUFFIX(const binary_job *J, size_t item) { binary_segment(J, item); }
PCI_BINARY_VARIANT(generic, )
#ifdef PCI_X86
PCI_BINARY_VARIANT(avx2, __attribute__((target("avx2,fma"))))
PCI_BINARY_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif
#undef PCI_BINARY_VARIANT

static binary_segment_fn segment_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return segment_avx512;
    case PCI_ISA_AVX2: return segment_avx2;
#endif
    default: return segment_generic;
    }
}

/* A binary MAC-equivalent is a load and a store: weigh it so that ~100 us of
 * work, not 2 M element operations, goes parallel. */
#define BINARY_COST_PER_ELEMENT 8.0

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
    int walk[PCI_MAX_INPUTS];
    for (int i = 0; i < k; i++) walk[i] = strides[i][rank - 1] ? WALK_CONTIG : WALK_SCALAR;
    /* Fold the last two axes into one row when the rows are short and every
     * input is contiguous over both, a last-axis vector repeated along the
     * other (periodic), or one value over both. */
    int fold = rank >= 2 && inner < SEG / 4, periodic = 0;
    for (int i = 0; i < k && fold; i++) {
        const int last = (masks[i] >> (rank - 1)) & 1, row = (masks[i] >> (rank - 2)) & 1;
        if (!last && row) walk[i] = WALK_PERIODIC, periodic++;
        else if (last != row) fold = 0;
    }
    if (fold && periodic > MAX_PERIODIC) fold = 0;
    if (!fold)
        for (int i = 0; i < k; i++) walk[i] = strides[i][rank - 1] ? WALK_CONTIG : WALK_SCALAR;
    const int outer_rank = rank - 1 - fold;
    const size_t row_len = fold ? inner * (size_t)dims[rank - 2] : inner;
    const size_t period = fold && periodic ? inner : 1;
    size_t rows = 1;
    for (int a = 0; a < outer_rank; a++) rows *= (size_t)dims[a];
    const size_t seg = SEG / period * period, segs_per_row = (row_len + seg - 1) / seg;
    const binary_job job = {xs, strides, dims, walk, k, kind, outer_rank, row_len, segs_per_row, period, y, act,
                            ctx.isa};
    const size_t items = rows * segs_per_row;
    const int nt = pci_threads_for(ctx, (double)rows * row_len * k * BINARY_COST_PER_ELEMENT);
    const binary_segment_fn segment = segment_for(ctx.isa);
    PCI_FOR(nt, long it = 0, it < (long)items, it++, { segment(&job, (size_t)it); });
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
