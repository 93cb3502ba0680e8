/* pyconvinfer C kernels: the public C API.
 *
 * Tensors are float32, NHWC (Keras's own layout), C-contiguous. Every kernel
 * takes a pci_ctx (thread count + instruction set) as an argument: there is no
 * global mutable state. Callers (the Cython layer) validate shapes; kernels
 * trust what they are given.
 *
 * Weight layouts ("packed" = prepared once by pyconvinfer/packing.py):
 *   panel16  conv / dense weights: [groups][ceil(cout_g/16)][kh][kw][cin_g][16],
 *            output channels zero-padded to a multiple of 16 per group.
 *   dwise    depthwise conv (cin_g == 1): [kh][kw][cout] (Keras (kh,kw,cin,dm)
 *            reshaped; output channel c*dm+m reads input channel c).
 *   tconv    transposed conv: per output phase (rh, rw) in [0,s)^2, the taps
 *            kh = rh + s*i, kw = rw + s*j packed as panel16 with kh/kw replaced
 *            by the tap lists; see packing.py.
 */
#ifndef PCI_KERNELS_H
#define PCI_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "act_table.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCI_NR 16 /* packed panel width (output channels), fixed by the file format */

/* Instruction-set paths. They are capabilities, not a rank: each is either
 * available on this CPU and build or not (pci_isa_available), and the caller
 * picks one of the available ones. The numbers are stable (the Python layer
 * takes the names from pci_isa_name). */
enum pci_isa { PCI_ISA_GENERIC = 0, PCI_ISA_AVX2 = 1, PCI_ISA_AVX512 = 2, PCI_ISA_NEON = 3, PCI_ISA_COUNT = 4 };

typedef struct {
    int num_threads; /* >= 1 */
    int isa;         /* enum pci_isa: one pci_isa_available() accepts (others run the generic path) */
} pci_ctx;

/* Activation kinds: generated from act_table.h (ids are stored in files). */
#define PCI_ACT_ENUM_ROW(e, id, name, shape, params) PCI_ACT_##e = id,
enum pci_act_kind { PCI_ACT_TABLE(PCI_ACT_ENUM_ROW) PCI_ACT_COUNT };
#undef PCI_ACT_ENUM_ROW

typedef struct {
    int kind;
    float p0, p1, p2;
} pci_act;

/* Element types of tensors. Activations are float32; a packed "kernel" weight of
 * conv2d / conv2d_transpose / dense may also be stored as float16, bfloat16 or
 * int8 (pyconvinfer/quantize.py defines what each means). The ids are stable:
 * the Python layer reads them as _kernels.DTYPE_IDS. */
enum pci_dtype { PCI_DTYPE_F32 = 0, PCI_DTYPE_F16 = 1, PCI_DTYPE_BF16 = 2, PCI_DTYPE_I8 = 3, PCI_DTYPE_COUNT = 4 };

/* A packed kernel in its stored precision. The kernels compute exactly what
 * the float32 kernels compute on the weights widened to float32: float16 ->
 * IEEE binary16 widened; bfloat16 -> bits << 16; int8 -> (float)q * scale[ch]
 * (one float32 product per weight), ch the weight's output channel in the
 * packed layout's order (per 16-wide panel: scale + 16 * panel; depthwise:
 * scale + channel). scale is NULL unless dtype is int8. */
typedef struct {
    const void *data;
    int dtype;          /* enum pci_dtype */
    const float *scale; /* int8 only */
} pci_weights;

/* Bytes per element of a dtype (0 for an unknown id) and its name ("float32", ...; NULL if unknown). */
size_t pci_dtype_size(int dtype);
const char *pci_dtype_name(int dtype);

/* ---- instruction-set dispatch ---- */
int pci_isa_available(int isa);     /* 1 if this CPU and build can run the path */
int pci_cpu_isa(void);              /* the fastest available path: neon / avx512 / avx2 / generic */
int pci_effective_isa(int wanted);  /* the path kernels take for `wanted`: itself if available, else generic */
/* 1 when `isa` runs on this CPU with int8 dot products the int8 convolution uses
 * (AVX-512 VNNI + VBMI + BW + VL on the avx512 path; the ARMv8.2 dot product on the neon path); elsewhere int8 kernels compute in float32. */
int pci_int8_dot_available(int isa);
const char *pci_isa_name(int isa);  /* "generic", "avx2", "avx512", "neon"; NULL outside [0, PCI_ISA_COUNT) */
int pci_openmp_enabled(void);
int pci_default_threads(void);

/* ---- activations ---- */
/* In place on rows x cols (softmax normalises each row of `cols`). */
void pci_activation(float *x, size_t rows, size_t cols, pci_act act, pci_ctx ctx);
/* The scalar definition of every element-wise activation (reference): libm,
 * Keras's formulas; not the fast path (see act_vec.h for the bounds). */
float pci_act_scalar(float x, pci_act act);
/* The kind's name and shape class (act_table.h); NULL / -1 when out of range. */
const char *pci_act_name(int kind);
int pci_act_shape(int kind);
/* glu over the last axis: x is (rows, 2 * cols_out), y is (rows, cols_out),
 * y[r, j] = x[r, j] * sigmoid(x[r, cols_out + j]). */
void pci_glu_rows(const float *x, float *y, size_t rows, size_t cols_out, pci_ctx ctx);

/* ---- convolution ---- */
typedef struct {
    int n, h, w, c;        /* input */
    int oh, ow, oc;        /* output */
    int kh, kw, sh, sw, dh, dw;
    int pad_t, pad_l;      /* bottom/right padding is implied by the output size */
    int groups;
} pci_conv_shape;

/* Fast path. weights in panel16 layout (or dwise when groups == c and c == oc/dm). */
void pci_conv2d(const float *x, const float *wpacked, const float *bias, float *y,
                const pci_conv_shape *s, pci_act act, pci_ctx ctx);
/* Winograd F(m x m, 3 x 3), m = 2 or 4: 3x3, stride 1, dilation 1, one group.
 * u: transformed weights [(m+2)^2][ceil(oc/16)][c][16] (packing.py). scratch:
 * scratch_floats >= pci_winograd_scratch_floats() per thread used. */
size_t pci_winograd_scratch_floats(const pci_conv_shape *s, int m);
size_t pci_winograd_tile_block(const pci_conv_shape *s, int m);
int pci_winograd_shared_blocks(const pci_conv_shape *s, int m);
void pci_conv2d_winograd(const float *x, const float *u, const float *bias, float *y,
                         const pci_conv_shape *s, int m, pci_act act, float *scratch,
                         size_t scratch_floats, pci_ctx ctx);
/* U for F(m x m), as u_dtype (PCI_DTYPE_F16 or F32), from a 3x3 kernel in the
 * direct panel16 layout in any stored precision, into u (room:
 * pci_winograd_weights_floats() floats, SIZE_MAX for a bad shape;
 * winograd_weights.c). Returns 0, or -1 if a per-thread buffer could not be allocated. */
size_t pci_winograd_weights_floats(int cin, int cout, int m, int u_dtype);
int pci_winograd_weights(const pci_weights *w, int cin, int cout, int m, void *u, int u_dtype, pci_ctx ctx);
/* Readable reference: Keras-layout kernel (kh, kw, cin_g, oc), six loops. */
void pci_conv2d_ref(const float *x, const float *kernel, const float *bias, float *y,
                    const pci_conv_shape *s, pci_act act);

/* The same on a kernel in any stored precision (pci_weights): direct and
 * Winograd. Float32 kernels run exactly the paths above. */
void pci_conv2d_w(const float *x, const pci_weights *w, const float *bias, float *y,
                  const pci_conv_shape *s, pci_act act, pci_ctx ctx);
void pci_conv2d_winograd_w(const float *x, const pci_weights *u, const float *bias, float *y,
                           const pci_conv_shape *s, int m, pci_act act, float *scratch,
                           size_t scratch_floats, pci_ctx ctx);

/* ---- transposed convolution ----
 * y[oh] += x[ih] * k[kh] where oh = ih * s + kh - pad_t (same for width).
 * Keras kernel layout (kh, kw, oc, ic). */
typedef struct {
    int n, h, w, c;
    int oh, ow, oc;
    int kh, kw, sh, sw;
    int pad_t, pad_l;
} pci_tconv_shape;

void pci_conv2d_transpose(const float *x, const float *wpacked, const float *bias, float *y,
                          const pci_tconv_shape *s, pci_act act, pci_ctx ctx);
void pci_conv2d_transpose_w(const float *x, const pci_weights *w, const float *bias, float *y,
                            const pci_tconv_shape *s, pci_act act, pci_ctx ctx);
void pci_conv2d_transpose_ref(const float *x, const float *kernel, const float *bias, float *y,
                              const pci_tconv_shape *s, pci_act act);
/* Floats needed by the tconv packed layout. */
size_t pci_tconv_packed_size(const pci_tconv_shape *s);

/* ---- pooling ---- */
typedef struct {
    int n, h, w, c, oh, ow;
    int kh, kw, sh, sw, pad_t, pad_l;
} pci_pool_shape;

void pci_max_pool2d(const float *x, float *y, const pci_pool_shape *s, pci_ctx ctx);
void pci_avg_pool2d(const float *x, float *y, const pci_pool_shape *s, pci_ctx ctx);
/* (n, hw, c) -> (n, c) */
void pci_global_pool(const float *x, float *y, int n, int hw, int c, int is_max, pci_ctx ctx);

/* ---- dense: y[m, :] = act(x[m, :] @ W + b); W packed panel16 (1, 1, k, n) ---- */
void pci_dense(const float *x, const float *wpacked, const float *bias, float *y,
               int m, int k, int n, pci_act act, pci_ctx ctx);
void pci_dense_w(const float *x, const pci_weights *w, const float *bias, float *y,
                 int m, int k, int n, pci_act act, pci_ctx ctx);
void pci_dense_ref(const float *x, const float *kernel, const float *bias, float *y,
                   int m, int k, int n, pci_act act);

/* ---- glue ---- */
/* Signed padding: positive pads add `value` (zeros for ZeroPadding2D), negative ones crop (Cropping2D). */
void pci_pad2d(const float *x, float *y, int n, int h, int w, int c,
               int top, int bottom, int left, int right, float value, pci_ctx ctx);
/* tf.image.resize with half-pixel centres: bilinear = 0 nearest, 1 bilinear. */
void pci_resize2d(const float *x, float *y, int n, int h, int w, int c, int oh, int ow,
                  int bilinear, pci_ctx ctx);
/* Element-wise n-ary op with broadcasting (see binary.c), then act. */
#define PCI_BINARY_TABLE(X) \
    X(0, add, ADD)              \
    X(1, subtract, SUB)         \
    X(2, multiply, MUL)         \
    X(3, divide, DIV)           \
    X(4, maximum, MAX)          \
    X(5, minimum, MIN)          \
    X(6, average, AVG)   /* sum / k */ \
    X(7, prelu, PRELU)   /* x > 0 ? x : x * alpha */
enum pci_binary_kind {
#define PCI_BINARY_ENUM(id, name, NAME) PCI_BINARY_##NAME = id,
    PCI_BINARY_TABLE(PCI_BINARY_ENUM)
#undef PCI_BINARY_ENUM
    PCI_BINARY_COUNT
};
const char *pci_binary_kind_name(int kind); /* NULL for an unknown kind */
void pci_binary(const float *const *xs, const int *masks, int k, float *y, int kind, int rank,
                const int *dims, pci_act act, pci_ctx ctx);
/* Concatenate k inputs along the last axis: input i is (rows, cols[i]). */
void pci_concat(const float *const *xs, const int *cols, int k, float *y, size_t rows, pci_ctx ctx);
/* y[o, ch, i] = act(x[o, ch, i] * scale[ch] + shift[ch]); scale or shift may be NULL. */
void pci_scale_shift(const float *x, const float *scale, const float *shift, float *y,
                     size_t outer, int c, size_t inner, pci_act act, pci_ctx ctx);
/* Per row of `cols`: (x - mean) / sqrt(var + eps) * gamma + beta (gamma, beta may be NULL). */
void pci_layer_norm(const float *x, const float *gamma, const float *beta, float *y, size_t rows,
                    size_t cols, float eps, pci_ctx ctx);
/* y[j] = x[start + j * step] per axis (steps >= 1; rank <= 8). */
void pci_slice(const float *x, float *y, int rank, const int *in_dims, const int *start, const int *step,
               const int *out_dims, pci_ctx ctx);
/* y = x.transpose(perm) for a C-contiguous x of the given dims (rank <= 8). */
void pci_transpose(const float *x, float *y, int rank, const int *dims, const int *perm, pci_ctx ctx);

/* ---- checksum: XXH64 over 1 MiB blocks, then over the block hashes ---- */
uint64_t pci_xxh64(const void *data, size_t len, uint64_t seed);
uint64_t pci_payload_hash(const void *data, size_t len, pci_ctx ctx);

#ifdef __cplusplus
}
#endif
#endif
