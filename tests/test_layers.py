"""Lower layers never import higher ones (the table in docs/ARCHITECTURE.md)."""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent.parent / "src" / "tally"

# package → tally packages it may import (besides itself and the shared leaf modules)
ALLOWED = {
    "config": set(),
    "lake": {"config"},
    "warehouse": {"config"},
    "sources": {"config", "lake", "warehouse"},
    "models": {"config", "warehouse"},
    "pipeline": {"config", "lake", "warehouse", "sources", "models"},
    "reports": {"config", "warehouse"},
    "web": {"config", "lake", "warehouse"},
    "stream": {"config", "lake", "warehouse"},
    "server": {"config", "lake", "warehouse", "web", "stream", "reports", "pipeline", "sources"},
}
LEAVES = {"errors", "__init__"}  # tally.errors and tally itself are importable from anywhere


def imported_tally_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("tally.") and len(n.split(".")) > 1}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package):
    folder = SOURCE / package
    files = [folder.with_suffix(".py")] if not folder.is_dir() else sorted(folder.rglob("*.py"))
    offences = []
    for path in files:
        if not path.exists():
            continue
        for imported in imported_tally_packages(path) - LEAVES - {package}:
            if imported not in ALLOWED[package]:
                offences.append(f"{path.relative_to(SOURCE)} imports tally.{imported}")
    assert not offences, "\n".join(offences)
