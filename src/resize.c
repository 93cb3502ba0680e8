/* 2-D resizing, NHWC, as TensorFlow's tf.image.resize does it for Keras
 * (UpSampling2D, Resizing, ops.image.resize): half-pixel centres, no
 * antialiasing. Nearest: in = min(floor((o + 0.5) * in_size / out_size), in_size - 1).
 * Bilinear: in = (o + 0.5) * scale - 0.5, the two neighbours clamped to the
 * image, weights from the fractional part. The coordinates are computed in
 * float32 exactly as TensorFlow's kernels compute them, so a pixel falls on
 * the same neighbours. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "pci_internal.h"

typedef struct {
    int lo, hi;
    float frac;
} resize_tap;

static void taps(resize_tap *t, int out, int in, int bilinear) {
    const float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        if (!bilinear) {
            const int i = (int)floorf(((float)o + 0.5f) * scale);
            t[o].lo = t[o].hi = PCI_MIN(PCI_MAX(i, 0), in - 1);
            t[o].frac = 0.0f;
            continue;
        }
        const float pos = ((float)o + 0.5f) * scale - 0.5f;
        const float f = floorf(pos);
        t[o].lo = PCI_MIN(PCI_MAX((int)f, 0), in - 1);
        t[o].hi = PCI_MIN(PCI_MAX((int)ceilf(pos), 0), in - 1);
        t[o].frac = pos - f;
    }
}

static void resize_row(const float *x, float *out, const resize_tap *ty, const resize_tap *tx, int ow, int w, int c,
                       int bilinear) {
    const float *top = x + (size_t)ty->lo * w * c, *bot = x + (size_t)ty->hi * w * c;
    for (int q = 0; q < ow; q++) {
        float *o = out + (size_t)q * c;
        if (!bilinear) {
            memcpy(o, top + (size_t)tx[q].lo * c, sizeof(float) * c);
            continue;
        }
        const float *tl = top + (size_t)tx[q].lo * c, *tr = top + (size_t)tx[q].hi * c;
        const float *bl = bot + (size_t)tx[q].lo * c, *br = bot + (size_t)tx[q].hi * c;
        const float fx = tx[q].frac, fy = ty->frac;
        /* TensorFlow's order: top = tl + (tr - tl) fx, bottom likewise, then top + (bottom - top) fy */
#pragma omp simd
        for (int k = 0; k < c; k++) {
            const float t = tl[k] + (tr[k] - tl[k]) * fx;
            const float b = bl[k] + (br[k] - bl[k]) * fx;
            o[k] = t + (b - t) * fy;
        }
    }
}

void pci_resize2d(const float *x, float *y, int n, int h, int w, int c, int oh, int ow, int bilinear, pci_ctx ctx) {
    resize_tap *ty = malloc(sizeof(resize_tap) * ((size_t)oh + ow));
    if (!ty) return;
    resize_tap *tx = ty + oh;
    taps(ty, oh, h, bilinear);
    taps(tx, ow, w, bilinear);
    const long rows = (long)n * oh;
    const int nt = pci_threads_for(ctx, (double)rows * ow * c * (bilinear ? 8 : 1));
    PCI_FOR(nt, long r = 0, r < rows, r++, {
        const int i = (int)(r / oh), o = (int)(r % oh);
        resize_row(x + (size_t)i * h * w * c, y + (size_t)r * ow * c, &ty[o], tx, ow, w, c, bilinear);
    });
    free(ty);
}

/* ---- the resize2d op: p = n, h, w, c, oh, ow, mode (0 nearest, 1 bilinear) ---- */
int pci_validate_resize2d(const pci_step *st, pci_check *chk) {
    const int *p = st->s.p;
    if (!pci_all_positive(p, 6)) return pci_check_fail(chk, "non-positive size");
    if (p[6] != 0 && p[6] != 1) return pci_check_fail(chk, "mode %d is not nearest (0) or bilinear (1)", p[6]);
    if (p[4] > (1 << 24) || p[5] > (1 << 24)) return pci_check_fail(chk, "output size too large");
    const int out_dims[4] = {p[0], p[4], p[5], p[3]};
    PCI_TRY(pci_check_in(chk, st->in[0], pci_size_mul(4, p), "input"));
    return pci_check_out(chk, st->out, pci_size_mul(4, out_dims), "output");
}

void pci_run_resize2d(const pci_step *st, pci_ctx ctx) {
    const int *p = st->s.p;
    pci_resize2d(st->in[0], st->out, p[0], p[1], p[2], p[3], p[4], p[5], p[6], ctx);
}

const char *pci_algorithm_resize2d(const pci_step *st, int isa) {
    (void)isa;
    return st->s.p[6] ? "bilinear, half-pixel" : "nearest, half-pixel";
}
