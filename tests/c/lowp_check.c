/* Reduced-precision kernels, checked in C on every path this CPU (or qemu)
 * has: for float16, bfloat16 and int8 kernels, every op that takes them must
 * give bitwise what the float32 op gives on the weights widened by the
 * portable widening (weights.c's generic path), at 1, 2 and 3 threads.
 * Covers the NEON GEMV widening, which the Python tests cannot reach on x86.
 *
 *   gcc -O3 -std=c11 -fopenmp -Isrc tests/c/lowp_check.c src/[!_]*.c -lm -o lowp_check && ./lowp_check
 * (tools/check_lowp.sh builds and runs it natively and under qemu-aarch64.)
 * Exit status 0 when every case matches. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rndf(void) { return (float)((rnd() % 20001) - 10000) / 10000.0f; }

/* n random weights stored as dtype (finite values), scales for nscale channels. */
static void *make_weights(int dtype, size_t n, float **scale, size_t nscale) {
    void *w = malloc(n * pci_dtype_size(dtype) + 1);
    *scale = NULL;
    for (size_t i = 0; i < n; i++) {
        if (dtype == PCI_DTYPE_F16) { /* any exponent but inf/NaN (subnormals included) */
            uint16_t h = (uint16_t)(rnd() & 0xffff);
            if (((h >> 10) & 0x1f) == 0x1f) h &= 0xbfff;
            ((uint16_t *)w)[i] = h;
        } else if (dtype == PCI_DTYPE_BF16) { /* exponents near 1 */
            ((uint16_t *)w)[i] = (uint16_t)((rnd() & 0x807f) | ((120 + rnd() % 12) << 7));
        } else {
            ((int8_t *)w)[i] = (int8_t)((int)(rnd() % 255) - 127);
        }
    }
    if (dtype == PCI_DTYPE_I8) {
        *scale = malloc(nscale * sizeof(float));
        for (size_t i = 0; i < nscale; i++) (*scale)[i] = (float)(rnd() % 1000 + 1) * 1e-5f;
    }
    return w;
}

static float *rnd_array(size_t n) {
    float *a = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = rndf();
    return a;
}

static int failures = 0, checks = 0;

static void compare(const char *what, int isa, int dtype, int threads, const float *got, const float *want, size_t n) {
    checks++;
    if (memcmp(got, want, n * sizeof(float)) != 0) {
        size_t i = 0;
        while (i < n && memcmp(got + i, want + i, sizeof(float)) == 0) i++;
        printf("FAIL %s isa %s dtype %s threads %d: element %zu got %.9g want %.9g\n", what, pci_isa_name(isa),
               pci_dtype_name(dtype), threads, i, got[i], want[i]);
        failures++;
    }
}

/* The reference widening: generic path, panel16 (lanes 16, scale panel j = 16 j) or per-channel (lanes). */
static float *widened(const pci_weights *w, size_t n, int lanes) {
    float *f = malloc(n * sizeof(float));
    pci_widen(w, 0, n, w->scale, lanes, f, PCI_ISA_GENERIC);
    return f;
}

static void check_dense(int isa, int dtype, int m, int k, int n) {
    const int nb = (n + 15) / 16;
    float *scale, *x = rnd_array((size_t)m * k), *bias = rnd_array((size_t)n);
    void *wd = make_weights(dtype, (size_t)nb * k * 16, &scale, (size_t)nb * 16);
    const pci_weights w = {wd, dtype, scale};
    /* panel16 dense: panel b's channel scales are scale + 16 b; elements of panel b are contiguous, so the
     * element index modulo 16 within the whole kernel picks its lane and panel b's own 16 scales */
    float *wf = malloc((size_t)nb * k * 16 * sizeof(float));
    for (int b = 0; b < nb; b++)
        pci_widen(&w, (size_t)b * k * 16, (size_t)k * 16, scale ? scale + b * 16 : NULL, 16, wf + (size_t)b * k * 16,
                  PCI_ISA_GENERIC);
    float *got = malloc((size_t)m * n * sizeof(float)), *want = malloc((size_t)m * n * sizeof(float));
    const pci_act act = {PCI_ACT_RELU, INFINITY, 0, 0};
    for (int t = 1; t <= 3; t++) {
        const pci_ctx ctx = {t, isa};
        pci_dense_w(x, &w, bias, got, m, k, n, act, ctx);
        pci_dense(x, wf, bias, want, m, k, n, act, ctx);
        compare(m == 1 ? "dense gemv" : "dense batch", isa, dtype, t, got, want, (size_t)m * n);
    }
    free(x), free(bias), free(wd), free(scale), free(wf), free(got), free(want);
}

static void check_conv(int isa, int dtype, pci_conv_shape s, int algo, const char *what) {
    const int cin_g = s.c / s.groups, cout_g = s.oc / s.groups, dwise = s.groups > 1 && cin_g == 1;
    size_t count, nscale, panel;
    if (algo) {
        panel = (size_t)s.c * 16, nscale = (size_t)(algo + 2) * (algo + 2) * ((s.oc + 15) / 16) * 16;
        count = nscale / 16 * panel;
    } else if (dwise) {
        panel = 0, nscale = (size_t)s.oc, count = (size_t)s.kh * s.kw * s.oc;
    } else {
        panel = (size_t)s.kh * s.kw * cin_g * 16, nscale = (size_t)s.groups * ((cout_g + 15) / 16) * 16;
        count = nscale / 16 * panel;
    }
    float *scale, *x = rnd_array((size_t)s.n * s.h * s.w * s.c), *bias = rnd_array((size_t)s.oc);
    void *wd = make_weights(dtype, count, &scale, nscale);
    const pci_weights w = {wd, dtype, scale};
    float *wf;
    if (dwise) {
        wf = widened(&w, count, s.oc);
    } else {
        wf = malloc(count * sizeof(float));
        pci_widen_panels(&w, 0, count / panel, panel, 0, wf, PCI_ISA_GENERIC);
    }
    const size_t ny = (size_t)s.n * s.oh * s.ow * s.oc;
    float *got = malloc(ny * sizeof(float)), *want = malloc(ny * sizeof(float));
    const size_t scratch_floats = algo ? pci_winograd_scratch_floats(&s, algo) * 3 : 0;
    float *scratch = algo ? malloc(scratch_floats * sizeof(float)) : NULL;
    const pci_act act = {PCI_ACT_LINEAR, 0, 0, 0};
    for (int t = 1; t <= 3; t++) {
        const pci_ctx ctx = {t, isa};
        if (algo) {
            pci_conv2d_winograd_w(x, &w, bias, got, &s, algo, act, scratch, scratch_floats, ctx);
            pci_conv2d_winograd(x, wf, bias, want, &s, algo, act, scratch, scratch_floats, ctx);
        } else {
            pci_conv2d_w(x, &w, bias, got, &s, act, ctx);
            pci_conv2d(x, wf, bias, want, &s, act, ctx);
        }
        compare(what, isa, dtype, t, got, want, ny);
    }
    free(x), free(bias), free(wd), free(scale), free(wf), free(got), free(want), free(scratch);
}

static void check_tconv(int isa, int dtype) {
    const pci_tconv_shape s = {1, 5, 6, 8, 11, 13, 20, 3, 3, 2, 2, 0, 0};
    const size_t count = pci_tconv_packed_size(&s), nb = (size_t)(s.oc + 15) / 16;
    float *scale, *x = rnd_array((size_t)s.n * s.h * s.w * s.c), *bias = rnd_array((size_t)s.oc);
    void *wd = make_weights(dtype, count, &scale, nb * 16);
    const pci_weights w = {wd, dtype, scale};
    float *wf = malloc(count * sizeof(float));
    size_t off = 0; /* phases (rh, rw), each nb panels of its taps x c x 16, sharing the scales */
    for (int rh = 0; rh < s.sh; rh++)
        for (int rw = 0; rw < s.sw; rw++) {
            const size_t th = rh < s.kh ? (size_t)(s.kh - rh + s.sh - 1) / s.sh : 0;
            const size_t tw = rw < s.kw ? (size_t)(s.kw - rw + s.sw - 1) / s.sw : 0;
            const size_t panel = th * tw * s.c * 16;
            if (!panel) continue;
            pci_widen_panels(&w, off, nb, panel, 0, wf + off, PCI_ISA_GENERIC);
            off += nb * panel;
        }
    const size_t ny = (size_t)s.n * s.oh * s.ow * s.oc;
    float *got = malloc(ny * sizeof(float)), *want = malloc(ny * sizeof(float));
    const pci_act act = {PCI_ACT_LINEAR, 0, 0, 0};
    for (int t = 1; t <= 3; t++) {
        const pci_ctx ctx = {t, isa};
        pci_conv2d_transpose_w(x, &w, bias, got, &s, act, ctx);
        pci_conv2d_transpose(x, wf, bias, want, &s, act, ctx);
        compare("conv2d_transpose", isa, dtype, t, got, want, ny);
    }
    free(x), free(bias), free(wd), free(scale), free(wf), free(got), free(want);
}

int main(void) {
    /* n h w c oh ow oc kh kw sh sw dh dw pad_t pad_l groups */
    const pci_conv_shape gemm = {2, 9, 10, 24, 9, 10, 72, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    /* > SMALL_KERNEL weights: in registers (few pixel tiles), or int8 per block into a buffer (many) */
    const pci_conv_shape big = {1, 6, 6, 256, 6, 6, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    const pci_conv_shape big_tall = {1, 12, 12, 256, 12, 12, 120, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    const pci_conv_shape narrow = {1, 8, 8, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1, 0, 0, 1};
    const pci_conv_shape grouped = {1, 7, 7, 12, 4, 4, 18, 3, 3, 2, 2, 1, 1, 1, 1, 3};
    const pci_conv_shape dwise = {1, 9, 9, 24, 9, 9, 24, 3, 3, 1, 1, 1, 1, 1, 1, 24};
    const pci_conv_shape thin = {1, 20, 37, 1, 16, 33, 6, 5, 5, 1, 1, 1, 1, 0, 0, 1};
    const pci_conv_shape wino = {1, 13, 15, 17, 13, 15, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    int isas = 0;
    for (int isa = 0; isa < PCI_ISA_COUNT; isa++) {
        if (!pci_isa_available(isa)) continue;
        isas++;
        for (int dt = PCI_DTYPE_F16; dt <= PCI_DTYPE_I8; dt++) {
            check_dense(isa, dt, 1, 37, 40);
            check_dense(isa, dt, 1, 1000, 300);
            check_dense(isa, dt, 5, 64, 70);
            check_conv(isa, dt, gemm, 0, "conv2d gemm");
            check_conv(isa, dt, big, 0, "conv2d gemm large kernel");
            check_conv(isa, dt, big_tall, 0, "conv2d gemm large kernel, many tiles");
            check_conv(isa, dt, narrow, 0, "conv2d narrow");
            check_conv(isa, dt, grouped, 0, "conv2d grouped");
            check_conv(isa, dt, dwise, 0, "conv2d depthwise");
            check_conv(isa, dt, thin, 0, "conv2d thin");
            check_conv(isa, dt, wino, 2, "winograd2");
            check_conv(isa, dt, wino, 4, "winograd4");
            check_tconv(isa, dt);
        }
    }
    printf("lowp_check: %d checks on %d ISA paths, %d failed\n", checks, isas, failures);
    return failures ? 1 : 0;
}
