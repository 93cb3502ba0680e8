/* Vectorized activations, written once for every instruction set.
 *
 * Included by act_avx512.c, act_avx2.c, act_neon.c and act_generic.c after
 * they define the vector vocabulary below for their ISA (the generic one is
 * a 1-lane "vector" of plain C floats). Each includer gets:
 *   ACT_NAME(apply)(x, n, act)            element-wise kinds, in place
 *   ACT_NAME(apply_rows)(x, rows, n, ld, act)  the same on rows of n floats, ld apart
 *   ACT_NAME(softmax_row)(row, cols, log) softmax / log_softmax of one row
 *   ACT_NAME(glu_row)(x, y, cols_out)     glu of one row
 *
 * Vocabulary: V (vector), M (mask), W (lanes); vset vload vstore vadd vsub vmul
 * vdiv vsqrt vmin vmax vabs; vfma(a, b, c) = a * b + c, fused where the ISA has
 * it; vfmax(a, b, c): always fused (exact product error terms, needed by gelu);
 * vlt vle vgt vge veq vnan -> M; vsel(m, a, b) = m ? a : b; vall(m): every lane set; mor; vround (to
 * nearest integer, ties even); vpow2i(k): 2^k for integral k in [-126, 127];
 * vcopysign(mag, sign). VFN qualifies inline helpers, VEXT the entry points.
 *
 * Accuracy (relative to float64 evaluated at the same float32 input, |ref|
 * floored at FLT_MIN so denormal results count in absolute terms): bound
 * 1e-6 for every kind, checked by tests/test_activations.py over the whole
 * float range; measured per kind in docs/ACTIVATIONS.md (worst 3.1e-7, tanh, generic).
 *   exp: Cody-Waite reduction + Cephes expf polynomial; results that are
 *        denormal, or feed a product that is (x e^x), are scaled by 2^64 and
 *        back so the last multiply rounds once (8e-8, ~1.3 ulp). expm1 (x <= 0),
 *        sigmoid, log1p (softplus) and gelu's normal CDF build on it; tanh is a
 *        rational fit.
 *   Formulas are rearranged where Keras's float32 form cancels (gelu's tail
 *   uses erfc = exp(-x^2/2) R(x) with x^2 split exactly; gelu_tanh's exponent
 *   is evaluated in double-float; tanh_shrink near 0 is x^3 Q(x^2);
 *   squareplus for x < 0 is (b/2) / (sqrt(x^2 + b) - x); hard_sigmoid is one
 *   fused multiply-add; softmax subtracts the max exactly (two-sum)). The
 *   polynomial coefficients come from tools/fit_act_poly.py.
 * Special values: +-inf give the function's limit, NaN gives NaN (relu keeps
 * its clamp semantics, NaN -> 0, as the GEMM-fused relu does). No kind makes
 * an intermediate inf/NaN that reaches the result. */

#define ACT_NAME2(a, b) a##_##b
#define ACT_NAME1(a, b) ACT_NAME2(a, b)
#define ACT_NAME(f) ACT_NAME1(pci_act_##f, ACT_ISA)

/* Horner on a constant coefficient list, highest degree first. */
#define POLY2(t, a, b) vfma(vset(a), t, vset(b))
#define POLY3(t, a, b, c) vfma(POLY2(t, a, b), t, vset(c))
#define POLY4(t, a, b, c, d) vfma(POLY3(t, a, b, c), t, vset(d))
#define POLY5(t, a, b, c, d, e) vfma(POLY4(t, a, b, c, d), t, vset(e))
#define POLY6(t, a, b, c, d, e, f) vfma(POLY5(t, a, b, c, d, e), t, vset(f))
#define POLY8(t, a, b, c, d, e, f, g, h) vfma(vfma(POLY6(t, a, b, c, d, e, f), t, vset(g)), t, vset(h))
#define POLY9(t, a, b, c, d, e, f, g, h, i) vfma(POLY8(t, a, b, c, d, e, f, g, h), t, vset(i))
#define POLY10(t, a, b, c, d, e, f, g, h, i, j) vfma(POLY9(t, a, b, c, d, e, f, g, h, i), t, vset(j))
#define POLY11(t, a, b, c, d, e, f, g, h, i, j, k) vfma(POLY10(t, a, b, c, d, e, f, g, h, i, j), t, vset(k))

/* e^r - 1 - r for |r| <= ln2/2 divided by r^2 (Cephes expf's coefficients), by
 * Estrin (depth 3: r^2 and three pairs, then two steps) rather than Horner (five
 * dependent steps). Every exp-based kind is a long chain of dependent operations;
 * with 8 lanes per vector the out-of-order window holds half the elements it does
 * with 16, and on AMD Zen 4 (where both paths have the same FMA peak) swish cost the
 * AVX2 path twice AVX-512's time per element: a swish 1x1 convolution ran in 0.84x
 * the time with this form. The caller's r*r is the same product (computed once). */
VFN V v_exp_p(V r) {
    const V r2 = vmul(r, r);
    const V p01 = vfma(vset(1.9875691500e-4f), r, vset(1.3981999507e-3f));
    const V p23 = vfma(vset(8.3334519073e-3f), r, vset(4.1665795894e-2f));
    const V p45 = vfma(vset(1.6666665459e-1f), r, vset(5.0000001201e-1f));
    return vfma(vfma(p01, r2, p23), r2, p45);
}

/* k = round(x / ln2), r = x - k ln2 (ln2 in two parts: k * hi is exact). */
VFN V v_exp_reduce(V x, V *k) {
    *k = vround(vmul(x, vset(1.44269504088896341f)));
    const V r = vfma(*k, vset(-0.693359375f), x);
    return vfma(*k, vset(2.12194440e-4f), r);
}

/* exp(x) * 2^sh for every float x (NaN -> NaN), sh integral in [0, 64].
 * The shift keeps e^x normal for x down to -150 where the caller multiplies
 * it by something else first (x e^x): scaling back by 2^-sh last rounds once. */
VFN V v_exp_shift(V x, V sh) {
    const V xc = vmin(vmax(x, vset(-150.0f)), vset(89.0f));
    V k;
    const V r = v_exp_reduce(xc, &k);
    const V y = vadd(vfma(v_exp_p(r), vmul(r, r), r), vset(1.0f));
    /* 2^k in two factors, both normal for k in [-217, 192]: the second
     * multiply rounds once, so denormal results stay accurate and k = 128
     * overflows to inf only when the true result does. */
    k = vadd(k, sh);
    const V k1 = vround(vmul(k, vset(0.5f)));
    const V k2 = vsub(k, k1);
    return vsel(vnan(x), x, vmul(vmul(y, vpow2i(k1)), vpow2i(k2)));
}

VFN V v_exp(V x) { return v_exp_shift(x, vset(0.0f)); }

#define SHIFT 64.0f
#define UNSHIFT 5.42101086e-20f /* 2^-64 */

/* expm1(x) for x <= 0 (larger x are clamped to 0; the caller blends NaN):
 * 2^k (e^r - 1) + (2^k - 1) has no cancellation for k in {0, -1, ...}. */
VFN V v_expm1_neg(V x) {
    const V xc = vmin(vmax(x, vset(-30.0f)), vset(0.0f));
    V k;
    const V r = v_exp_reduce(xc, &k);
    const V q = vfma(v_exp_p(r), vmul(r, r), r);
    const V s = vpow2i(k);
    return vfma(s, q, vsub(s, vset(1.0f)));
}

/* sigmoid(x) = (x >= 0 ? 1 : e) / (1 + e), e = exp(-|x|): accurate in both
 * tails (no 1 / (1 + e^100) overflow, denormal results kept). */
VFN V v_sigmoid(V x) {
    const V e = v_exp(vsub(vset(0.0f), vabs(x)));
    return vdiv(vsel(vge(x, vset(0.0f)), vset(1.0f), e), vadd(vset(1.0f), e));
}

/* Q(z) = (x - tanh x) / x^3, z = x^2 <= 1 (tools/fit_act_poly.py). */
VFN V v_tanh_q(V z) {
    return POLY9(z, 4.812849436e-05f, -3.363209978e-04f, 1.239905829e-03f, -3.476453692e-03f,
                 8.825328715e-03f, -2.186233587e-02f, 5.396756597e-02f, -1.333333075e-01f,
                 3.333333332e-01f);
}

/* tanh(|x|) for |x| >= 1 (clamped at 10, where it rounds to 1). */
VFN V v_tanh_big(V ax) {
    const V e = v_exp(vmul(vmin(ax, vset(10.0f)), vset(2.0f)));
    return vsub(vset(1.0f), vdiv(vset(2.0f), vadd(e, vset(1.0f))));
}

/* tanh x = x P(x^2) / Q(x^2), x clamped to [-9.1, 9.1] (beyond, tanh rounds
 * to +-1): a degree-4/4 rational fit (tools/fit_act_poly.py; 2.3e-8 relative
 * in float64), both polynomials by Estrin (depth 3). 13 operations and one
 * division, where the expm1 form took 25: tanh is classic LeNet-5's costliest
 * layer part. Odd by construction (the sign comes with x); a denormal x gives
 * x P(0) / Q(0), which rounds to x. */
VFN V v_tanh(V x) {
    const V xc = vmin(vmax(x, vset(-9.1f)), vset(9.1f));
    const V z = vmul(xc, xc), z2 = vmul(z, z);
    const V p01 = vfma(vset(1.337447857e-01f), z, vset(9.999999773e-01f));
    const V p23 = vfma(vset(2.048119566e-05f), z, vset(3.487813980e-03f));
    const V p = vfma(vfma(vset(1.317747024e-08f), z2, p23), z2, p01);
    const V q01 = vfma(vset(4.670779239e-01f), z, vset(1.0f));
    const V q23 = vfma(vset(3.272923223e-04f), z, vset(2.584740252e-02f));
    const V q = vfma(vfma(vset(7.704037961e-07f), z2, q23), z2, q01);
    return vsel(vnan(x), x, vdiv(vmul(xc, p), q));
}

VFN V v_tanh_shrink(V x) {
    const V ax = vabs(x);
    const V x3q = vmul(vmul(x, vmul(x, x)), v_tanh_q(vmin(vmul(x, x), vset(1.0f))));
    const V y = vsel(vlt(ax, vset(1.0f)), x3q, vsub(x, vcopysign(v_tanh_big(ax), x)));
    return vsel(vnan(x), x, y);
}

/* log1p(t) for t in [0, 1]: u = 1 + t = 2^e m, log m = 2 atanh(f / (2 + f)),
 * f = m - 1 exact, plus the rounding error of 1 + t to first order. */
VFN V v_log1p01(V t) {
    const V one = vset(1.0f);
    const V u = vadd(one, t);
    const V c = vdiv(vsub(t, vsub(u, one)), u);
    const M big = vgt(u, vset(1.41421354f));
    const V e = vsel(big, one, vset(0.0f));
    const V f = vsub(vsel(big, vmul(u, vset(0.5f)), u), one);
    const V s = vdiv(f, vadd(f, vset(2.0f)));
    const V s2 = vmul(s, s);
    /* 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9): |s| <= 0.172, truncation < 1e-9 */
    const V p = vmul(vmul(s, vset(2.0f)), POLY5(s2, 1.0f / 9.0f, 1.0f / 7.0f, 1.0f / 5.0f, 1.0f / 3.0f, 1.0f));
    return vfma(e, vset(0.693145752f), vadd(vfma(e, vset(1.428606820e-06f), c), p));
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)) */
VFN V v_softplus(V x) {
    const V y = vadd(vmax(x, vset(0.0f)), v_log1p01(v_exp(vsub(vset(0.0f), vabs(x)))));
    return vsel(vnan(x), x, y);
}

/* Normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, the core of gelu.
 * |x| <= 1: 1/2 + x P(x^2). Else Q = Phi(-|x|) = exp(-x^2 / 2) R(|x|), with x^2
 * split exactly (x*x + fma error) so exp's argument keeps every bit, and
 * R from two fits (tools/fit_act_poly.py); Phi = x < 0 ? Q : 1 - Q. */
VFN V v_phi(V x, V sh) {
    const V ax = vabs(x);
    const V z = vmul(x, x);
    const V core = vfma(x, POLY8(vmin(z, vset(1.0f)), -3.309247276e-08f, 6.532012708e-07f, -9.433999037e-06f,
                                 1.154297137e-04f, -1.187326948e-03f, 9.973556851e-03f, -6.649038006e-02f,
                                 3.989422804e-01f),
                        vset(0.5f));
    const V t = vmin(vmax(ax, vset(1.0f)), vset(15.0f));
    const V a = vmul(t, t);
    const V ae = vfmax(t, t, vsub(vset(0.0f), a));
    V g = v_exp_shift(vmul(a, vset(-0.5f)), sh); /* tail scaled by 2^sh */
    g = vfma(g, vmul(ae, vset(-0.5f)), g); /* exp(-ae/2) ~ 1 - ae/2: |ae| < ulp(a) */
    const V r1 = POLY10(vsub(vmin(t, vset(2.5f)), vset(1.75f)), -3.970566496e-06f, 1.669226771e-05f,
                        -6.069063625e-05f, 2.288482574e-04f, -8.267643478e-04f, 2.823920456e-03f,
                        -9.075521340e-03f, 2.717731461e-02f, -7.478686697e-02f, 1.852316648e-01f);
    const V u = vdiv(vset(1.0f), vmax(t, vset(2.5f)));
    const V r2 = vmul(u, POLY11(u, -1.932943679e+01f, 5.485135455e+01f, -6.790707117e+01f, 4.640273621e+01f,
                                -1.716985339e+01f, 1.767527069e+00f, 1.007572377e+00f, 1.359429048e-02f,
                                -3.995675730e-01f, 1.656424424e-05f, 3.989420893e-01f));
    const V q = vmul(g, vsel(vle(t, vset(2.5f)), r1, r2));
    const V tail = vsel(vlt(x, vset(0.0f)), q, vsub(vset(1.0f), q));
    return vsel(vle(ax, vset(1.0f)), core, tail);
}

/* x * s where s is a CDF-like factor: 0 where s == 0 (-inf * 0 is the limit 0). */
VFN V v_times(V x, V s) {
    return vsel(veq(s, vset(0.0f)), vset(0.0f), vmul(x, s));
}

VFN V v_gelu(V x) {
    /* x Phi(x) with Phi's negative tail scaled by 2^64 so the product is
     * formed in the normal range and rounds once into the denormals. */
    const M neg = vlt(x, vset(-1.0f));
    const V y = vmul(vmul(x, v_phi(x, vsel(neg, vset(SHIFT), vset(0.0f)))), vsel(neg, vset(UNSHIFT), vset(1.0f)));
    return vsel(vnan(x), x, vsel(vlt(x, vset(-15.0f)), vset(0.0f), y)); /* below -15: < 2^-160 */
}

/* x sigmoid(x) = x e / (1 + e) for x < 0 (e = e^x, formed as 2^64 e^x so a
 * denormal e^x does not lose the product's bits), x / (1 + e^-x) else. */
VFN V v_swish(V x) {
    const V zero = vset(0.0f), one = vset(1.0f);
    if (vall(vle(vabs(x), vset(80.0f)))) {
        /* Every lane in [-80, 80] (the common case; NaN and inf fail the test):
         * e = e^-|x| >= e^-80 and x e are normal, so exp needs no clamp and no
         * two-factor scaling, and the 2^64 shift below would only scale normal
         * values by a power of two, which is exact. Same roundings, so the same
         * bits as the general path, in about half the instructions. */
        V k;
        const V r = v_exp_reduce(vsub(zero, vabs(x)), &k);
        const V e = vmul(vadd(vfma(v_exp_p(r), vmul(r, r), r), one), vpow2i(k));
        return vdiv(vsel(vlt(x, zero), vmul(x, e), x), vadd(one, e));
    }
    const M neg = vlt(x, zero);
    const V es = v_exp_shift(vsub(zero, vabs(x)), vsel(neg, vset(SHIFT), zero));
    const V e = vsel(neg, vmul(es, vset(UNSHIFT)), es);
    const V y = vmul(vdiv(vmul(x, vsel(neg, es, one)), vadd(one, e)), vsel(neg, vset(UNSHIFT), one));
    return vsel(veq(es, zero), vsel(neg, zero, x), y); /* e^x underflowed: 0; e^-x: x */
}

/* gelu_tanh(x) = x sigmoid(v), v = 2 sqrt(2/pi) (x + 0.044715 x^3)
 * (0.5 (1 + tanh(v/2)) = sigmoid(v)). v is evaluated as v + ve in
 * double-float: for x < -3 the result is ~x e^v with |v| up to ~100, where a
 * float32 v would cost up to 1e-5 relative. */
VFN V v_gelu_tanh(V x) {
    const V xc = vmin(vmax(x, vset(-30.0f)), vset(30.0f));
    const V zero = vset(0.0f), one = vset(1.0f);
    const V ch = vset(4.471499845e-02f), cl = vset(1.546144435e-09f);
    const V kh = vset(1.595769167e+00f), kl = vset(-4.534068054e-08f);
    const V x2 = vmul(xc, xc), x2e = vfmax(xc, xc, vsub(zero, x2));
    const V p = vmul(ch, x2);
    const V pe = vadd(vfmax(ch, x2, vsub(zero, p)), vfma(cl, x2, vmul(ch, x2e)));
    const V w = vadd(one, p); /* two-sum(1, p) */
    const V bb = vsub(w, one);
    const V we = vadd(vadd(vsub(one, vsub(w, bb)), vsub(p, bb)), pe);
    const V kx = vmul(kh, xc);
    const V kxe = vfma(kl, xc, vfmax(kh, xc, vsub(zero, kx)));
    const V v = vmul(kx, w);
    const V ve = vadd(vfmax(kx, w, vsub(zero, v)), vfma(kx, we, vmul(kxe, w)));
    const M pos = vge(v, zero);
    V es = v_exp_shift(vsub(zero, vabs(v)), vsel(pos, zero, vset(SHIFT)));
    es = vfma(es, vsel(pos, vsub(zero, ve), ve), es); /* exp(-|v + ve|), times 2^64 when v < 0 */
    const V e = vsel(pos, es, vmul(es, vset(UNSHIFT)));
    const V y = vmul(vdiv(vmul(xc, vsel(pos, one, es)), vadd(one, e)), vsel(pos, one, vset(UNSHIFT)));
    /* beyond +-30 the result is x (sigmoid rounds to 1) or 0 */
    return vsel(vnan(x), x, vsel(vgt(x, vset(30.0f)), x, vsel(veq(es, zero), vsel(pos, x, zero), y)));
}

VFN V v_relu(V x, pci_act a) {
    const V zero = vset(0.0f);
    V y = vsel(vgt(x, vset(a.p2)), x, zero); /* NaN -> 0, as the scalar reference */
    if (isfinite(a.p0)) y = vmin(vmax(y, zero), vset(a.p0)); /* a cap also clips below at 0 */
    const V d = vsub(x, vset(a.p2));
    if (a.p1 == 0.0f) return y; /* 0 * (-inf) would be NaN */
    return vfma(vset(a.p1), vsel(vlt(d, zero), d, zero), y);
}

VFN V v_squareplus(V x, pci_act a) {
    const V b = vset(a.p0), ax = vabs(x);
    /* sqrt(x^2 + b) = |x| beyond 2^60 (x^2 would overflow near 2^64) and
     * when b = 0 (x^2 would underflow for tiny x) */
    const M huge = vgt(ax, vset(1.1529215e18f));
    const V s = a.p0 == 0.0f ? ax : vsel(huge, ax, vsqrt(vfma(x, x, b)));
    const V pos = vadd(vmul(x, vset(0.5f)), vmul(s, vset(0.5f))); /* no overflow near FLT_MAX */
    /* x < 0: (x + s) / 2 = (b / 2) / (s - x) without cancellation; s - x = 2|x|
     * may overflow for huge |x|: (b / 4) / |x| there */
    const V neg = vsel(huge, vdiv(vmul(b, vset(0.25f)), ax), vdiv(vmul(b, vset(0.5f)), vsub(s, x)));
    return vsel(vnan(x), x, vsel(vge(x, vset(0.0f)), pos, neg));
}

/* mish(x) = x tanh(log(1 + e^x)) = x n / (n + 2), n = e^x (e^x + 2): one exp.
 * For x < 0, e^x is formed as 2^64 e^x (as in swish) so x n keeps its bits
 * when n is denormal; above 20 the result is x. */
VFN V v_mish(V x) {
    const V zero = vset(0.0f), two = vset(2.0f), one = vset(1.0f);
    const M neg = vlt(x, zero);
    const V es = v_exp_shift(vmin(x, vset(20.0f)), vsel(neg, vset(SHIFT), zero));
    const V e = vsel(neg, vmul(es, vset(UNSHIFT)), es);
    const V ns = vmul(es, vadd(e, two));
    const V n = vsel(neg, vmul(ns, vset(UNSHIFT)), ns);
    const V y = vmul(vdiv(vmul(x, ns), vadd(n, two)), vsel(neg, vset(UNSHIFT), one));
    return vsel(vgt(x, vset(20.0f)), x, vsel(vlt(x, vset(-150.0f)), zero, y));
}

/* One vector of an element-wise kind; `k` is the switch value (hoisted by the
 * caller's loop so each kind has its own loop). */
VFN V v_act(V x, pci_act a, const int k) {
    const V zero = vset(0.0f), one = vset(1.0f);
    V y;
    switch (k) {
    case PCI_ACT_RELU: return v_relu(x, a);
    case PCI_ACT_ELU: y = vsel(vgt(x, zero), x, vmul(vset(a.p0), v_expm1_neg(x))); break;
    case PCI_ACT_SELU:
        y = vmul(vset(1.0507009873554805f),
                 vsel(vgt(x, zero), x, vmul(vset(1.6732632423543772f), v_expm1_neg(x))));
        break;
    case PCI_ACT_CELU:
        y = vsel(vgt(x, zero), x, vmul(vset(a.p0), v_expm1_neg(vdiv(x, vset(a.p0)))));
        break;
    case PCI_ACT_SIGMOID: y = v_sigmoid(x); break;
    case PCI_ACT_HARD_SIGMOID:
        /* slope * x + offset, fused: Keras's unfused form cancels where it
         * crosses 0 (x = -3 + 1 ulp) */
        y = vmin(vmax(vfmax(vset(a.p0), x, vset(a.p1)), zero), one); /* one rounding: exact near 0 */
        break;
    case PCI_ACT_TANH: return v_tanh(x);
    case PCI_ACT_TANH_SHRINK: return v_tanh_shrink(x);
    case PCI_ACT_SOFTPLUS: return v_softplus(x);
    case PCI_ACT_LOG_SIGMOID: return vsub(zero, v_softplus(vsub(zero, x)));
    case PCI_ACT_SOFTSIGN: {
        const V ax = vmin(vabs(x), vset(1.2676506e30f)); /* ax / (1 + ax) rounds to 1 long before */
        y = vcopysign(vdiv(ax, vadd(one, ax)), x);
        break;
    }
    case PCI_ACT_SWISH: y = v_swish(x); break;
    case PCI_ACT_GELU: return v_gelu(x);
    case PCI_ACT_GELU_TANH: return v_gelu_tanh(x);
    case PCI_ACT_EXPONENTIAL: return v_exp(x);
    case PCI_ACT_HARD_SILU:
        y = v_times(x, vmin(vmax(vdiv(vadd(x, vset(3.0f)), vset(6.0f)), zero), one)); /* (x + 3) / 6: no cancellation */
        break;
    case PCI_ACT_MISH: y = v_mish(x); break;
    case PCI_ACT_HARD_SHRINK: y = vsel(vgt(vabs(x), vset(a.p0)), x, zero); break;
    case PCI_ACT_HARD_TANH: y = vmin(vmax(x, vset(-1.0f)), one); break;
    case PCI_ACT_SOFT_SHRINK: {
        const V t = vset(a.p0);
        y = vsel(vgt(x, t), vsub(x, t), vsel(vlt(x, vsub(zero, t)), vadd(x, t), zero));
        break;
    }
    case PCI_ACT_SPARSE_PLUS: {
        const V h = vadd(x, one);
        y = vsel(vle(x, vset(-1.0f)), zero, vsel(vlt(x, one), vmul(vmul(h, h), vset(0.25f)), x));
        break;
    }
    case PCI_ACT_SPARSE_SIGMOID:
        y = vsel(vle(x, vset(-1.0f)), zero, vsel(vge(x, one), one, vmul(vadd(x, one), vset(0.5f))));
        break;
    case PCI_ACT_SQUAREPLUS: return v_squareplus(x, a);
    case PCI_ACT_THRESHOLD: y = vsel(vgt(x, vset(a.p0)), x, vset(a.p1)); break;
    default: return x; /* linear; row kinds never get here */
    }
    return vsel(vnan(x), x, y);
}

/* Runs v_act over `rows` rows of n floats, ld floats apart; each row's tail goes
 * through a W-float buffer, so an element's result never depends on where it sits
 * (thread invariance, and rows give the bits of one call per row). One call for a
 * GEMM block's rows: a call per row of 32-64 floats repeated the dispatch and the
 * kind's constants each time. */
#define ACT_LOOP(K)                                                                  \
    case K:                                                                          \
        for (size_t r = 0; r < rows; r++) {                                          \
            float *x = base + r * ld;                                                \
            size_t i = 0;                                                            \
            for (; i + W <= n; i += W) vstore(x + i, v_act(vload(x + i), act, K));   \
            if (i < n) {                                                             \
                float buf[W] = {0};                                                  \
                for (size_t j = 0; j < n - i; j++) buf[j] = x[i + j];                \
                vstore(buf, v_act(vload(buf), act, K));                              \
                for (size_t j = 0; j < n - i; j++) x[i + j] = buf[j];                \
            }                                                                        \
        }                                                                            \
        return;

VEXT void ACT_NAME(apply_rows)(float *base, size_t rows, size_t n, size_t ld, pci_act act) {
    switch (act.kind) {
        ACT_LOOP(PCI_ACT_RELU) ACT_LOOP(PCI_ACT_ELU) ACT_LOOP(PCI_ACT_SELU) ACT_LOOP(PCI_ACT_CELU)
        ACT_LOOP(PCI_ACT_SIGMOID) ACT_LOOP(PCI_ACT_HARD_SIGMOID) ACT_LOOP(PCI_ACT_TANH)
        ACT_LOOP(PCI_ACT_TANH_SHRINK) ACT_LOOP(PCI_ACT_SOFTPLUS) ACT_LOOP(PCI_ACT_LOG_SIGMOID)
        ACT_LOOP(PCI_ACT_SOFTSIGN) ACT_LOOP(PCI_ACT_SWISH) ACT_LOOP(PCI_ACT_GELU)
        ACT_LOOP(PCI_ACT_GELU_TANH) ACT_LOOP(PCI_ACT_EXPONENTIAL) ACT_LOOP(PCI_ACT_HARD_SILU)
        ACT_LOOP(PCI_ACT_MISH) ACT_LOOP(PCI_ACT_HARD_SHRINK) ACT_LOOP(PCI_ACT_HARD_TANH)
        ACT_LOOP(PCI_ACT_SOFT_SHRINK) ACT_LOOP(PCI_ACT_SPARSE_PLUS) ACT_LOOP(PCI_ACT_SPARSE_SIGMOID)
        ACT_LOOP(PCI_ACT_SQUAREPLUS) ACT_LOOP(PCI_ACT_THRESHOLD)
    default: return; /* linear (and row kinds, which callers route elsewhere) */
    }
}
#undef ACT_LOOP

VEXT void ACT_NAME(apply)(float *x, size_t n, pci_act act) { ACT_NAME(apply_rows)(x, 1, n, n, act); }

/* exp(x[i] - shift) for W floats at p (tail-safe through a buffer). */
VFN V v_load_tail(const float *p, size_t left, float fill) {
    if (left >= W) return vload(p);
    float buf[W];
    for (size_t j = 0; j < W; j++) buf[j] = j < left ? p[j] : fill;
    return vload(buf);
}

/* x - mx as d + de exactly (two-sum): for logits ~100 apart a rounded
 * difference alone would cost up to 4e-6 relative in exp(d). */
VFN V v_diff(V x, V mx, V *de) {
    const V d = vsub(x, mx);
    const V bb = vsub(d, x);
    const V e = vsub(vsub(x, vsub(d, bb)), vadd(mx, bb));
    *de = vsel(vnan(e), vset(0.0f), e); /* infinities: no correction */
    return d;
}

/* Softmax (log_form = 0) or log_softmax (1) of one row, in place. The max
 * and the float64 sum are scalar loops over what the vectors wrote, so the
 * result does not depend on the lane count beyond exp's own rounding. */
VEXT void ACT_NAME(softmax_row)(float *row, size_t cols, int log_form) {
    float mx = -INFINITY;
    for (size_t i = 0; i < cols; i++) mx = row[i] > mx ? row[i] : mx;
    const V vmx = vset(mx);
    double sum = 0.0;
    int one_skipped = 0; /* log form: the max's e^0 = 1 is left out, lse = log1p(rest) */
    float tmp[W];
    for (size_t i = 0; i < cols; i += W) {
        const size_t left = cols - i;
        V de;
        const V d = v_diff(v_load_tail(row + i, left, mx), vmx, &de);
        V e = v_exp(d);
        e = vfma(e, de, e); /* exp(d + de) */
        if (!log_form && left >= W) {
            vstore(row + i, e);
            for (size_t j = 0; j < W; j++) sum += row[i + j];
        } else {
            vstore(tmp, e);
            for (size_t j = 0; j < W && j < left; j++) {
                if (log_form && !one_skipped && tmp[j] == 1.0f) {
                    one_skipped = 1; /* log(1 + 1e-13) in float64 would keep only 3 digits */
                    continue;
                }
                sum += tmp[j];
                if (!log_form) row[i + j] = tmp[j];
            }
        }
    }
    if (log_form) {
        const V lse = vset((float)(one_skipped ? log1p(sum) : log(sum)));
        for (size_t i = 0; i < cols; i += W) {
            const size_t left = cols - i;
            V de;
            const V d = v_diff(v_load_tail(row + i, left, mx), vmx, &de);
            const V y = vadd(vsub(d, lse), de);
            if (left >= W) {
                vstore(row + i, y);
            } else {
                vstore(tmp, y);
                for (size_t j = 0; j < left; j++) row[i + j] = tmp[j];
            }
        }
        return;
    }
    const V inv = vset((float)(1.0 / sum));
    for (size_t i = 0; i < cols; i += W) {
        const size_t left = cols - i;
        const V y = vmul(v_load_tail(row + i, left, 0.0f), inv);
        if (left >= W) {
            vstore(row + i, y);
        } else {
            vstore(tmp, y);
            for (size_t j = 0; j < left; j++) row[i + j] = tmp[j];
        }
    }
}

/* y[j] = x[j] * sigmoid(x[cols_out + j]) */
VEXT void ACT_NAME(glu_row)(const float *x, float *y, size_t cols_out) {
    float tmp[W];
    for (size_t i = 0; i < cols_out; i += W) {
        const size_t left = cols_out - i;
        const V a = v_load_tail(x + i, left, 0.0f);
        const V b = v_load_tail(x + cols_out + i, left, 0.0f);
        /* sigmoid(b) below b = -80 is formed as 2^64 e^b / (1 + e^b) and the
         * product with a scaled back last (one rounding into the denormals) */
        const V zero = vset(0.0f), one = vset(1.0f);
        const M far = vlt(b, vset(-80.0f));
        const V es = v_exp_shift(vsub(zero, vabs(b)), vsel(far, vset(SHIFT), zero));
        const V e = vsel(far, vmul(es, vset(UNSHIFT)), es);
        const V sg = vdiv(vsel(vge(b, zero), one, es), vadd(one, e));
        const V prod = vmul(vmul(a, sg), vsel(far, vset(UNSHIFT), one));
        const V g = vsel(vnan(a), a, vsel(vnan(b), b, vsel(veq(sg, zero), zero, prod)));
        if (left >= W) {
            vstore(y + i, g);
        } else {
            vstore(tmp, g);
            for (size_t j = 0; j < left; j++) y[i + j] = tmp[j];
        }
    }
}
