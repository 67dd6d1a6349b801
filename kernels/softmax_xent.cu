// Row-wise softmax cross-entropy, one block per row (grid-stride over rows).
// Forward: one read of the row with an online (running max, running sum) log-sum-exp.
// Backward: dlogits = (softmax - target) * row_scale, one read and one write.
#include "common.cuh"

// Merge two (max, sum of exp(x - max)) pairs.
template <typename A> __device__ __forceinline__ void lse_merge(A& m, A& s, A m2, A s2) {
    if (s2 == A(0)) return;
    if (s == A(0)) { m = m2; s = s2; return; }
    const A mx = cg_max(m, m2);
    s = s * cg_exp(m - mx) + s2 * cg_exp(m2 - mx);
    m = mx;
}

// Block-wide lse merge; every thread gets the result. scratch: __shared__ A[2][32].
template <typename A> __device__ __forceinline__ void block_lse(A& m, A& s, A (*scratch)[32]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        A m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
    __syncthreads();
    if (lane == 0) { scratch[0][warp] = m; scratch[1][warp] = s; }
    __syncthreads();
    m = lane < nwarps ? scratch[0][lane] : A(0);
    s = lane < nwarps ? scratch[1][lane] : A(0);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        A m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
    }
}

template <typename TGT> struct is_label { static constexpr bool value = false; };
template <> struct is_label<i64> { static constexpr bool value = true; };

// TGT = i64 (class index per row) or T (a (rows, cols) probability row).
// loss[r] = lse[r] - sum_c y[r,c] * x[r,c];  lse[r] = log sum_c exp(x[r,c]).
// A label outside [0, cols) gives loss NaN for that row.
template <typename T, typename TGT>
__global__ void xent_fwd(const T* logits, const TGT* target, typename acc_of<T>::type* loss,
                         typename acc_of<T>::type* lse_out, i64 rows, i64 cols) {
    typedef typename acc_of<T>::type A;
    __shared__ A scratch[2][32];
    __shared__ A dsum[32];
    constexpr bool by_index = is_label<TGT>::value;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* row = logits + r * cols;
        A m = A(0), s = A(0), dot = A(0);
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
            const A v = to_acc(row[c]);
            lse_merge(m, s, v, A(1));
            if constexpr (!by_index) dot += to_acc(target[r * cols + c]) * v;
        }
        block_lse(m, s, scratch);
        const A lse = m + cg_log(s);
        if constexpr (by_index) {
            if (threadIdx.x == 0) {
                const i64 t = (i64)target[r];
                const A xt = (t >= 0 && t < cols) ? to_acc(row[t]) : A(0) / A(0);
                loss[r] = lse - xt;
                lse_out[r] = lse;
            }
        } else {
            dot = block_sum(dot, dsum);
            if (threadIdx.x == 0) { loss[r] = lse - dot; lse_out[r] = lse; }
        }
    }
}

// dx[r,c] = (exp(x[r,c] - lse[r]) - y[r,c]) * scale[r]. An out-of-range label gives a NaN row.
template <typename T, typename TGT>
__global__ void xent_bwd(const T* logits, const typename acc_of<T>::type* lse,
                         const TGT* target, const typename acc_of<T>::type* scale, T* dx,
                         i64 rows, i64 cols) {
    typedef typename acc_of<T>::type A;
    constexpr bool by_index = is_label<TGT>::value;
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* row = logits + r * cols;
        T* drow = dx + r * cols;
        const A l = lse[r], sc = scale[r];
        if constexpr (by_index) {
            const i64 t = target[r];
            const A bad = (t < 0 || t >= cols) ? A(0) / A(0) : A(0);
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const A p = cg_exp(to_acc(row[c]) - l);
                drow[c] = from_acc<T>((p - (c == t ? A(1) : A(0))) * sc + bad);
            }
        } else {
            for (i64 c = threadIdx.x; c < cols; c += blockDim.x) {
                const A p = cg_exp(to_acc(row[c]) - l);
                drow[c] = from_acc<T>((p - to_acc(target[r * cols + c])) * sc);
            }
        }
    }
}
