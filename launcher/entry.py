"""Finding and importing the user's entry point.

Order matters: everything the launcher needs is imported *before*
:func:`install_paths` puts the artifact root on ``sys.path``, so a user module
called ``json.py``, ``server.py``, ``selectors.py`` or ``http/`` cannot shadow it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from .conventions import DEFAULT as DEFAULT_CONVENTION

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Callable, List, Mapping, Optional, Tuple


class EntryError(Exception):
    """The manifest or entry settings are unusable (served like an import error)."""


def read_manifest(root: str) -> Mapping[str, Any]:
    """``<root>/manifest.json`` as a dict; ``{}`` when the file does not exist."""
    path = os.path.join(root, "manifest.json")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise EntryError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EntryError(f"{path} must hold a JSON object")
    return data


def resolve_entry(
    manifest: Mapping[str, Any], module: Optional[str], fn: Optional[str]
) -> Tuple[str, str, str]:
    """(module, function, convention): env overrides > manifest > ``handler``/``handler``/``ignite``."""
    entry = manifest.get("entry") or {}
    if not isinstance(entry, dict):
        raise EntryError("manifest.json: 'entry' must be an object")
    mod = module or entry.get("module") or "handler"
    func = fn or entry.get("function") or "handler"
    conv = manifest.get("convention") or DEFAULT_CONVENTION
    for name, value in (("entry module", mod), ("entry function", func), ("convention", conv)):
        if not isinstance(value, str):
            raise EntryError(f"manifest.json: {name} must be a string, not {type(value).__name__}")
    if mod.endswith(".py"):
        mod = mod[:-3]
    return mod, func, conv


def install_paths(root: str) -> List[str]:
    """Put ``root`` then ``root/vendor`` (and its ``.pth`` additions) first on sys.path.

    Returns the interpreter's own path list as it was, for :func:`stdlib_only`.
    """
    base = list(sys.path)
    front = [root]
    vendor = os.path.join(root, "vendor")
    if os.path.isdir(vendor):
        front.append(vendor)
        try:
            has_pth = any(n.endswith(".pth") for n in os.listdir(vendor))
        except OSError:
            has_pth = False
        if has_pth:  # e.g. namespace-package or path hooks shipped by vendored wheels
            import site

            before = set(sys.path)
            site.addsitedir(vendor)
            added = [p for p in sys.path if p not in before and p != vendor]
            sys.path[:] = [p for p in sys.path if p not in added]
            front.extend(added)
    sys.path[:] = front + [p for p in sys.path if p not in front]
    return base


class stdlib_only:
    """Context manager: import with the interpreter's own sys.path (no user dirs)."""

    def __init__(self, base: List[str]) -> None:
        self.base = base
        self.saved: List[str] = []

    def __enter__(self) -> None:
        self.saved = list(sys.path)
        sys.path[:] = self.base

    def __exit__(self, *exc: Any) -> None:
        sys.path[:] = self.saved


def import_entry(module: str, fn: str) -> Callable[..., Any]:
    """Import *module* and return its callable attribute *fn* (real errors propagate)."""
    mod = importlib.import_module(module)
    try:
        func = getattr(mod, fn)
    except AttributeError:
        raise AttributeError(
            f"module {module!r} has no attribute {fn!r} (set IGNITE_ENTRY_FN or the manifest's entry.function)"
        ) from None
    if not callable(func):
        raise TypeError(f"{module}.{fn} is a {type(func).__name__}, not a function")
    return func  # type: ignore[no-any-return]
