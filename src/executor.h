/* The plan executor: a prepared model is an array of steps run in one C call,
 * so a LeNet-sized inference pays no Python overhead per layer. Which ops
 * exist, and which functions run and validate them, comes from op_table.h. */
#ifndef PCI_EXECUTOR_H
#define PCI_EXECUTOR_H

#include <stdio.h>

#include "op_table.h"
#include "pci_kernels.h"

#define PCI_MAX_INPUTS 32
#define PCI_MAX_WEIGHTS 4
#define PCI_MAX_PARAMS 40

enum pci_op {
#define PCI_ENUM_ROW(id, name) PCI_OP_##name = id,
    PCI_OP_TABLE(PCI_ENUM_ROW)
#undef PCI_ENUM_ROW
    PCI_OP_END
};

/* Element types of tensors (activations and weights); steps check theirs:
 * enum pci_dtype { PCI_DTYPE_F32 = 0, PCI_DTYPE_F16 = 1, PCI_DTYPE_BF16 = 2,
 * PCI_DTYPE_I8 = 3 } lives in pci_kernels.h (the kernels take it too). Only
 * slot 0 ("kernel") of conv2d, conv2d_transpose and dense may be other than
 * float32; an int8 kernel's per-channel scales are slot 2 ("kernel_scale"). */
/* Element types of a step's activation tensors (in[0] and out): float32, or
 * uint8 holding a tensor quantized per tensor between int8 convolutions
 * (conv2d_q8.c: x ~ scale * (q - zp) over the consumer's calibrated range).
 * Only conv2d computing in int8 and max pooling read or write uint8. */
enum pci_tensor_dtype { PCI_TENSOR_F32 = 0, PCI_TENSOR_U8 = 1 };

#define PCI_SLOT_KERNEL 0
#define PCI_SLOT_KERNEL_SCALE 2

typedef struct pci_step {
    int op;
    int algo;                            /* op-defined variant (conv2d: 0 direct, 2 / 4 Winograd) */
    pci_act act;                         /* fused activation (ops that take one) */
    int n_in;
    const float *in[PCI_MAX_INPUTS];
    int in_flags[PCI_MAX_INPUTS];        /* per input, op-defined: concat widths, broadcast masks */
    float *out;
    int in_dtype;                        /* enum pci_tensor_dtype of in[0] */
    int out_dtype;                       /* enum pci_tensor_dtype of out */
    const void *w[PCI_MAX_WEIGHTS];      /* weight slots in the op's role order (NULL: absent) */
    int w_dtype[PCI_MAX_WEIGHTS];        /* enum pci_dtype of each slot */
    union {
        pci_conv_shape conv;
        pci_tconv_shape tconv;
        pci_pool_shape pool;
        int p[PCI_MAX_PARAMS];
    } s;
    float f[4];                          /* op-defined float parameters (layer_norm: epsilon) */
    size_t rows, count;
    float *scratch;
    size_t scratch_floats;
} pci_step;

/* A memory region steps may read (and, if writable, write). */
typedef struct {
    const char *base;
    size_t size;
    int writable;
} pci_region;

/* What a validator checks against, and where it writes why a step is refused. */
typedef struct {
    const pci_region *regions;
    int nregions;
    char *err;
    size_t errlen;
} pci_check;

/* 0 when [p, p + nfloats) lies inside a region (writable if asked), else -1 with a message. */
int pci_check_in(pci_check *chk, const void *p, size_t nfloats, const char *what);
int pci_check_out(pci_check *chk, const void *p, size_t nfloats, const char *what);
int pci_check_fail(pci_check *chk, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* pci_check_in (writable 0) or pci_check_out (1) for count elements of a tensor dtype. */
int pci_check_tensor(pci_check *chk, const void *p, size_t count, int dtype, int writable, const char *what);
/* The kernel slot of a step that may hold a reduced-precision kernel: count
 * elements of its dtype inside a region (aligned to the element size), and for
 * int8 a float32 scale array of nscale floats in slot 2 (and no such slot
 * otherwise). 0, or -1 with a message. */
int pci_check_kernel(pci_check *chk, const pci_step *st, size_t count, size_t nscale);
/* The pci_weights view of a step's kernel slot. */
static inline pci_weights pci_step_kernel(const pci_step *st) {
    return (pci_weights){st->w[PCI_SLOT_KERNEL], st->w_dtype[PCI_SLOT_KERNEL],
                         st->w_dtype[PCI_SLOT_KERNEL] == PCI_DTYPE_I8 ? (const float *)st->w[PCI_SLOT_KERNEL_SCALE] : NULL};
}
/* Every int in v[0..n) is > 0 (sizes read from a file). */
int pci_all_positive(const int *v, int n);
/* a * b * c ... as size_t, or SIZE_MAX on overflow (sizes read from a file). */
size_t pci_size_mul(int n, const int *dims);

#define PCI_TRY(expr)               \
    do {                            \
        if ((expr) != 0) return -1; \
    } while (0)

#define PCI_DECLARE_OP(id, name)                                        \
    int pci_validate_##name(const pci_step *st, pci_check *chk);        \
    void pci_run_##name(const pci_step *st, pci_ctx ctx);                \
    const char *pci_algorithm_##name(const pci_step *st, int isa);
PCI_OP_TABLE(PCI_DECLARE_OP)
#undef PCI_DECLARE_OP

/* Checks every extent a step touches lies inside a region and every shape is
 * consistent. Returns 0, or -1 with a message in err. */
int pci_step_validate(const pci_step *st, const pci_region *regions, int nregions, char *err,
                      size_t errlen);
/* Runs steps in order; stops early (returning the number run) when *stop
 * becomes non-zero between steps. stop may be NULL. */
int pci_run(const pci_step *steps, int n, pci_ctx ctx, const volatile int *stop);
const char *pci_op_name(int op);       /* NULL for an unknown id */

/* Ctrl-C while a long plan runs (src/interrupt.c): begin installs a SIGINT
 * handler that sets pci_sigint_flag and passes the signal on to the previous
 * handler (Python's); end restores the previous handler. Main thread only. */
extern volatile int pci_sigint_flag;
int pci_sigint_begin(void);
void pci_sigint_end(void);
const char *pci_step_algorithm(const pci_step *st, int isa);

#endif
