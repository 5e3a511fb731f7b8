"""Imports between our apps follow ARCHITECTURE.md: code imports only downward."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "batchrecords": {"scheduling", "custody", "deviations", "reagents", "training", "mes"},
    "scheduling": {"custody", "deviations", "reagents", "training", "mes"},
    "custody": {"deviations", "mes"},
    "deviations": {"mes"},
    "reagents": {"mes"},
    "training": {"mes"},
    "mes": set(),
}


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def violations() -> list[str]:
    problems = []
    for app, allowed in ALLOWED.items():
        for path in (ROOT / app).rglob("*.py"):
            for other in imported_apps(path) - allowed - {app}:
                problems.append(f"{path.relative_to(ROOT)} imports {other}")
    return problems


@pytest.mark.req("FND-ARC-001")
def test_imports_follow_the_layering():
    assert violations() == []


@pytest.mark.req("FND-ARC-001")
def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    # given a kernel module that imports an app above it
    (tmp_path / "mes").mkdir()
    (tmp_path / "mes" / "bad.py").write_text("from batchrecords import services\n")
    assert imported_apps(tmp_path / "mes" / "bad.py") == {"batchrecords"}
