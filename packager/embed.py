"""Embedding the launcher: the repo's ``launcher/`` package becomes ``__ignite__/``.

Like shiv's bootstrap, the runtime is its own package, copied file by file into
every artifact; it is never imported by the packager (only its version is read).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

from packager.artifact import Entry
from packager.errors import ArtifactError
from packager.manifest import LAUNCHER_DIR


def launcher_root() -> Path:
    spec = importlib.util.find_spec("launcher")
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(
            "the launcher package is not installed next to the packager",
            hint="reinstall ignite-packager",
        )
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def launcher_entries() -> tuple[Entry, ...]:
    """Every ``.py`` file of the launcher, under ``__ignite__/``, in path order."""
    root = launcher_root()
    entries = [
        Entry(f"{LAUNCHER_DIR}/{p.relative_to(root).as_posix()}", p.read_bytes(), 0o644)
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    if not any(e.path == f"{LAUNCHER_DIR}/__main__.py" for e in entries):
        raise ArtifactError("launcher/__main__.py is missing", where=str(root), hint="reinstall ignite-packager")
    return tuple(sorted(entries, key=lambda e: e.path))


@lru_cache(maxsize=1)
def launcher_version() -> str:
    """The launcher's ``__version__``, read with ast so the launcher is never imported here."""
    tree = ast.parse((launcher_root() / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return "0"
