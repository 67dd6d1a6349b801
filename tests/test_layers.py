"""The package's layering, read from README's "## Layout" table (its rows bottom up; each
``src/cugrad`` path in a row belongs to that layer), checked on the source with ``ast``: every
module sits in exactly one layer, imports only from its own layer or those below, imports cugrad
modules at the top of the file, and uses no other module's private (underscore) names."""
from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "cugrad"

# The one import that goes up, as README says: Tensor's methods delegate to the ops, which build
# on Tensor (tensor.py imports ops at its end).
UPWARD = {("cugrad.tensor", "cugrad.ops")}

# Private names still crossing a module boundary, each with its reason (none: Tensor._wrap became
# the public Tensor.from_array).
PRIVATE_ALLOWED = set()

# cugrad modules imported inside a function, each with its reason (a late import is for an optional
# or GPU-only package, never to dodge a cycle). libcublas: the CuPy stand-in of the test suite puts
# its own module under that name.
LATE_ALLOWED = {"cugrad.kernels.gemm": {"cugrad.kernels.libcublas"}}

# Modules that share their private attributes, as one: the engine's hot path reads Tensor's slots
# (_requires_grad, _output_index) and makes op outputs (Tensor._from_op) directly.
ONE_UNIT = {"cugrad.autograd", "cugrad.tensor"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.lru_cache(maxsize=None)
def tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


def layout_rows():
    """README's Layout table as [(layer title, [module name or package prefix + "."])], bottom up."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or set(cells[1]) <= set("-: ") or cells[0] == "layer (bottom up)":
            continue
        names, folder = [], ""
        for path in re.findall(r"`([^`]+)`", cells[1]):
            if path.startswith("src/cugrad/"):
                folder, path = "src/cugrad/", path[len("src/cugrad/"):]
            elif not folder:
                continue                           # kernels/*.cu, tests/, benchmarks/: not Python
            name = "cugrad." + path.rstrip("/").removesuffix(".py").replace("/", ".")
            name = name.removesuffix(".__init__")
            names.append(name + "." if path.endswith("/") else name)
        if names:
            rows.append((cells[0], names))
    return rows


ROWS = layout_rows()


def layer_of(module: str) -> int:
    """The index of the README row that holds ``module`` (a file, or a folder it is inside)."""
    found = [i for i, (_, names) in enumerate(ROWS) for n in names
             if module == n or (n.endswith(".") and (module + ".").startswith(n))]
    assert len(found) == 1, f"{module} is in {len(found)} rows of README's Layout table, expected 1"
    return found[0]


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a ``from ... import`` in ``module`` reads."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
    return ".".join(base + ([node.module] if node.module else []))


def bindings(module: str) -> dict:
    """Each name an import in ``module`` binds -> the (absolute) module or object it names."""
    bound = {}
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{resolve(module, node)}.{alias.name}"
    return bound


def imports(module: str):
    """(line, imported cugrad module, names taken from it) for every import in ``module``."""
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cugrad":
                    yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, node)
            if target.split(".")[0] != "cugrad":
                continue
            submodules = [a.name for a in node.names if f"{target}.{a.name}" in MODULES]
            for name in submodules:                 # from . import tensor: the module itself
                yield node.lineno, f"{target}.{name}", ()
            names = tuple(a.name for a in node.names if a.name not in submodules)
            if names:
                yield node.lineno, target, names


@functools.lru_cache(maxsize=None)
def defined_names(module: str) -> frozenset:
    """Names ``module`` defines: functions, classes, assigned names and attributes, slots."""
    names = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)                   # __slots__ entries
    return frozenset(names)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_layout_table_names_only_files_that_exist():
    assert len(ROWS) >= 8
    for _, names in ROWS:
        for n in names:
            path = SRC / n.rstrip(".").replace(".", "/")
            assert path.is_dir() if n.endswith(".") else path.with_suffix(".py").is_file() or \
                (path / "__init__.py").is_file(), n


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_its_layer_and_those_below(module):
    mine = layer_of(module)
    for line, target, _ in imports(module):
        if (module, target) in UPWARD:
            continue
        theirs = layer_of(target if target in MODULES else target.rpartition(".")[0])
        assert theirs <= mine, (f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}, in the layer "
                                f"{ROWS[theirs][0]!r}, above its own: {ROWS[mine][0]!r}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(module):
    """No ``from x import _y``, ``x._y`` on an imported module or class, or ``obj._y`` for an
    attribute that only another cugrad module defines."""
    unit = ONE_UNIT if module in ONE_UNIT else {module}
    own = set().union(*(defined_names(m) for m in unit))
    others = set().union(*(defined_names(m) for m in MODULES if m not in unit))
    for line, target, names in imports(module):
        for name in names:
            assert not is_private(name) or name in PRIVATE_ALLOWED, \
                f"{MODULES[module].relative_to(ROOT)}:{line} imports {name} from {target}"
    bound = bindings(module)
    for node in ast.walk(tree(module)):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)) or node.attr in PRIVATE_ALLOWED:
            continue
        where = f"{MODULES[module].relative_to(ROOT)}:{node.lineno} uses .{node.attr}"
        if isinstance(node.value, ast.Name) and node.value.id in bound:
            source = bound[node.value.id]
            owner = source if source in MODULES else source.rpartition(".")[0]
            assert source.split(".")[0] != "cugrad" or owner in unit, f"{where} of {source}"
        elif not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            assert node.attr in own or node.attr not in others, f"{where}, which only another module defines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_cugrad_modules_are_imported_at_the_top(module):
    late = set()
    for fn in ast.walk(tree(module)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    late |= {a.name for a in node.names if a.name.split(".")[0] == "cugrad"}
                elif isinstance(node, ast.ImportFrom) and resolve(module, node).split(".")[0] == "cugrad":
                    target = resolve(module, node)
                    late |= {f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names}
    assert late <= LATE_ALLOWED.get(module, set()), f"{MODULES[module].relative_to(ROOT)} imports {late} inside a function"


def test_importing_cugrad_does_not_load_the_command_line():
    """The top layer stays out of ``import cugrad`` (the layering above forbids its import by
    name; this sees what actually loads)."""
    code = "import sys, cugrad; print(sorted(m for m in sys.modules if m.startswith('cugrad.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, check=True).stdout
    assert out.strip() == "[]"
