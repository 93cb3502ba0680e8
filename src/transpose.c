/* Axis permutation (Keras Permute, and the layout changes of operator
 * layers): y[j0..jr] = x[i] with i[perm[a]] = j[a]. Python collapses axes that
 * stay neighbours, so the innermost run is usually a whole block copy. */
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

#define PCI_TRANSPOSE_MAX_RANK 8

void pci_transpose(const float *x, float *y, int rank, const int *dims, const int *perm, pci_ctx ctx) {
    size_t in_stride[PCI_TRANSPOSE_MAX_RANK] = {0}, out_dims[PCI_TRANSPOSE_MAX_RANK] = {0}, step[PCI_TRANSPOSE_MAX_RANK] = {0};
    size_t s = 1;
    for (int a = rank - 1; a >= 0; a--) in_stride[a] = s, s *= (size_t)dims[a];
    for (int a = 0; a < rank; a++) out_dims[a] = (size_t)dims[perm[a]], step[a] = in_stride[perm[a]];
    const size_t inner = out_dims[rank - 1], inner_step = step[rank - 1];
    size_t rows = 1;
    for (int a = 0; a < rank - 1; a++) rows *= out_dims[a];
    const int nt = pci_threads_for(ctx, (double)rows * inner);
    PCI_FOR(nt, long r = 0, r < (long)rows, r++, {
        size_t rem = (size_t)r, off = 0;
        for (int a = rank - 2; a >= 0; a--) {
            off += (rem % out_dims[a]) * step[a];
            rem /= out_dims[a];
        }
        float *out = y + (size_t)r * inner;
        if (inner_step == 1) memcpy(out, x + off, sizeof(float) * inner);
        else
            for (size_t j = 0; j < inner; j++) out[j] = x[off + j * inner_step];
    });
}

/* ---- the transpose op: p = rank, dims[rank], perm[rank] ---- */
int pci_validate_transpose(const pci_step *st, pci_check *chk) {
    const int rank = st->s.p[0];
    if (rank < 1 || rank > PCI_TRANSPOSE_MAX_RANK) return pci_check_fail(chk, "rank %d not in 1..%d", rank, PCI_TRANSPOSE_MAX_RANK);
    const int *dims = st->s.p + 1, *perm = st->s.p + 1 + rank;
    if (!pci_all_positive(dims, rank)) return pci_check_fail(chk, "non-positive size");
    int seen = 0;
    for (int a = 0; a < rank; a++) {
        if (perm[a] < 0 || perm[a] >= rank || (seen >> perm[a]) & 1) return pci_check_fail(chk, "not a permutation");
        seen |= 1 << perm[a];
    }
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(rank, dims), "input"));
    return pci_check_out(chk, st->out, pci_size_mul(rank, dims), "output");
}

void pci_run_transpose(const pci_step *st, pci_ctx ctx) {
    const int rank = st->s.p[0];
    pci_transpose(st->in[0], st->out, rank, st->s.p + 1, st->s.p + 1 + rank, ctx);
}

const char *pci_algorithm_transpose(const pci_step *st, int isa) {
    (void)isa;
    const int rank = st->s.p[0];
    return st->s.p[1 + rank + rank - 1] == rank - 1 ? "block copy" : "strided gather";
}
