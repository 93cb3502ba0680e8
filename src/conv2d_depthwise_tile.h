/* Depthwise tile kernel body, instantiated per ISA by conv2d_depthwise_x86.c and
 * conv2d_depthwise_neon.c (which define DW_* for the vector width first). Contract: pci_dw_tile_fn in
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

/* DW_RV3 (vectors per row block of the 3-wide kernel) defaults to DW_RV. */
#ifndef DW_RV3
#define DW_RV3 DW_RV
#endif
#define DW_RV_MAX (DW_RV3 > DW_RV ? DW_RV3 : DW_RV)

/* Stride-1, dilation-1 rows (the 3x3 and 5x5 layers of MobileNet / EfficientNet):
 * the P pixels of a tile need P + KW - 1 input columns per kernel row, and each
 * loaded input vector feeds up to KW accumulators, instead of one load per
 * (tap, pixel): 18 loads per 24 multiply-adds instead of 30 (P 4, V 2, KW 3).
 * Each output still sums bias, then its taps in (row, column) order: the same
 * arithmetic as DW_NAME(block), so the same bits. xr[r]: kernel row r's input at
 * the tile's first tap column; wr[r]: its KW weight vectors, c floats apart. */
DW_TARGET static inline __attribute__((always_inline)) void DW_NAME(rowblock)(
    const int V, const int KW, const int masked, int nrows, const float *const *xr, const float *const *wr, size_t pc,
    int c, const float *bias, float *out, const float *clamp, int q, DW_MASK_T mask) {
    DW_VEC acc[DW_P][DW_RV_MAX];
    for (int v = 0; v < V; v++) {
        const DW_VEC b = !bias ? DW_ZERO() : masked ? DW_LOADM(bias + q, mask) : DW_LOAD(bias + q + v * DW_VL);
        for (int p = 0; p < DW_P; p++) acc[p][v] = b;
    }
    for (int r = 0; r < nrows; r++) {
        const float *x = xr[r] + q, *w = wr[r] + q;
        __asm__("" : "+r"(x));
        DW_VEC wv[5][DW_RV_MAX];
        for (int j = 0; j < KW; j++)
            for (int v = 0; v < V; v++)
                wv[j][v] = masked ? DW_LOADM(w + (size_t)j * c, mask) : DW_LOAD(w + (size_t)j * c + v * DW_VL);
        for (int u = 0; u < DW_P + KW - 1; u++) {
            DW_VEC xv[DW_RV_MAX];
            for (int v = 0; v < V; v++) xv[v] = masked ? DW_LOADM(x, mask) : DW_LOAD(x + v * DW_VL);
            /* One running pointer: with x + u * pc gcc keeps an offset register per
             * column, runs out of general registers and parks them in vector ones. */
            x += pc;
            __asm__("" : "+r"(x));
            for (int j = KW - 1; j >= 0; j--) { /* pixel u - j takes tap j: for each pixel, j rises with u */
                const int p = u - j;
                if (p < 0 || p >= DW_P) continue;
                for (int v = 0; v < V; v++) acc[p][v] = DW_FMA(xv[v], wv[j][v], acc[p][v]);
            }
        }
    }
    if (clamp) {
        const DW_VEC lo = DW_SET1(clamp[0]), hi = DW_SET1(clamp[1]);
        for (int p = 0; p < DW_P; p++)
            for (int v = 0; v < V; v++) acc[p][v] = DW_MIN(DW_MAX(acc[p][v], lo), hi);
    }
    for (int p = 0; p < DW_P; p++)
        for (int v = 0; v < V; v++) {
            float *o = out + (size_t)p * c + q + v * DW_VL;
            if (masked) DW_STOREM(o, mask, acc[p][v]);
            else DW_STORE(o, acc[p][v]);
        }
}

DW_TARGET static inline __attribute__((always_inline)) void DW_NAME(rows_kw)(
    const int KW, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c, const float *bias,
    float *out, const float *clamp) {
    const int RV = KW == 3 ? DW_RV3 : DW_RV; /* vectors per row block: what the registers hold */
    int q = 0;
    for (; q + RV * DW_VL <= c; q += RV * DW_VL)
        DW_NAME(rowblock)(RV, KW, 0, nrows, xr, wr, pc, c, bias, out, clamp, q, DW_MASK(DW_VL));
    for (; q + DW_VL <= c; q += DW_VL)
        DW_NAME(rowblock)(1, KW, 0, nrows, xr, wr, pc, c, bias, out, clamp, q, DW_MASK(DW_VL));
    if (q < c) DW_NAME(rowblock)(1, KW, 1, nrows, xr, wr, pc, c, bias, out, clamp, q, DW_MASK(c - q));
}

DW_TARGET void DW_ROWS(int kw, int nrows, const float *const *xr, const float *const *wr, size_t pc, int c,
                       const float *bias, float *out, const float *clamp) {
    if (kw == 3) DW_NAME(rows_kw)(3, nrows, xr, wr, pc, c, bias, out, clamp);
    else DW_NAME(rows_kw)(5, nrows, xr, wr, pc, c, bias, out, clamp);
}

#undef DW_RV3
#undef DW_RV_MAX
