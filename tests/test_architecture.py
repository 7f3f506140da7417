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


# Inside bot/: arrows point down this list, never back up. The composition roots (app, cli)
# and settings sit outside it.
LAYERS = ("core", "state", "channels", "service", "chat")
NOT_IN_LAYER = {
    "core": {"aiogram", "aiohttp", "sqlite3", "matplotlib", "chdb", "aiochclient", "bot.settings"},
    "state": {"aiogram", "aiohttp", "matplotlib", "bot.settings"},
    "channels": {"matplotlib", "sqlite3", "bot.settings"},
}  # fmt: skip


def bot_imports(path: Path) -> set[str]:
    """Full dotted names of what a module imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_bot_layers_import_only_the_layers_above_them(layer: str) -> None:
    """bot/core knows nothing of state, channels, service or chat; state nothing of channels and
    below; and so on down the list: no import runs back up."""
    files = sorted((ROOT / "bot" / layer).glob("*.py"))
    assert files
    below = {f"bot.{name}" for name in LAYERS[LAYERS.index(layer) + 1 :]} | {"bot.app", "bot.cli"}
    banned = NOT_IN_LAYER.get(layer, set())
    for path in files:
        for name in bot_imports(path):
            up = [b for b in below if name == b or name.startswith(b + ".")]
            assert not up, f"{path.relative_to(ROOT)} imports {name}, which is below {layer}"
            bad = [b for b in banned if name == b or name.startswith(b + ".")]
            assert not bad, f"{path.relative_to(ROOT)} imports {name}: {layer} must not"


def test_bot_modules_stay_readable() -> None:
    """No module of bot/ grows past about 300 lines: a bigger one holds more than one idea."""
    sizes = {p.relative_to(ROOT): len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "bot").rglob("*.py")}  # fmt: skip
    assert not {p: n for p, n in sizes.items() if n > 330}
