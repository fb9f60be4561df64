"""The package's shape, as the README's Architecture section states it: the engine
(``lib/``) has no Dagster in it, no import cycles, one module reads the environment, only
the storage package knows S3 from a folder, test modules share code only through
``support``."""

from __future__ import annotations

import ast
from pathlib import Path

from etl3_assets_tests.support import REPO

PACKAGE = REPO / "etl3_assets"


def _modules(root: Path, package: str) -> dict[str, ast.Module]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        name = ".".join((package, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


MODULES = _modules(PACKAGE, "etl3_assets")


def test_no_import_cycle_in_the_package():
    graph = {m: {i for i in _imports(t) if i in MODULES and i != m} for m, t in MODULES.items()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, module, dep])}"
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_the_engine_does_not_import_dagster():
    offenders = {
        m for m, t in MODULES.items()
        if m.startswith("etl3_assets.lib") and any(i == "dagster" or i.startswith("dagster") for i in _imports(t))
    }
    assert not offenders


def _source(module: str) -> str:
    return ast.unparse(MODULES[module])


def test_only_settings_and_the_cli_read_the_environment():
    readers = {m for m in MODULES if "os.environ" in _source(m) or "getenv" in _source(m) or "EnvVar" in _source(m)}
    assert readers <= {"etl3_assets.lib.settings", "etl3_assets.cli"}, readers


def test_only_the_storage_package_tells_s3_from_a_folder():
    deciders = {m for m in MODULES if ".is_s3" in _source(m) or "'://'" in _source(m) or "S3Storage(" in _source(m)}
    assert deciders <= {m for m in MODULES if m.startswith("etl3_assets.lib.storage")}, deciders


def test_test_modules_share_code_only_through_support():
    tests = _modules(REPO / "etl3_assets_tests", "etl3_assets_tests")
    for name, tree in tests.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                assert node.level == 0, f"{name}: relative import"
                if target.startswith("etl3_assets_tests"):
                    assert target.startswith("etl3_assets_tests.support"), f"{name} imports {target}"
