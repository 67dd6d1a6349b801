"""Dev tooling shared by the kernel tests and benchmarks/ptxas_table.py: find ptxas / nvcc and
run them on the loader's own NVRTC output."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cugrad import kernels

ARCHS = ("80", "90")


def ptxas_path():
    """ptxas from the nvidia-cuda-nvcc-cu12 wheel (same release as the NVRTC wheel), else PATH."""
    try:
        import nvidia.cuda_nvcc as wheel
        for root in wheel.__path__:
            cand = Path(root) / "bin" / "ptxas"
            if cand.is_file():
                return str(cand)
    except ImportError:
        pass
    return shutil.which("ptxas")


def nvcc_path():
    return shutil.which("nvcc") or (shutil.which("nvcc", path="/usr/local/cuda/bin"))


def ptxas_report(family, sm):
    """{lowered kernel name: {"registers", "spill_stores", "spill_loads", "stack"}} for one family
    compiled by NVRTC for compute_<sm> and assembled by ptxas -v for sm_<sm>."""
    ptx, names = kernels.compile_ptx(family, f"compute_{sm}")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{family}.ptx"
        src.write_text(ptx)
        r = subprocess.run([ptxas_path(), "-v", f"-arch=sm_{sm}", str(src), "-o", str(Path(tmp) / "o.cubin")],
                           capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"ptxas failed on {family} sm_{sm}:\n{r.stderr}")
    lowered_to_expr = {v: k for k, v in names.items()}
    out, cur = {}, None
    for line in r.stderr.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            cur = lowered_to_expr.get(m.group(1), m.group(1))
            out[cur] = {}
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur:
            out[cur].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m and cur:
            out[cur]["registers"] = int(m.group(1))
    return out


def nvcc_ptx_check(family, sm):
    """nvcc --ptx of the loader's source with every name expression instantiated; returns stderr."""
    code = kernels.kernel_source(family)
    insts = ",\n".join(f"  (const void*)&{e}" for e in kernels.NAME_EXPRESSIONS[family])
    code += f"\nconst void* cugrad_instances[] = {{\n{insts}\n}};\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{family}.cu"
        src.write_text(code)
        r = subprocess.run([nvcc_path(), "-std=c++17", "--ptx", f"-arch=sm_{sm}", str(src), "-o", str(Path(tmp) / "o.ptx")],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"nvcc --ptx failed on {family} sm_{sm}:\n{r.stderr}")
        return r.stderr


def ci() -> bool:
    return bool(os.environ.get("CI"))
