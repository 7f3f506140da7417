"""Dependencies point one way: bot -> detectors, bot -> queries; detectors and queries know
nothing of each other or of bot, and detectors does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FORBIDDEN = {
    "detectors": {"bot", "queries", "aiohttp", "aiochclient", "aiogram", "chdb", "sqlite3",
                  "os", "requests", "matplotlib"},
    "queries": {"bot", "detectors", "aiogram", "matplotlib"},
}  # fmt: skip


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    """No module of the package imports what its layer must not know."""
    files = sorted((ROOT / package).glob("*.py"))
    assert files
    for path in files:
        bad = imported(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
