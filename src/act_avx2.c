/* Activations with AVX2 + FMA (8 lanes): act_vec.h's vocabulary. Compiled for
 * any x86-64 target, called only when the CPU has AVX2 and FMA (act.c). */
#include <math.h>

#include "act_isa.h"

#ifdef PCI_X86
#include <immintrin.h>

typedef __m256 V;
typedef __m256 M;
#define W 8
#define ACT_ISA avx2
#define TARGET __attribute__((target("avx2,fma")))
#define VFN static inline __attribute__((always_inline)) TARGET
#define VEXT TARGET

VFN V vset(float a) { return _mm256_set1_ps(a); }
VFN V vload(const float *p) { return _mm256_loadu_ps(p); }
VFN void vstore(float *p, V a) { _mm256_storeu_ps(p, a); }
VFN V vadd(V a, V b) { return _mm256_add_ps(a, b); }
VFN V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
VFN V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
VFN V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
VFN V vsqrt(V a) { return _mm256_sqrt_ps(a); }
VFN V vmin(V a, V b) { return _mm256_min_ps(a, b); }
VFN V vmax(V a, V b) { return _mm256_max_ps(a, b); }
VFN V vabs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
VFN V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
VFN V vfmax(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
VFN M vlt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
VFN M vle(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
VFN M vgt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
VFN M vge(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
VFN M veq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
VFN M vnan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
VFN V vsel(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
VFN int vall(M m) { return _mm256_movemask_ps(m) == 0xFF; }
VFN V vcopysign(V mag, V sgn) {
    const V s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sgn));
}
VFN V vround(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
VFN V vpow2i(V k) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

#include "act_vec.h"
#endif
