/* The op table: one row per C operation. Everything that names an op is
 * generated from it: the pci_op enum, the executor's dispatch and validation
 * tables, the op names, and (through _kernels.pyx) the ids Python uses.
 *
 * X(ID, NAME): the op's kernel file defines, with `pci_step` from executor.h,
 *   int  pci_validate_NAME(const pci_step *st, pci_check *chk);  every extent checked
 *   void pci_run_NAME(const pci_step *st, pci_ctx ctx);
 *   const char *pci_algorithm_NAME(const pci_step *st, int isa); the kernel that runs
 * Adding an op: a row here, those three functions, and its Python description
 * in pyconvinfer/ops/ (shape rule, step parameters, weight packing). */
#ifndef PCI_OP_TABLE_H
#define PCI_OP_TABLE_H

#define PCI_OP_TABLE(X)        \
    X(1, conv2d)               \
    X(2, conv2d_transpose)     \
    X(3, pool2d)               \
    X(4, global_pool)          \
    X(5, dense)                \
    X(6, pad2d)                \
    X(7, resize2d)             \
    X(8, binary)               \
    X(9, concat)               \
    X(10, scale_shift)         \
    X(11, activation)          \
    X(12, layer_norm)          \
    X(13, transpose)           \
    X(14, slice)               \
    X(15, glu)

#endif
