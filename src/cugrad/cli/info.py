"""``cugrad info``: versions, devices, whether the CUDA kernels compile, and the distributed setup."""
from __future__ import annotations

import platform
import time
from importlib import metadata

import numpy as np

from .. import __version__, backend, distributed, kernels


def _version(pkg) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def run(args) -> int:
    print(f"cugrad {__version__}")
    print(f"python {platform.python_version()} ({platform.system()} {platform.machine()})")
    print(f"numpy {np.__version__}")
    cupy_pkgs = [d for d in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy") if _version(d) != "not installed"]
    print(f"cupy {_version(cupy_pkgs[0]) + ' (' + cupy_pkgs[0] + ')' if cupy_pkgs else 'not installed'}")
    for pkg in ("safetensors", "tqdm", "matplotlib"):
        print(f"{pkg} {_version(pkg)}")
    cp = backend.cupy()
    print(f"default device: {backend.default_device()}")
    if cp is None:
        print(f"GPU: none ({backend.cuda_unavailable_reason()})")
    else:
        for i in range(cp.cuda.runtime.getDeviceCount()):
            props = cp.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            with cp.cuda.Device(i):
                free, total = cp.cuda.runtime.memGetInfo()
            print(f"GPU {i}: {name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
                  f"compute capability {props['major']}.{props['minor']}")
    print(f"CUDA kernels: {_kernel_status(cp)}")
    print(f"distributed: {_distributed_status()}")
    return 0


def _distributed_status() -> str:
    """Where this process stands in a job (from its launcher), and the MPI and NCCL it could use."""
    job = distributed.launch.from_environment()
    where = (f"rank {job.rank} of {job.world_size}, local rank {job.local_rank} (launched by {job.launcher})"
             if job.launcher != "none" else "a single process (rank 0 of 1)")
    mpich = _version("mpich")
    mpi = f"mpi4py {_version('mpi4py')}" + (f", mpich {mpich}" if mpich != "not installed" else "")
    try:
        nccl = "NCCL " + ".".join(map(str, distributed.nccl.version()))
    except ImportError:
        nccl = "no NCCL"
    return f"{where}; {mpi}; {nccl}"


def _kernel_status(cp) -> str:
    try:
        kernels.kernel_dir()
    except Exception as exc:  # noqa: BLE001
        return f"sources missing ({exc})"
    if cp is None:
        try:
            from cupy.cuda import nvrtc  # noqa: F401 - optional: CuPy without a GPU still compiles
        except Exception:  # noqa: BLE001
            return "not checked (needs CuPy; the CPU path uses the NumPy twins)"
        try:
            for fam in kernels.FAMILIES:
                kernels.compile_ptx(fam, "compute_80")
            return f"compile (NVRTC, {len(kernels.FAMILIES)} families, no GPU to run them)"
        except Exception as exc:  # noqa: BLE001
            return f"FAIL to compile: {str(exc).splitlines()[0]}"
    try:
        t0 = time.perf_counter()
        d = kernels.loader.driver()
        for fam in kernels.FAMILIES:
            d.module(fam).get_function(kernels.NAME_EXPRESSIONS[fam][0])
        return f"compile and load ({len(kernels.FAMILIES)} families, {time.perf_counter() - t0:.1f} s)"
    except Exception as exc:  # noqa: BLE001
        return f"FAIL: {str(exc).splitlines()[0]}"
