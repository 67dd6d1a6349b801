"""Registers per thread and spills of every kernel instantiation (NVRTC -> ptxas -v) for sm_80 and
sm_90, written into benchmarks/README.md under "Registers per thread (ptxas -v)".

    PYTHONPATH=src python benchmarks/ptxas_table.py [--print]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from cugrad import kernels  # noqa: E402
import kernel_tools  # noqa: E402

HEADING = "## Registers per thread (ptxas -v)"


def table() -> str:
    reports = {sm: {f: kernel_tools.ptxas_report(f, sm) for f in kernels.FAMILIES} for sm in kernel_tools.ARCHS}
    lines = [HEADING, "",
             f"NVRTC (CuPy's binding, `kernels.compile_options()`) then `ptxas -v` from "
             f"`{Path(kernel_tools.ptxas_path()).parent.parent.name}`; regenerate with "
             "`PYTHONPATH=src python benchmarks/ptxas_table.py`. Spills are stores/loads in bytes.", "",
             "| family | kernel | regs sm_80 | spills sm_80 | regs sm_90 | spills sm_90 |",
             "|---|---|---:|---:|---:|---:|"]
    for f in kernels.FAMILIES:
        for expr in kernels.NAME_EXPRESSIONS[f]:
            cells = []
            for sm in kernel_tools.ARCHS:
                r = reports[sm][f][expr]
                cells += [str(r["registers"]), f"{r['spill_stores']}/{r['spill_loads']}"]
            lines.append(f"| {f} | `{expr}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    text = table()
    if "--print" in sys.argv:
        print(text)
        return
    readme = ROOT / "benchmarks" / "README.md"
    old = readme.read_text() if readme.exists() else ""
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else (old.rstrip() + "\n\n" + text if old.strip() else "# Benchmarks\n\n" + text)
    readme.write_text(new)
    print(text)


if __name__ == "__main__":
    main()
