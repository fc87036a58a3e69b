"""The package's stages depend in one direction: running a model never needs training code.

Every import in the runtime (the engine, file input and output, model files, the Python
API and the app), at module level or inside a function, must come from the runtime
itself or from ``fer.classes``. Training may import the runtime, never the reverse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIME = ("fer.engine", "fer.io", "fer.models", "fer.app", "fer.recognizer", "fer.classes", "fer.__version__")
RUNTIME_FILES = sorted(
    [p for pkg in ("engine", "io", "models", "app") for p in (REPO / "fer" / pkg).rglob("*.py")]
    + [REPO / "fer" / "recognizer.py", REPO / "fer" / "__init__.py", REPO / "streamlit_app.py"])


def fer_imports(path: Path) -> list[str]:
    """Every ``fer.*`` module a file imports, wherever the import statement is."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "fer"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fer":
            found += [f"{node.module}.{a.name}" if node.module == "fer" else node.module for a in node.names]
    return found


def test_the_scan_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from fer.training.train import train\n    import fer.engine.detect\n")
    assert fer_imports(f) == ["fer.training.train", "fer.engine.detect"]


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_runtime_imports_only_the_runtime(path):
    outside = [m for m in fer_imports(path) if not m.startswith(RUNTIME)]
    assert not outside, f"{path.relative_to(REPO)} imports {outside}: the runtime must not need them"
