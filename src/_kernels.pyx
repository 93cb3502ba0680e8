# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Thin Cython layer over the C kernels.

A `Plan` is an array of C steps (one per layer) with the memory regions they
may touch; `Plan.add` validates each step in C against those regions before it
is accepted, and `Plan.run` executes them all in one call without the GIL.
The user-facing kernel functions live in pyconvinfer/kernels.py.
"""
from libc.stdint cimport uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memset

from cpython.exc cimport PyErr_CheckSignals

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "pci_kernels.h":
    ctypedef struct pci_ctx:
        int num_threads
        int isa
    ctypedef struct pci_act:
        int kind
        float p0, p1, p2
    ctypedef struct pci_conv_shape:
        pass
    ctypedef struct pci_tconv_shape:
        int n, h, w, c, oh, ow, oc, kh, kw, sh, sw, pad_t, pad_l
    int PCI_ISA_COUNT
    int pci_isa_available(int isa) nogil
    int pci_cpu_isa() nogil
    int pci_effective_isa(int wanted) nogil
    int pci_int8_dot_available(int isa) nogil
    const char *pci_isa_name(int isa) nogil
    int pci_openmp_enabled() nogil
    int pci_default_threads() nogil
    float pci_act_scalar(float x, pci_act act) nogil
    int PCI_ACT_COUNT
    int PCI_ACT_ELEMENTWISE, PCI_ACT_ROW, PCI_ACT_HALVES
    const char *pci_act_name(int kind) nogil
    int pci_act_shape(int kind) nogil
    void pci_glu_rows(const float *x, float *y, size_t rows, size_t cols_out, pci_ctx ctx) nogil
    uint64_t pci_xxh64(const void *data, size_t length, uint64_t seed) nogil
    uint64_t pci_payload_hash(const void *data, size_t length, pci_ctx ctx) nogil
    size_t pci_tconv_packed_size(const pci_tconv_shape *s) nogil
    size_t pci_winograd_scratch_floats(const pci_conv_shape *s, int m) nogil
    size_t pci_winograd_weights_floats(int cin, int cout, int m, int u_dtype) nogil
    void pci_conv2d_ref(const float *x, const float *kernel, const float *bias, float *y,
                        const pci_conv_shape *s, pci_act act) nogil
    void pci_conv2d_transpose_ref(const float *x, const float *kernel, const float *bias, float *y,
                                  const pci_tconv_shape *s, pci_act act) nogil
    void pci_dense_ref(const float *x, const float *kernel, const float *bias, float *y,
                       int m, int k, int n, pci_act act) nogil

cdef extern from "pci_internal.h":
    int pci_conv2d_q8_supported(const pci_conv_shape *s) nogil
    int pci_q8_params(const float *range, float *scale, float *inv, int *zp) nogil
    size_t pci_conv2d_q8_scratch_floats(const pci_conv_shape *s) nogil
    int pci_dense_q8_supported(int m, int k) nogil
    size_t pci_dense_q8_scratch_floats(int k) nogil

cdef extern from "pci_bench.h":
    double pci_fma_loop(int isa, long iters, int threads) nogil

cdef extern from "executor.h":
    int PCI_MAX_INPUTS
    int PCI_MAX_WEIGHTS
    int PCI_MAX_PARAMS
    int PCI_OP_END
    ctypedef union pci_step_shape:
        int p[40]
    ctypedef struct pci_step:
        int op
        int algo
        pci_act act
        int n_in
        const float *in_ "in"[32]
        int in_flags[32]
        float *out
        int in_dtype
        int out_dtype
        const void *w[4]
        int w_dtype[4]
        pci_step_shape s
        float f[4]
        size_t rows, count
        float *scratch
        size_t scratch_floats
    ctypedef struct pci_region:
        const char *base
        size_t size
        int writable
    int pci_step_validate(const pci_step *st, const pci_region *regions, int nregions,
                          char *err, size_t errlen) nogil
    int pci_run(const pci_step *steps, int n, pci_ctx ctx, const volatile int *stop) nogil
    const char *pci_op_name(int op) nogil
    const char *pci_step_algorithm(const pci_step *st, int isa) nogil
    const char *pci_binary_kind_name(int kind) nogil
    volatile int pci_sigint_flag
    int pci_sigint_begin() nogil
    void pci_sigint_end() nogil


def _op_ids() -> dict:
    ids = {}
    for i in range(1, PCI_OP_END):
        name = pci_op_name(i)
        if name != NULL:
            ids[name.decode()] = i
    return ids


def _binary_kinds() -> dict:
    kinds = {}
    i = 0
    while pci_binary_kind_name(i) != NULL:
        kinds[pci_binary_kind_name(i).decode()] = i
        i += 1
    return kinds


# Generated from the C tables (src/op_table.h, pci_kernels.h): never kept by hand.
OP_IDS = _op_ids()
BINARY_KINDS = _binary_kinds()
MAX_INPUTS = PCI_MAX_INPUTS
MAX_WEIGHTS = PCI_MAX_WEIGHTS
MAX_PARAMS = PCI_MAX_PARAMS


# Stored weight dtypes by their C number (enum pci_dtype in src/pci_kernels.h), and the
# numpy storage each is read from (bfloat16 has no numpy type: its bits, as uint16).
DTYPE_IDS = {"float32": 0, "float16": 1, "bfloat16": 2, "int8": 3}
_DTYPE_STORAGE = {0: np.dtype("float32"), 1: np.dtype("float16"), 2: np.dtype("uint16"), 3: np.dtype("int8")}
# Activation tensor dtypes of a step's first input and output (enum pci_tensor_dtype in src/executor.h):
# uint8 holds a tensor quantized between int8 convolutions.
TENSOR_DTYPE_IDS = {np.dtype("float32"): 0, np.dtype("uint8"): 1}


# Instruction-set paths by their C number (the table in dispatch.c).
ISA_NAMES = tuple(pci_isa_name(i).decode() for i in range(PCI_ISA_COUNT))


def openmp_enabled() -> bool:
    return bool(pci_openmp_enabled())


def default_threads() -> int:
    return pci_default_threads()


def cpu_isa() -> str:
    """The fastest instruction-set path this CPU and build have."""
    return pci_isa_name(pci_cpu_isa()).decode()


def available_isas() -> tuple:
    """Every path this CPU and build can run, in ISA_NAMES order."""
    return tuple(name for i, name in enumerate(ISA_NAMES) if pci_isa_available(i))


def fma_loop(isa, long iterations, int threads=1) -> float:
    """Runs the ISA's register-only multiply-add loop (pci_bench.h) on `threads`
    threads; returns the floating-point operations done (time it for the peak)."""
    cdef int i = _isa_id(isa)
    cdef double flops
    with nogil:
        flops = pci_fma_loop(i, iterations, threads)
    return flops


def effective_isa(str wanted) -> str:
    """The path the kernels take when asked for `wanted` (itself when available, else generic)."""
    return pci_isa_name(pci_effective_isa(ISA_NAMES.index(wanted))).decode()


cdef int _isa_id(isa) except -1:
    """C number of an available path (None: the fastest); ValueError otherwise."""
    if isa is None:
        return pci_cpu_isa()
    if isa not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES} or None, got {isa!r}")
    cdef int i = ISA_NAMES.index(isa)
    if not pci_isa_available(i):
        raise ValueError(f"isa {isa!r} is not available on this CPU and build; available: "
                         f"{', '.join(available_isas())}")
    return i


def _act_table():
    kinds, shapes = {}, {}
    shape_names = {PCI_ACT_ELEMENTWISE: "elementwise", PCI_ACT_ROW: "row", PCI_ACT_HALVES: "halves"}
    for k in range(PCI_ACT_COUNT):
        name = pci_act_name(k)
        if name != NULL:
            kinds[name.decode()] = k
            shapes[name.decode()] = shape_names[pci_act_shape(k)]
    return kinds, shapes


# Activation kinds from src/act_table.h: name -> id (stored in files), and
# name -> "elementwise" | "row" (over the last axis) | "halves" (glu).
ACT_KINDS, ACT_SHAPES = _act_table()


def glu_rows(x, y, int num_threads=1, isa=None):
    """y (rows, n) = glu of x (rows, 2n) over the last axis; sizes checked here."""
    cdef pci_ctx ctx
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError("glu_rows: x and y must be numpy arrays")
    if x.dtype != np.float32 or y.dtype != np.float32 or not x.flags.c_contiguous or not y.flags.c_contiguous:
        raise ValueError("glu_rows: x and y must be C-contiguous float32")
    xs, ys = tuple(x.shape), tuple(y.shape)
    nd = len(ys)
    if nd == 0 or len(xs) != nd or ys[nd - 1] == 0 or xs[:nd - 1] != ys[:nd - 1] or xs[nd - 1] != 2 * ys[nd - 1]:
        raise ValueError(f"glu_rows: x {xs} must be y {ys} with the last axis doubled")
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    cdef size_t cols_out = ys[nd - 1]
    cdef size_t rows = y.size // cols_out
    cdef const float *xb = <const float *>_address(<cnp.ndarray>x)
    cdef float *yb = <float *>_address(<cnp.ndarray>y)
    ctx.num_threads = num_threads
    ctx.isa = _isa_id(isa)
    with nogil:
        pci_glu_rows(xb, yb, rows, cols_out, ctx)
    return y


def act_reference_inplace(x, int kind, float p0=0, float p1=0, float p2=0):
    """pci_act_scalar (libm, the readable reference) over a float32 array in
    place, in one C loop: the baseline of tools/bench_act.py."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.c_contiguous or not x.flags.writeable:
        raise ValueError("act_reference_inplace: x must be a writable C-contiguous float32 array")
    if pci_act_shape(kind) != PCI_ACT_ELEMENTWISE:
        raise ValueError(f"act_reference_inplace: kind {kind} is not element-wise")
    cdef pci_act a
    a.kind, a.p0, a.p1, a.p2 = kind, p0, p1, p2
    cdef size_t n = x.size
    cdef float *xb = <float *>_address(<cnp.ndarray>x) if n else NULL
    cdef size_t i
    with nogil:
        for i in range(n):
            xb[i] = pci_act_scalar(xb[i], a)
    return x


def act_scalar(float x, int kind, float p0=0, float p1=0, float p2=0) -> float:
    cdef pci_act a
    a.kind, a.p0, a.p1, a.p2 = kind, p0, p1, p2
    return pci_act_scalar(x, a)


cdef const unsigned char[::1] _bytes_view(obj):
    return memoryview(obj).cast("B")


def xxh64(data, uint64_t seed=0) -> int:
    cdef const unsigned char[::1] v = _bytes_view(data)
    cdef size_t n = v.shape[0]
    with nogil:
        h = pci_xxh64(&v[0] if n else NULL, n, seed)
    return h


def payload_hash(data, int num_threads=1) -> int:
    cdef const unsigned char[::1] v = _bytes_view(data)
    cdef size_t n = v.shape[0]
    cdef pci_ctx ctx
    ctx.num_threads, ctx.isa = max(num_threads, 1), 0
    with nogil:
        h = pci_payload_hash(&v[0] if n else NULL, n, ctx)
    return h


def winograd_weights_floats(int cin, int cout, int m, str dtype) -> int:
    """Scratch floats for Winograd F(m x m) weights U of cin -> cout channels stored as
    dtype ("float16" or "float32"), transformed at run time."""
    if cin <= 0 or cout <= 0 or m not in (2, 4) or dtype not in ("float16", "float32"):
        raise ValueError(f"bad Winograd weights shape: {cin} -> {cout} channels, tile {m}, {dtype}")
    return pci_winograd_weights_floats(cin, cout, m, DTYPE_IDS[dtype])


def winograd_scratch_floats(ints, int m) -> int:
    """Scratch floats one thread needs for a Winograd conv (ints: the conv shape)."""
    cdef int p[16]
    for i in range(16):
        p[i] = ints[i]
    return pci_winograd_scratch_floats(<const pci_conv_shape *>p, m)


def int8_dot_available(str isa) -> bool:
    """Whether the `isa` path has the int8 dot products conv2d's int8 compute uses on this CPU."""
    return bool(pci_int8_dot_available(ISA_NAMES.index(isa)))


def int8_quantization(float lo, float hi):
    """(scale, 1 / scale, zero point) of the uint8 quantization over [lo, hi] (widened to hold 0),
    or None where the int8 path would compute in float32 instead (NaN, a step that is not a normal float)."""
    cdef float r[2]
    cdef float scale, inv
    cdef int zp
    r[0], r[1] = lo, hi
    if pci_q8_params(r, &scale, &inv, &zp) != 0:
        return None
    return scale, inv, zp


def conv2d_int8_scratch_floats(ints) -> int:
    """Scratch floats (shared) of a conv2d computing in int8, or -1 when its shape has no int8 path."""
    cdef int p[16]
    for i in range(16):
        p[i] = ints[i]
    if not pci_conv2d_q8_supported(<const pci_conv_shape *>p):
        return -1
    n = pci_conv2d_q8_scratch_floats(<const pci_conv_shape *>p)
    return -1 if n == <size_t>-1 else n


def dense_int8_scratch_floats(int m, int k) -> int:
    """Scratch floats (shared) of a dense layer computing in int8, or -1 when its shape has
    no int8 path (batches, more than 32768 input features)."""
    if not pci_dense_q8_supported(m, k):
        return -1
    return pci_dense_q8_scratch_floats(k)


def tconv_packed_size(int c, int oc, int kh, int kw, int sh, int sw) -> int:
    cdef pci_tconv_shape s
    memset(&s, 0, sizeof(s))
    s.c, s.oc, s.kh, s.kw, s.sh, s.sw = c, oc, kh, kw, sh, sw
    return pci_tconv_packed_size(&s)


cdef uintptr_t _address(cnp.ndarray a) except 0:
    if a.dtype != np.float32:
        raise TypeError(f"expected a float32 array, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError("expected a C-contiguous array")
    return <uintptr_t>cnp.PyArray_DATA(a) if a.size else 1


cdef uintptr_t _tensor_address(cnp.ndarray a, int *dtype) except 0:
    """Address of a step's first input or output, float32 or uint8 (quantized); its dtype id into *dtype."""
    if a.dtype not in TENSOR_DTYPE_IDS:
        raise TypeError(f"expected a float32 or uint8 array, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError("expected a C-contiguous array")
    dtype[0] = TENSOR_DTYPE_IDS[a.dtype]
    return <uintptr_t>cnp.PyArray_DATA(a) if a.size else 1


cdef uintptr_t _weight_address(cnp.ndarray a, int dtype) except 0:
    """Address of a weight array stored as dtype id `dtype` (DTYPE_IDS)."""
    if dtype not in _DTYPE_STORAGE:
        raise ValueError(f"unknown weight dtype id {dtype}; known: {DTYPE_IDS}")
    if a.dtype != _DTYPE_STORAGE[dtype]:
        raise TypeError(f"a weight of dtype id {dtype} must be a {_DTYPE_STORAGE[dtype]} array, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError("expected a C-contiguous array")
    return <uintptr_t>cnp.PyArray_DATA(a) if a.size else 1


cdef class Plan:
    """Steps run in order by one C call; regions bound what they may touch.

    `regions` are objects exporting the buffer protocol (the arena and the
    model file's mapping); they are kept alive as long as the plan."""
    cdef pci_step *steps
    cdef int n, cap
    cdef pci_region *regions
    cdef int nregions
    cdef object keep

    def __cinit__(self, regions, writable):
        cdef int i
        cdef const unsigned char[::1] v
        self.keep = list(regions)
        self.nregions = len(self.keep)
        self.regions = <pci_region *>calloc(max(self.nregions, 1), sizeof(pci_region))
        if not self.regions:
            raise MemoryError()
        for i in range(self.nregions):
            obj = self.keep[i]
            if isinstance(obj, np.ndarray):
                self.regions[i].base = <const char *>cnp.PyArray_DATA(obj)
                self.regions[i].size = obj.nbytes
            else:
                v = _bytes_view(obj)
                self.regions[i].base = <const char *>&v[0] if v.shape[0] else NULL
                self.regions[i].size = v.shape[0]
            self.regions[i].writable = 1 if writable[i] else 0

    def __dealloc__(self):
        free(self.steps)
        free(self.regions)

    def __len__(self):
        return self.n

    def add(self, int op, list inputs, out, *, weights=(), ints=(), in_flags=(), size_t rows=0,
            size_t count=0, int algo=0, int act_kind=0, act_params=(0.0, 0.0, 0.0), floats=(), scratch=None,
            weight_dtypes=None):
        """Append a step of op id `op` (OP_IDS). Arrays are ndarrays inside the
        plan's regions; `weights` fills the op's weight slots in order (None:
        absent), `weight_dtypes` their dtype ids (DTYPE_IDS, parallel to
        `weights`; default all float32; each array's numpy dtype must match). Raises ValueError if the step touches anything outside the
        regions or its parameters are inconsistent."""
        cdef pci_step st
        cdef char err[256]
        cdef int i
        memset(&st, 0, sizeof(st))
        if len(inputs) > PCI_MAX_INPUTS or len(in_flags) > PCI_MAX_INPUTS:
            raise ValueError(f"a step takes at most {PCI_MAX_INPUTS} inputs, got {len(inputs)}")
        if len(ints) > PCI_MAX_PARAMS or len(weights) > PCI_MAX_WEIGHTS or len(floats) > 4:
            raise ValueError("too many step parameters")
        st.op = op
        st.algo = algo
        st.act.kind = act_kind
        st.act.p0, st.act.p1, st.act.p2 = act_params
        st.n_in = len(inputs)
        for i in range(st.n_in):  # the first input and the output may be uint8 (C checks which ops allow it)
            st.in_[i] = <const float *>(_tensor_address(inputs[i], &st.in_dtype) if i == 0 else _address(inputs[i]))
        for i in range(len(in_flags)):
            st.in_flags[i] = in_flags[i]
        st.out = <float *>_tensor_address(out, &st.out_dtype)
        if weight_dtypes is not None and len(weight_dtypes) != len(weights):
            raise ValueError(f"weight_dtypes has {len(weight_dtypes)} entries for {len(weights)} weights")
        for i in range(len(weights)):
            st.w_dtype[i] = 0 if weight_dtypes is None else weight_dtypes[i]
            if weights[i] is not None:
                st.w[i] = <const void *>_weight_address(weights[i], st.w_dtype[i])
        for i in range(len(ints)):
            st.s.p[i] = ints[i]
        for i in range(len(floats)):
            st.f[i] = floats[i]
        st.rows, st.count = rows, count
        if scratch is not None:
            st.scratch = <float *>_address(scratch)
            st.scratch_floats = scratch.size
        if pci_step_validate(&st, self.regions, self.nregions, err, sizeof(err)) != 0:
            raise ValueError(err.decode())
        if self.n == self.cap:
            new_cap = max(16, 2 * self.cap)
            p = <pci_step *>realloc(self.steps, new_cap * sizeof(pci_step))
            if not p:
                raise MemoryError()
            self.steps, self.cap = p, new_cap
        self.steps[self.n] = st
        self.n += 1

    def algorithm(self, int index, isa=None) -> str:
        """What kernel step `index` runs on `isa` (the C dispatch's own decision)."""
        if not 0 <= index < self.n:
            raise IndexError(index)
        return pci_step_algorithm(&self.steps[index], _isa_id(isa)).decode()

    def op_name(self, int index) -> str:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return pci_op_name(self.steps[index].op).decode()

    def run_one(self, int index, int num_threads, isa=None):
        """Run step `index` alone (per-layer timing)."""
        cdef pci_ctx ctx
        if not 0 <= index < self.n:
            raise IndexError(index)
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        ctx.num_threads = num_threads
        ctx.isa = _isa_id(isa)
        with nogil:
            pci_run(self.steps + index, 1, ctx, NULL)

    def run(self, int num_threads, isa=None, bint interruptible=False):
        """Run every step. interruptible (main thread only): Ctrl-C stops the
        run between steps and raises KeyboardInterrupt; the arena then holds
        partial results, which the next run overwrites."""
        cdef pci_ctx ctx
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        ctx.num_threads = num_threads
        ctx.isa = _isa_id(isa)
        cdef bint watch = interruptible and pci_sigint_begin() == 0
        cdef int done
        with nogil:
            done = pci_run(self.steps, self.n, ctx, &pci_sigint_flag if watch else NULL)
        _after_run(watch, done, self.n)


cdef enum:
    _MAX_DIMS = 32  # dimensions of an output a Runner binds (NumPy's own limit is 64)


cdef bint _native_float32(cnp.ndarray a):
    """C-contiguous, aligned, native-byte-order float32: what the arena holds."""
    return (cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32 and cnp.PyArray_IS_C_CONTIGUOUS(a)
            and cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_ISALIGNED(a))


cdef int _convertible(cnp.ndarray src):
    """src's NumPy type number if _to_float32 converts it (C-contiguous,
    aligned, native byte order, a number type below), else -1."""
    if not (cnp.PyArray_IS_C_CONTIGUOUS(src) and cnp.PyArray_ISNOTSWAPPED(src) and cnp.PyArray_ISALIGNED(src)):
        return -1
    cdef int t = cnp.PyArray_TYPE(src)
    if t in (cnp.NPY_FLOAT, cnp.NPY_DOUBLE, cnp.NPY_BOOL, cnp.NPY_BYTE, cnp.NPY_UBYTE, cnp.NPY_SHORT,
             cnp.NPY_USHORT, cnp.NPY_INT, cnp.NPY_UINT, cnp.NPY_LONG, cnp.NPY_ULONG, cnp.NPY_LONGLONG,
             cnp.NPY_ULONGLONG):
        return t
    return -1


cdef void _to_float32(const void *src, int t, float *dst, size_t n) noexcept nogil:
    """dst[i] = (float)src[i]: the C cast, which is what NumPy's unsafe cast
    does for these types (round to nearest), so results match np.copyto."""
    cdef size_t i
    if t == cnp.NPY_FLOAT:
        memcpy(dst, src, n * sizeof(float))
    elif t == cnp.NPY_DOUBLE:
        for i in range(n):
            dst[i] = <float>(<const double *>src)[i]
    elif t == cnp.NPY_BOOL or t == cnp.NPY_UBYTE:  # a NumPy bool is one byte, 0 or 1
        for i in range(n):
            dst[i] = <float>(<const unsigned char *>src)[i]
    elif t == cnp.NPY_BYTE:
        for i in range(n):
            dst[i] = <float>(<const signed char *>src)[i]
    elif t == cnp.NPY_SHORT:
        for i in range(n):
            dst[i] = <float>(<const short *>src)[i]
    elif t == cnp.NPY_USHORT:
        for i in range(n):
            dst[i] = <float>(<const unsigned short *>src)[i]
    elif t == cnp.NPY_INT:
        for i in range(n):
            dst[i] = <float>(<const int *>src)[i]
    elif t == cnp.NPY_UINT:
        for i in range(n):
            dst[i] = <float>(<const unsigned int *>src)[i]
    elif t == cnp.NPY_LONG:
        for i in range(n):
            dst[i] = <float>(<const long *>src)[i]
    elif t == cnp.NPY_ULONG:
        for i in range(n):
            dst[i] = <float>(<const unsigned long *>src)[i]
    elif t == cnp.NPY_LONGLONG:
        for i in range(n):
            dst[i] = <float>(<const long long *>src)[i]
    elif t == cnp.NPY_ULONGLONG:
        for i in range(n):
            dst[i] = <float>(<const unsigned long long *>src)[i]


cdef class Runner:
    """predict's fast path over one plan: a whole call (input conversion into
    the arena, the run, the copies of the outputs) with the GIL released once.

    Bound to the plan's single input view and its output views (arena views
    with the batch axis) when the plan is prepared, so a call does no lookups:
    the GIL is held only to check `src`, allocate the results and return."""
    cdef Plan plan
    cdef object keep           # the bound arena views
    cdef float *dst
    cdef size_t count          # elements of the input view
    cdef int nout
    cdef char **out_ptr
    cdef size_t *out_bytes
    cdef int *out_type
    cdef int *out_nd
    cdef cnp.npy_intp *out_dims  # nout x _MAX_DIMS (batch axis first)
    cdef object last_isa       # the isa run last and its C number (validated once)
    cdef int last_isa_id

    def __cinit__(self, Plan plan, cnp.ndarray input, list outputs):
        cdef int i, d
        cdef cnp.ndarray o
        self.plan = plan
        self.keep = [input] + outputs
        self.nout = len(outputs)
        self.out_ptr = <char **>calloc(max(self.nout, 1), sizeof(char *))
        self.out_bytes = <size_t *>calloc(max(self.nout, 1), sizeof(size_t))
        self.out_type = <int *>calloc(max(self.nout, 1), sizeof(int))
        self.out_nd = <int *>calloc(max(self.nout, 1), sizeof(int))
        self.out_dims = <cnp.npy_intp *>calloc(max(self.nout, 1) * _MAX_DIMS, sizeof(cnp.npy_intp))
        if not (self.out_ptr and self.out_bytes and self.out_type and self.out_nd and self.out_dims):
            raise MemoryError()
        if not _native_float32(input) or input.ndim < 1:
            raise ValueError("Runner: the input view must be a C-contiguous float32 array with a batch axis")
        self.dst = <float *>cnp.PyArray_DATA(input)
        self.count = input.size
        for i in range(self.nout):
            o = outputs[i]
            if not cnp.PyArray_IS_C_CONTIGUOUS(o) or o.ndim < 1 or o.ndim > _MAX_DIMS:
                raise ValueError(f"Runner: output view {i} must be C-contiguous with 1 to {_MAX_DIMS} dimensions")
            self.out_ptr[i] = <char *>cnp.PyArray_DATA(o)
            self.out_bytes[i] = cnp.PyArray_NBYTES(o)
            self.out_type[i] = cnp.PyArray_TYPE(o)
            self.out_nd[i] = o.ndim
            for d in range(o.ndim):
                self.out_dims[i * _MAX_DIMS + d] = o.shape[d]
        self.last_isa_id = -1

    def __dealloc__(self):
        free(self.out_ptr)
        free(self.out_bytes)
        free(self.out_type)
        free(self.out_nd)
        free(self.out_dims)

    def __call__(self, cnp.ndarray src, bint single, int num_threads, isa=None, bint interruptible=False):
        """Run on `src` (the input with the batch axis, or one sample if
        single) and return the output (a list for several; without the batch
        axis if single). Returns None, touching nothing, when src is not a
        C-contiguous aligned native-order number array with the input's size:
        the caller then converts with NumPy. interruptible: see Plan.run()."""
        cdef pci_ctx ctx
        cdef int i, t
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        if <size_t>cnp.PyArray_SIZE(src) != self.count:
            return None
        t = _convertible(src)
        if t < 0:
            return None
        if isa is not self.last_isa or self.last_isa_id < 0:
            self.last_isa_id = _isa_id(isa)
            self.last_isa = isa
        ctx.num_threads = num_threads
        ctx.isa = self.last_isa_id
        # the results first (the GIL is needed to allocate), filled after the run;
        # one output: no list (a container per call would bring the cyclic GC round sooner)
        cdef cnp.ndarray one = None
        cdef list results = None
        if self.nout == 1:
            one = cnp.PyArray_EMPTY(self.out_nd[0] - single, self.out_dims + single, self.out_type[0], 0)
        else:
            results = [cnp.PyArray_EMPTY(self.out_nd[i] - single, self.out_dims + i * _MAX_DIMS + single,
                                         self.out_type[i], 0) for i in range(self.nout)]
        cdef char *res_small[8]
        cdef char **res = &res_small[0] if self.nout <= 8 else <char **>calloc(self.nout, sizeof(char *))
        if not res:
            raise MemoryError()
        for i in range(self.nout):
            res[i] = <char *>cnp.PyArray_DATA(one if self.nout == 1 else <cnp.ndarray>results[i])
        cdef const void *sp = cnp.PyArray_DATA(src)
        cdef bint watch = interruptible and pci_sigint_begin() == 0
        cdef int done
        cdef int n = self.plan.n
        with nogil:
            _to_float32(sp, t, self.dst, self.count)
            done = pci_run(self.plan.steps, n, ctx, &pci_sigint_flag if watch else NULL)
            if done == n:
                for i in range(self.nout):
                    memcpy(res[i], self.out_ptr[i], self.out_bytes[i])
        if res != &res_small[0]:
            free(res)
        _after_run(watch, done, n)
        return one if self.nout == 1 else results


cdef _after_run(bint watch, int done, int n):
    """Restore the SIGINT handler; a stopped run raises what Python's handler
    raises (KeyboardInterrupt), or KeyboardInterrupt if that handler did not."""
    if not watch:
        return
    pci_sigint_end()
    if pci_sigint_flag or done < n:
        PyErr_CheckSignals()  # raises the handler's exception, if any
        if done < n:
            raise KeyboardInterrupt


def run_reference(str op, ints, cnp.ndarray x, cnp.ndarray kernel, bias, cnp.ndarray out,
                  int act_kind=0, act_params=(0.0, 0.0, 0.0)):
    """The readable C reference of conv2d / conv2d_transpose / dense on
    Keras-layout kernels. Sizes are checked here against the arrays."""
    cdef pci_act a
    cdef int p[16]
    cdef const float *xb = <const float *>_address(x)
    cdef const float *kb = <const float *>_address(kernel)
    cdef const float *bb = NULL
    cdef float *yb = <float *>_address(out)
    cdef size_t nx, nk, ny, nb
    a.kind = act_kind
    a.p0, a.p1, a.p2 = act_params
    for i in range(16):
        p[i] = ints[i] if i < len(ints) else 0
    if op == "conv2d":   # n h w c oh ow oc kh kw sh sw dh dw pt pl groups
        if p[15] < 1 or p[3] % p[15] or p[6] % p[15]:
            raise ValueError("bad groups")
        nx, nk = <size_t>p[0] * p[1] * p[2] * p[3], <size_t>p[7] * p[8] * (p[3] // p[15]) * p[6]
        ny, nb = <size_t>p[0] * p[4] * p[5] * p[6], p[6]
    elif op == "conv2d_transpose":  # n h w c oh ow oc kh kw sh sw pt pl
        nx, nk = <size_t>p[0] * p[1] * p[2] * p[3], <size_t>p[7] * p[8] * p[6] * p[3]
        ny, nb = <size_t>p[0] * p[4] * p[5] * p[6], p[6]
    elif op == "dense":  # m k n
        nx, nk, ny, nb = <size_t>p[0] * p[1], <size_t>p[1] * p[2], <size_t>p[0] * p[2], p[2]
    else:
        raise ValueError(f"no reference for {op!r}")
    if min(p[0], p[1], p[2]) <= 0 or x.size != nx or kernel.size != nk or out.size != ny:
        raise ValueError(f"{op} reference: array sizes do not match the shape {list(ints)}")
    if bias is not None:
        if bias.size != nb:
            raise ValueError("bias size does not match the output channels")
        bb = <const float *>_address(bias)
    with nogil:
        if op == "conv2d":
            pci_conv2d_ref(xb, kb, bb, yb, <const pci_conv_shape *>p, a)
        elif op == "conv2d_transpose":
            pci_conv2d_transpose_ref(xb, kb, bb, yb, <const pci_tconv_shape *>p, a)
        else:
            pci_dense_ref(xb, kb, bb, yb, p[0], p[1], p[2], a)
    return out
