/* Runs a validated plan; validates plans built from model files. The op
 * table (op_table.h) generates the dispatch: no op is named here. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

typedef struct {
    const char *name;
    int (*validate)(const pci_step *, pci_check *);
    void (*run)(const pci_step *, pci_ctx);
    const char *(*algorithm)(const pci_step *, int);
} op_entry;

static const op_entry OPS[PCI_OP_END] = {
#define PCI_ENTRY(id, name) [id] = {#name, pci_validate_##name, pci_run_##name, pci_algorithm_##name},
    PCI_OP_TABLE(PCI_ENTRY)
#undef PCI_ENTRY
};

static const op_entry *entry(int op) {
    return (op > 0 && op < PCI_OP_END && OPS[op].run) ? &OPS[op] : NULL;
}

const char *pci_op_name(int op) {
    const op_entry *e = entry(op);
    return e ? e->name : NULL;
}

int pci_check_fail(pci_check *chk, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(chk->err, chk->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* 1 when [p, p + bytes) lies inside a region (a writable one if need_write). */
static int inside_bytes(pci_check *chk, const void *p, size_t bytes, int need_write) {
    const char *c = p;
    if (!p || bytes == SIZE_MAX) return 0;
    for (int i = 0; i < chk->nregions; i++) {
        const pci_region *r = &chk->regions[i];
        if (need_write && !r->writable) continue;
        if (c >= r->base && bytes <= r->size && (size_t)(c - r->base) <= r->size - bytes) return 1;
    }
    return 0;
}

static int inside(pci_check *chk, const void *p, size_t nfloats, int need_write) {
    return nfloats <= SIZE_MAX / sizeof(float) && inside_bytes(chk, p, nfloats * sizeof(float), need_write);
}

int pci_check_in(pci_check *chk, const void *p, size_t nfloats, const char *what) {
    if (inside(chk, p, nfloats, 0)) return 0;
    return pci_check_fail(chk, "%s of %zu floats lies outside the model file and the arena", what, nfloats);
}

int pci_check_out(pci_check *chk, const void *p, size_t nfloats, const char *what) {
    if (inside(chk, p, nfloats, 1)) return 0;
    return pci_check_fail(chk, "%s of %zu floats lies outside the arena", what, nfloats);
}

int pci_check_tensor(pci_check *chk, const void *p, size_t count, int dtype, int writable, const char *what) {
    if (dtype == PCI_TENSOR_F32) return writable ? pci_check_out(chk, p, count, what) : pci_check_in(chk, p, count, what);
    if (dtype != PCI_TENSOR_U8) return pci_check_fail(chk, "%s has unknown tensor dtype %d", what, dtype);
    if (inside_bytes(chk, p, count, writable)) return 0;
    return pci_check_fail(chk, "uint8 %s of %zu bytes lies outside the %s", what, count,
                          writable ? "arena" : "model file and the arena");
}

/* Ops whose kernel (slot 0) may be stored in reduced precision. */
static int low_precision_kernel(int op) {
    return op == PCI_OP_conv2d || op == PCI_OP_conv2d_transpose || op == PCI_OP_dense;
}

int pci_check_kernel(pci_check *chk, const pci_step *st, size_t count, size_t nscale) {
    const int dt = st->w_dtype[PCI_SLOT_KERNEL];
    const size_t esize = pci_dtype_size(dt);
    const void *w = st->w[PCI_SLOT_KERNEL];
    if (!esize) return pci_check_fail(chk, "kernel has unknown dtype %d", dt);
    /* The extent in bytes: element count x dtype size. */
    if (count == SIZE_MAX || count > SIZE_MAX / esize) return pci_check_fail(chk, "kernel size overflows");
    const size_t bytes = count * esize;
    if (dt == PCI_DTYPE_F32) PCI_TRY(pci_check_in(chk, w, count, "weights")); /* float32: the message as ever */
    else if (!inside_bytes(chk, w, bytes, 0))
        return pci_check_fail(chk, "%s kernel of %zu elements (%zu bytes) lies outside the model file and the arena",
                              pci_dtype_name(dt), count, bytes);
    if ((uintptr_t)w % esize)
        return pci_check_fail(chk, "%s kernel is not aligned to %zu bytes", pci_dtype_name(dt), esize);
    const void *scale = st->w[PCI_SLOT_KERNEL_SCALE];
    if (dt != PCI_DTYPE_I8) {
        if (scale) return pci_check_fail(chk, "a kernel_scale (slot %d) is given for a %s kernel; only int8 kernels have one",
                                         PCI_SLOT_KERNEL_SCALE, pci_dtype_name(dt));
        return 0;
    }
    if (!scale) return pci_check_fail(chk, "an int8 kernel needs its kernel_scale (slot %d): %zu float32 scales",
                                      PCI_SLOT_KERNEL_SCALE, nscale);
    if (st->w_dtype[PCI_SLOT_KERNEL_SCALE] != PCI_DTYPE_F32)
        return pci_check_fail(chk, "kernel_scale (slot %d) must be float32", PCI_SLOT_KERNEL_SCALE);
    if ((uintptr_t)scale % sizeof(float)) return pci_check_fail(chk, "kernel_scale is not aligned to 4 bytes");
    if (!inside(chk, scale, nscale, 0))
        return pci_check_fail(chk, "kernel_scale of %zu floats (one per packed output channel) lies outside the model "
                                   "file and the arena, or is shorter", nscale);
    return 0;
}

int pci_all_positive(const int *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] <= 0) return 0;
    return 1;
}

size_t pci_size_mul(int n, const int *dims) {
    size_t total = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0) return SIZE_MAX;
        if (dims[i] && total > SIZE_MAX / (size_t)dims[i]) return SIZE_MAX;
        total *= (size_t)dims[i];
    }
    return total;
}

int pci_step_validate(const pci_step *st, const pci_region *regions, int nregions, char *err,
                      size_t errlen) {
    pci_check chk = {regions, nregions, err, errlen};
    const op_entry *e = entry(st->op);
    if (!e) return pci_check_fail(&chk, "unknown op %d", st->op);
    if (st->act.kind < 0 || st->act.kind >= PCI_ACT_COUNT)
        return pci_check_fail(&chk, "%s: unknown activation %d", e->name, st->act.kind);
    if (pci_act_shape(st->act.kind) == PCI_ACT_HALVES) /* changes the shape: the glu op, never fused */
        return pci_check_fail(&chk, "%s: activation %d halves the last axis and cannot be fused", e->name, st->act.kind);
    if (st->n_in < 0 || st->n_in > PCI_MAX_INPUTS) return pci_check_fail(&chk, "%s: bad input count %d", e->name, st->n_in);
    /* uint8 tensors: only between int8 convolutions and max pooling (each checks its own) */
    const int quantized_io = st->op == PCI_OP_conv2d || st->op == PCI_OP_pool2d;
    if ((st->in_dtype != PCI_TENSOR_F32 && !(quantized_io && st->in_dtype == PCI_TENSOR_U8)) ||
        (st->out_dtype != PCI_TENSOR_F32 && !(quantized_io && st->out_dtype == PCI_TENSOR_U8)))
        return pci_check_fail(&chk, "%s: tensor dtypes %d -> %d; this op reads and writes float32 (0)%s", e->name,
                              st->in_dtype, st->out_dtype,
                              quantized_io ? " or uint8 (1)" : "");
    for (int i = 0; i < PCI_MAX_WEIGHTS; i++) {
        if (!st->w[i] || st->w_dtype[i] == PCI_DTYPE_F32) continue;
        const char *dn = pci_dtype_name(st->w_dtype[i]);
        if (!dn) return pci_check_fail(&chk, "%s: weight slot %d has unknown dtype %d", e->name, i, st->w_dtype[i]);
        if (i != PCI_SLOT_KERNEL || !low_precision_kernel(st->op))
            return pci_check_fail(&chk, "%s: weight slot %d holds %s; this kernel reads float32 there%s", e->name, i, dn,
                                  i == PCI_SLOT_KERNEL ? "" : " (only slot 0, the kernel, of conv2d, conv2d_transpose and dense may be float16, bfloat16 or int8)");
    }
    if (e->validate(st, &chk) != 0) {
        /* prefix the op name once, so every message says which op refused */
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        if (strncmp(tmp, e->name, strlen(e->name)) != 0) snprintf(err, errlen, "%s: %s", e->name, tmp);
        return -1;
    }
    return 0;
}

int pci_run(const pci_step *steps, int n, pci_ctx ctx, const volatile int *stop) {
    for (int i = 0; i < n; i++) {
        if (stop && *stop) return i;
        const op_entry *e = entry(steps[i].op);
        if (e) e->run(&steps[i], ctx);
    }
    return n;
}

const char *pci_step_algorithm(const pci_step *st, int isa) {
    const op_entry *e = entry(st->op);
    return e ? e->algorithm(st, isa) : "unknown";
}
