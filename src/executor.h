/* The plan executor: a prepared model is an array of steps run in one C call,
 * so a LeNet-sized inference pays no Python overhead per layer. */
#ifndef PCI_EXECUTOR_H
#define PCI_EXECUTOR_H

#include "pci_kernels.h"

#define PCI_MAX_INPUTS 32

enum pci_op {
    PCI_OP_CONV2D = 1,
    PCI_OP_CONV2D_TRANSPOSE = 2,
    PCI_OP_MAX_POOL2D = 3,
    PCI_OP_AVG_POOL2D = 4,
    PCI_OP_GLOBAL_AVG_POOL = 5, /* ints: n, hw, c */
    PCI_OP_GLOBAL_MAX_POOL = 6,
    PCI_OP_DENSE = 7,           /* ints: m, k, n */
    PCI_OP_ZERO_PAD2D = 8,      /* ints: n, h, w, c, top, bottom, left, right */
    PCI_OP_UPSAMPLE_NEAREST = 9, /* ints: n, h, w, c, fh, fw */
    PCI_OP_ADD = 10,            /* count */
    PCI_OP_CONCAT = 11,         /* rows, cols[] */
    PCI_OP_SCALE_SHIFT = 12,    /* rows, ints: c */
    PCI_OP_ACTIVATION = 13,     /* rows, ints: cols */
    PCI_OP_COPY = 14,           /* count */
    PCI_OP_CONV2D_WINOGRAD = 15 /* conv shape; algo = m (2 or 4); scratch */
};

typedef struct {
    int op;
    pci_act act;
    int n_in;
    const float *in[PCI_MAX_INPUTS];
    float *out;
    const float *w, *b, *w2;
    union {
        pci_conv_shape conv;
        pci_tconv_shape tconv;
        pci_pool_shape pool;
        int p[16];
    } s;
    int cols[PCI_MAX_INPUTS];
    size_t rows, count;
    int algo;
    float *scratch;
    size_t scratch_floats;
} pci_step;

/* A memory region steps may read (and, if writable, write). */
typedef struct {
    const char *base;
    size_t size;
    int writable;
} pci_region;

/* Checks every extent a step touches lies inside a region and every shape is
 * consistent. Returns 0, or -1 with a message in err. */
int pci_step_validate(const pci_step *st, const pci_region *regions, int nregions, char *err,
                      size_t errlen);
/* Runs steps in order; before each step, stops if *stop (may be NULL) is set.
 * Returns how many steps ran (n unless stopped). */
int pci_run(const pci_step *steps, int n, pci_ctx ctx, const volatile int *stop);

/* Ctrl-C while a long plan runs (src/interrupt.c): begin installs a SIGINT
 * handler that sets pci_sigint_flag and passes the signal on to the previous
 * handler (Python's); end restores the previous handler. Main thread only. */
extern volatile int pci_sigint_flag;
int pci_sigint_begin(void);
void pci_sigint_end(void);

#endif
