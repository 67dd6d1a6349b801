#!/usr/bin/env bash
# The one command for a machine with a GPU (issue 8 part 4, issue 6):
#
#     bash benchmarks/gpu_check.sh OUTDIR
#
# 1. fails at once, with a message, when no GPU is visible;
# 2. runs the GPU tests:            pytest tests -m gpu          -> OUTDIR/tests-gpu.xml
# 3. runs the GPU benchmarks, one pytest per file so a time-out loses one file only (among them the
#    captured steps — seeds' net and headline, SGD and Adam — vs PyTorch eager and torch.cuda.graph)
#                                                                -> OUTDIR/results-*.json
# 4. merges them and writes the report                           -> OUTDIR/results.json,
#                                                                   OUTDIR/report.md, report.png
# and prints a short table. Runs from a source checkout (PYTHONPATH=src; cugrad need not be
# installed) with CuPy for CUDA 12 or 13. Everything stays inside GPU_CHECK_BUDGET seconds
# (default 470: a lent device call is cut at 600).
#
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET, BENCH_MIN_ROUNDS (5),
# BENCH_MAX_TIME (0.5 s per case), GPU_CHECK_SKIP_TESTS=1 to run the benchmarks only,
# GPU_CHECK_SKIP_BENCH=1 to run the tests only, GPU_CHECK_TEST_MARK (marker expression for tests/,
# default "gpu"; "" = every test), GPU_CHECK_TESTS_CAP (seconds for the test stage, default 170).
# Where one call is capped at 10 minutes, the two halves fit in two calls:
#     GPU_CHECK_SKIP_BENCH=1 GPU_CHECK_BUDGET=580 GPU_CHECK_TESTS_CAP=550 bash benchmarks/gpu_check.sh OUT1
#     GPU_CHECK_SKIP_TESTS=1 GPU_CHECK_BUDGET=580 bash benchmarks/gpu_check.sh OUT2
# Dry run of the pipeline on a CPU (how it is checked without a GPU):
#     GPU_CHECK_ALLOW_CPU=1 GPU_CHECK_MARK="not gpu" bash benchmarks/gpu_check.sh /tmp/out
# Exit status: 0 all green; 1 a stage failed or timed out (the report is still written);
# 2 no GPU / bad usage.
set -u

if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/gpu_check.sh OUTDIR" >&2
    exit 2
fi
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-470}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
cd "$ROOT" || exit 2
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export CUGRAD_FAKEGPU=0     # real CuPy on a real GPU only: never the tests' CuPy stand-in
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || PY=python
LOG="$OUT/gpu_check.log"
: > "$LOG"
say() { echo "gpu_check: $*" | tee -a "$LOG"; }

# ---------------------------------------------------------------- 1. is there a GPU?
MARK=${GPU_CHECK_MARK:-gpu}
TEST_MARK=${GPU_CHECK_TEST_MARK-$MARK}   # set to "" to run the whole test suite (the Docker image does)
if [ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ]; then
    probe="0 GPU(s): none (GPU_CHECK_ALLOW_CPU=1 dry run, marker '$MARK') | CPU"
elif ! probe=$("$PY" -c 'import cupy; n = cupy.cuda.runtime.getDeviceCount(); assert n > 0, "0 devices"; name = cupy.cuda.runtime.getDeviceProperties(0)["name"]; name = name.decode() if isinstance(name, bytes) else name; print(n, "GPU(s):", name, "| CuPy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())' 2>&1); then
    say "no GPU visible — nothing to check here. CuPy said:"
    echo "$probe" | tail -n 3 | sed 's/^/    /' | tee -a "$LOG"
    say "(this command needs a CUDA GPU and CuPy for CUDA 12 or 13; CPU checks run in .ci/run)"
    exit 2
fi
say "$probe"
"$PY" -c 'import cugrad, sys; from cugrad import backend; print("cugrad", cugrad.__version__, "from", cugrad.__file__, "| cuda available:", backend.is_cuda_available()); sys.exit(0 if backend.is_cuda_available() else 1)' 2>&1 | tee -a "$LOG"
if [ "${PIPESTATUS[0]}" -ne 0 ] && [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]; then
    say "CuPy sees a GPU but cugrad does not — see above"
    exit 1
fi

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
FAILED=()
# run_stage NAME CAP_SECONDS CMD...: run with a time limit of min(CAP, what is left - 25 s)
run_stage() {
    local name=$1 cap=$2; shift 2
    local limit; limit=$(left); limit=$(( limit - 25 ))
    [ "$limit" -gt "$cap" ] && limit=$cap
    if [ "$limit" -lt 15 ]; then
        say "SKIP $name: out of time budget"
        FAILED+=("$name(no time)")
        return
    fi
    say "--- $name (limit ${limit}s)"
    local t0; t0=$(date +%s)
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -n 25
    local rc=${PIPESTATUS[0]}
    # pytest: 5 = nothing collected (no gpu-marked case there yet): not a failure
    if [ "$rc" -eq 5 ]; then rc=0; fi
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo | tee -a "$LOG"      # the killed command's last line had no newline
        say "TIMEOUT $name after ${limit}s"
        FAILED+=("$name(timeout)")
    elif [ "$rc" -ne 0 ]; then
        say "FAIL $name (exit $rc)"
        FAILED+=("$name(exit $rc)")
    fi
    say "    $name took $(( $(date +%s) - t0 ))s"
}

PYTEST=("$PY" -m pytest -p no:cacheprovider -q -rfEs)

# ---------------------------------------------------------------- 2. GPU tests
if [ "${GPU_CHECK_SKIP_TESTS:-0}" != 1 ]; then
    run_stage "tests -m '$TEST_MARK'" "${GPU_CHECK_TESTS_CAP:-170}" "${PYTEST[@]}" tests -m "$TEST_MARK" --junitxml="$OUT/tests-gpu.xml"
fi

# ---------------------------------------------------------------- 3. GPU benchmarks
BENCH=(--benchmark-min-rounds="${BENCH_MIN_ROUNDS:-5}" --benchmark-max-time="${BENCH_MAX_TIME:-0.5}"
       --benchmark-columns=median,min,max,rounds --benchmark-sort=name)
if [ "${GPU_CHECK_SKIP_BENCH:-0}" != 1 ]; then
    for spec in "mlp_step:130" "kernels:80" "bias_grad:25" "gemm_layouts:30" "small_step:45" "captured_step:60" "checkpoint:110"; do
        name=${spec%%:*}; cap=${spec##*:}
        run_stage "bench $name" "$cap" "${PYTEST[@]}" "benchmarks/test_bench_$name.py" -m "$MARK" "${BENCH[@]}" \
            --benchmark-json="$OUT/results-$name.json" --junitxml="$OUT/bench-$name.xml"
    done

    # ------------------------------------------------------------ 3b. data parallel on all GPUs
    # one rank per GPU under the venv's mpiexec (the dist extra), on 1 rank and on all of them; each
    # rank writes its own JSON; rank 0's are compared with benchmarks/allreduce_model.py. The CPU
    # dry run takes 2 CPU ranks, so the pipeline is exercised where no GPU is.
    NGPU=$("$PY" -c 'import cupy; print(cupy.cuda.runtime.getDeviceCount())' 2>/dev/null || echo 0)
    [ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ] && NGPU=2
    MPIEXEC=$(dirname "$(command -v "$PY")")/mpiexec
    [ -x "$MPIEXEC" ] || MPIEXEC=$(command -v mpiexec || true)
    if [ "$NGPU" -lt 2 ]; then
        say "skip bench distributed: $NGPU GPU(s) visible, it needs 2+"
    elif [ -z "$MPIEXEC" ]; then
        say "skip bench distributed: no mpiexec (pip install 'cugrad[dist]')"
        FAILED+=("distributed(no mpiexec)")
    else
        for n in 1 "$NGPU"; do
            run_stage "bench distributed on $n rank(s)" 90 env OPENBLAS_NUM_THREADS=1 OUT_JSON="$OUT/dist-$n" \
                "$MPIEXEC" -n "$n" sh -c 'exec "$0" "$@" --benchmark-json="$OUT_JSON.rank${PMI_RANK:-${OMPI_COMM_WORLD_RANK:-0}}.json"' \
                "${PYTEST[@]}" benchmarks/test_bench_distributed.py -m "$MARK" "${BENCH[@]}"
        done
        "$PY" benchmarks/allreduce_model.py --compare "$OUT/dist-1.rank0.json" \
            "$OUT/dist-$NGPU.rank0.json" 2>&1 | tee -a "$LOG"
        [ "${PIPESTATUS[0]}" -eq 0 ] || FAILED+=("distributed compare")
    fi

    # ------------------------------------------------------------ 4. report
    say "--- report"
    "$PY" benchmarks/report.py "$OUT"/results-*.json --merge "$OUT/results.json" -o "$OUT" \
        --title "cugrad vs PyTorch on $(echo "$probe" | sed 's/^[0-9]* GPU(s): //; s/ |.*//')" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" -eq 0 ] || FAILED+=("report")
fi

say "total $(( $(date +%s) - START ))s of a ${BUDGET}s budget; files in $OUT:"
ls "$OUT" | sed 's/^/    /'
if [ ${#FAILED[@]} -ne 0 ]; then
    say "FAILED: ${FAILED[*]}"
    exit 1
fi
say "all stages passed"
