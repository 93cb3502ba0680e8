/* Activations in portable C: act_vec.h with 1-lane "vectors". The reference
 * path of the vectorized algorithms (same formulas, unfused multiply-adds
 * except where an exact product error is needed), used where no SIMD path is. */
#include <math.h>
#include <string.h>

#include "act_isa.h"

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

#include "act_vec.h"
