/* Activations with aarch64 NEON (4 lanes): act_vec.h's vocabulary. NEON and
 * FMA are baseline on aarch64, so this is the path there (act.c). */
#include <math.h>

#include "act_isa.h"

#ifdef __aarch64__
#include <arm_neon.h>

typedef float32x4_t V;
typedef uint32x4_t M;
#define W 4
#define ACT_ISA neon
#define VFN static inline __attribute__((always_inline))
#define VEXT

VFN V vset(float a) { return vdupq_n_f32(a); }
VFN V vload(const float *p) { return vld1q_f32(p); }
VFN void vstore(float *p, V a) { vst1q_f32(p, a); }
VFN V vadd(V a, V b) { return vaddq_f32(a, b); }
VFN V vsub(V a, V b) { return vsubq_f32(a, b); }
VFN V vmul(V a, V b) { return vmulq_f32(a, b); }
VFN V vdiv(V a, V b) { return vdivq_f32(a, b); }
VFN V vsqrt(V a) { return vsqrtq_f32(a); }
VFN V vmin(V a, V b) { return vminq_f32(a, b); }
VFN V vmax(V a, V b) { return vmaxq_f32(a, b); }
VFN V vabs(V a) { return vabsq_f32(a); }
VFN V vfma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
VFN V vfmax(V a, V b, V c) { return vfmaq_f32(c, a, b); }
VFN M vlt(V a, V b) { return vcltq_f32(a, b); }
VFN M vle(V a, V b) { return vcleq_f32(a, b); }
VFN M vgt(V a, V b) { return vcgtq_f32(a, b); }
VFN M vge(V a, V b) { return vcgeq_f32(a, b); }
VFN M veq(V a, V b) { return vceqq_f32(a, b); }
VFN M vnan(V a) { return vmvnq_u32(vceqq_f32(a, a)); }
VFN V vsel(M m, V a, V b) { return vbslq_f32(m, a, b); }
VFN int vall(M m) { return vminvq_u32(m) != 0; }
VFN V vcopysign(V mag, V sgn) { return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag); }
VFN V vround(V a) { return vrndnq_f32(a); }
VFN V vpow2i(V k) {
    const int32x4_t e = vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}

#include "act_vec.h"
#endif
