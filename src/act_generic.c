/* Activations in portable C: act_vec.h with 4-lane GCC/Clang vector
 * extensions (the compiler maps them to what the baseline target has: SSE2 on
 * any x86-64, or plain scalar code), or 1-lane plain C floats with other
 * compilers. The reference path of the vectorized algorithms (same formulas,
 * unfused multiply-adds except where an exact product error is needed), used
 * where no SIMD path is and when isa="generic" is forced. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "act_isa.h"

#if defined(__GNUC__) && !defined(PCI_ACT_GENERIC_SCALAR) /* gcc and clang; the define forces the 1-lane form */
typedef float V __attribute__((vector_size(16)));
typedef int32_t M __attribute__((vector_size(16))); /* what a float comparison yields: 0 / -1 per lane */
#define W 4
#define ACT_ISA generic
#define VFN static inline __attribute__((always_inline))
#define VEXT

VFN V vset(float a) { return (V){a, a, a, a}; }
VFN V vload(const float *p) {
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}
VFN void vstore(float *p, V a) { memcpy(p, &a, sizeof a); }
VFN V vadd(V a, V b) { return a + b; }
VFN V vsub(V a, V b) { return a - b; }
VFN V vmul(V a, V b) { return a * b; }
VFN V vdiv(V a, V b) { return a / b; }
VFN V vfma(V a, V b, V c) { return a * b + c; } /* -std=c11: not contracted */
VFN V vsel(M m, V a, V b) { return (V)((m & (M)a) | (~m & (M)b)); }
VFN int vall(M m) { return (m[0] & m[1] & m[2] & m[3]) != 0; }
VFN M vlt(V a, V b) { return a < b; }
VFN M vle(V a, V b) { return a <= b; }
VFN M vgt(V a, V b) { return a > b; }
VFN M vge(V a, V b) { return a >= b; }
VFN M veq(V a, V b) { return a == b; }
VFN M vnan(V a) { return a != a; }
VFN V vmin(V a, V b) { return vsel(a < b, a, b); }
VFN V vmax(V a, V b) { return vsel(a > b, a, b); }
VFN V vabs(V a) { return (V)((M)a & 0x7fffffff); }
VFN V vcopysign(V mag, V sgn) { return (V)(((M)mag & 0x7fffffff) | ((M)sgn & (int32_t)0x80000000u)); }
VFN V vsqrt(V a) {
    for (int i = 0; i < W; i++) a[i] = sqrtf(a[i]);
    return a;
}
VFN V vfmax(V a, V b, V c) {
    for (int i = 0; i < W; i++) a[i] = fmaf(a[i], b[i], c[i]);
    return a;
}
VFN V vround(V a) {
    /* ties to even by the 1.5 * 2^23 trick (exact for |a| < 2^22; callers clamp) */
    const V t = (a + vset(12582912.0f)) - vset(12582912.0f);
    return vsel(vabs(a) < vset(4194304.0f), t, a);
}
VFN V vpow2i(V k) {
    const M e = __builtin_convertvector(k, M) + 127;
    return (V)(e << 23);
}
#else
typedef float V;
typedef int M;
#define W 1
#define ACT_ISA generic
#define VFN static inline __attribute__((always_inline))
#define VEXT

VFN V vset(float a) { return a; }
VFN V vload(const float *p) { return *p; }
VFN void vstore(float *p, V a) { *p = a; }
VFN V vadd(V a, V b) { return a + b; }
VFN V vsub(V a, V b) { return a - b; }
VFN V vmul(V a, V b) { return a * b; }
VFN V vdiv(V a, V b) { return a / b; }
VFN V vsqrt(V a) { return sqrtf(a); }
VFN V vmin(V a, V b) { return a < b ? a : b; }
VFN V vmax(V a, V b) { return a > b ? a : b; }
VFN V vabs(V a) { return fabsf(a); }
VFN V vfma(V a, V b, V c) { return a * b + c; } /* -std=c11: not contracted */
VFN V vfmax(V a, V b, V c) { return fmaf(a, b, c); }
VFN M vlt(V a, V b) { return a < b; }
VFN M vle(V a, V b) { return a <= b; }
VFN M vgt(V a, V b) { return a > b; }
VFN M vge(V a, V b) { return a >= b; }
VFN M veq(V a, V b) { return a == b; }
VFN M vnan(V a) { return a != a; }
VFN V vsel(M m, V a, V b) { return m ? a : b; }
VFN int vall(M m) { return m != 0; }
VFN V vcopysign(V mag, V sgn) { return copysignf(mag, sgn); }
VFN V vround(V a) {
    /* ties to even by the 1.5 * 2^23 trick (exact for |a| < 2^22; callers clamp) */
    return fabsf(a) < 4194304.0f ? (a + 12582912.0f) - 12582912.0f : a;
}
VFN V vpow2i(V k) {
    const uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#endif

#include "act_vec.h"
