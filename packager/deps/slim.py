"""Slim: which installed files of a vendored distribution are left out of ``vendor/``.

``--slim`` drops the test suites that distributions ship inside their packages
(scipy and scikit-learn carry ~23 MB of them): every ``tests/`` and ``test/``
directory and every ``conftest.py`` (pytest's per-directory hooks, only ever
loaded by pytest). ``--slim-drop`` adds patterns, ``--slim-keep`` rescues files
from any drop rule. Patterns are gitignore-style (matched with :mod:`pathspec`)
against paths relative to ``vendor/``: ``*.pyi`` matches at any depth,
``scipy/**/*.pyx`` only under scipy, ``docs/`` every file of a directory.

Only installed distribution files are ever filtered, never the user's source,
and never a ``*.dist-info/`` file (``RECORD`` is rewritten to list what ships).
Shared libraries are never stripped: auditwheel-repaired libraries are patched
with patchelf and ``strip`` is known to corrupt some of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from packager.errors import UsageError
from packager.records import record

TYPE_CHECKING = False  # (typing's import is ~3 ms of a build that needs it only for mypy)
if TYPE_CHECKING:  # pathspec costs ~20 ms of import: loaded only when a pattern is compiled
    from typing import Any, Optional

    import pathspec

#: What ``--slim`` drops by default: the test suites vendored distributions ship.
DEFAULT_DROP: tuple[str, ...] = ("tests/", "test/", "conftest.py")


def _spec(patterns: Iterable[str], option: str) -> Optional[pathspec.PathSpec[Any]]:
    lines = list(patterns)
    if not lines:
        return None
    for p in lines:
        if not p.strip() or p.startswith("#"):
            raise UsageError(f"empty or comment-only pattern {p!r}", where=option,
                             hint="pass a gitignore-style pattern such as '**/*.pyi' or 'docs/'")
    import pathspec

    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError) as exc:  # GitWildMatchPatternError is a ValueError
        raise UsageError(f"invalid pattern: {exc}", where=option,
                         hint="use gitignore-style patterns: '*.pyi', 'scipy/**/tests/', 'docs/'") from exc


@record
class SlimSettings:
    """What to leave out of each vendored distribution (see the module docstring)."""

    #: drop the default test-suite patterns (:data:`DEFAULT_DROP`)
    tests: bool = False
    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.tests or bool(self.drop)

    def patterns(self) -> tuple[str, ...]:
        return (*DEFAULT_DROP, *self.drop) if self.tests else self.drop

    def to_dict(self) -> dict[str, Any]:
        """What the manifest records and the segment cache key includes."""
        return {"tests": self.tests, "drop": list(self.drop), "keep": list(self.keep),
                "patterns": list(self.patterns())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SlimSettings:
        return cls(tests=bool(d.get("tests", False)), drop=tuple(d.get("drop", ())), keep=tuple(d.get("keep", ())))

    def matcher(self) -> SlimMatcher:
        return SlimMatcher(_spec(self.patterns(), "--slim-drop"), _spec(self.keep, "--slim-keep"))


@record
class SlimMatcher:
    """Compiled patterns: :meth:`drops` says whether a ``vendor/``-relative path is left out."""

    drop: Optional[pathspec.PathSpec[Any]]
    keep: Optional[pathspec.PathSpec[Any]]

    def drops(self, rel: str) -> bool:
        if self.drop is None:
            return False
        top = rel.split("/", 1)[0]
        if top.endswith(".dist-info"):
            return False  # metadata always ships (RECORD is rewritten to match)
        if not self.drop.match_file(rel):
            return False
        return self.keep is None or not self.keep.match_file(rel)


@record
class SlimDropped:
    """What slim left out of one distribution: the manifest's per-distribution record."""

    files: int = 0
    bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"files": self.files, "bytes": self.bytes}
