/* Splitting a parallel loop's items over the threads of a region: each thread
 * owns the contiguous range a static schedule would give it and walks it front
 * to back in chunks, so consecutive layers keep their data on the same core as
 * with `omp for schedule(static)`; a thread whose range is done takes chunks from
 * the back of the others' ranges. On a shared host one core often runs slower for
 * a while (the host's doing, not ours: a peer's rounds slow down too): with a static split every
 * layer then waited for it, and MobileNetV2 at 2 threads took 5.7-5.8 ms instead
 * of 3.7-3.9 in 2 of 5 rounds (AMD EPYC Zen 4, KVM; LiteRT, whose thread pool
 * steals work, kept 3.6-4.1 in the same run).
 *
 * Which thread computes an item never changes what it computes: the kernels give
 * every output element one fixed summation order, so results stay independent of
 * the thread count and of the schedule. */
#ifndef PCI_WORK_SHARE_H
#define PCI_WORK_SHARE_H

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define PCI_SHARE_MAX_THREADS 64

/* One thread's remaining items [front, back), packed as back << 32 | front so that
 * the owner (front) and a thief (back) update them with one compare-and-swap. */
typedef struct {
    _Alignas(64) uint64_t range;
} pci_share_slot;

typedef struct {
    pci_share_slot slot[PCI_SHARE_MAX_THREADS];
    int nt;
    long chunk;
} pci_share;

/* Splits `items` for up to `nt` threads and returns the thread count to start: at most
 * PCI_SHARE_MAX_THREADS, and 1 beyond 2^31 items (indices are 32-bit; a convolution
 * with that many 6-pixel tiles would have an output of > 800 GB, refused long before). */
static inline int pci_share_init(pci_share *s, long items, int nt) {
    nt = nt < 1 ? 1 : nt > PCI_SHARE_MAX_THREADS ? PCI_SHARE_MAX_THREADS : nt;
    if (items >= INT32_MAX) nt = 1;
    s->nt = nt;
    const long q = items / nt, r = items % nt;
    long lo = 0;
    for (int t = 0; t < nt; t++) { /* libgomp's static split: the first r threads get one more */
        const long hi = lo + q + (t < r);
        s->slot[t].range = (uint64_t)hi << 32 | (uint64_t)lo;
        lo = hi;
    }
    /* ~16 chunks per thread: few atomics, and a late thread's share can move in small steps */
    s->chunk = q / 16 > 1 ? q / 16 : 1;
    return nt;
}

static inline int pci_share_thread(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The next items [*lo, *hi) for thread `tid`; 0 when every range is empty. */
static inline int pci_share_next(pci_share *s, int tid, long *lo, long *hi) {
    for (int k = 0; k < s->nt; k++) {
        const int v = (tid + k) % s->nt;
        uint64_t cur = __atomic_load_n(&s->slot[v].range, __ATOMIC_RELAXED);
        for (;;) {
            const uint32_t front = (uint32_t)cur, back = (uint32_t)(cur >> 32);
            if (front >= back) break;
            const uint32_t n = (uint32_t)(back - front < (uint64_t)s->chunk ? back - front : (uint64_t)s->chunk);
            /* the owner takes from the front (in order), a thief from the back */
            const uint64_t next = k == 0 ? (uint64_t)back << 32 | (front + n) : (uint64_t)(back - n) << 32 | front;
            if (__atomic_compare_exchange_n(&s->slot[v].range, &cur, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                *lo = k == 0 ? front : back - n;
                *hi = k == 0 ? front + n : back;
                return 1;
            }
        }
    }
    return 0;
}

#endif
