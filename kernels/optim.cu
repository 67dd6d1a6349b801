// In-place optimizer updates, one launch per parameter tensor (PyTorch semantics).
// Scalars arrive in the accumulation type (float for float/half, double for double).
#include "common.cuh"

// g = grad + wd*p; if has_momentum: buf = first ? g : momentum*buf + (1-dampening)*g;
//                  g = nesterov ? g + momentum*buf : buf;   p -= lr*g.
template <typename T>
__global__ void sgd_step(T* p, const T* grad, T* buf, i64 n, typename acc_of<T>::type lr,
                         typename acc_of<T>::type momentum, typename acc_of<T>::type dampening,
                         typename acc_of<T>::type wd, int has_momentum, int nesterov, int first) {
    typedef typename acc_of<T>::type A;
    if (has_momentum) {
        const T* in[3] = {p, grad, buf};
        T* out[2] = {p, buf};
        ew_apply<T, 3, 2>(in, out, n, [&](i64, const A (&v)[3], A (&r)[2]) {
            A g = v[1] + wd * v[0];
            const A b = first ? g : momentum * v[2] + (A(1) - dampening) * g;
            g = nesterov ? g + momentum * b : b;
            r[0] = v[0] - lr * g;
            r[1] = b;
        });
    } else {
        const T* in[2] = {p, grad};
        T* out[1] = {p};
        ew_apply<T, 2, 1>(in, out, n, [&](i64, const A (&v)[2], A (&r)[1]) {
            r[0] = v[0] - lr * (v[1] + wd * v[0]);
        });
    }
}

// Adam / AdamW. decay = 1 - lr*wd (decoupled, else 1); l2 = wd (coupled, else 0);
// step_size = lr / (1 - b1^t); bc2_sqrt = sqrt(1 - b2^t).
// p *= decay; g = grad + l2*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= step_size * m / (sqrt(v)/bc2_sqrt + eps).
template <typename T>
__device__ void adam_update(T* p, const T* grad, T* m, T* v, i64 n, typename acc_of<T>::type decay,
                            typename acc_of<T>::type l2, typename acc_of<T>::type b1,
                            typename acc_of<T>::type b2, typename acc_of<T>::type step_size,
                            typename acc_of<T>::type bc2_sqrt, typename acc_of<T>::type eps) {
    typedef typename acc_of<T>::type A;
    const T* in[4] = {p, grad, m, v};
    T* out[3] = {p, m, v};
    ew_apply<T, 4, 3>(in, out, n, [&](i64, const A (&x)[4], A (&r)[3]) {
        const A pv = x[0] * decay;
        const A g = x[1] + l2 * pv;
        const A mv = b1 * x[2] + (A(1) - b1) * g;
        const A vv = b2 * x[3] + (A(1) - b2) * g * g;
        r[0] = pv - step_size * mv / (cg_sqrt(vv) / bc2_sqrt + eps);
        r[1] = mv;
        r[2] = vv;
    });
}

// step_size and bc2_sqrt formed on the host from the step count t.
template <typename T>
__global__ void adam_step(T* p, const T* grad, T* m, T* v, i64 n, typename acc_of<T>::type decay,
                          typename acc_of<T>::type l2, typename acc_of<T>::type b1,
                          typename acc_of<T>::type b2, typename acc_of<T>::type step_size,
                          typename acc_of<T>::type bc2_sqrt, typename acc_of<T>::type eps) {
    adam_update<T>(p, grad, m, v, n, decay, l2, b1, b2, step_size, bc2_sqrt, eps);
}

// The same step with t = *steps_before + 1 read from device memory (a CUDA graph replays it with
// the count its previous replay left); step_size and bc2_sqrt in double from lr, b1, b2, once per
// thread, as the host forms them.
template <typename T>
__global__ void adam_step_counted(T* p, const T* grad, T* m, T* v, i64 n, typename acc_of<T>::type decay,
                                  typename acc_of<T>::type l2, typename acc_of<T>::type eps, double lr,
                                  double b1, double b2, const double* steps_before) {
    typedef typename acc_of<T>::type A;
    const double t = *steps_before + 1.0;
    const A step_size = A(lr / (1.0 - pow(b1, t)));
    const A bc2_sqrt = A(sqrt(1.0 - pow(b2, t)));
    adam_update<T>(p, grad, m, v, n, decay, l2, A(b1), A(b2), step_size, bc2_sqrt, eps);
}
