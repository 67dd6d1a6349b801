// Counter-based RNG: element i of a draw is a pure function of (key, offset + i), so the GPU
// stream state is two integers. key = mix64(seed) is computed on the host.
// uniform: counter offset+i -> [0, 1) with 24 (float) or 53 (double) random bits.
// normal: Box-Muller on pairs; element i uses counters offset + 2*(i/2) and +1, even i takes the
// cosine, odd i the sine. Counters consumed: n (uniform), n rounded up to even (normal).
#include "common.cuh"

__device__ __forceinline__ u64 mix64(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
__device__ __forceinline__ u64 rng_bits(u64 key, u64 ctr) { return mix64(key + ctr * 0x9E3779B97F4A7C15ull); }

__device__ __forceinline__ float u01(u64 h, float) { return (float)(h >> 40) * 5.9604644775390625e-08f; }
__device__ __forceinline__ double u01(u64 h, double) { return (double)(h >> 11) * 1.1102230246251565e-16; }

template <typename T> __global__ void rand_uniform(T* out, i64 n, u64 key, u64 offset) {
    for (i64 i = global_thread(); i < n; i += grid_threads()) out[i] = u01(rng_bits(key, offset + (u64)i), T(0));
}

// sin/cos of pi*x: no large-argument reduction (which would put a stack frame in the kernel).
__device__ __forceinline__ float cg_sinpi(float x) { return sinpif(x); }
__device__ __forceinline__ double cg_sinpi(double x) { return sinpi(x); }
__device__ __forceinline__ float cg_cospi(float x) { return cospif(x); }
__device__ __forceinline__ double cg_cospi(double x) { return cospi(x); }

template <typename T> __global__ void rand_normal(T* out, i64 n, u64 key, u64 offset) {
    for (i64 i = global_thread(); i < n; i += grid_threads()) {
        const u64 c = offset + (u64)(i & ~1ll);
        const T u1 = T(1) - u01(rng_bits(key, c), T(0));   // (0, 1]
        const T u2 = u01(rng_bits(key, c + 1), T(0));
        const T rad = cg_sqrt(T(-2) * cg_log(u1));
        out[i] = rad * ((i & 1) ? cg_sinpi(T(2) * u2) : cg_cospi(T(2) * u2));   // angle 2*pi*u2
    }
}
