"""Architecture rules that keep the engine reusable by every front end."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(folder: Path) -> set[str]:
    names: set[str] = set()
    for file in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_engine_source_imports_neither_discord_nor_aiosqlite() -> None:
    assert not imported_modules(ROOT / "bot" / "engine") & {"discord", "aiosqlite"}


def test_importing_the_engine_loads_neither_discord_nor_aiosqlite() -> None:
    code = (
        "import sys, bot.engine.catalog, bot.engine.session, bot.engine.golden, bot.engine.signals;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'aiosqlite')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        str(file.relative_to(ROOT))
        for file in (ROOT / "bot").rglob("*.py")
        if "store" not in file.parts and any(word in file.read_text("utf-8") for word in ("SELECT ", "INSERT INTO", "UPDATE sessions"))
    ]
    assert offenders == []
