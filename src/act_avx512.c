/* Activations with AVX-512F (16 lanes): act_vec.h's vocabulary. Compiled for
 * any x86-64 target, called only when the CPU has AVX-512F (act.c). */
#include <math.h>

#include "act_isa.h"

#ifdef PCI_X86
#include <immintrin.h>

typedef __m512 V;
typedef __mmask16 M;
#define W 16
#define ACT_ISA avx512
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define VFN static inline __attribute__((always_inline)) TARGET
#define VEXT TARGET

VFN V vset(float a) { return _mm512_set1_ps(a); }
VFN V vload(const float *p) { return _mm512_loadu_ps(p); }
VFN void vstore(float *p, V a) { _mm512_storeu_ps(p, a); }
VFN V vadd(V a, V b) { return _mm512_add_ps(a, b); }
VFN V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
VFN V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
VFN V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
VFN V vsqrt(V a) { return _mm512_sqrt_ps(a); }
VFN V vmin(V a, V b) { return _mm512_min_ps(a, b); }
VFN V vmax(V a, V b) { return _mm512_max_ps(a, b); }
VFN V vabs(V a) { return _mm512_abs_ps(a); }
VFN V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
VFN V vfmax(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
VFN M vlt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
VFN M vle(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
VFN M vgt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
VFN M vge(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
VFN M veq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
VFN M vnan(V a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
VFN V vsel(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
VFN int vall(M m) { return m == (M)0xFFFF; }
VFN V vcopysign(V mag, V sgn) {
    const __m512i s = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(s, _mm512_castps_si512(mag)),
                                                _mm512_and_si512(s, _mm512_castps_si512(sgn))));
}
VFN V vround(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
VFN V vpow2i(V k) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

#include "act_vec.h"
#endif
