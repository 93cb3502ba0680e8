/* Per-ISA activation entry points (act_vec.h instantiated by act_<isa>.c) and
 * the run-time choice between them (act.c). Internal to the kernels. */
#ifndef PCI_ACT_ISA_H
#define PCI_ACT_ISA_H

#include "pci_internal.h"

typedef struct {
    void (*apply)(float *x, size_t n, pci_act act);              /* element-wise, in place */
    void (*apply_rows)(float *x, size_t rows, size_t n, size_t ld, pci_act act); /* rows of n, ld apart */
    void (*softmax_row)(float *row, size_t cols, int log_form);  /* softmax / log_softmax */
    void (*glu_row)(const float *x, float *y, size_t cols_out);
} pci_act_kernels;

#define PCI_ACT_DECLARE(isa)                                                  \
    void pci_act_apply_##isa(float *x, size_t n, pci_act act);                \
    void pci_act_apply_rows_##isa(float *x, size_t rows, size_t n, size_t ld, pci_act act); \
    void pci_act_softmax_row_##isa(float *row, size_t cols, int log_form);    \
    void pci_act_glu_row_##isa(const float *x, float *y, size_t cols_out);

PCI_ACT_DECLARE(generic)
#ifdef PCI_X86
PCI_ACT_DECLARE(avx2)
PCI_ACT_DECLARE(avx512)
#endif
#ifdef __aarch64__
PCI_ACT_DECLARE(neon)
#endif

/* The kernels for `isa` (clamped to what the CPU has). */
const pci_act_kernels *pci_act_kernels_for(int isa);

#endif
