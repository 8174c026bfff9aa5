"""The apps depend one way (design.md, "Layers, one way"), and nothing hides an upward import.

import-linter's contracts ([tool.importlinter] in pyproject.toml) see every import, those
inside functions too. The AST test below adds what they cannot say: no import inside a
function crosses from one app to another, even downwards. Such an import used to hide a
cycle (patients -> refills -> reminders -> patients); an allowed one belongs at the top of
the module, where the reader and import-linter's graph see it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
# The project's own top-level packages: every app and the pumptrack project package.
PROJECT_PACKAGES = sorted(
    path.parent.name
    for path in ROOT.glob("*/__init__.py")
    if path.parent.name not in {"tests"} and not path.parent.name.startswith(".")
)


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(PYPROJECT['contracts'])} kept, 0 broken" in result.stdout


def test_every_project_package_is_in_the_import_graph_and_every_app_in_a_layer():
    """A new app (or the demo app, when it moves out of patients/) must get a place in the
    layers, or import-linter would never look at it."""
    assert sorted(PYPROJECT["root_packages"]) == PROJECT_PACKAGES
    (layers,) = [c for c in PYPROJECT["contracts"] if c["type"] == "layers"]
    layered = {name.strip(" ()") for layer in layers["layers"] for name in layer.split("|")}
    project_apps = {
        config.name for config in apps.get_app_configs() if config.name in PROJECT_PACKAGES
    }
    assert project_apps <= layered


# pumptrack's modules that wire the apps together (or start the project) and so may
# import them; every other module of pumptrack is infrastructure the apps build on.
PUMPTRACK_WIRING = {"__init__", "asgi", "celery", "settings", "urls", "wsgi"}


def test_every_infrastructure_module_of_pumptrack_is_forbidden_to_import_an_app():
    (infrastructure,) = [c for c in PYPROJECT["contracts"] if c["id"] == "infrastructure"]
    modules = {
        f"pumptrack.{path.stem}"
        for path in (ROOT / "pumptrack").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in PUMPTRACK_WIRING
    }
    assert set(infrastructure["source_modules"]) == modules
    assert set(infrastructure["forbidden_modules"]) == set(PROJECT_PACKAGES) - {"pumptrack"}


def _function_level_imports(tree: ast.AST):
    """(line, module) of every absolute import inside a function, however deeply nested."""

    def walk(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if in_function and isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, alias.name
            elif in_function and isinstance(child, ast.ImportFrom) and child.level == 0:
                yield child.lineno, child.module or ""
            yield from walk(child, nested)

    yield from walk(tree, False)


def _crossing_function_level_imports() -> list[str]:
    crossing = []
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for line, module in _function_level_imports(tree):
                top = module.split(".")[0]
                if top in PROJECT_PACKAGES and top != package:
                    crossing.append(f"{relative}:{line} imports {module}")
    return crossing


def test_no_import_inside_a_function_crosses_an_app_boundary():
    assert _crossing_function_level_imports() == []


def test_the_ast_check_sees_imports_nested_in_functions_and_methods():
    tree = ast.parse(
        "import refills\n"
        "from reminders import hooks\n"
        "def f():\n"
        "    from refills.services import forecast_refresh\n"
        "    if True:\n"
        "        import reminders.alerts\n"
        "class C:\n"
        "    def m(self):\n"
        "        from . import sibling\n"
        "        from accounts.access import can\n"
    )
    assert list(_function_level_imports(tree)) == [
        (4, "refills.services"),
        (6, "reminders.alerts"),
        (10, "accounts.access"),
    ]
