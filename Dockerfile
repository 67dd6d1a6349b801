# cugrad on an NVIDIA GPU: the tests (GPU cases included), then the benchmarks, results in /results.
#
#   docker build -t cugrad-gpu .
#   mkdir -p -m 777 results      # the container runs as a non-root user and writes here
#   docker run --rm --gpus all -v "$PWD/results:/results" cugrad-gpu
#
# Writes /results/{results.json, report.md, report.png, tests-gpu.xml, gpu_check.log}.
# The runtime image carries the CUDA 12 libraries (cuBLAS, NVRTC, ...) but no headers; the cuda12
# extra adds CuPy with its CUDA toolkit wheels (cupy-cuda12x[ctk]: the runtime headers every CuPy 14
# kernel compile needs, NVRTC, cuBLAS). No GPU visible at run time: the command says so and exits 2.
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04

ARG WITH_TORCH=1
# PyTorch (the benchmarks' baseline): the version the perf notes measured, as a CUDA 12 build. A
# CUDA 13 build would put CUDA 13 headers first on the include path CuPy (cuda12) compiles against.
# Its CUDA 12.6 wheels should pin a cuda-toolkit 12.6 that CuPy's ctk extra (12.*) accepts; if they
# do not, the resolver or `pip check` below fails the build (not checked here: no Docker, and
# download.pytorch.org is out of reach of the machine this was written on)
ARG TORCH_SPEC="torch==2.11.*"
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu126
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    CUPY_CACHE_DIR=/tmp/cupy-kernel-cache \
    PATH=/opt/venv/bin:$PATH

# python3 (3.12 on 24.04) in a venv (PEP 668 blocks the system pip); g++ for the kernel emulator tests
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv g++ \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && useradd --create-home --shell /bin/bash cugrad \
 && mkdir /results && chown cugrad:cugrad /results

WORKDIR /home/cugrad/cugrad
COPY --chown=cugrad:cugrad . .
# the package with CuPy for CUDA 12, the test/bench tools, MPI (dist: gpu_check.sh runs one rank
# per GPU) and PyTorch for the twins, resolved together so CuPy's and PyTorch's CUDA 12 wheels
# agree on one version of each library
RUN if [ "$WITH_TORCH" = 1 ]; then pip install ".[cuda12,dev,dist]" "$TORCH_SPEC" --extra-index-url "$TORCH_INDEX"; \
    else pip install ".[cuda12,dev,dist]"; fi \
 && pip check

USER cugrad
VOLUME /results
# every test (GPU included) and the GPU benchmarks, with room for the whole suite
ENV GPU_CHECK_TEST_MARK="" \
    GPU_CHECK_TESTS_CAP=1200 \
    GPU_CHECK_BUDGET=2400
CMD ["bash", "benchmarks/gpu_check.sh", "/results"]
