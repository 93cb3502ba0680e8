/* Measurement helpers for tools/bench_conv.py (not part of the inference API). */
#ifndef PCI_BENCH_H
#define PCI_BENCH_H

/* Runs `iters` rounds of 12 independent multiply-add chains in registers on the
 * ISA's widest vectors (AVX-512 / AVX2+FMA / NEON FMA; generic: what the
 * portable C compiles to) on each of `threads` threads, and returns the
 * floating-point operations done (2 per lane per multiply-add). Timing it
 * gives the ISA's register-only peak, the ceiling of any kernel on that path.
 * An ISA the CPU lacks runs the generic loop (pci_effective_isa). */
double pci_fma_loop(int isa, long iters, int threads);

#endif
