/* Depthwise tile kernel body, instantiated per x86 ISA by conv2d_depthwise_x86.c
 * (which defines DW_* for the vector width first). Contract: pci_dw_tile_fn in
 * pci_internal.h. Output pixel p's input for tap t is xt[t] + p * pstep; its
 * c channels go to out + p * c. Accumulators are DW_P pixels x V vectors of
 * channels (constants at each call, so they live in registers): each weight
 * vector is loaded once per tap and used for every pixel of the tile. */

/* One block of P pixels x V channel vectors at channel q (masked: one partial vector). */
DW_TARGET static inline __attribute__((always_inline)) void DW_NAME(block)(
    const int P, const int V, const int masked, int ntaps, const float *const *xt, const float *const *wt,
    size_t pstep, int c, const float *bias, float *out, const float *clamp, int q, DW_MASK_T mask) {
    DW_VEC acc[DW_P][DW_V];
    for (int v = 0; v < V; v++) {
        const DW_VEC b = !bias ? DW_ZERO() : masked ? DW_LOADM(bias + q, mask) : DW_LOAD(bias + q + v * DW_VL);
        for (int p = 0; p < P; p++) acc[p][v] = b;
    }
    for (int t = 0; t < ntaps; t++) {
        const float *w = wt[t] + q, *xp[DW_P];
        xp[0] = xt[t] + q;
        /* One base register per pixel, channel vectors at constant offsets from it.
         * The empty asm hides that xp[p] = xp[0] + p * pstep: otherwise gcc keeps
         * P x V separate offsets, more than the 16 general registers, and spills. */
        for (int p = 1; p < P; p++) {
            xp[p] = xp[p - 1] + pstep;
            __asm__("" : "+r"(xp[p]));
        }
        DW_VEC wv[DW_V];
        for (int v = 0; v < V; v++) wv[v] = masked ? DW_LOADM(w, mask) : DW_LOAD(w + v * DW_VL);
        for (int p = 0; p < P; p++)
            for (int v = 0; v < V; v++)
                acc[p][v] = DW_FMA(masked ? DW_LOADM(xp[p], mask) : DW_LOAD(xp[p] + v * DW_VL), wv[v], acc[p][v]);
    }
    if (clamp) {
        const DW_VEC lo = DW_SET1(clamp[0]), hi = DW_SET1(clamp[1]);
        for (int p = 0; p < P; p++)
            for (int v = 0; v < V; v++) acc[p][v] = DW_MIN(DW_MAX(acc[p][v], lo), hi);
    }
    for (int p = 0; p < P; p++)
        for (int v = 0; v < V; v++) {
            float *o = out + (size_t)p * c + q + v * DW_VL;
            if (masked) DW_STOREM(o, mask, acc[p][v]);
            else DW_STORE(o, acc[p][v]);
        }
}

/* All channels of P pixels: DW_V-vector blocks, then single vectors, then the masked rest. */
DW_TARGET static inline __attribute__((always_inline)) void DW_NAME(pixels)(
    const int P, int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int c,
    const float *bias, float *out, const float *clamp) {
    const DW_MASK_T none = DW_MASK(DW_VL);
    int q = 0;
    for (; q + DW_V * DW_VL <= c; q += DW_V * DW_VL)
        DW_NAME(block)(P, DW_V, 0, ntaps, xt, wt, pstep, c, bias, out, clamp, q, none);
    /* Two vectors before one: 32 channels (MobileNetV2's first depthwise) would
     * otherwise run as two blocks of 4 accumulators, latency-bound. */
    if (DW_V > 2)
        for (; q + 2 * DW_VL <= c; q += 2 * DW_VL)
            DW_NAME(block)(P, 2, 0, ntaps, xt, wt, pstep, c, bias, out, clamp, q, none);
    for (; q + DW_VL <= c; q += DW_VL) DW_NAME(block)(P, 1, 0, ntaps, xt, wt, pstep, c, bias, out, clamp, q, none);
    if (q < c) DW_NAME(block)(P, 1, 1, ntaps, xt, wt, pstep, c, bias, out, clamp, q, DW_MASK(c - q));
}

DW_TARGET void DW_TILE(int ntaps, const float *const *xt, const float *const *wt, size_t pstep, int npx,
                             int c, const float *bias, float *out, const float *clamp) {
    if (npx == DW_P) {
        DW_NAME(pixels)(DW_P, ntaps, xt, wt, pstep, c, bias, out, clamp);
        return;
    }
    /* Fewer pixels (a row's last interior ones, or one border pixel): one at a
     * time, each pixel's taps shifted by its stride. */
    const float *stack[256];
    const float **xs = ntaps <= 256 ? stack : malloc(sizeof(float *) * (size_t)(ntaps > 0 ? ntaps : 1));
    if (!xs) return;
    for (int p = 0; p < npx; p++) {
        for (int t = 0; t < ntaps; t++) xs[t] = xt[t] + (size_t)p * pstep;
        DW_NAME(pixels)(1, ntaps, xs, wt, pstep, c, bias, out + (size_t)p * c, clamp);
    }
    if (xs != stack) free(xs);
}
