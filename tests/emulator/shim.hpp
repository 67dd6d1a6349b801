// Host emulation of the CUDA C subset used by kernels/*.cu (test support, not shipped).
// A block runs as fibers (one per CUDA thread) on one OS thread; __syncthreads and warp shuffles
// are barriers that switch fibers; blocks are spread over a few OS threads. __shared__ variables
// are thread_local statics, i.e. one copy per running block.
#pragma once
#define CUGRAD_HOST_EMULATION 1
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define __launch_bounds__(...)
#define __restrict__ __restrict

using std::exp; using std::log; using std::sqrt; using std::tanh; using std::sin; using std::cos;
using std::fmax; using std::fmin; using std::fabs;
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float sinpif(float x) { return (float)std::sin(M_PI * (double)x); }
inline float cospif(float x) { return (float)std::cos(M_PI * (double)x); }
inline double sinpi(double x) { return std::sin(M_PI * x); }
inline double cospi(double x) { return std::cos(M_PI * x); }

struct alignas(16) uint4 { unsigned x, y, z, w; };
struct dim3 { unsigned x = 1, y = 1, z = 1; };

namespace cg_emu {

struct Barrier { int count = 0, expected = 0; unsigned gen = 0; };

struct Fiber {
    void* sp = nullptr;
    dim3 tid;
    int lin = 0, parity = 0;
    bool done = false;
    const Barrier* waiting = nullptr;   // the barrier it waits at, and that barrier's generation then
    unsigned wait_gen = 0;
};

struct Warp { Barrier bar; unsigned long long slot[2][32]; };

struct Block {                       // per OS thread: the block it is running
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    Barrier bar;
    void* sched_sp = nullptr;
    Fiber* cur = nullptr;
    const std::function<void()>* body = nullptr;
    unsigned long long events = 0;
    bool bad_mask = false;           // a shuffle named lanes its warp does not have
    char* stacks = nullptr;
    size_t nstacks = 0;
};
inline thread_local Block tb;
inline thread_local dim3 t_blockIdx;
inline dim3 g_blockDim, g_gridDim;
constexpr size_t kStack = 64 * 1024;

// Save callee-saved registers and the stack pointer in *from, continue on the stack `to`.
extern "C" void cg_emu_switch(void** from, void* to);
#if defined(__x86_64__)
asm(R"(
.text
.hidden cg_emu_switch
.globl cg_emu_switch
.type cg_emu_switch,@function
cg_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");
#else
#error "the kernel emulator's fiber switch is written for x86-64"
#endif

inline void yield() { cg_emu_switch(&tb.cur->sp, tb.sched_sp); }

[[noreturn]] inline void fiber_main() {
    (*tb.body)();
    tb.cur->done = true;
    ++tb.events;
    cg_emu_switch(&tb.cur->sp, tb.sched_sp);
    std::abort();                    // a finished fiber is never resumed
}

inline void arrive(Barrier& b) {
    if (++b.count == b.expected) { b.count = 0; ++b.gen; ++tb.events; return; }
    const unsigned g = b.gen;
    tb.cur->waiting = &b;
    tb.cur->wait_gen = g;
    while (b.gen == g) yield();
    tb.cur->waiting = nullptr;
}

inline bool blocked(const Fiber& f) { return f.done || (f.waiting && f.waiting->gen == f.wait_gen); }

inline void resume(Fiber& f) {
    tb.cur = &f;
    cg_emu_switch(&tb.sched_sp, f.sp);
}

// Runs one block; returns false on deadlock (a barrier some threads never reach).
// Default order: passes over the threads in increasing order, each running to its next barrier
// (warp shuffles included), so the warps move in lockstep. `reverse`: warps last to first, each
// run as far as it can (to __syncthreads or its end, threads last to first) before the next one
// starts — a missing __syncthreads that lets a fast warp overwrite shared memory another warp has
// still to read shows only in this order.
inline bool run_block(int nthreads, bool reverse) {
    if (tb.nstacks < (size_t)nthreads) {
        std::free(tb.stacks);
        tb.stacks = static_cast<char*>(std::aligned_alloc(64, kStack * nthreads));
        tb.nstacks = nthreads;
    }
    tb.fibers.assign(nthreads, Fiber{});
    tb.warps.assign((nthreads + 31) / 32, Warp{});
    for (size_t w = 0; w < tb.warps.size(); ++w) tb.warps[w].bar.expected = std::min(32, nthreads - (int)w * 32);
    tb.bar = Barrier{0, nthreads, 0};
    for (int i = 0; i < nthreads; ++i) {
        Fiber& f = tb.fibers[i];
        f.lin = i;
        f.tid = {i % g_blockDim.x, (i / g_blockDim.x) % g_blockDim.y, i / (g_blockDim.x * g_blockDim.y)};
        void** top = reinterpret_cast<void**>(tb.stacks + kStack * (i + 1));   // 16-byte aligned
        top -= 8;                                    // r15 r14 r13 r12 rbx rbp, return address, pad
        for (int k = 0; k < 6; ++k) top[k] = nullptr;
        top[6] = reinterpret_cast<void*>(&fiber_main);
        top[7] = nullptr;
        f.sp = top;
    }
    int live = nthreads;
    while (live > 0) {
        const unsigned long long before = tb.events;
        if (!reverse) {
            for (Fiber& f : tb.fibers)
                if (!f.done) resume(f);
        } else {
            for (int w = (int)tb.warps.size() - 1; w >= 0; --w) {
                const int first = w * 32, last = std::min(nthreads, first + 32) - 1;
                for (bool ran = true; ran;) {
                    ran = false;
                    for (int i = last; i >= first; --i)
                        if (!blocked(tb.fibers[i])) { resume(tb.fibers[i]); ran = true; }
                }
            }
        }
        live = 0;
        for (const Fiber& f : tb.fibers) live += !f.done;
        if (live > 0 && tb.events == before) return false;
    }
    return true;
}

template <class... A, size_t... I>
void call(void (*k)(A...), void** args, std::index_sequence<I...>) {
    k(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

// Launch k over grid x block; blocks are shared out to `workers` OS threads. Returns 0, 1 if a
// block deadlocked, 2 if a shuffle's member mask named lanes its warp does not have.
template <class... A>
int launch(void (*k)(A...), const unsigned* grid, const unsigned* block, void** args, int workers, int reverse) {
    g_gridDim = {grid[0], grid[1], grid[2]};
    g_blockDim = {block[0], block[1], block[2]};
    const long long nblocks = (long long)grid[0] * grid[1] * grid[2];
    const int nthreads = block[0] * block[1] * block[2];
    std::atomic<long long> next{0};
    std::atomic<int> failed{0};
    auto work = [&] {
        std::function<void()> body = [&] { call(k, args, std::index_sequence_for<A...>{}); };
        tb.body = &body;
        for (long long b; (b = next++) < nblocks && !failed;) {
            t_blockIdx = {unsigned(b % grid[0]), unsigned((b / grid[0]) % grid[1]), unsigned(b / ((long long)grid[0] * grid[1]))};
            tb.bad_mask = false;
            if (!run_block(nthreads, reverse != 0)) failed = 1;
            else if (tb.bad_mask) failed = 2;
        }
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers && w < nblocks; ++w) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    return failed.load();
}

// Each parameter's byte size, or for a pointer the byte size of what it points to (so a float16 or
// bfloat16 array passed for a float* is caught), and its pointer-ness: for checking the
// Python-side argument packing.
template <class A> constexpr int param_size() {
    if constexpr (std::is_pointer_v<A>) return (int)sizeof(std::remove_pointer_t<A>);
    else return (int)sizeof(A);
}
template <class... A>
int signature(void (*)(A...), int* sizes, int* is_ptr) {
    int i = 0;
    ((sizes[i] = param_size<A>(), is_ptr[i] = std::is_pointer_v<A>, ++i), ...);
    return i;
}

template <class T> T shfl(unsigned member_mask, T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    Warp& w = tb.warps[tb.cur->lin >> 5];
    const unsigned present = w.bar.expected == 32 ? 0xffffffffu : (1u << w.bar.expected) - 1u;
    if (member_mask & ~present) tb.bad_mask = true;   // undefined on a GPU (a partial warp)
    const int lane = tb.cur->lin & 31, p = tb.cur->parity;
    tb.cur->parity ^= 1;
    std::memcpy(&w.slot[p][lane], &v, sizeof(T));
    arrive(w.bar);                   // double-buffered slots: one barrier per shuffle
    if (src < 0 || src >= w.bar.expected) return v;
    T r;
    std::memcpy(&r, &w.slot[p][src], sizeof(T));
    return r;
}

}  // namespace cg_emu

#define threadIdx (::cg_emu::tb.cur->tid)
#define blockIdx (::cg_emu::t_blockIdx)
#define blockDim (::cg_emu::g_blockDim)
#define gridDim (::cg_emu::g_gridDim)

inline void __syncthreads() { cg_emu::arrive(cg_emu::tb.bar); }
inline void __syncwarp(unsigned = 0xffffffffu) { cg_emu::arrive(cg_emu::tb.warps[cg_emu::tb.cur->lin >> 5].bar); }
template <class T> T __shfl_sync(unsigned m, T v, int src) { return cg_emu::shfl(m, v, src & 31); }
template <class T> T __shfl_xor_sync(unsigned m, T v, int mask) { return cg_emu::shfl(m, v, (cg_emu::tb.cur->lin & 31) ^ mask); }
template <class T> T __shfl_down_sync(unsigned m, T v, unsigned d) {
    const int src = (cg_emu::tb.cur->lin & 31) + (int)d;
    return cg_emu::shfl(m, v, src < 32 ? src : -1);
}
template <class T> T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T> T atomicMax(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {}
    return old;
}
