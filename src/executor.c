/* Runs a validated plan; validates plans built from model files. */
#include <stdio.h>
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

/* 1 if [p, p + nfloats) lies in a region (writable if asked). */
static int in_regions(const void *p, size_t nfloats, int need_write, const pci_region *r, int nr) {
    const char *c = p;
    const size_t bytes = nfloats * sizeof(float);
    if (!p) return 0;
    for (int i = 0; i < nr; i++) {
        if (need_write && !r[i].writable) continue;
        if (c >= r[i].base && bytes <= r[i].size && (size_t)(c - r[i].base) <= r[i].size - bytes) return 1;
    }
    return 0;
}

#define FAIL(...)                              \
    do {                                       \
        snprintf(err, errlen, __VA_ARGS__);    \
        return -1;                             \
    } while (0)

#define CHECK_IN(ptr, count, what)                                                        \
    if (!in_regions((ptr), (count), 0, regions, nregions))                                \
        FAIL("%s of %zu floats lies outside the model file and the arena", what, (size_t)(count));
#define CHECK_OUT(ptr, count)                                                             \
    if (!in_regions((ptr), (count), 1, regions, nregions))                                \
        FAIL("output of %zu floats lies outside the arena", (size_t)(count));

static int positive(const int *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] <= 0) return 0;
    return 1;
}

int pci_step_validate(const pci_step *st, const pci_region *regions, int nregions, char *err,
                      size_t errlen) {
    if (st->act.kind < 0 || st->act.kind >= PCI_ACT_COUNT) FAIL("unknown activation %d", st->act.kind);
    if (st->n_in < 0 || st->n_in > PCI_MAX_INPUTS) FAIL("bad input count %d", st->n_in);
    switch (st->op) {
    case PCI_OP_CONV2D: {
        const pci_conv_shape *s = &st->s.conv;
        if (!positive(&s->n, 13) || s->groups <= 0 || s->pad_t < 0 || s->pad_l < 0)
            FAIL("conv2d: non-positive size");
        if (s->c % s->groups || s->oc % s->groups) FAIL("conv2d: groups do not divide channels");
        const int cin_g = s->c / s->groups, cout_g = s->oc / s->groups;
        size_t wsize = (s->groups > 1 && cin_g == 1)
                           ? (size_t)s->kh * s->kw * s->oc
                           : (size_t)s->groups * div_up(cout_g, PCI_NR) * s->kh * s->kw * cin_g * PCI_NR;
        CHECK_IN(st->in[0], (size_t)s->n * s->h * s->w * s->c, "conv2d input");
        CHECK_IN(st->w, wsize, "conv2d weights");
        if (st->b) CHECK_IN(st->b, (size_t)s->oc, "conv2d bias");
        CHECK_OUT(st->out, (size_t)s->n * s->oh * s->ow * s->oc);
        return 0;
    }
    case PCI_OP_CONV2D_WINOGRAD: {
        const pci_conv_shape *s = &st->s.conv;
        if (!positive(&s->n, 13) || s->pad_t < 0 || s->pad_l < 0) FAIL("winograd: non-positive size");
        if (s->kh != 3 || s->kw != 3 || s->sh != 1 || s->sw != 1 || s->dh != 1 || s->dw != 1 || s->groups != 1)
            FAIL("winograd: needs a 3x3 kernel, stride 1, dilation 1, one group");
        if (st->algo != 2 && st->algo != 4) FAIL("winograd: tile size %d is not 2 or 4", st->algo);
        const size_t a = (size_t)st->algo + 2;
        CHECK_IN(st->in[0], (size_t)s->n * s->h * s->w * s->c, "winograd input");
        CHECK_IN(st->w, a * a * div_up(s->oc, PCI_NR) * s->c * PCI_NR, "winograd weights");
        if (st->b) CHECK_IN(st->b, (size_t)s->oc, "winograd bias");
        CHECK_OUT(st->out, (size_t)s->n * s->oh * s->ow * s->oc);
        if (st->scratch_floats < pci_winograd_scratch_floats(s, st->algo)) FAIL("winograd: scratch too small");
        CHECK_OUT(st->scratch, st->scratch_floats);
        return 0;
    }
    case PCI_OP_CONV2D_TRANSPOSE: {
        const pci_tconv_shape *s = &st->s.tconv;
        if (!positive(&s->n, 11) || s->pad_t < 0 || s->pad_l < 0) FAIL("conv2d_transpose: non-positive size");
        CHECK_IN(st->in[0], (size_t)s->n * s->h * s->w * s->c, "conv2d_transpose input");
        CHECK_IN(st->w, pci_tconv_packed_size(s), "conv2d_transpose weights");
        if (st->b) CHECK_IN(st->b, (size_t)s->oc, "conv2d_transpose bias");
        CHECK_OUT(st->out, (size_t)s->n * s->oh * s->ow * s->oc);
        return 0;
    }
    case PCI_OP_MAX_POOL2D:
    case PCI_OP_AVG_POOL2D: {
        const pci_pool_shape *s = &st->s.pool;
        if (!positive(&s->n, 10) || s->pad_t < 0 || s->pad_l < 0) FAIL("pool: non-positive size");
        CHECK_IN(st->in[0], (size_t)s->n * s->h * s->w * s->c, "pool input");
        CHECK_OUT(st->out, (size_t)s->n * s->oh * s->ow * s->c);
        return 0;
    }
    case PCI_OP_GLOBAL_AVG_POOL:
    case PCI_OP_GLOBAL_MAX_POOL:
        if (!positive(st->s.p, 3)) FAIL("global pool: non-positive size");
        CHECK_IN(st->in[0], (size_t)st->s.p[0] * st->s.p[1] * st->s.p[2], "global pool input");
        CHECK_OUT(st->out, (size_t)st->s.p[0] * st->s.p[2]);
        return 0;
    case PCI_OP_DENSE: {
        const int *p = st->s.p;
        if (!positive(p, 3)) FAIL("dense: non-positive size");
        CHECK_IN(st->in[0], (size_t)p[0] * p[1], "dense input");
        CHECK_IN(st->w, div_up(p[2], PCI_NR) * p[1] * PCI_NR, "dense weights");
        if (st->b) CHECK_IN(st->b, (size_t)p[2], "dense bias");
        CHECK_OUT(st->out, (size_t)p[0] * p[2]);
        return 0;
    }
    case PCI_OP_ZERO_PAD2D: {
        const int *p = st->s.p;
        if (!positive(p, 4) || p[4] < 0 || p[5] < 0 || p[6] < 0 || p[7] < 0) FAIL("zero_pad2d: bad size");
        CHECK_IN(st->in[0], (size_t)p[0] * p[1] * p[2] * p[3], "zero_pad2d input");
        CHECK_OUT(st->out, (size_t)p[0] * (p[1] + p[4] + p[5]) * (p[2] + p[6] + p[7]) * p[3]);
        return 0;
    }
    case PCI_OP_UPSAMPLE_NEAREST: {
        const int *p = st->s.p;
        if (!positive(p, 6)) FAIL("upsample: non-positive size");
        CHECK_IN(st->in[0], (size_t)p[0] * p[1] * p[2] * p[3], "upsample input");
        CHECK_OUT(st->out, (size_t)p[0] * p[1] * p[4] * p[2] * p[5] * p[3]);
        return 0;
    }
    case PCI_OP_ADD:
    case PCI_OP_COPY:
        if (st->n_in < 1 || (st->op == PCI_OP_COPY && st->n_in != 1)) FAIL("add: needs inputs");
        for (int i = 0; i < st->n_in; i++) CHECK_IN(st->in[i], st->count, "add input");
        CHECK_OUT(st->out, st->count);
        return 0;
    case PCI_OP_CONCAT: {
        size_t total = 0;
        if (st->n_in < 1) FAIL("concat: needs inputs");
        for (int i = 0; i < st->n_in; i++) {
            if (st->cols[i] <= 0) FAIL("concat: non-positive width");
            CHECK_IN(st->in[i], st->rows * st->cols[i], "concat input");
            total += (size_t)st->cols[i];
        }
        CHECK_OUT(st->out, st->rows * total);
        return 0;
    }
    case PCI_OP_SCALE_SHIFT:
        if (st->s.p[0] <= 0) FAIL("scale_shift: non-positive channels");
        CHECK_IN(st->in[0], st->rows * st->s.p[0], "scale_shift input");
        CHECK_IN(st->w, (size_t)st->s.p[0], "scale_shift scale");
        CHECK_IN(st->w2, (size_t)st->s.p[0], "scale_shift shift");
        CHECK_OUT(st->out, st->rows * st->s.p[0]);
        return 0;
    case PCI_OP_ACTIVATION:
        if (st->s.p[0] <= 0) FAIL("activation: non-positive width");
        CHECK_IN(st->in[0], st->rows * st->s.p[0], "activation input");
        CHECK_OUT(st->out, st->rows * st->s.p[0]);
        return 0;
    default: FAIL("unknown op %d", st->op);
    }
}

int pci_run(const pci_step *steps, int n, pci_ctx ctx, const volatile int *stop) {
    for (int i = 0; i < n; i++) {
        if (stop && *stop) return i;
        const pci_step *st = &steps[i];
        switch (st->op) {
        case PCI_OP_CONV2D: pci_conv2d(st->in[0], st->w, st->b, st->out, &st->s.conv, st->act, ctx); break;
        case PCI_OP_CONV2D_WINOGRAD:
            pci_conv2d_winograd(st->in[0], st->w, st->b, st->out, &st->s.conv, st->algo, st->act, st->scratch,
                                st->scratch_floats, ctx);
            break;
        case PCI_OP_CONV2D_TRANSPOSE:
            pci_conv2d_transpose(st->in[0], st->w, st->b, st->out, &st->s.tconv, st->act, ctx);
            break;
        case PCI_OP_MAX_POOL2D: pci_max_pool2d(st->in[0], st->out, &st->s.pool, ctx); break;
        case PCI_OP_AVG_POOL2D: pci_avg_pool2d(st->in[0], st->out, &st->s.pool, ctx); break;
        case PCI_OP_GLOBAL_AVG_POOL:
        case PCI_OP_GLOBAL_MAX_POOL:
            pci_global_pool(st->in[0], st->out, st->s.p[0], st->s.p[1], st->s.p[2],
                            st->op == PCI_OP_GLOBAL_MAX_POOL, ctx);
            break;
        case PCI_OP_DENSE:
            pci_dense(st->in[0], st->w, st->b, st->out, st->s.p[0], st->s.p[1], st->s.p[2], st->act, ctx);
            break;
        case PCI_OP_ZERO_PAD2D: {
            const int *p = st->s.p;
            pci_zero_pad2d(st->in[0], st->out, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], ctx);
            break;
        }
        case PCI_OP_UPSAMPLE_NEAREST: {
            const int *p = st->s.p;
            pci_upsample_nearest2d(st->in[0], st->out, p[0], p[1], p[2], p[3], p[4], p[5], ctx);
            break;
        }
        case PCI_OP_ADD:
        case PCI_OP_COPY: pci_add(st->in, st->n_in, st->out, st->count, st->act, ctx); break;
        case PCI_OP_CONCAT: pci_concat(st->in, st->cols, st->n_in, st->out, st->rows, ctx); break;
        case PCI_OP_SCALE_SHIFT:
            pci_scale_shift(st->in[0], st->w, st->w2, st->out, st->rows, st->s.p[0], st->act, ctx);
            break;
        case PCI_OP_ACTIVATION:
            if (st->out != st->in[0]) memcpy(st->out, st->in[0], st->rows * st->s.p[0] * sizeof(float));
            pci_activation(st->out, st->rows, (size_t)st->s.p[0], st->act, ctx);
            break;
        default: break;
        }
    }
    return n;
}
