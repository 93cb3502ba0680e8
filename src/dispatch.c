/* Instruction-set dispatch and threading facts. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity */
#endif
#include "pci_internal.h"

#if defined(__linux__)
#include <sched.h>
#endif
#include <unistd.h>

int pci_cpu_isa(void) {
#ifdef PCI_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return PCI_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PCI_ISA_AVX2;
#endif
    return PCI_ISA_GENERIC;
}

int pci_effective_isa(int wanted) {
    const int have = pci_cpu_isa();
    return wanted < have ? (wanted < 0 ? PCI_ISA_GENERIC : wanted) : have;
}

const char *pci_isa_name(int isa) {
    switch (isa) {
    case PCI_ISA_AVX512: return "avx512";
    case PCI_ISA_AVX2: return "avx2";
    default: return "generic";
    }
}

const pci_gemm_kernels *pci_gemm_kernels_for(int isa) {
#ifdef PCI_X86
    switch (pci_effective_isa(isa)) {
    case PCI_ISA_AVX512: return &pci_gemm_avx512;
    case PCI_ISA_AVX2: return &pci_gemm_avx2;
    default: break;
    }
#else
    (void)isa;
#endif
    return &pci_gemm_generic;
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
