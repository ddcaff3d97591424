"""The layout's rules that import-linter cannot state: the hub's commands live in hub/cli only, and every
package of the hub says in its ``__init__`` docstring what it owns and what it may import."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import hub

HUB = Path(hub.__file__).parent
COMMAND_LIBRARIES = {"argparse", "typer", "click"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_command_line_package_parses_arguments() -> None:
    offenders = [
        str(path.relative_to(HUB))
        for path in sorted(HUB.rglob("*.py"))
        if path.parts[len(HUB.parts)] != "cli" and _imports(path) & COMMAND_LIBRARIES
    ]
    assert offenders == [], f"argument parsing outside hub/cli: {offenders}"


def test_every_hub_package_says_what_it_owns_and_may_import() -> None:
    packages = [m.name for m in pkgutil.iter_modules([str(HUB)]) if m.ispkg and m.name != "migrations"]
    assert {"ingest", "ledger", "customers", "programs", "cli"} <= set(packages)
    for name in packages:
        doc = importlib.import_module(f"hub.{name}").__doc__ or ""
        assert len(doc.split()) >= 20, f"hub.{name} has no docstring saying what it owns"
        assert "import" in doc, f"hub.{name}'s docstring does not say what it may import"
