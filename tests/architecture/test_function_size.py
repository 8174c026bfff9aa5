"""No function of the application is longer than a reader can hold (issue 10).

Long functions are where rules hide: a function over the limit is split into named steps, or a
table of rules walked by a short loop. Migrations are generated code and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MAX_FUNCTION_LINES = 80
REPO = Path(__file__).resolve().parents[2]
APPLICATION_PACKAGES = (
    "accounts",
    "patients",
    "refills",
    "reminders",
    "dashboard",
    "reports",
    "demo",
    "pumptrack",
)


def application_modules() -> list[Path]:
    modules = []
    for package in APPLICATION_PACKAGES:
        root = REPO / package
        if root.is_dir():
            modules += [p for p in root.rglob("*.py") if "migrations" not in p.parts]
    return sorted(modules)


def long_functions(source: str, *, limit: int) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function or method longer than `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((node.name, node.lineno, length))
    return found


def test_the_check_finds_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def too_long():\n{body}\n", limit=MAX_FUNCTION_LINES) == [
        ("too_long", 1, MAX_FUNCTION_LINES + 1)
    ]
    assert long_functions("def short():\n    return 1\n", limit=MAX_FUNCTION_LINES) == []


def test_the_walk_reads_the_application():
    names = {p.relative_to(REPO).as_posix() for p in application_modules()}
    assert "refills/forecast.py" in names
    assert not any("/migrations/" in n for n in names)


@pytest.mark.parametrize(
    "module", application_modules(), ids=lambda p: p.relative_to(REPO).as_posix()
)
def test_no_function_over_the_limit(module: Path):
    too_long = long_functions(module.read_text(), limit=MAX_FUNCTION_LINES)
    where = module.relative_to(REPO)
    assert too_long == [], (
        f"{where}: split into named steps (over {MAX_FUNCTION_LINES} lines): {too_long}"
    )
