/* Instruction-set dispatch and threading facts. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include "pci_internal.h"

#if defined(__linux__)
#include <sched.h>
#endif
#include <unistd.h>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static const char *const isa_names[PCI_ISA_COUNT] = {
    [PCI_ISA_GENERIC] = "generic", [PCI_ISA_AVX2] = "avx2", [PCI_ISA_AVX512] = "avx512", [PCI_ISA_NEON] = "neon"};

int pci_isa_available(int isa) {
    switch (isa) {
    case PCI_ISA_GENERIC: return 1;
#ifdef PCI_X86
    case PCI_ISA_AVX2:
        __builtin_cpu_init();
        /* F16C widens float16 weights (every AVX2 CPU has it; checked all the same) */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case PCI_ISA_AVX512:
        /* The AVX-512 kernels also use AVX2 + FMA instructions (ymm tails, fmadd). */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
#ifdef PCI_ARM64
    case PCI_ISA_NEON: return 1; /* Advanced SIMD (with FMA) is part of the ARMv8-A base */
#endif
    default: return 0;
    }
}

int pci_cpu_isa(void) {
    /* Preference order among the available paths: the widest vectors first. */
    static const int order[] = {PCI_ISA_NEON, PCI_ISA_AVX512, PCI_ISA_AVX2};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (pci_isa_available(order[i])) return order[i];
    return PCI_ISA_GENERIC;
}

int pci_effective_isa(int wanted) {
    /* Callers pass an available path (the Python layer refuses others); an
     * unavailable one must never reach instructions the CPU lacks. */
    return pci_isa_available(wanted) ? wanted : PCI_ISA_GENERIC;
}

int pci_int8_dot_available(int isa) {
#ifdef PCI_X86
    __builtin_cpu_init();
    switch (pci_effective_isa(isa)) {
    case PCI_ISA_AVX512:
        return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    /* AVX-VNNI: the VEX vpdpbusd on ymm (Alder Lake and later client parts, Gracemont, Sapphire Rapids) */
    case PCI_ISA_AVX2: return __builtin_cpu_supports("avxvnni");
    default: return 0;
    }
#elif defined(PCI_ARM64) && defined(__linux__)
    /* ARMv8.2 dot product (FEAT_DotProd: Cortex-A55/A75 and later, Graviton 2+, Pi 5; not the Pi 4's A72) */
    return pci_effective_isa(isa) == PCI_ISA_NEON && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    (void)isa;
    return 0;
#endif
}

const char *pci_isa_name(int isa) { return isa >= 0 && isa < PCI_ISA_COUNT ? isa_names[isa] : NULL; }

const pci_gemm_kernels *pci_gemm_kernels_for(int isa) {
    switch (pci_effective_isa(isa)) {
#ifdef PCI_X86
    case PCI_ISA_AVX512: return &pci_gemm_avx512;
    case PCI_ISA_AVX2: return &pci_gemm_avx2;
#endif
#ifdef PCI_ARM64
    case PCI_ISA_NEON: return &pci_gemm_neon;
#endif
    default: return &pci_gemm_generic;
    }
}

int pci_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int pci_default_threads(void) {
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
