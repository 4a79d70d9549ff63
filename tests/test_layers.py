"""Lower layers never import higher ones (the table in docs/ARCHITECTURE.md), and backends
are plug-ins: no code outside ``warehouse/<backend>/`` imports a warehouse driver or a
backend's folder, or asks a warehouse which backend it is."""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent.parent / "src" / "tally"
WAREHOUSE = SOURCE / "warehouse"

# package → tally packages it may import (besides itself and the shared leaf modules)
ALLOWED = {
    "config": set(),
    "jetstream": {"config"},
    "lake": {"config"},
    "warehouse": {"config"},
    "sources": {"config", "lake", "warehouse"},
    "models": {"config", "warehouse"},
    "pipeline": {"config", "lake", "warehouse", "sources", "models", "jetstream"},
    "reports": {"config", "lake", "warehouse"},
    "web": {"config", "lake", "warehouse", "jetstream"},
    "stream": {"config", "lake", "warehouse", "jetstream"},
    "server": {
        *("config", "lake", "warehouse", "web", "stream", "reports", "pipeline", "sources"),
        "jetstream",
    },
}
LEAVES = {"errors", "__init__"}  # tally.errors and tally itself are importable from anywhere
# config validates warehouse_url against the registry, which imports nothing of tally but
# tally.errors (test_the_registry_is_a_leaf checks it)
LEAF_MODULES = {"tally.warehouse.registry"}
# Python packages that talk to a warehouse: only the backend folders import them
DRIVERS = {"duckdb", "psycopg", "psycopg_pool", "psycopg2", "redshift_connector", "adbc_driver"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, text: str | None = None) -> set[str]:
    """Every module a file (or ``text`` as if it were that file) imports, relative imports
    resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # `from . import x` and `from tally import warehouse` import submodules by name
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def imported_tally_packages(path: Path, text: str | None = None) -> set[str]:
    names = {n for n in imported_modules(path, text) if n not in LEAF_MODULES}
    names = {n for n in names if not any(n.startswith(f"{leaf}.") for leaf in LEAF_MODULES)}
    return {n.split(".")[1] for n in names if n.startswith("tally.") and len(n.split(".")) > 1}


def package_files(package: str) -> list[Path]:
    folder = SOURCE / package
    return [folder.with_suffix(".py")] if not folder.is_dir() else sorted(folder.rglob("*.py"))


# folders of the warehouse package that are not backends: the read layer of tally's tables
NOT_BACKENDS = {"meta"}


def is_backend_folder(path: Path) -> bool:
    return path.is_dir() and (path / "__init__.py").exists() and path.name not in NOT_BACKENDS


def outside_backends() -> list[Path]:
    """Every source file that is not inside a backend's folder under warehouse/."""
    backends = [p for p in WAREHOUSE.iterdir() if is_backend_folder(p)]
    return [
        path
        for path in sorted(SOURCE.rglob("*.py"))
        if not any(path.is_relative_to(folder) for folder in backends)
    ]


def backend_modules() -> set[str]:
    return {f"tally.warehouse.{p.name}" for p in WAREHOUSE.iterdir() if is_backend_folder(p)}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package):
    offences = []
    for path in package_files(package):
        if not path.exists():
            continue
        for imported in imported_tally_packages(path) - LEAVES - {package}:
            if imported not in ALLOWED[package]:
                offences.append(f"{path.relative_to(SOURCE)} imports tally.{imported}")
    assert not offences, "\n".join(offences)


def test_relative_imports_are_resolved():
    """`from ..server import app` inside sources/ is tally.server, as the layer test sees it."""
    probe = SOURCE / "sources" / "probe.py"  # not written: the path only names the package
    text = "from ..server import app\nfrom . import delimited\nfrom .base import BadRow\n"
    found = imported_modules(probe, text)
    assert {"tally.server", "tally.sources.delimited", "tally.sources.base"} <= found
    assert imported_tally_packages(probe, text) == {"server", "sources"}


def test_no_driver_is_imported_outside_a_backend_folder():
    offences = []
    for path in outside_backends():
        for name in imported_modules(path):
            if name.split(".")[0] in DRIVERS:
                offences.append(f"{path.relative_to(SOURCE)} imports {name}")
    assert not offences, "\n".join(offences)


def test_no_backend_folder_is_imported_outside_the_warehouse_package():
    """The core reaches a backend only through the registry (connect)."""
    folders = backend_modules()
    offences = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.is_relative_to(WAREHOUSE):
            continue
        for name in imported_modules(path):
            if any(name == f or name.startswith(f"{f}.") for f in folders):
                offences.append(f"{path.relative_to(SOURCE)} imports {name}")
    assert not offences, "\n".join(offences)


def backend_name_reads(tree: ast.AST) -> list[ast.Attribute]:
    """``….capabilities.name`` (or ``.sqlglot_dialect``, ``.dialect``) read anywhere."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("name", "sqlglot_dialect", "dialect")
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "capabilities"
    ]


def test_nobody_asks_a_warehouse_which_backend_it_is():
    """No ``capabilities.name`` (there is no such field: this guards its return) and no
    dialect name read outside the backend folders: the core decides by flags."""
    offences = [
        f"{path.relative_to(SOURCE)}:{node.lineno} reads capabilities.{node.attr}"
        for path in outside_backends()
        for node in backend_name_reads(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offences, "\n".join(offences)


def test_the_registry_is_a_leaf():
    imported = {n for n in imported_modules(WAREHOUSE / "registry.py") if n.startswith("tally")}
    assert imported <= {"tally.errors", "tally.errors.ConfigError"}


def test_the_checks_catch_what_they_guard():
    """Each rule finds its offence in a small made-up file (so a broken rule cannot pass)."""
    text = (
        "import duckdb\nfrom psycopg import sql\nfrom tally.warehouse.postgres import x\n"
        "ok = warehouse.capabilities.name == 'postgres'\n"
    )
    names = imported_modules(SOURCE / "web" / "probe.py", text)
    assert {"duckdb", "psycopg"} <= {n.split(".")[0] for n in names}
    assert "tally.warehouse.postgres" in names and "tally.warehouse.postgres" in backend_modules()
    assert len(backend_name_reads(ast.parse(text))) == 1
