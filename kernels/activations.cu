// Fused elementwise epilogues of a Linear layer and their backward, plus the bias-gradient
// column reduction (alone, or fused into the activation backward). Inputs are contiguous (the
// Python wrappers make them so).
#include "common.cuh"

// The activation codes. src/cugrad/kernels/activation_table.py reads this enum (ACT_<NAME> = n)
// and holds one row per entry: the NumPy twin, the second derivative, the init gain.
enum {
    ACT_IDENTITY = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_SIGMOID = 3, ACT_TANH = 4, ACT_SILU = 5,
    ACT_ELU = 6, ACT_SELU = 7, ACT_CELU = 8, ACT_MISH = 9, ACT_HARDSWISH = 10, ACT_HARDSIGMOID = 11,
    ACT_RELU6 = 12, ACT_SOFTSIGN = 13, ACT_LOGSIGMOID = 14, ACT_GELU = 15, ACT_TANHSHRINK = 16
};

#define SELU_SCALE 1.0507009873554804934193349852946
#define SELU_ALPHA 1.6732632423543772848170429916717

// act(z); `p` is the activation's one parameter (leaky_relu's slope, elu's and celu's alpha).
template <typename A> __device__ __forceinline__ A apply_act(A z, int act, A p) {
    switch (act) {
        case ACT_RELU: return z > A(0) ? z : A(0);
        case ACT_LEAKY_RELU: return z > A(0) ? z : z * p;
        case ACT_SIGMOID: return cg_sigmoid(z);
        case ACT_TANH: return cg_tanh(z);
        case ACT_SILU: return z * cg_sigmoid(z);
        case ACT_ELU: return z > A(0) ? z : p * cg_expm1(z);
        case ACT_SELU: return A(SELU_SCALE) * (z > A(0) ? z : A(SELU_ALPHA) * cg_expm1(z));
        case ACT_CELU: return z > A(0) ? z : p * cg_expm1(z / p);
        case ACT_MISH: return z * cg_tanh(cg_softplus(z));
        case ACT_HARDSWISH: return z <= A(-3) ? A(0) : z >= A(3) ? z : z * (z + A(3)) / A(6);
        case ACT_HARDSIGMOID: return z <= A(-3) ? A(0) : z >= A(3) ? A(1) : z / A(6) + A(0.5);
        case ACT_RELU6: return z > A(0) ? (z < A(6) ? z : A(6)) : A(0);
        case ACT_SOFTSIGN: return z / (A(1) + (z < A(0) ? -z : z));
        case ACT_LOGSIGMOID: return -cg_softplus(-z);
        case ACT_GELU: return A(0.5) * z * (A(1) + cg_erf(z * A(0.70710678118654752440084436210485)));
        case ACT_TANHSHRINK: return z - cg_tanh(z);
        default: return z;
    }
}

// y[i] = act(x[i] + bias[i % cols]); bias is read only when has_bias != 0. y may equal x.
template <typename T>
__global__ void bias_act(const T* x, const T* bias, T* y, i64 n, i64 cols, int has_bias, int act,
                         typename acc_of<T>::type slope) {
    typedef typename acc_of<T>::type A;
    const T* in[1] = {x};
    T* out[1] = {y};
    if (has_bias) {
        ew_apply<T, 1, 1>(in, out, n, [&](i64 i, const A (&v)[1], A (&r)[1]) {
            r[0] = apply_act(v[0] + to_acc(bias[i % cols]), act, slope);
        });
    } else {
        ew_apply<T, 1, 1>(in, out, n, [&](i64, const A (&v)[1], A (&r)[1]) {
            r[0] = apply_act(v[0], act, slope);
        });
    }
}

// The activation's derivative applied to the upstream gradient, from the saved array s: the output
// y for identity, relu, leaky_relu, sigmoid and tanh, the input x for the rest (the table's `saves`).
template <typename A> __device__ __forceinline__ A act_grad(A gv, A s, int act, A p) {
    switch (act) {
        case ACT_RELU: return s > A(0) ? gv : A(0);
        case ACT_LEAKY_RELU: return s > A(0) ? gv : gv * p;
        case ACT_SIGMOID: return gv * s * (A(1) - s);
        case ACT_TANH: return gv * (A(1) - s * s);
        case ACT_SILU: { A sg = cg_sigmoid(s); return gv * sg * (A(1) + s * (A(1) - sg)); }
        case ACT_ELU: return s > A(0) ? gv : gv * p * cg_exp(s);
        case ACT_SELU: return gv * A(SELU_SCALE) * (s > A(0) ? A(1) : A(SELU_ALPHA) * cg_exp(s));
        case ACT_CELU: return s > A(0) ? gv : gv * cg_exp(s / p);
        case ACT_MISH: {
            A t = cg_tanh(cg_softplus(s));
            return gv * (t + s * cg_sigmoid(s) * (A(1) - t * t));
        }
        case ACT_HARDSWISH: return s <= A(-3) ? A(0) : s < A(3) ? gv * (s / A(3) + A(0.5)) : gv;
        case ACT_HARDSIGMOID: return s > A(-3) && s < A(3) ? gv / A(6) : A(0);
        case ACT_RELU6: return s > A(0) && s < A(6) ? gv : A(0);
        case ACT_SOFTSIGN: { A d = A(1) + (s < A(0) ? -s : s); return gv / (d * d); }
        case ACT_LOGSIGMOID: return gv * cg_sigmoid(-s);
        case ACT_GELU: {
            const A c = A(0.70710678118654752440084436210485), k = A(0.39894228040143267793994605993438);
            return gv * (A(0.5) * (A(1) + cg_erf(s * c)) + s * k * cg_exp(A(-0.5) * s * s));
        }
        case ACT_TANHSHRINK: { A t = cg_tanh(s); return gv * t * t; }
        default: return gv;
    }
}

// dx from the upstream gradient g and the saved array y (see act_grad).
template <typename T>
__global__ void act_backward(const T* g, const T* y, T* dx, i64 n, int act,
                             typename acc_of<T>::type slope) {
    typedef typename acc_of<T>::type A;
    const T* in[2] = {g, y};
    T* out[1] = {dx};
    ew_apply<T, 2, 1>(in, out, n, [&](i64, const A (&v)[2], A (&r)[1]) {
        r[0] = act_grad(v[0], v[1], act, slope);
    });
}

// Column sums over gridDim.y row chunks of a (rows, cols) matrix whose element i = r * cols + c is
// `value(i)`: out[chunk, c] = sum over the chunk's rows, accumulated in A. A block is 32 columns x
// (blockDim.x / 32) row lanes; grid (ceil(cols/32) or any count, chunks).
template <typename A, typename TOut, typename Value>
__device__ void column_chunk_sums(i64 rows, i64 cols, TOut* out, Value value) {
    __shared__ A part[32][33];
    const int lane = threadIdx.x & 31, rl = threadIdx.x >> 5, nrl = blockDim.x >> 5;
    const i64 chunk = (rows + gridDim.y - 1) / gridDim.y;
    const i64 r0 = (i64)blockIdx.y * chunk;
    const i64 r1 = r0 + chunk < rows ? r0 + chunk : rows;
    for (i64 c0 = (i64)blockIdx.x * 32; c0 < cols; c0 += (i64)gridDim.x * 32) {
        const i64 c = c0 + lane;
        A s = A(0);
        if (c < cols) {
#pragma unroll 4
            for (i64 r = r0 + rl; r < r1; r += nrl) s += value(r * cols + c);
        }
        part[rl][lane] = s;
        __syncthreads();
        if (rl == 0 && c < cols) {
            for (int k = 1; k < nrl; ++k) s += part[k][lane];
            out[(i64)blockIdx.y * cols + c] = from_acc<TOut>(s);
        }
        __syncthreads();
    }
}

// act_backward on a (rows, cols) matrix fused with the first stage of its column sum (the bias
// gradient): dx[r, c] = act'(y[r, c]) * g[r, c], and out[chunk, c] = the column sums of the rounded
// dx that bias_grad(dx) would read, in float/double. With one chunk TOut = T gives the bias
// gradient; otherwise TOut is the accumulation type and col_sum<TOut, T> reduces the partials.
// dx may equal g.
template <typename T, typename TOut>
__global__ void act_backward_colsum(const T* g, const T* y, T* dx, TOut* out, i64 rows, i64 cols, int act,
                                    typename acc_of<T>::type slope) {
    typedef typename acc_of<T>::type A;
    column_chunk_sums<A>(rows, cols, out, [&](i64 i) {
        const T d = from_acc<T>(act_grad(to_acc(g[i]), to_acc(y[i]), act, slope));
        dx[i] = d;
        return to_acc(d);
    });
}

// Column sums of a (rows, cols) matrix, split over gridDim.y row chunks (column_chunk_sums).
// Launch once with chunks = 1 for the final result, or twice: TOut = accumulation type for the
// partials, then again over the (chunks, cols) partials into the output dtype.
template <typename TIn, typename TOut>
__global__ void col_sum(const TIn* x, TOut* out, i64 rows, i64 cols) {
    typedef typename acc_of<TOut>::type A0;
    typedef typename acc_of<TIn>::type A1;
    typedef typename acc_of<decltype(A0(0) + A1(0))>::type A;
    column_chunk_sums<A>(rows, cols, out, [&](i64 i) { return (A)to_acc(x[i]); });
}
