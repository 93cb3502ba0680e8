/* Strided slicing (x[a:b:s, ...] of operator layers): y[j] = x[start + j * step]
 * per axis, steps >= 1, every index checked against the input at validation. */
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

#define PCI_SLICE_MAX_RANK 8

/* One output row: all axes but the last fixed by r. */
static void slice_row(const float *x, float *out, size_t r, int rank, const int *in_dims, const int *start,
                      const int *step, const int *out_dims, const size_t *in_stride) {
    size_t rem = r, off = 0;
    for (int a = rank - 2; a >= 0; a--) {
        const size_t j = rem % (size_t)out_dims[a];
        rem /= (size_t)out_dims[a];
        off += ((size_t)start[a] + j * (size_t)step[a]) * in_stride[a];
    }
    const float *src = x + off + (size_t)start[rank - 1];
    const int n = out_dims[rank - 1], s = step[rank - 1];
    (void)in_dims;
    if (s == 1) memcpy(out, src, sizeof(float) * (size_t)n);
    else
        for (int j = 0; j < n; j++) out[j] = src[(size_t)j * s];
}

void pci_slice(const float *x, float *y, int rank, const int *in_dims, const int *start, const int *step,
               const int *out_dims, pci_ctx ctx) {
    size_t in_stride[PCI_SLICE_MAX_RANK] = {0}, s = 1, rows = 1;
    for (int a = rank - 1; a >= 0; a--) in_stride[a] = s, s *= (size_t)in_dims[a];
    for (int a = 0; a < rank - 1; a++) rows *= (size_t)out_dims[a];
    const size_t inner = (size_t)out_dims[rank - 1];
    const int nt = pci_threads_for(ctx, (double)rows * inner);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        slice_row(x, y + (size_t)r * inner, (size_t)r, rank, in_dims, start, step, out_dims, in_stride);
    });
}

/* ---- the slice op: p = rank, in_dims[rank], start[rank], step[rank], out_dims[rank] ---- */
int pci_validate_slice(const pci_step *st, pci_check *chk) {
    const int rank = st->s.p[0];
    if (rank < 1 || rank > PCI_SLICE_MAX_RANK) return pci_check_fail(chk, "rank %d not in 1..%d", rank, PCI_SLICE_MAX_RANK);
    const int *in = st->s.p + 1, *start = in + rank, *step = start + rank, *out = step + rank;
    if (!pci_all_positive(in, rank) || !pci_all_positive(step, rank) || !pci_all_positive(out, rank))
        return pci_check_fail(chk, "non-positive size or step");
    for (int a = 0; a < rank; a++) /* the last index read, start + (out - 1) * step, is inside the input */
        if (start[a] < 0 || (long long)start[a] + (long long)(out[a] - 1) * step[a] >= in[a])
            return pci_check_fail(chk, "axis %d: slice runs outside the input", a);
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(rank, in), "input"));
    return pci_check_out(chk, st->out, pci_size_mul(rank, out), "output");
}

void pci_run_slice(const pci_step *st, pci_ctx ctx) {
    const int rank = st->s.p[0];
    const int *in = st->s.p + 1;
    pci_slice(st->in[0], st->out, rank, in, in + rank, in + 2 * rank, in + 3 * rank, ctx);
}

const char *pci_algorithm_slice(const pci_step *st, int isa) {
    (void)isa;
    const int rank = st->s.p[0];
    return st->s.p[1 + 3 * rank - 1] == 1 ? "row copy" : "strided gather";
}
