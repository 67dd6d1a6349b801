"""The command line is the top layer: no module of the library imports ``cugrad.cli`` (not even
lazily, inside a function), and ``import cugrad`` leaves it unloaded."""
import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cugrad"


def _imported_modules(path: Path):
    """Every module an import statement in ``path`` names, made absolute (``from . import x``
    names both the package and ``package.x``)."""
    package = ["cugrad", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_no_library_module_imports_the_cli():
    library = [p for p in PACKAGE.rglob("*.py")
               if p.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")]
    assert len(library) > 20   # the walk found the package
    offenders = {str(p.relative_to(PACKAGE)): m for p in library for m in _imported_modules(p)
                 if m == "cugrad.cli" or m.startswith("cugrad.cli.")}
    assert offenders == {}


def test_the_import_resolution_sees_relative_imports_of_the_cli():
    """The check above can fail: the same resolution applied to the entry point finds its import."""
    assert "cugrad.cli.main" in set(_imported_modules(PACKAGE / "__main__.py"))


def test_importing_cugrad_does_not_load_the_cli():
    code = "import sys, cugrad; print(sorted(m for m in sys.modules if m.startswith('cugrad.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)}, check=True).stdout
    assert out.strip() == "[]"
