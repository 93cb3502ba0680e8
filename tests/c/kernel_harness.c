/* Replays the kernel tests' cases on the C API, on every instruction-set path
 * of the machine it runs on (aarch64 under qemu included), at 1, 2 and 3
 * threads.
 *
 *   kernel_harness CASES.bin [--require ISA]... [--default ISA]
 *
 * CASES.bin comes from tools/make_kernel_cases.py: per case one step as the
 * tests ran it (the C op name of src/op_table.h, its shape ints and input
 * flags, inputs, packed weights, activation) and, for the cases a test checks
 * against a reference, the per-element [lo, hi] that the test's tolerance
 * accepts. Each case runs on each available path: the 1-thread result must
 * lie within [lo, hi] (a NaN bound: the result must be NaN), and the 2- and
 * 3-thread results must equal it bit for bit. Every size read from the file
 * is checked against the op's shape before a kernel sees it. The kernels are
 * called through their C API (pci_kernels.h), not the plan executor.
 * --require ISA: that path must be available here; --default ISA: it must be
 * the one pci_cpu_isa() picks (what isa=None runs).
 * Exit status: 0 when every case passed on every path, 1 otherwise (also when
 * the file is malformed, holds no case, or a --require / --default fails). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h" /* the int8 convolution (pci_conv2d_q8) */

#define MAX_INTS 40 /* PCI_MAX_PARAMS */
#define MAX_INPUTS 32
#define MAX_FLOATS ((int64_t)1 << 31) /* per array: far above any case, bounds the allocation */
#define MAX_REPORTED 20

typedef struct {
    int64_t n; /* -1: absent */
    float *v;
} farr;

#define MAX_WEIGHTS 4

typedef struct {
    char label[201], op[33];
    int nints, ints[MAX_INTS];
    int nflags, in_flags[MAX_INPUTS];
    int nfloats;
    float floats[4];
    pci_act act;
    int algo;
    int64_t rows, count;
    int nin, nw;
    farr in[MAX_INPUTS], w[MAX_WEIGHTS];
    int64_t nout;
    int bounded;
    double *lo, *hi;
    int8_t *q; /* conv2d or dense computing in int8 (ints[17] / ints[3] != 0): the int8 kernel, from w[0]'s exact values */
} kcase;

static FILE *fp;
static const char *path;

static int fail_read(const char *what) {
    fprintf(stderr, "kernel_harness: %s: malformed case file (%s)\n", path, what);
    return -1;
}

static int rd(void *dst, size_t size, size_t n, const char *what) {
    return fread(dst, size, n, fp) == n ? 0 : fail_read(what);
}

static int rd_str(char *dst, uint32_t cap, const char *what) {
    uint32_t len;
    if (rd(&len, 4, 1, what) || len >= cap) return fail_read(what);
    if (rd(dst, 1, len, what)) return -1;
    dst[len] = 0;
    return 0;
}

static int rd_ints(int *dst, int cap, int *count, const char *what) {
    uint32_t n;
    if (rd(&n, 4, 1, what) || n > (uint32_t)cap) return fail_read(what);
    *count = (int)n;
    return rd(dst, 4, n, what);
}

static int rd_arr(farr *a, const char *what) {
    if (rd(&a->n, 8, 1, what)) return -1;
    a->v = NULL;
    if (a->n < 0) return a->n == -1 ? 0 : fail_read(what);
    if (a->n > MAX_FLOATS) return fail_read(what);
    a->v = malloc((size_t)(a->n ? a->n : 1) * sizeof(float));
    if (!a->v) return fail_read("out of memory");
    return rd(a->v, sizeof(float), (size_t)a->n, what);
}

static void free_case(kcase *c) {
    for (int i = 0; i < c->nin; i++) free(c->in[i].v);
    for (int i = 0; i < c->nw; i++) free(c->w[i].v);
    free(c->lo), free(c->hi), free(c->q);
}

static int read_case(kcase *c) {
    memset(c, 0, sizeof *c);
    float p[3];
    uint32_t nfloats, n;
    if (rd_str(c->label, sizeof c->label, "label") || rd_str(c->op, sizeof c->op, "op") ||
        rd_ints(c->ints, MAX_INTS, &c->nints, "ints") || rd_ints(c->in_flags, MAX_INPUTS, &c->nflags, "input flags") ||
        rd(&nfloats, 4, 1, "float count"))
        return -1;
    if (nfloats > 4) return fail_read("float count");
    c->nfloats = (int)nfloats;
    if (rd(c->floats, 4, nfloats, "floats") || rd(&c->act.kind, 4, 1, "activation") ||
        rd(p, 4, 3, "activation parameters") || rd(&c->algo, 4, 1, "algo") || rd(&c->rows, 8, 1, "rows") ||
        rd(&c->count, 8, 1, "count") || rd(&n, 4, 1, "input count"))
        return -1;
    c->act.p0 = p[0], c->act.p1 = p[1], c->act.p2 = p[2];
    if (n > MAX_INPUTS) return fail_read("input count");
    for (c->nin = 0; c->nin < (int)n; c->nin++)
        if (rd_arr(&c->in[c->nin], "input")) return c->nin++, -1;
    if (rd(&n, 4, 1, "weight count") || n > MAX_WEIGHTS) return fail_read("weight count");
    for (c->nw = 0; c->nw < (int)n; c->nw++)
        if (rd_arr(&c->w[c->nw], "weights")) return c->nw++, -1;
    for (int i = c->nw; i < MAX_WEIGHTS; i++) c->w[i].n = -1;
    if (rd(&c->nout, 8, 1, "output size") || c->nout <= 0 || c->nout > MAX_FLOATS) return fail_read("output size");
    if (rd(&c->bounded, 4, 1, "bounds flag")) return -1;
    if (c->bounded) {
        c->lo = malloc((size_t)c->nout * sizeof(double));
        c->hi = malloc((size_t)c->nout * sizeof(double));
        if (!c->lo || !c->hi) return fail_read("out of memory");
        if (rd(c->lo, 8, (size_t)c->nout, "lo") || rd(c->hi, 8, (size_t)c->nout, "hi")) return -1;
    }
    return 0;
}

/* ---- shape checks: every array the kernel reads or writes has the size the shape implies ---- */

static char why[256];
#define BAD(...) return snprintf(why, sizeof why, __VA_ARGS__), -1

static int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int positive(const int *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] <= 0) return 0;
    return 1;
}

static int need(const farr *a, int64_t n, int at_least, const char *what) {
    if (a->n < 0) BAD("%s missing", what);
    if (at_least ? a->n < n : a->n != n) BAD("%s has %lld floats, the shape needs %lld", what, (long long)a->n, (long long)n);
    return 0;
}

/* Optional weight slot i: absent, or exactly n floats. */
static int optional(const kcase *c, int i, int64_t n, const char *what) {
    return c->w[i].n < 0 ? 0 : need(&c->w[i], n, 0, what);
}

static int64_t prod(const int *v, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++) r *= v[i];
    return r;
}

#define MAX_RANK 8 /* binary, transpose and slice (PCI_*_MAX_RANK) */

/* The int8 kernel of a step computing in int8, converted once from w[0]'s exact values. */
static int int8_kernel(kcase *c, int64_t wsize) {
    if (!(c->q = malloc((size_t)wsize))) BAD("out of memory");
    for (int64_t i = 0; i < wsize; i++) {
        const float v = c->w[0].v[i];
        if (!(v >= -127.0f && v <= 127.0f) || v != (float)(int)v) BAD("int8: weight %lld is %g", (long long)i, v);
        c->q[i] = (int8_t)v;
    }
    return 0;
}

static int check_case(const kcase *c) {
    const int *p = c->ints;
    const char *op = c->op;
    if (c->act.kind < 0 || c->act.kind >= PCI_ACT_COUNT) BAD("unknown activation %d", c->act.kind);
    if (!strcmp(op, "conv2d")) {
        /* 16 shape ints; Winograd steps add where U comes from (0: the weights are U, the only kind replayed);
         * int8 compute adds 0 and its mode (1: measured range, 2: calibrated, floats[0..1]) */
        const int int8 = c->nints == 18 && p[16] == 0 && (p[17] == 1 || p[17] == 2) && !c->algo;
        if ((c->nints != 16 && !(c->nints == 17 && c->algo && p[16] == 0) && !int8) || c->nin != 1 ||
            !positive(p, 13) || p[13] < 0 || p[14] < 0 || p[15] <= 0)
            BAD("conv2d: bad shape");
        const pci_conv_shape *s = (const pci_conv_shape *)p;
        if (s->c % s->groups || s->oc % s->groups) BAD("conv2d: groups do not divide the channels");
        const int64_t cin_g = s->c / s->groups, cout_g = s->oc / s->groups;
        int64_t wsize;
        if (c->algo == 0) {
            wsize = s->groups > 1 && cin_g == 1 ? (int64_t)s->kh * s->kw * s->oc
                                                : (int64_t)s->groups * div_up(cout_g, PCI_NR) * s->kh * s->kw * cin_g * PCI_NR;
        } else {
            if (s->kh != 3 || s->kw != 3 || s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 || s->groups != 1 ||
                (c->algo != 2 && c->algo != 4))
                BAD("winograd: not a 3x3 stride-1 one-group shape with m = 2 or 4");
            wsize = (int64_t)(c->algo + 2) * (c->algo + 2) * div_up(s->oc, PCI_NR) * s->c * PCI_NR;
        }
        if (need(&c->in[0], (int64_t)s->n * s->h * s->w * s->c, 0, "input") || need(&c->w[0], wsize, 1, "weights") ||
            optional(c, 1, s->oc, "bias"))
            return -1;
        if (c->nout != (int64_t)s->n * s->oh * s->ow * s->oc) BAD("conv2d: output size");
        if (int8) {
            if (!pci_conv2d_q8_supported(s)) BAD("conv2d int8: a shape without the int8 path");
            if (p[17] == 2 && (c->nfloats < 2 || !(c->floats[0] <= c->floats[1]))) BAD("conv2d int8: bad range");
            if (need(&c->w[2], div_up(s->oc, PCI_NR) * PCI_NR, 0, "int8 scales")) return -1;
            return int8_kernel((kcase *)c, wsize);
        }
        return 0;
    }
    if (!strcmp(op, "conv2d_transpose")) {
        if (c->nints != 13 || c->nin != 1 || !positive(p, 11) || p[11] < 0 || p[12] < 0) BAD("tconv: bad shape");
        const pci_tconv_shape *s = (const pci_tconv_shape *)p;
        if (need(&c->in[0], (int64_t)s->n * s->h * s->w * s->c, 0, "input") ||
            need(&c->w[0], (int64_t)pci_tconv_packed_size(s), 1, "weights") || optional(c, 1, s->oc, "bias"))
            return -1;
        if (c->nout != (int64_t)s->n * s->oh * s->ow * s->oc) BAD("tconv: output size");
        return 0;
    }
    if (!strcmp(op, "pool2d")) {
        if (c->nints != 13 || c->nin != 1 || !positive(p, 10) || p[10] < 0 || p[11] < 0 || p[10] >= p[6] ||
            p[11] >= p[7] || (p[12] != 0 && p[12] != 1))
            BAD("pool2d: bad shape");
        if (need(&c->in[0], prod(p, 4), 0, "input")) return -1;
        if (c->nout != (int64_t)p[0] * p[4] * p[5] * p[3]) BAD("pool2d: output size");
        return 0;
    }
    if (!strcmp(op, "global_pool")) {
        if (c->nints != 4 || c->nin != 1 || !positive(p, 3) || (p[3] != 0 && p[3] != 1)) BAD("global_pool: bad shape");
        if (need(&c->in[0], prod(p, 3), 0, "input")) return -1;
        if (c->nout != (int64_t)p[0] * p[2]) BAD("global_pool: output size");
        return 0;
    }
    if (!strcmp(op, "dense")) {
        /* m, k, n; int8 compute adds its mode (1: measured range; batch 1) */
        const int int8 = c->nints == 4 && p[3] == 1;
        if ((c->nints != 3 && !int8) || c->nin != 1 || !positive(p, 3)) BAD("dense: bad shape");
        const int64_t wsize = div_up(p[2], PCI_NR) * p[1] * PCI_NR;
        if (need(&c->in[0], (int64_t)p[0] * p[1], 0, "input") || need(&c->w[0], wsize, 1, "weights") ||
            optional(c, 1, p[2], "bias"))
            return -1;
        if (c->nout != (int64_t)p[0] * p[2]) BAD("dense: output size");
        if (int8) {
            if (!pci_dense_q8_supported(p[0], p[1])) BAD("dense int8: a shape without the int8 path");
            if (need(&c->w[2], div_up(p[2], PCI_NR) * PCI_NR, 0, "int8 scales")) return -1;
            return int8_kernel((kcase *)c, wsize);
        }
        return 0;
    }
    if (!strcmp(op, "activation")) {
        if (c->nints != 1 || c->nin != 1 || p[0] <= 0 || c->rows <= 0) BAD("activation: bad shape");
        if (need(&c->in[0], c->rows * p[0], 0, "input")) return -1;
        if (c->nout != c->rows * p[0]) BAD("activation: output size");
        return 0;
    }
    if (!strcmp(op, "scale_shift")) {
        if (c->nints != 3 || c->nin != 1 || !positive(p, 3)) BAD("scale_shift: bad shape");
        if (need(&c->in[0], prod(p, 3), 0, "input") || optional(c, 0, p[1], "scale") || optional(c, 1, p[1], "shift"))
            return -1;
        if (c->nout != prod(p, 3)) BAD("scale_shift: output size");
        return 0;
    }
    if (!strcmp(op, "pad2d")) {
        if (c->nints != 8 || c->nin != 1 || !positive(p, 4) || c->nfloats != 1) BAD("pad2d: bad shape or fill value");
        for (int i = 4; i < 8; i++)
            if (p[i] < -65536 || p[i] > 65536) BAD("pad2d: padding %d out of range", p[i]);
        const int64_t oh = (int64_t)p[1] + p[4] + p[5], ow = (int64_t)p[2] + p[6] + p[7];
        if (oh < 1 || ow < 1) BAD("pad2d: cropping leaves nothing");
        if (need(&c->in[0], prod(p, 4), 0, "input")) return -1;
        if (c->nout != p[0] * oh * ow * p[3]) BAD("pad2d: output size");
        return 0;
    }
    if (!strcmp(op, "resize2d")) {
        if (c->nints != 7 || c->nin != 1 || !positive(p, 6) || (p[6] != 0 && p[6] != 1) || p[4] > (1 << 24) ||
            p[5] > (1 << 24))
            BAD("resize2d: bad shape");
        if (need(&c->in[0], prod(p, 4), 0, "input")) return -1;
        if (c->nout != (int64_t)p[0] * p[4] * p[5] * p[3]) BAD("resize2d: output size");
        return 0;
    }
    if (!strcmp(op, "binary")) {
        const int rank = c->nints >= 2 ? p[1] : 0;
        if (c->nints < 2 || p[0] < 0 || p[0] >= PCI_BINARY_COUNT || rank < 1 || rank > MAX_RANK ||
            c->nints != 2 + rank || !positive(p + 2, rank) || c->nin < 1 || c->nflags != c->nin)
            BAD("binary: bad shape");
        if ((p[0] == PCI_BINARY_SUB || p[0] == PCI_BINARY_DIV || p[0] == PCI_BINARY_PRELU) && c->nin != 2)
            BAD("binary: kind %d takes two inputs", p[0]);
        for (int i = 0; i < c->nin; i++) {
            const int mask = c->in_flags[i];
            int dims[MAX_RANK];
            if (mask < 0 || mask >= (1 << rank)) BAD("binary: bad broadcast mask %d", mask);
            for (int a = 0; a < rank; a++) dims[a] = (mask >> a) & 1 ? 1 : p[2 + a];
            if (need(&c->in[i], prod(dims, rank), 0, "input")) return -1;
        }
        if (c->nout != prod(p + 2, rank)) BAD("binary: output size");
        return 0;
    }
    if (!strcmp(op, "concat")) {
        int64_t total = 0;
        if (c->nin < 1 || c->nflags != c->nin || c->rows <= 0) BAD("concat: bad shape");
        for (int i = 0; i < c->nin; i++) {
            if (c->in_flags[i] <= 0) BAD("concat: non-positive width");
            if (need(&c->in[i], c->rows * c->in_flags[i], 0, "input")) return -1;
            total += c->in_flags[i];
        }
        if (c->nout != c->rows * total) BAD("concat: output size");
        return 0;
    }
    if (!strcmp(op, "glu")) {
        if (c->nints != 1 || c->nin != 1 || p[0] <= 0 || c->rows <= 0) BAD("glu: bad shape");
        if (need(&c->in[0], c->rows * 2 * (int64_t)p[0], 0, "input")) return -1;
        if (c->nout != c->rows * p[0]) BAD("glu: output size");
        return 0;
    }
    if (!strcmp(op, "layer_norm")) {
        if (c->nints != 1 || c->nin != 1 || p[0] <= 0 || c->rows <= 0 || c->nfloats < 1 || !(c->floats[0] >= 0.0f) ||
            !isfinite(c->floats[0]))
            BAD("layer_norm: bad shape or epsilon");
        if (need(&c->in[0], c->rows * p[0], 0, "input") || optional(c, 0, p[0], "gamma") || optional(c, 1, p[0], "beta"))
            return -1;
        if (c->nout != c->rows * p[0]) BAD("layer_norm: output size");
        return 0;
    }
    if (!strcmp(op, "transpose")) {
        const int rank = c->nints >= 1 ? p[0] : 0;
        if (rank < 1 || rank > MAX_RANK || c->nints != 1 + 2 * rank || c->nin != 1 || !positive(p + 1, rank))
            BAD("transpose: bad shape");
        int seen = 0;
        for (int a = 0; a < rank; a++) {
            const int q = p[1 + rank + a];
            if (q < 0 || q >= rank || (seen >> q) & 1) BAD("transpose: not a permutation");
            seen |= 1 << q;
        }
        if (need(&c->in[0], prod(p + 1, rank), 0, "input")) return -1;
        if (c->nout != prod(p + 1, rank)) BAD("transpose: output size");
        return 0;
    }
    if (!strcmp(op, "slice")) {
        const int rank = c->nints >= 1 ? p[0] : 0;
        if (rank < 1 || rank > MAX_RANK || c->nints != 1 + 4 * rank || c->nin != 1) BAD("slice: bad shape");
        const int *in = p + 1, *start = in + rank, *step = start + rank, *out = step + rank;
        if (!positive(in, rank) || !positive(step, rank) || !positive(out, rank)) BAD("slice: bad shape");
        for (int a = 0; a < rank; a++)
            if (start[a] < 0 || (int64_t)start[a] + (int64_t)(out[a] - 1) * step[a] >= in[a]) BAD("slice: outside the input");
        if (need(&c->in[0], prod(in, rank), 0, "input")) return -1;
        if (c->nout != prod(out, rank)) BAD("slice: output size");
        return 0;
    }
    BAD("op '%s' is not one the harness runs", op);
}

/* ---- running ---- */

static void run_case(const kcase *c, float *y, pci_ctx ctx, float *scratch, size_t scratch_floats) {
    const int *p = c->ints;
    const char *op = c->op;
    const float *x = c->in[0].v;
    const float *w0 = c->w[0].n >= 0 ? c->w[0].v : NULL, *w1 = c->w[1].n >= 0 ? c->w[1].v : NULL;
    const float *xs[MAX_INPUTS];
    for (int i = 0; i < c->nin; i++) xs[i] = c->in[i].v;
    if (!strcmp(op, "conv2d") && c->q) {
        const pci_weights wq = {c->q, PCI_DTYPE_I8, c->w[2].v};
        pci_conv2d_q8(x, &wq, w1, y, (const pci_conv_shape *)p, c->act, p[17] == 2 ? c->floats : NULL, scratch,
                      scratch_floats, ctx);
    } else if (!strcmp(op, "conv2d")) {
        if (c->algo)
            pci_conv2d_winograd(x, w0, w1, y, (const pci_conv_shape *)p, c->algo, c->act, scratch, scratch_floats, ctx);
        else
            pci_conv2d(x, w0, w1, y, (const pci_conv_shape *)p, c->act, ctx);
    } else if (!strcmp(op, "conv2d_transpose")) {
        pci_conv2d_transpose(x, w0, w1, y, (const pci_tconv_shape *)p, c->act, ctx);
    } else if (!strcmp(op, "pool2d")) {
        (p[12] ? pci_max_pool2d : pci_avg_pool2d)(x, y, (const pci_pool_shape *)p, ctx);
    } else if (!strcmp(op, "global_pool")) {
        pci_global_pool(x, y, p[0], p[1], p[2], p[3], ctx);
    } else if (!strcmp(op, "dense") && c->q) {
        const pci_weights wq = {c->q, PCI_DTYPE_I8, c->w[2].v};
        pci_dense_q8(x, &wq, w1, y, p[1], p[2], c->act, scratch, scratch_floats, ctx);
    } else if (!strcmp(op, "dense")) {
        pci_dense(x, w0, w1, y, p[0], p[1], p[2], c->act, ctx);
    } else if (!strcmp(op, "activation")) {
        memcpy(y, x, (size_t)c->nout * sizeof(float));
        pci_activation(y, (size_t)c->rows, (size_t)p[0], c->act, ctx);
    } else if (!strcmp(op, "scale_shift")) {
        pci_scale_shift(x, w0, w1, y, (size_t)p[0], p[1], (size_t)p[2], c->act, ctx);
    } else if (!strcmp(op, "pad2d")) {
        pci_pad2d(x, y, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], c->floats[0], ctx);
    } else if (!strcmp(op, "resize2d")) {
        pci_resize2d(x, y, p[0], p[1], p[2], p[3], p[4], p[5], p[6], ctx);
    } else if (!strcmp(op, "binary")) {
        pci_binary(xs, c->in_flags, c->nin, y, p[0], p[1], p + 2, c->act, ctx);
    } else if (!strcmp(op, "concat")) {
        pci_concat(xs, c->in_flags, c->nin, y, (size_t)c->rows, ctx);
    } else if (!strcmp(op, "glu")) {
        pci_glu_rows(x, y, (size_t)c->rows, (size_t)p[0], ctx);
    } else if (!strcmp(op, "layer_norm")) {
        pci_layer_norm(x, w0, w1, y, (size_t)c->rows, (size_t)p[0], c->floats[0], ctx);
        if (c->act.kind != PCI_ACT_LINEAR) pci_activation(y, (size_t)c->rows, (size_t)p[0], c->act, ctx);
    } else if (!strcmp(op, "transpose")) {
        pci_transpose(x, y, p[0], p + 1, p + 1 + p[0], ctx);
    } else if (!strcmp(op, "slice")) {
        pci_slice(x, y, p[0], p + 1, p + 1 + p[0], p + 1 + 2 * p[0], p + 1 + 3 * p[0], ctx);
    }
}

static int failures;

static void report(const kcase *c, int isa, int threads, const char *what) {
    if (++failures <= MAX_REPORTED)
        fprintf(stderr, "FAIL %s [%s] isa=%s threads=%d: %s\n", c->label, c->op, pci_isa_name(isa), threads, what);
}

/* 1-thread result within the bounds; returns 0 when it is. */
static int check_bounds(const kcase *c, const float *y, int isa) {
    if (!c->bounded) return 0;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < c->nout; i++) {
        const double v = y[i];
        const int ok = isnan(c->lo[i]) ? isnan(v) : (v >= c->lo[i] && v <= c->hi[i]);
        if (!ok && bad++ == 0) first = i;
    }
    if (bad) {
        char msg[256];
        snprintf(msg, sizeof msg, "%lld of %lld outside the tests' tolerance; first [%lld]: %.9g not in [%.9g, %.9g]",
                 (long long)bad, (long long)c->nout, (long long)first, y[first], c->lo[first], c->hi[first]);
        report(c, isa, 1, msg);
    }
    return bad != 0;
}

/* ---- uint8 tensors between int8 layers (conv2d_q8.c, conv2d.c) ----
 * A convolution that writes its output quantized must produce exactly the quantizer's
 * bytes of its float32 output (y, from the run checked above), and an int8 one that reads
 * its input already quantized exactly its float32 output: checked on every path, 2 threads. */
static long uint8_checks; /* runs of check_uint8_ends */

static void check_uint8_ends(const kcase *c, const float *y, int isa, float *scratch, size_t scratch_floats) {
    if (strcmp(c->op, "conv2d")) return;
    const pci_conv_shape *s = (const pci_conv_shape *)c->ints;
    const int q8 = c->q && c->ints[17] == 2, float_gemm = !c->q && !c->algo && s->groups == 1;
    if (!(q8 || float_gemm) || pci_act_is_row(c->act)) return;
    if (q8 && pci_conv2d_q8_supported(s) == 0) return;
    float range[2] = {INFINITY, -INFINITY}, scale, inv, xinv, xscale;
    int zp, xzp;
    for (int64_t j = 0; j < c->nout; j++) {
        if (!isfinite(y[j])) return; /* NaN / inf outputs: no range */
        range[0] = fminf(range[0], y[j]), range[1] = fmaxf(range[1], y[j]);
    }
    if (pci_q8_params(range, &scale, &inv, &zp)) return;
    if (q8 && pci_q8_params(c->floats, &xscale, &xinv, &xzp)) return;
    const pci_q8_quantize_fn quantize = pci_q8_quantizer(isa);
    uint8_t *want = malloc((size_t)c->nout), *got = malloc((size_t)c->nout), *xq = NULL;
    if (q8) xq = malloc((size_t)c->in[0].n);
    if (!want || !got || (q8 && !xq)) {
        report(c, isa, 2, "uint8 ends: out of memory");
        free(want), free(got), free(xq);
        return;
    }
    quantize(y, (size_t)c->nout, inv, zp, want);
    pci_ctx ctx = {2, isa};
    for (int v = 0; v < (q8 ? 2 : 1); v++) { /* q8: float32 in, then uint8 in */
        memset(got, 0xA5, (size_t)c->nout);
        if (q8) {
            const pci_weights wq = {c->q, PCI_DTYPE_I8, c->w[2].v};
            if (v) quantize(c->in[0].v, (size_t)c->in[0].n, xinv, xzp, xq);
            const pci_q8_io io = {v ? (const void *)xq : (const void *)c->in[0].v, c->floats, v, got, range};
            pci_conv2d_q8_io(&io, &wq, c->w[1].n >= 0 ? c->w[1].v : NULL, s, c->act, scratch, scratch_floats, ctx);
        } else {
            const pci_weights w = {c->w[0].v, PCI_DTYPE_F32, NULL};
            const pci_q8_out out = {got, inv, zp};
            pci_conv2d_w_u8out(c->in[0].v, &w, c->w[1].n >= 0 ? c->w[1].v : NULL, &out, s, c->act, ctx);
        }
        uint8_checks++;
        if (memcmp(got, want, (size_t)c->nout)) {
            int64_t j = 0;
            while (got[j] == want[j]) j++;
            char msg[160];
            snprintf(msg, sizeof msg, "uint8 output (%s input) differs from the quantized float32 one; first [%lld]: %d vs %d",
                     v ? "uint8" : "float32", (long long)j, got[j], want[j]);
            report(c, isa, 2, msg);
        }
    }
    free(want), free(got), free(xq);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASES.bin [--require ISA]...\n", argv[0]);
        return 1;
    }
    path = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const int require = !strcmp(argv[i], "--require"), want_default = !strcmp(argv[i], "--default");
        if ((!require && !want_default) || i + 1 >= argc) {
            fprintf(stderr, "kernel_harness: unknown argument '%s'\n", argv[i]);
            return 1;
        }
        int isa = -1;
        for (int k = 0; k < PCI_ISA_COUNT; k++)
            if (!strcmp(argv[i + 1], pci_isa_name(k))) isa = k;
        if (isa < 0 || !pci_isa_available(isa)) {
            fprintf(stderr, "kernel_harness: path '%s' is %s here\n", argv[i + 1],
                    isa < 0 ? "not a known path" : "not available");
            return 1;
        }
        if (want_default && pci_cpu_isa() != isa) {
            fprintf(stderr, "kernel_harness: the default path is %s, expected %s\n", pci_isa_name(pci_cpu_isa()),
                    argv[i + 1]);
            return 1;
        }
    }
    fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return 1;
    }
    char magic[8];
    uint32_t ncases;
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "PCIKCAS2", 8)) {
        fail_read("not a PCIKCAS2 file: write it with tools/make_kernel_cases.py");
        return 1;
    }
    if (rd(&ncases, 4, 1, "case count")) return 1;
    int isas[PCI_ISA_COUNT], nisa = 0;
    char names[64] = "";
    for (int isa = 0; isa < PCI_ISA_COUNT; isa++)
        if (pci_isa_available(isa)) {
            isas[nisa++] = isa;
            strcat(names, nisa > 1 ? ", " : ""), strcat(names, pci_isa_name(isa));
        }
    long bounded = 0, runs = 0;
    for (uint32_t k = 0; k < ncases; k++) {
        kcase c;
        if (read_case(&c)) {
            fprintf(stderr, "kernel_harness: %s: stopped in case %u of %u\n", path, k, ncases);
            free_case(&c);
            return 1;
        }
        if (check_case(&c)) {
            fprintf(stderr, "kernel_harness: %s: case %u (%s): %s\n", path, k, c.label, why);
            free_case(&c);
            return 1;
        }
        bounded += c.bounded;
        size_t scratch_floats = 0;
        if (!strcmp(c.op, "conv2d") && c.algo)
            scratch_floats = 3 * pci_winograd_scratch_floats((const pci_conv_shape *)c.ints, c.algo);
        if (c.q) scratch_floats = strcmp(c.op, "dense") ? pci_conv2d_q8_scratch_floats((const pci_conv_shape *)c.ints)
                                                        : pci_dense_q8_scratch_floats(c.ints[1]);
        float *scratch = scratch_floats ? malloc(scratch_floats * sizeof(float)) : NULL;
        float *y1 = malloc((size_t)c.nout * sizeof(float)), *yt = malloc((size_t)c.nout * sizeof(float));
        if (!y1 || !yt || (scratch_floats && !scratch)) {
            fprintf(stderr, "kernel_harness: out of memory\n");
            return 1;
        }
        for (int i = 0; i < nisa; i++) {
            for (int t = 1; t <= 3; t++) {
                float *y = t == 1 ? y1 : yt;
                for (int64_t j = 0; j < c.nout; j++) y[j] = NAN; /* an element never written fails */
                pci_ctx ctx = {t, isas[i]};
                run_case(&c, y, ctx, scratch, scratch_floats);
                runs++;
                if (t == 1) {
                    if (check_bounds(&c, y, isas[i])) break;
                    check_uint8_ends(&c, y, isas[i], scratch, scratch_floats);
                } else if (memcmp(y, y1, (size_t)c.nout * sizeof(float))) {
                    int64_t j = 0;
                    while (!memcmp(y + j, y1 + j, sizeof(float))) j++;
                    char msg[160];
                    snprintf(msg, sizeof msg, "differs bitwise from 1 thread; first [%lld]: %.9g vs %.9g", (long long)j,
                             yt[j], y1[j]);
                    report(&c, isas[i], t, msg);
                }
            }
        }
        free(y1), free(yt), free(scratch);
        free_case(&c);
    }
    fclose(fp);
    if (ncases == 0) {
        fprintf(stderr, "kernel_harness: %s holds no case\n", path);
        return 1;
    }
    printf("kernel_harness: %u cases (%ld against the tests' float64 bounds, all also at 1/2/3 threads bitwise) x "
           "paths {%s} (default %s): %ld runs (%ld more with uint8 ends), %d failed\n",
           ncases, bounded, names, pci_isa_name(pci_cpu_isa()), runs, uint8_checks, failures);
    return failures ? 1 : 0;
}
