// Shared device helpers for cugrad's kernels. Self-contained: no host or CUDA headers, so the
// same text compiles under NVRTC, nvcc and (through tests/emulator/shim.hpp) host g++.
// The loader pastes this file in place of `#include "common.cuh"`.

typedef long long i64;
typedef unsigned long long u64;

// IEEE binary16 as raw bits (no cuda_fp16.h needed); arithmetic is done in float.
struct cg_half { unsigned short bits; };

__device__ __forceinline__ float to_acc(float x) { return x; }
__device__ __forceinline__ double to_acc(double x) { return x; }
#ifdef CUGRAD_HOST_EMULATION
__device__ __forceinline__ float to_acc(cg_half h) { _Float16 f; __builtin_memcpy(&f, &h.bits, 2); return (float)f; }
__device__ __forceinline__ cg_half half_from_float(float x) { _Float16 f = (_Float16)x; cg_half h; __builtin_memcpy(&h.bits, &f, 2); return h; }
#else
__device__ __forceinline__ float to_acc(cg_half h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits)); return f; }
__device__ __forceinline__ cg_half half_from_float(float x) { cg_half h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(x)); return h; }
#endif

// bfloat16 as raw bits: the top 16 bits of an IEEE float, so the conversions are integer code
// that compiles the same under NVRTC (any arch) and in the host emulator.
struct cg_bf16 { unsigned short bits; };

#ifdef CUGRAD_HOST_EMULATION
__device__ __forceinline__ unsigned float_bits(float x) { unsigned u; __builtin_memcpy(&u, &x, 4); return u; }
__device__ __forceinline__ float bits_float(unsigned u) { float x; __builtin_memcpy(&x, &u, 4); return x; }
#else
__device__ __forceinline__ unsigned float_bits(float x) { return __float_as_uint(x); }
__device__ __forceinline__ float bits_float(unsigned u) { return __uint_as_float(u); }
#endif

__device__ __forceinline__ float to_acc(cg_bf16 h) { return bits_float((unsigned)h.bits << 16); }
// Round to nearest, ties to even (add 0x7fff plus the lowest kept bit, then truncate); a NaN stays
// a NaN (quieted, sign kept) instead of rounding into infinity. Overflow rounds to +-inf.
__device__ __forceinline__ cg_bf16 bf16_from_float(float x) {
    const unsigned u = float_bits(x);
    cg_bf16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) h.bits = (unsigned short)((u >> 16) | 0x40u);
    else h.bits = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return h;
}

// Accumulation type: float for float, half and bfloat16, double for double.
template <typename T> struct acc_of { typedef float type; };
template <> struct acc_of<double> { typedef double type; };

template <typename T> __device__ __forceinline__ T from_acc(typename acc_of<T>::type x) { return (T)x; }
template <> __device__ __forceinline__ cg_half from_acc<cg_half>(float x) { return half_from_float(x); }
template <> __device__ __forceinline__ cg_bf16 from_acc<cg_bf16>(float x) { return bf16_from_float(x); }

// Precise math overloaded on float/double (libdevice under NVRTC, libm on the host).
__device__ __forceinline__ float cg_exp(float x) { return expf(x); }
__device__ __forceinline__ double cg_exp(double x) { return exp(x); }
__device__ __forceinline__ float cg_log(float x) { return logf(x); }
__device__ __forceinline__ double cg_log(double x) { return log(x); }
__device__ __forceinline__ float cg_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double cg_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float cg_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double cg_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float cg_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double cg_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float cg_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double cg_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float cg_erf(float x) { return erff(x); }
__device__ __forceinline__ double cg_erf(double x) { return erf(x); }
__device__ __forceinline__ float cg_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double cg_max(double a, double b) { return fmax(a, b); }

// Overflow-safe logistic: never forms exp of a positive argument.
template <typename A> __device__ __forceinline__ A cg_sigmoid(A x) {
    if (x >= A(0)) return A(1) / (A(1) + cg_exp(-x));
    A e = cg_exp(x);
    return e / (A(1) + e);
}

// ln(1 + e^x) without overflow: max(x, 0) + ln(1 + e^-|x|).
template <typename A> __device__ __forceinline__ A cg_softplus(A x) {
    return (x > A(0) ? x : A(0)) + cg_log1p(cg_exp(x > A(0) ? -x : x));
}

__device__ __forceinline__ i64 global_thread() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 grid_threads() { return (i64)gridDim.x * blockDim.x; }

__device__ __forceinline__ bool aligned16(const void* p) {
    return (((unsigned long long)p) & 15ull) == 0;
}

// 16 bytes of T, moved with one 128-bit load/store.
template <typename T> union Pack {
    uint4 u;
    T v[16 / sizeof(T)];
};

// Elementwise driver over n elements: NIN input arrays, NOUT output arrays (an output may alias an
// input). f(i, const A (&x)[NIN], A (&y)[NOUT]) computes element i in the accumulation type A.
// Uses 16-byte vector loads/stores when every pointer is 16-byte aligned, then a scalar tail;
// grid-stride loops over both.
template <typename T, int NIN, int NOUT, typename F>
__device__ __forceinline__ void ew_apply(const T* const (&in)[NIN], T* const (&out)[NOUT], i64 n, F f) {
    typedef typename acc_of<T>::type A;
    const int N = 16 / sizeof(T);
    bool vec = true;
#pragma unroll
    for (int k = 0; k < NIN; ++k) vec = vec && aligned16(in[k]);
#pragma unroll
    for (int k = 0; k < NOUT; ++k) vec = vec && aligned16(out[k]);
    const i64 nvec = vec ? n / N : 0;
    const i64 stride = grid_threads();
    for (i64 v = global_thread(); v < nvec; v += stride) {
        Pack<T> pin[NIN], pout[NOUT];
#pragma unroll
        for (int k = 0; k < NIN; ++k) pin[k].u = *reinterpret_cast<const uint4*>(in[k] + v * N);
#pragma unroll
        for (int j = 0; j < N; ++j) {
            A x[NIN], y[NOUT];
#pragma unroll
            for (int k = 0; k < NIN; ++k) x[k] = to_acc(pin[k].v[j]);
            f(v * N + j, x, y);
#pragma unroll
            for (int k = 0; k < NOUT; ++k) pout[k].v[j] = from_acc<T>(y[k]);
        }
#pragma unroll
        for (int k = 0; k < NOUT; ++k) *reinterpret_cast<uint4*>(out[k] + v * N) = pout[k].u;
    }
    for (i64 i = nvec * N + global_thread(); i < n; i += stride) {
        A x[NIN], y[NOUT];
#pragma unroll
        for (int k = 0; k < NIN; ++k) x[k] = to_acc(in[k][i]);
        f(i, x, y);
#pragma unroll
        for (int k = 0; k < NOUT; ++k) out[k][i] = from_acc<T>(y[k]);
    }
}

