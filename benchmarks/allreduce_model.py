"""An α-β model of DistributedDataParallel's bucketed ring all-reduce for the headline MLP
(1024 → 4096 ×4 → 10, 54.6 M parameters, 218 MB of fp32 gradients), as in benchmarks/NOTES.md.

A ring all-reduce of S bytes over p ranks takes α + 2(p−1)/p · S / busbw, busbw being nccl-tests'
"bus bandwidth". Buckets are built as DDP builds them (reverse parameter order, 1 MB first, 25 MB
cap; a larger tensor alone) and start when backward finishes their last layer, one after another
on one communication stream. Without overlap every bucket waits for the end of backward.

    python benchmarks/allreduce_model.py          # the NOTES table
    python benchmarks/allreduce_model.py --compare ONE.json MANY.json
                                                  # gpu_check.sh: measured scaling vs the model
"""
from __future__ import annotations

import json
import sys

SIZES = (1024, 4096, 4096, 4096, 4096, 10)
# backward GEMM time per layer at TF32 on one H100, output layer first (perf-notes.md: weight grad
# + input grad; the first layer needs no input grad), and the step times of one GPU
BACKWARD_TF32_MS = (0.10 + 0.12, 1.25 + 0.91, 1.25 + 0.91, 1.25 + 0.91, 0.32)
GEMM_SUM_TF32_MS = 9.92
STEP_MS = {"fp32": (52.9, 52.6), "tf32": (10.26, 9.92), "bf16": (4.97, 3.98)}   # (step, GEMMs alone)
MB = 1 << 20


def layer_params(sizes=SIZES):
    """Parameter counts per layer in backward order: [(bias, weight)], output layer first."""
    return [(b, a * b) for a, b in zip(sizes[:-1], sizes[1:])][::-1]


def buckets(sizes=SIZES, itemsize=4, first_cap=1 * MB, cap=25 * MB):
    """[(bytes, index of the backward layer that completes it)] as DDP packs them."""
    out, size, last = [], 0, None
    for layer, params in enumerate(layer_params(sizes)):
        for count in params:
            nbytes = count * itemsize
            limit = first_cap if len(out) <= 1 else cap
            if out and size + nbytes <= limit:
                size += nbytes
                out[-1] = (size, layer)
            else:
                size = nbytes
                out.append((size, layer))
            last = layer
    assert last is not None
    return out


def allreduce_ms(nbytes, p, busbw_gbs, alpha_us):
    return alpha_us / 1e3 + 2 * (p - 1) / p * nbytes / (busbw_gbs * 1e9) * 1e3


def predict(precision, p, busbw_gbs, alpha_us, grad_bytes=4, step_ms=None):
    """(communication ms, exposed ms without overlap, exposed ms with overlap, efficiencies);
    ``step_ms``: a measured one-GPU step in place of perf-notes' (the layer profile is rescaled)."""
    step, gemms = STEP_MS[precision]
    if step_ms is not None:
        step, gemms = step_ms, step_ms * gemms / step
    scale = gemms / GEMM_SUM_TF32_MS              # other precisions: the TF32 layer profile, rescaled
    done, t = [], 0.0
    for ms in BACKWARD_TF32_MS:
        t += ms * scale
        done.append(t)
    backward_end = done[-1]
    comm, end = 0.0, 0.0
    for nbytes, layer in buckets(itemsize=grad_bytes):
        ms = allreduce_ms(nbytes, p, busbw_gbs, alpha_us)
        comm += ms
        end = max(end, done[layer]) + ms
    overlap = max(0.0, end - backward_end)
    return comm, comm, overlap, step / (step + comm), step / (step + overlap)


SETUPS = (   # (name, ranks, busbw GB/s, α per all-reduce µs)
    ("8 GPUs, NVLink, busbw 370", 8, 370, 20),
    ("8 GPUs, NVLink, busbw 480", 8, 480, 20),
    ("2 nodes × 8, one 400 Gb/s NIC per node (busbw ≈ 45)", 16, 45, 60),
    ("2 nodes × 8, 8 × 400 Gb/s NICs per node (busbw ≈ 360)", 16, 360, 60),
)


def table():
    lines = ["| setup | precision (grads) | all-reduce ms | efficiency no overlap | with overlap (exposed ms) |",
             "|---|---|---|---|---|"]
    for name, p, bw, alpha in SETUPS:
        for precision, grad_bytes in (("tf32", 4), ("fp32", 4), ("bf16", 4), ("bf16", 2)):
            comm, _, exposed, eff_plain, eff_overlap = predict(precision, p, bw, alpha, grad_bytes)
            label = f"{precision} ({'bf16' if grad_bytes == 2 else 'fp32'} grads)"
            lines.append(f"| {name} | {label} | {comm:.2f} | {eff_plain:.1%} | {eff_overlap:.1%} ({exposed:.2f}) |")
    return "\n".join(lines)


def _medians(path):
    """{case: (median seconds, extra_info)} from a pytest-benchmark JSON file."""
    with open(path) as f:
        data = json.load(f)
    return {b["extra_info"].get("case", b["name"]): (b["stats"]["median"], b["extra_info"])
            for b in data["benchmarks"]}


def compare(one_path, many_path):
    """One-rank step / N-rank step (the efficiency for a fixed per-rank batch, the speed-up for a
    fixed global batch) next to the model's, with the bus bandwidth the all-reduce alone reached."""
    one, many = _medians(one_path), _medians(many_path)
    for case, (t_many, info) in sorted(many.items()):
        if not case.startswith("ddp_") or case not in one:
            continue
        p, t_one = info["world"], one[case][0]
        kind = "speed-up (fixed global batch)" if "global_batch" in info else "efficiency (fixed per-rank batch)"
        print(f"{case}: 1 rank {t_one * 1e3:.2f} ms, {p} ranks {t_many * 1e3:.2f} ms: measured {kind} "
              f"{t_one / t_many:.2f}")
        reduce = [v for k, v in many.items() if k.startswith("all_reduce")]
        if not reduce or p < 2:
            continue
        t_reduce, reduce_info = reduce[0]
        busbw = 2 * (p - 1) / p * reduce_info["bytes"] / t_reduce / 1e9
        print(f"  all-reduce of {reduce_info['bytes'] / 1e6:.0f} MB: {t_reduce * 1e3:.2f} ms, busbw {busbw:.0f} GB/s")
        if case == "ddp_headline_step_tf32":
            _, _, exposed, plain, overlap = predict("tf32", p, busbw, 20, step_ms=t_one * 1e3)
            print(f"  model with that busbw: {overlap:.1%} with overlap ({exposed:.2f} ms exposed), {plain:.1%} without")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        compare(*sys.argv[2:4])
        sys.exit(0)
    print("buckets (MB, completing layer):", [(round(b / 1e6, 2), layer) for b, layer in buckets()])
    print(table())
