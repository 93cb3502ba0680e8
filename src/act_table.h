/* The activation kinds: one row each, the only place their ids are written.
 *
 *   X(ENUM, id, "name", shape, params)
 *     ENUM    PCI_ACT_<ENUM> in enum pci_act_kind (pci_kernels.h)
 *     id      stored in .pci files: never renumber, only append
 *     name    the canonical name (pyconvinfer/activations.py, Keras's name)
 *     shape   PCI_ACT_ELEMENTWISE: y = f(x) per element;
 *             PCI_ACT_ROW: over the last axis, same length (softmax);
 *             PCI_ACT_HALVES: over the last axis, halves it (glu)
 *     params  what pci_act.p0/p1/p2 hold (documentation)
 *
 * Included by pci_kernels.h (the enum), act.c (the name table) and exported
 * to Python as _kernels.ACT_KINDS. */
#ifndef PCI_ACT_TABLE_H
#define PCI_ACT_TABLE_H

#define PCI_ACT_ELEMENTWISE 0
#define PCI_ACT_ROW 1
#define PCI_ACT_HALVES 2

#define PCI_ACT_TABLE(X)                                                                        \
    X(LINEAR, 0, "linear", PCI_ACT_ELEMENTWISE, "")                                             \
    X(RELU, 1, "relu", PCI_ACT_ELEMENTWISE, "p0 max_value (INFINITY: none), p1 negative_slope, p2 threshold") \
    X(ELU, 2, "elu", PCI_ACT_ELEMENTWISE, "p0 alpha")                                           \
    X(SELU, 3, "selu", PCI_ACT_ELEMENTWISE, "")                                                 \
    X(SIGMOID, 4, "sigmoid", PCI_ACT_ELEMENTWISE, "")                                           \
    X(HARD_SIGMOID, 5, "hard_sigmoid", PCI_ACT_ELEMENTWISE, "clip(p0 * x + p1, 0, 1)")          \
    X(TANH, 6, "tanh", PCI_ACT_ELEMENTWISE, "")                                                 \
    X(SOFTPLUS, 7, "softplus", PCI_ACT_ELEMENTWISE, "")                                         \
    X(SOFTSIGN, 8, "softsign", PCI_ACT_ELEMENTWISE, "")                                         \
    X(SWISH, 9, "swish", PCI_ACT_ELEMENTWISE, "")                                               \
    X(GELU, 10, "gelu", PCI_ACT_ELEMENTWISE, "exact (erf) form")                                \
    X(GELU_TANH, 11, "gelu_tanh", PCI_ACT_ELEMENTWISE, "tanh approximation")                    \
    X(EXPONENTIAL, 12, "exponential", PCI_ACT_ELEMENTWISE, "")                                  \
    X(SOFTMAX, 13, "softmax", PCI_ACT_ROW, "")                                                  \
    X(HARD_SILU, 14, "hard_silu", PCI_ACT_ELEMENTWISE, "x * clip(x / 6 + 0.5, 0, 1)")           \
    X(MISH, 15, "mish", PCI_ACT_ELEMENTWISE, "")                                                \
    X(CELU, 16, "celu", PCI_ACT_ELEMENTWISE, "p0 alpha (nonzero)")                              \
    X(HARD_SHRINK, 17, "hard_shrink", PCI_ACT_ELEMENTWISE, "p0 threshold")                      \
    X(HARD_TANH, 18, "hard_tanh", PCI_ACT_ELEMENTWISE, "")                                      \
    X(LOG_SIGMOID, 19, "log_sigmoid", PCI_ACT_ELEMENTWISE, "")                                  \
    X(SOFT_SHRINK, 20, "soft_shrink", PCI_ACT_ELEMENTWISE, "p0 threshold")                      \
    X(SPARSE_PLUS, 21, "sparse_plus", PCI_ACT_ELEMENTWISE, "")                                  \
    X(SQUAREPLUS, 22, "squareplus", PCI_ACT_ELEMENTWISE, "p0 b (>= 0)")                         \
    X(TANH_SHRINK, 23, "tanh_shrink", PCI_ACT_ELEMENTWISE, "")                                  \
    X(THRESHOLD, 24, "threshold", PCI_ACT_ELEMENTWISE, "p0 threshold, p1 default_value")        \
    X(SPARSE_SIGMOID, 25, "sparse_sigmoid", PCI_ACT_ELEMENTWISE, "")                            \
    X(LOG_SOFTMAX, 26, "log_softmax", PCI_ACT_ROW, "")                                          \
    X(GLU, 27, "glu", PCI_ACT_HALVES, "a * sigmoid(b), [a | b] = the last axis")             \
    X(SPARSEMAX, 28, "sparsemax", PCI_ACT_ROW, "Keras 3's formula (act.c)")

#endif
